"""The 3-block CNN of seed 002: one Conv-BN-ReLU-Pool per block, 64 -> 128 -> 256, then a wide FC layer."""
from torch import nn

from ml.models.common import conv_bn_act
from ml.models.preprocessing import Preprocessing
from ml.models.registry import register_model


@register_model(
    "cnn3",
    preprocessing=Preprocessing(input_size=48),
    description="3 blocks of Conv-BN-ReLU-MaxPool (64->128->256), Dropout2d, FC 9216->512->classes",
    source="seed 002",
)
class CNN3(nn.Module):
    def __init__(self, num_classes: int = 7, in_channels: int = 1, dropout2d: float = 0.25, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn_act(in_channels, 64), nn.MaxPool2d(2),  # 48 -> 24
            *conv_bn_act(64, 128), nn.MaxPool2d(2),  # 24 -> 12
            *conv_bn_act(128, 256), nn.MaxPool2d(2),  # 12 -> 6
            nn.Dropout2d(dropout2d),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * 6 * 6, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
