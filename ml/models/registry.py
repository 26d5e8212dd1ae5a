"""Models by name, as in timm: `@register_model`, `create_model`, `list_models`.

A builder is `fn(num_classes, in_channels, **options) -> nn.Module`; its keyword options and their
defaults are read from its signature, so the registry can reject typos instead of ignoring them.
"""
import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Callable

from torch import nn

from ml.models.preprocessing import Preprocessing

_POSITIONAL = ("num_classes", "in_channels")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    source: str  # which write-up the architecture comes from, e.g. "seed 002"
    preprocessing: Preprocessing
    builder: Callable[..., nn.Module]
    defaults: dict = field(default_factory=dict)  # option name -> default, from the builder's signature


_REGISTRY: dict[str, ModelInfo] = {}


def _option_defaults(fn: Callable) -> dict:
    params = inspect.signature(fn).parameters
    missing = [p for p in _POSITIONAL if p not in params]
    if missing:
        raise TypeError(f"model builder {fn.__name__} must accept {', '.join(_POSITIONAL)}")
    options = {}
    for name, p in params.items():
        if name in _POSITIONAL:
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is p.empty:
            raise TypeError(f"model builder {fn.__name__}: option {name!r} needs a default and a name")
        options[name] = p.default
    return options


def register_model(name: str, *, preprocessing: Preprocessing, description: str, source: str):
    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelInfo(name, description, source, preprocessing, fn, _option_defaults(fn))
        return fn

    return decorator


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_model_info(name: str) -> ModelInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from: {', '.join(list_models())}") from None


def _check_options(info: ModelInfo, options: dict) -> None:
    unknown = sorted(set(options) - set(info.defaults))
    if unknown:
        valid = ", ".join(sorted(info.defaults)) or "none"
        raise ValueError(f"model {info.name!r} has no option {', '.join(map(repr, unknown))}; valid options: {valid}")


def model_preprocessing(name: str, **options) -> Preprocessing:
    info = get_model_info(name)
    _check_options(info, options)
    preprocessing = info.preprocessing
    if "input_size" in info.defaults:  # models that accept any size say so with an `input_size` option
        input_size = options.get("input_size", info.defaults["input_size"])
        preprocessing = dataclasses.replace(preprocessing, input_size=input_size)
    return preprocessing


def create_model(name: str, num_classes: int = 7, in_channels: int = 1, **options) -> nn.Module:
    info = get_model_info(name)
    preprocessing = model_preprocessing(name, **options)
    model = info.builder(num_classes, in_channels, **options)
    model.preprocessing = preprocessing  # travels with the model so callers need not look it up again
    return model


def parameter_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Trainable parameters by group, for per-group learning rates; models opt in with `param_groups()`."""
    if hasattr(model, "param_groups"):
        groups = {k: [p for p in ps if p.requires_grad] for k, ps in model.param_groups().items()}
        return {k: ps for k, ps in groups.items() if ps}
    return {"all": [p for p in model.parameters() if p.requires_grad]}


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
