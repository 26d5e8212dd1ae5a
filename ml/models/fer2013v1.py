"""FER2013V1 (seed 000): channels narrow as the network deepens, 256 -> 128 -> 64.

The write-up's reasoning: a 48x48 face has little spatial structure but fine texture (mouth curve, brow
angle), so the widest layers go first, before pooling throws that texture away. ~1.3M parameters.
"""
from torch import nn

from ml.models.common import conv_bn_act
from ml.models.preprocessing import Preprocessing
from ml.models.registry import register_model


def _block(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        *conv_bn_act(in_channels, out_channels, nn.GELU),
        *conv_bn_act(out_channels, out_channels, nn.GELU),
        nn.MaxPool2d(2),
    ]


@register_model(
    "fer2013v1",
    preprocessing=Preprocessing(input_size=48),
    description="3 blocks of 2x(Conv-BN-GELU)+MaxPool, channels 256->128->64, small GELU head (~1.3M params)",
    source="seed 000",
)
class FER2013V1(nn.Module):
    def __init__(self, num_classes: int = 7, in_channels: int = 1, dropout: float = 0.25):
        super().__init__()
        self.features = nn.Sequential(*_block(in_channels, 256), *_block(256, 128), *_block(128, 64))  # 48 -> 6
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(64 * 6 * 6, 64),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(64, 64),
            nn.GELU(),
            nn.Linear(64, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
