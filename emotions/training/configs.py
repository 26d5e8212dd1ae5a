"""Training configs as the web app sees them: presets (one per configs/*.yaml) and validation through
ml's TrainConfig, turned into Django ValidationErrors that name the offending field."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError


def preset_paths() -> dict[str, Path]:
    """{preset name: YAML path}, the name being the file's stem (`seed002_cnn3`)."""
    return {path.stem: path for path in sorted(Path(settings.CONFIGS_DIR).glob("*.yaml"))}


def load_preset(name: str) -> dict:
    path = preset_paths().get(name)
    if path is None:
        raise ValidationError(f"Unknown preset {name!r}.")
    return resolve(parse(path.read_text()))


def parse(text: str) -> dict:
    """A config written as YAML (JSON is YAML too) -> dict; a syntax error says where it is."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "cannot be read"
        raise ValidationError(f"The config is not valid YAML{where}: {problem}.") from None
    if data is None:
        raise ValidationError("The config is empty: choose a preset or write one.")
    if not isinstance(data, dict):
        raise ValidationError("The config must be a mapping of keys (name, model, optimizer, ...).")
    return data


def resolve(data: dict) -> dict:
    """Validate with ml's TrainConfig and return it with every default spelt out (JSON-safe)."""
    from ml.train import ConfigError, TrainConfig

    try:
        return TrainConfig.from_dict(data).to_dict()
    except ConfigError as error:
        # str(error) starts with the dotted key ("optimizer.lr: must be greater than 0, got -1.0").
        raise ValidationError(f"Invalid config: {error}", code="invalid_config") from None


def to_text(config: dict) -> str:
    """The form's editable text: YAML in the key order of the config dataclass."""
    return yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False)
