"""ResNet-18's layout sized for 48x48 faces, trained from scratch: the candidate for the best single model.

ImageNet's stem (7x7 stride-2 conv, then max-pool) would shrink a 48x48 face to 12x12 before the first
block; here a 3x3 stride-1 stem keeps full resolution, and the four stages run at 48, 24, 12 and 6
pixels. Dropout before the classifier, since FER2013 is small for 11M parameters.
"""
from torch import nn

from ml.models.preprocessing import Preprocessing
from ml.models.registry import register_model


class _BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + self.shortcut(x))


@register_model(
    "resnet18_fer",
    preprocessing=Preprocessing(input_size=48),
    description="ResNet-18 layout for 48x48 from scratch: 3x3 stride-1 stem, stages at 48/24/12/6 px",
    source="ours",
)
class ResNet18Fer(nn.Module):
    def __init__(self, num_classes: int = 7, in_channels: int = 1, width: int = 64, dropout: float = 0.3):
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        layers = [
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        previous = width
        for stage, channels in enumerate(widths):
            stride = 1 if stage == 0 else 2
            layers += [_BasicBlock(previous, channels, stride), _BasicBlock(channels, channels, 1)]
            previous = channels
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(previous, num_classes)
        )

    def forward(self, x):
        return self.head(self.features(x))
