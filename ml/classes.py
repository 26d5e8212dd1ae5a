"""Names shared by every part of the package: FER2013's classes and splits, in FER2013's order."""

# Index = label in FER2013's CSV. Every store, model head and metric uses this order.
FER_CLASSES = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")

# Split codes as stored: index into this tuple.
SPLITS = ("train", "public_test", "private_test")

# The names FER2013 itself uses (CSV `Usage` column, Kaggle file-name prefixes).
SPLIT_LABELS = {"train": "Training", "public_test": "PublicTest", "private_test": "PrivateTest"}
