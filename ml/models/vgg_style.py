"""Custom VGG-style CNN (seed 001): four double-conv blocks, 64 -> 512 channels, 48 -> 3 pixels."""
from torch import nn

from ml.models.common import conv_bn_act
from ml.models.preprocessing import Preprocessing
from ml.models.registry import register_model


def _block(in_channels: int, out_channels: int, dropout: float) -> list[nn.Module]:
    return [
        *conv_bn_act(in_channels, out_channels),
        *conv_bn_act(out_channels, out_channels),
        nn.MaxPool2d(2),
        nn.Dropout(dropout),
    ]


@register_model(
    "vgg_style",
    preprocessing=Preprocessing(input_size=48),
    description="4 blocks of 2x(Conv3x3-BN-ReLU)+MaxPool+Dropout, channels 64->512; 4608->512->256 classifier",
    source="seed 001",
)
class VGGStyle(nn.Module):
    def __init__(
        self, num_classes: int = 7, in_channels: int = 1, dropout: float = 0.3, classifier_dropout: float = 0.5
    ):
        super().__init__()
        self.features = nn.Sequential(
            *_block(in_channels, 64, dropout),  # 48 -> 24
            *_block(64, 128, dropout),  # 24 -> 12
            *_block(128, 256, dropout),  # 12 -> 6
            *_block(256, 512, dropout),  # 6 -> 3
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(512 * 3 * 3, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(inplace=True),
            nn.Dropout(classifier_dropout),
            nn.Linear(512, 256),
            nn.BatchNorm1d(256),
            nn.ReLU(inplace=True),
            nn.Dropout(classifier_dropout),
            nn.Linear(256, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
