"""Photo uploads: checked, saved, predicted on the inference queue (or by the web process), shown, purged."""
