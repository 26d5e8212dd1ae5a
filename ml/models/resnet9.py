"""ResNet9 as in Jovian's "Zero to GANs" course, used by seed 004's residual CNN."""
from torch import nn

from ml.models.common import conv_bn_act
from ml.models.preprocessing import Preprocessing
from ml.models.registry import register_model


def conv_block(in_channels: int, out_channels: int, pool: bool = False) -> nn.Sequential:
    return nn.Sequential(*conv_bn_act(in_channels, out_channels), *([nn.MaxPool2d(2)] if pool else []))


class Residual(nn.Module):
    """x + f(x): the shortcut lets gradients skip the two convolutions."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_block(channels, channels), conv_block(channels, channels))

    def forward(self, x):
        return x + self.body(x)


@register_model(
    "resnet9",
    preprocessing=Preprocessing(input_size=48),
    description="ResNet9 ('Zero to GANs'): conv blocks 64->512 with two residual pairs, global max pool",
    source="seed 004",
)
class ResNet9(nn.Module):
    def __init__(self, num_classes: int = 7, in_channels: int = 1, dropout: float = 0.2):
        super().__init__()
        self.features = nn.Sequential(
            conv_block(in_channels, 64),
            conv_block(64, 128, pool=True),  # 48 -> 24
            Residual(128),
            conv_block(128, 256, pool=True),  # 24 -> 12
            conv_block(256, 512, pool=True),  # 12 -> 6
            Residual(512),
        )
        # Global pooling (the course used MaxPool2d(4) on 32px CIFAR) keeps the head independent of input size.
        self.classifier = nn.Sequential(
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(512, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
