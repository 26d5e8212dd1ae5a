"""The one typed training config, loaded from YAML or a dict, validated field by field.

Every error names the offending key with its dotted path ("optimizer.lr"), so a YAML file, the CLI
and the web app's config form can all point a person at the exact field.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """An invalid or unknown config key. `key` is its dotted path."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


@dataclass
class ModelConfig:
    name: str = "cnn3"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossConfig:
    name: Literal["cross_entropy", "weighted_cross_entropy", "focal"] = "cross_entropy"
    label_smoothing: float = 0.0
    gamma: float = 2.0  # focal loss only
    class_weights: bool = False  # focal loss: also weight by inverse class frequency


@dataclass
class OptimizerConfig:
    name: Literal["sgd", "adam", "adamw"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only
    betas: tuple[float, float] = (0.9, 0.999)  # adam/adamw
    # Learning rate per parameter group the model declares (e.g. {"backbone": 1e-4, "head": 1e-3});
    # groups not named here use `lr`.
    group_lr: dict[str, float] = field(default_factory=dict)


@dataclass
class SchedulerConfig:
    name: Literal["none", "plateau", "cosine", "onecycle"] = "none"
    patience: int = 3  # plateau: epochs without val-loss improvement before cutting the lr
    factor: float = 0.1  # plateau: lr multiplier on a cut
    min_lr: float = 0.0  # plateau and cosine floor
    warmup_epochs: float = 0.0  # cosine: linear warm-up before the decay
    pct_start: float = 0.3  # onecycle: share of steps spent increasing the lr
    max_lr_factor: float = 1.0  # onecycle: peak lr = group lr x this


@dataclass
class ColorJitterConfig:
    brightness: float = 0.0
    contrast: float = 0.0


@dataclass
class AugmentConfig:
    hflip: bool = False
    rotation: float = 0.0  # degrees, uniform in [-rotation, rotation]
    crop_padding: int = 0  # random 48x48 crop from the image padded by this many pixels
    # Random resized crop as [min_scale, max_scale] of the image area, or null for none.
    random_resized_crop: tuple[float, float] | None = None
    color_jitter: ColorJitterConfig = field(default_factory=ColorJitterConfig)
    equalize: float = 0.0  # probability of histogram equalisation
    random_erasing: float = 0.0  # probability of erasing one rectangle
    erasing_scale: tuple[float, float] = (0.02, 0.2)
    normalize: bool = True  # with the model's own mean/std
    # What a face detector and a camera do to a face, for models that must read real photos. These run in
    # the batched pipeline only (ml/train/batch_augment.py), which `data_pipeline: auto` then picks.
    # Framing: the crop's side as a share of the image's, log-uniform in [min, max] (above 1 shows more
    # than the image holds, filled by `padding_mode`), its centre moved by up to `shift_jitter` of the
    # side, and its width/height stretched by a factor in [exp(-aspect_jitter), exp(aspect_jitter)].
    scale_jitter: tuple[float, float] | None = None
    shift_jitter: float = 0.0
    aspect_jitter: float = 0.0
    # How pixels outside the image are filled when geometry reaches past it; null keeps black for
    # rotation and padded crops (torchvision's choice). "reflection" mirrors the face's own surroundings.
    padding_mode: Literal["zeros", "border", "reflection"] | None = None
    gamma: float = 0.0  # gamma in [exp(-gamma), exp(gamma)], log-uniform: under- and over-exposed faces
    blur: float = 0.0  # probability of a Gaussian blur with sigma in blur_sigma (in 48-pixel units)
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    noise: float = 0.0  # Gaussian noise with a std drawn per image in [0, noise], on the 0-1 scale
    downscale: float = 0.0  # probability of passing through a lower resolution (small faces in photos)
    downscale_side: tuple[int, int] = (14, 36)  # that resolution's side in pixels, drawn per batch
    jpeg: float = 0.0  # probability of a JPEG round trip at a quality in jpeg_quality, drawn per batch
    jpeg_quality: tuple[int, int] = (30, 90)

    def photo_keys(self) -> list[str]:
        """The keys set here that only the batched pipeline implements."""
        keys = [key for key in ("shift_jitter", "aspect_jitter", "gamma", "blur", "noise", "downscale", "jpeg")
                if getattr(self, key) > 0]
        keys += [key for key in ("scale_jitter", "padding_mode") if getattr(self, key) is not None]
        return keys


@dataclass
class MixConfig:
    mixup_alpha: float = 0.0  # > 0: blend pairs of images with weight ~ Beta(alpha, alpha)
    cutmix_alpha: float = 0.0  # > 0: paste a box of another image; with both, each batch picks one
    prob: float = 1.0  # share of batches mixed


@dataclass
class DistillConfig:
    # A trained checkpoint whose soft predictions the model learns from, besides the labels.
    teacher_checkpoint: str | None = None
    alpha: float = 0.5  # weight of the teacher's term; 1 - alpha goes to the labels
    temperature: float = 4.0


@dataclass
class TrainConfig:
    name: str = "unnamed"
    description: str = ""
    reported: str = ""  # the figure the recipe's own write-up reported, for the results table
    model: ModelConfig = field(default_factory=ModelConfig)
    classes: list[str] | None = None  # a subset by name, relabelled 0..k-1 in this order
    loss: LossConfig = field(default_factory=LossConfig)
    # What the run learns (ml/train/targets.py): FER2013's labels, the FER+ raters' majority, their vote
    # distribution, or `mixed`: `mixed_fer2013_weight` of the one-hot FER2013 label, the rest the distribution.
    labels: Literal["fer2013", "ferplus_majority", "ferplus_distribution", "mixed"] = "fer2013"
    mixed_fer2013_weight: float = 0.5
    # Start from a trained checkpoint's weights (fine-tuning); `init_member` picks one member of an ensemble.
    # The checkpoint's architecture replaces `model`.
    init_from: str | None = None
    init_member: int | None = None
    # Several data sets (`python -m ml train --data A --data B`): each one's share of the draws, in the order
    # given (e.g. [3, 1]: three faces of the user's for each of FER2013's, whatever their sizes); null draws
    # every face once per epoch.
    data_weights: list[float] | None = None
    # Faces drawn per epoch (with replacement, by those weights); null: as many as the training split holds.
    samples_per_epoch: int | None = None
    sampler: Literal["none", "weighted"] = "none"
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    epochs: int = 30
    batch_size: int = 64
    grad_clip: float | None = None  # clip each gradient element to [-grad_clip, grad_clip]
    early_stopping_patience: int | None = None  # epochs without improvement of early_stopping_monitor
    early_stopping_monitor: Literal["val_loss", "val_macro_f1"] = "val_loss"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    mix: MixConfig = field(default_factory=MixConfig)
    # Validate and checkpoint an exponential moving average of the weights with this decay (e.g. 0.999).
    ema_decay: float | None = None
    distill: DistillConfig = field(default_factory=DistillConfig)
    seed: int = 42
    deterministic: bool = False
    mixed_precision: bool = False  # bf16 autocast on CUDA; ignored on CPU
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_workers: int = 2  # DataLoader workers (the "dataloader" pipeline only)
    # Where augmentation runs: "device" keeps the split on the training device and augments whole batches
    # there (ml/train/device_data.py); "dataloader" augments per image in CPU workers; "auto" picks device
    # on CUDA, dataloader on CPU.
    data_pipeline: Literal["auto", "dataloader", "device"] = "auto"
    compile: bool = False  # torch.compile the model: pays off on a GPU; on a CPU the compile time rarely does
    limit: int | None = None  # at most this many images per split (a stratified sample), for quick runs
    tensorboard: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "TrainConfig":
        config = _build(cls, data or {}, prefix="")
        config.validate()
        return config

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ConfigError("", f"config file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError("", f"{path} is not valid YAML: {exc}") from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError("", f"{path} must hold a mapping of config keys")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A validated copy with top-level keys changed (e.g. epochs from the command line)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def validate(self) -> None:
        from ml.models import get_model_info, list_models

        _positive("optimizer.lr", self.optimizer.lr)
        _at_least("optimizer.weight_decay", self.optimizer.weight_decay, 0)
        for group, lr in self.optimizer.group_lr.items():
            _positive(f"optimizer.group_lr.{group}", lr)
        _between("loss.label_smoothing", self.loss.label_smoothing, 0, 1, upper_open=True)
        _at_least("loss.gamma", self.loss.gamma, 0)
        _at_least("epochs", self.epochs, 1)
        _between("mixed_fer2013_weight", self.mixed_fer2013_weight, 0, 1)
        if self.data_weights is not None:
            for index, weight in enumerate(self.data_weights):
                _at_least(f"data_weights[{index}]", weight, 0)
            if not any(weight > 0 for weight in self.data_weights):
                raise ConfigError("data_weights", "at least one data set needs a weight above 0")
        if self.samples_per_epoch is not None:
            _at_least("samples_per_epoch", self.samples_per_epoch, 1)
        if self.init_member is not None:
            _at_least("init_member", self.init_member, 0)
            if self.init_from is None:
                raise ConfigError("init_member", "picks a member of init_from's ensemble; set init_from too")
        if self.labels != "fer2013":
            if self.classes is not None:
                raise ConfigError("labels", f"{self.labels} targets cover all seven classes; set classes to null")
            if self.labels in ("ferplus_distribution", "mixed") and self.loss.name == "focal":
                raise ConfigError("loss.name", f"focal loss takes one class per face; labels: {self.labels} "
                                  "gives a distribution (use cross_entropy or weighted_cross_entropy)")
        _at_least("batch_size", self.batch_size, 1)
        _at_least("num_workers", self.num_workers, 0)
        if self.early_stopping_patience is not None:
            _at_least("early_stopping_patience", self.early_stopping_patience, 1)
        if self.limit is not None:
            _at_least("limit", self.limit, 1)
        if self.grad_clip is not None:
            _positive("grad_clip", self.grad_clip)
        _at_least("mix.mixup_alpha", self.mix.mixup_alpha, 0)
        _at_least("mix.cutmix_alpha", self.mix.cutmix_alpha, 0)
        _between("mix.prob", self.mix.prob, 0, 1)
        _between("distill.alpha", self.distill.alpha, 0, 1)
        _positive("distill.temperature", self.distill.temperature)
        if self.ema_decay is not None:
            _between("ema_decay", self.ema_decay, 0, 1, lower_open=True, upper_open=True)
        _at_least("scheduler.patience", self.scheduler.patience, 0)
        _between("scheduler.factor", self.scheduler.factor, 0, 1, lower_open=True, upper_open=True)
        _between("scheduler.pct_start", self.scheduler.pct_start, 0, 1, lower_open=True, upper_open=True)
        _at_least("scheduler.warmup_epochs", self.scheduler.warmup_epochs, 0)
        _at_least("augment.rotation", self.augment.rotation, 0)
        _at_least("augment.crop_padding", self.augment.crop_padding, 0)
        _between("augment.equalize", self.augment.equalize, 0, 1)
        _between("augment.random_erasing", self.augment.random_erasing, 0, 1)
        _at_least("augment.color_jitter.brightness", self.augment.color_jitter.brightness, 0)
        _at_least("augment.color_jitter.contrast", self.augment.color_jitter.contrast, 0)
        if self.augment.random_resized_crop is not None:
            low, high = self.augment.random_resized_crop
            if not 0 < low <= high <= 1:
                raise ConfigError("augment.random_resized_crop", "needs 0 < min_scale <= max_scale <= 1")
        low, high = self.augment.erasing_scale
        if not 0 < low <= high < 1:
            raise ConfigError("augment.erasing_scale", "needs 0 < min <= max < 1")
        self._validate_photo_augment()

        if self.model.name not in list_models():
            raise ConfigError("model.name", f"unknown model {self.model.name!r}; choose from: {', '.join(list_models())}")
        known_options = get_model_info(self.model.name).defaults
        for option in self.model.options:
            if option not in known_options:
                raise ConfigError(
                    f"model.options.{option}",
                    f"{self.model.name} has no option {option!r}; it takes: {', '.join(sorted(known_options)) or 'none'}",
                )
        if self.classes is not None:
            from ml.classes import FER_CLASSES

            known = {name.lower() for name in FER_CLASSES}
            if len(self.classes) < 2:
                raise ConfigError("classes", "name at least two classes, or null for all seven")
            for name in self.classes:
                if name.lower() not in known:
                    raise ConfigError("classes", f"unknown class {name!r}; choose from: {', '.join(FER_CLASSES)}")
            if len({name.lower() for name in self.classes}) != len(self.classes):
                raise ConfigError("classes", "a class is named twice")


    def _validate_photo_augment(self) -> None:
        a = self.augment
        if a.scale_jitter is not None and not 0 < a.scale_jitter[0] <= a.scale_jitter[1] <= 2:
            raise ConfigError("augment.scale_jitter", "needs 0 < min <= max <= 2")
        _between("augment.shift_jitter", a.shift_jitter, 0, 0.5)
        _between("augment.aspect_jitter", a.aspect_jitter, 0, 0.5)
        _between("augment.gamma", a.gamma, 0, 1.5)
        _between("augment.blur", a.blur, 0, 1)
        if not 0 < a.blur_sigma[0] <= a.blur_sigma[1] <= 3:
            raise ConfigError("augment.blur_sigma", "needs 0 < min <= max <= 3")
        _between("augment.noise", a.noise, 0, 0.5)
        _between("augment.downscale", a.downscale, 0, 1)
        if not 4 <= a.downscale_side[0] <= a.downscale_side[1] <= 48:
            raise ConfigError("augment.downscale_side", "needs 4 <= min <= max <= 48")
        _between("augment.jpeg", a.jpeg, 0, 1)
        if not 1 <= a.jpeg_quality[0] <= a.jpeg_quality[1] <= 100:
            raise ConfigError("augment.jpeg_quality", "needs 1 <= min <= max <= 100")
        if self.data_pipeline == "dataloader" and self.augment.photo_keys():
            raise ConfigError(
                "data_pipeline",
                f"augment.{self.augment.photo_keys()[0]} runs in the batched pipeline only; use auto or device",
            )


def _positive(key: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(key, f"must be greater than 0, got {value}")


def _at_least(key: str, value: float, minimum: float) -> None:
    if value < minimum:
        raise ConfigError(key, f"must be at least {minimum}, got {value}")


def _between(key, value, low, high, lower_open=False, upper_open=False) -> None:
    too_low = value <= low if lower_open else value < low
    too_high = value >= high if upper_open else value > high
    if too_low or too_high:
        left, right = "(" if lower_open else "[", ")" if upper_open else "]"
        raise ConfigError(key, f"must be in {left}{low}, {high}{right}, got {value}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass `cls` from a mapping, rejecting unknown keys and values of the wrong type."""
    if not isinstance(data, dict):
        raise ConfigError(prefix.rstrip("."), f"must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(f"{prefix}{key}", f"unknown key; valid keys here: {', '.join(sorted(fields))}")
    values = {name: _coerce(hints[name], data[name], f"{prefix}{name}") for name in fields if name in data}
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value if value is not None else {}, prefix=f"{key}.")
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(key, "must not be empty")
        inner = [arg for arg in args if arg is not type(None)]
        return _coerce(inner[0], value, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(key, f"must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"must be a whole number, got {value!r}")
        return value
    if hint is float:
        # YAML reads "1e-3" (no dot) as a string; accept numeric strings like that.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(key, f"must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"must be text, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(key, f"must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(arg, item, f"{key}[{i}]") for i, (arg, item) in enumerate(zip(args, value)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"must be a list, got {value!r}")
        return [_coerce(args[0], item, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, f"must be a mapping, got {value!r}")
        value_hint = args[1]
        if value_hint is Any:
            return dict(value)
        return {k: _coerce(value_hint, v, f"{key}.{k}") for k, v in value.items()}
    raise TypeError(f"config field {key} has an unsupported type {hint}")  # a bug in this module


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value
