"""Facial-emotion recognition on FER2013 in plain PyTorch.

No Django in here: the web app and the command line (`python -m ml`) both call this package.
"""
from pathlib import Path

from ml.classes import FER_CLASSES, SPLIT_LABELS, SPLITS

# The model a fresh install serves, and what `python -m ml evaluate-photos` scores unless told otherwise.
SHIPPED_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "default.pt"

__all__ = ["FER_CLASSES", "SHIPPED_CHECKPOINT", "SPLITS", "SPLIT_LABELS"]
