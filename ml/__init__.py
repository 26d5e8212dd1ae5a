"""Facial-emotion recognition on FER2013 in plain PyTorch.

No Django in here: the web app and the command line (`python -m ml`) both call this package.
"""
from ml.classes import FER_CLASSES, SPLIT_LABELS, SPLITS

__all__ = ["FER_CLASSES", "SPLITS", "SPLIT_LABELS"]
