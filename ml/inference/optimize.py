"""Make a trained model cheaper to run for prediction, without changing what it predicts.

Three changes, all exact up to float rounding: every Conv2d directly followed by a BatchNorm2d in a
Sequential becomes one Conv2d with the normalisation folded into its weights and bias (one pass over
the activations instead of two), and the weights go channels_last, which oneDNN's CPU convolutions
run fastest (measured in bench/predict_speed.py). Last, `trace_for_serving` records the forward pass once
as a TorchScript graph and freezes it: a 48x48 face is so small that at batch 1 the Python of each layer
call costs as much as the arithmetic (the shipped int8 ensemble: 2.6 ms per face eager, 1.3 ms traced).
"""
from __future__ import annotations

import copy
import warnings

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(module: nn.Module) -> int:
    """Fold Conv2d+BatchNorm2d pairs inside every Sequential of `module`, in place; returns how many.

    Only valid in eval mode: the folded weights bake in the running statistics."""
    folded = 0
    for child in module.children():
        folded += fold_batchnorm(child)
    if isinstance(module, nn.Sequential):
        layers = list(module)
        kept: list[nn.Module] = []
        i = 0
        while i < len(layers):
            pair = layers[i : i + 2]
            if len(pair) == 2 and isinstance(pair[0], nn.Conv2d) and isinstance(pair[1], nn.BatchNorm2d) \
                    and pair[1].track_running_stats:
                kept.append(fuse_conv_bn_eval(pair[0], pair[1]))
                folded += 1
                i += 2
            else:
                kept.append(layers[i])
                i += 1
        if len(kept) != len(layers):
            # Keep index-named children so the module still prints and iterates as a Sequential.
            module._modules.clear()
            for index, layer in enumerate(kept):
                module.add_module(str(index), layer)
    return folded


def optimize_for_inference(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` with batch norms folded and channels_last weights; `model` is untouched."""
    optimized = copy.deepcopy(model).eval()
    fold_batchnorm(optimized)
    return optimized.to(memory_format=torch.channels_last)


def trace_for_serving(model: nn.Module, input_size: int) -> torch.jit.ScriptModule:
    """A frozen TorchScript trace of `model` (eval mode) that takes (N, 1, input_size, input_size) batches.

    Our models have no data-dependent branches, so one trace at batch 1 serves every batch size."""
    example = torch.zeros(1, 1, input_size, input_size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about Python numbers that are constants here
        return torch.jit.freeze(torch.jit.trace(model.eval(), example))
