"""Parameter counts of a run's architecture, for the leaderboard: derived from the config, not stored.

The model is built on PyTorch's meta device (shapes only, no memory, no weights): a VGG16 takes
milliseconds instead of a second, and each (architecture, options, classes) is counted once per process.
"""
from __future__ import annotations

import json
import logging
import warnings
from functools import lru_cache


def parameter_count(config: dict, num_classes: int) -> int | None:
    """Parameters of the model a resolved config describes; None for a config ml cannot build."""
    model = config.get("model") or {}
    # Never read backbone weights from a path: a count needs only the shapes.
    options = {k: v for k, v in (model.get("options") or {}).items() if k != "pretrained_weights"}
    return _count(model.get("name", ""), json.dumps(options, sort_keys=True), num_classes)


def ensemble_parameter_count(member_configs: list[dict], num_classes: int) -> int | None:
    """An ensemble's parameters: its members' together (each a config, or a checkpoint's `{"model": spec}`);
    None when any member cannot be counted, rather than a sum that looks whole and is not."""
    counts = [parameter_count(config, num_classes) for config in member_configs]
    return None if not counts or None in counts else sum(counts)


@lru_cache(maxsize=256)
def _count(name: str, options_json: str, num_classes: int) -> int | None:
    import torch

    from ml.models import count_parameters, create_model

    transfer_logger = logging.getLogger("ml.models.transfer")
    level = transfer_logger.level
    transfer_logger.setLevel(logging.ERROR)  # "no pretrained_weights given" is true and beside the point here
    try:
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            return count_parameters(create_model(name, num_classes=num_classes, **json.loads(options_json)))
    except Exception:  # an architecture or option this version of ml no longer has: a blank cell, not a 500
        return None
    finally:
        transfer_logger.setLevel(level)
