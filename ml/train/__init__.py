"""Training: the typed config, the loop and checkpoints."""
from ml.train.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from ml.train.config import ConfigError, TrainConfig
from ml.train.loop import EpochResult, FitResult, NonFiniteLossError, fit, prepare_store, train_one_epoch, validate

__all__ = [
    "CheckpointError",
    "ConfigError",
    "EpochResult",
    "FitResult",
    "NonFiniteLossError",
    "TrainConfig",
    "fit",
    "load_checkpoint",
    "load_model",
    "prepare_store",
    "save_checkpoint",
    "train_one_epoch",
    "validate",
]
