"""Our compact residual CNN for 48x48 faces, sized for CPUs: fast to train there and fast to serve.

The seeds spend most of their compute on wide convolutions at full 48x48 resolution (fer2013v1: ~1.4
GMAC per face). Here only a thin stem sees 48x48; a strided convolution halves the resolution at once,
and each stage doubles the channels as it halves the size, with one residual block per stage so it
trains quickly from few images. Global average pooling keeps the head tiny (no 9216-wide FC layer).
"""
from torch import nn

from ml.models.preprocessing import Preprocessing
from ml.models.registry import register_model


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn_relu(channels, channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(x + self.body(x))


@register_model(
    "ferlite",
    preprocessing=Preprocessing(input_size=48),
    description="our compact residual CNN: stride-2 stem, 3 stages with a residual block each, GAP head",
    source="ours",
)
class FerLite(nn.Module):
    def __init__(self, num_classes: int = 7, in_channels: int = 1, width: int = 32, dropout: float = 0.3):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv_bn_relu(in_channels, w),  # 48x48
            _conv_bn_relu(w, 2 * w, stride=2),  # 24x24
            _ResidualBlock(2 * w),
            _conv_bn_relu(2 * w, 4 * w, stride=2),  # 12x12
            _ResidualBlock(4 * w),
            _conv_bn_relu(4 * w, 8 * w, stride=2),  # 6x6
            _ResidualBlock(8 * w),
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(8 * w, num_classes)
        )

    def forward(self, x):
        return self.head(self.features(x))
