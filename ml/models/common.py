"""The Conv3x3 -> BatchNorm -> activation unit that every from-scratch model here is stacked from."""
from torch import nn


def conv_bn_act(in_channels: int, out_channels: int, activation: type[nn.Module] = nn.ReLU) -> list[nn.Module]:
    # A list, not a Sequential, so models can splice it in and keep the seeds' flat layer numbering.
    # Conv bias kept (as in the seeds) even though BatchNorm makes it redundant, so parameter counts match.
    return [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.BatchNorm2d(out_channels), activation()]
