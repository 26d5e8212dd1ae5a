"""Resolved configs as tables: one row per dotted key (`optimizer.lr`), one column per run."""
from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class ConfigRow:
    key: str
    values: list[str]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """{"optimizer": {"lr": 0.001}} -> {"optimizer.lr": 0.001}; lists and empty mappings stay whole."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def show(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value)  # true/false, numbers and lists written as in the YAML/JSON config


def config_rows(configs: list[dict]) -> list[ConfigRow]:
    """Every key of every config, in first-seen order; a key a config lacks shows as missing."""
    flats = [flatten(config) for config in configs]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    # An empty mapping beside the same mapping filled in elsewhere (model.options {} vs {width: 8}) says
    # nothing its filled-in keys do not.
    keys = [key for key in keys if not any(other.startswith(f"{key}.") for other in keys)]
    missing = object()
    return [
        ConfigRow(key, [show(flat[key]) if flat.get(key, missing) is not missing else "(not set)" for flat in flats])
        for key in keys
    ]
