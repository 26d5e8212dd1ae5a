"""Training: datasets, experiments and their runs, launched from the admin onto the training queue."""
