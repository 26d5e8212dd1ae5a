"""Video uploads: checked, saved, analysed frame by frame on the inference queue (never in the web request), shown, purged."""
