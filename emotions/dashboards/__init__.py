"""The experiment dashboards: leaderboard, run and dataset pages, charts, exports (read only)."""
