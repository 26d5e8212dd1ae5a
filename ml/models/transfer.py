"""ImageNet backbones from torchvision, fed our 1-channel faces.

Nothing is ever downloaded: pass `pretrained_weights`, a local torchvision state dict
(vgg16-397923af.pth, resnet18-f37072fd.pth), or the backbone starts from random weights.
"""
import logging
import warnings
from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet18, vgg16

from ml.models.preprocessing import Preprocessing
from ml.models.registry import register_model

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The pipeline gives these models plain [0, 1] pixels; ImageNet statistics are applied inside the model.
PLAIN = dict(mean=(0.0,), std=(1.0,))


class GrayToImageNet(nn.Module):
    """Repeat gray to RGB and normalise with ImageNet's statistics, what the pretrained filters expect."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"ImageNet backbones take 1 (gray) or 3 (RGB) input channels, got {in_channels}")
        self.in_channels = in_channels
        # Constants, not state: kept out of the state dict so checkpoints hold only learned weights.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        if self.in_channels == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std


def load_backbone_weights(model: nn.Module, path: str | Path | None, head_prefix: str, name: str) -> None:
    """Load a torchvision ImageNet state dict into `model`, strictly for everything outside its new head."""
    if not path:  # None, or an empty value from a config file
        message = f"{name}: no pretrained_weights given, backbone starts from random weights (nothing is downloaded)"
        warnings.warn(message, stacklevel=2)
        logger.warning(message)
        return
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights not found at {path}; "
            "ImageNet weights are not downloaded by this project, pass a local file"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith(head_prefix)}  # ImageNet's 1000-class head
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(head_prefix)]
    if missing or unexpected:
        raise RuntimeError(
            f"{path} does not fit {name}'s backbone: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    logger.info("%s: loaded backbone weights from %s", name, path)


@register_model(
    "vgg16_transfer",
    preprocessing=Preprocessing(input_size=64, **PLAIN),
    description="VGG16 features (frozen by default) on gray->RGB 64px input, BN+Dropout head 25088->512->256",
    source="seed 000",
)
class VGG16Transfer(nn.Module):
    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 1,
        freeze_features: bool = True,
        pretrained_weights: str | None = None,
    ):
        super().__init__()
        self.stem = GrayToImageNet(in_channels)
        self.backbone = vgg16(weights=None)  # features -> 7x7 adaptive avgpool -> classifier
        # The seed's head has no activations between its Linear layers; kept as written.
        self.backbone.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 512),
            nn.BatchNorm1d(512),
            nn.Dropout(0.5),
            nn.Linear(512, 256),
            nn.BatchNorm1d(256),
            nn.Dropout(0.3),
            nn.Linear(256, num_classes),
        )
        load_backbone_weights(self.backbone, pretrained_weights, head_prefix="classifier.", name="vgg16_transfer")
        self.backbone.features.requires_grad_(not freeze_features)

    def forward(self, x):
        return self.backbone(self.stem(x))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "backbone": list(self.backbone.features.parameters()),
            "head": list(self.backbone.classifier.parameters()),
        }


@register_model(
    "resnet18_transfer",
    preprocessing=Preprocessing(input_size=64, **PLAIN),
    description="ResNet-18 fine-tuned on gray->RGB input, head 512->256->classes; backbone/head learning rates",
    source="seeds 001, 003",
)
class ResNet18Transfer(nn.Module):
    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 1,
        dropout: float = 0.5,
        input_size: int = 64,  # global pooling takes any size; only the preprocessing changes (seed 003: 224)
        pretrained_weights: str | None = None,
    ):
        super().__init__()
        self.stem = GrayToImageNet(in_channels)
        self.backbone = resnet18(weights=None)
        self.backbone.fc = nn.Sequential(
            nn.Linear(512, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, num_classes),
        )
        load_backbone_weights(self.backbone, pretrained_weights, head_prefix="fc.", name="resnet18_transfer")

    def forward(self, x):
        return self.backbone(self.stem(x))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        head = list(self.backbone.fc.parameters())
        head_ids = {id(p) for p in head}
        return {"backbone": [p for p in self.backbone.parameters() if id(p) not in head_ids], "head": head}
