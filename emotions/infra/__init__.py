"""What runs the app rather than what it does: `runstack` and its watchdog, sending tasks to the broker,
the inference workers' heartbeat in Redis, and the cores shared among predictions."""
