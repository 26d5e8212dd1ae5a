"""FerTrainPreset's augmentations for a whole uint8 batch at once, on whatever device holds it.

The DataLoader path augments one image at a time in CPU workers, which starves a GPU. Here every random
choice is drawn per sample as a tensor from one generator, and all the geometry (flip, rotation, padded
crop, random resized crop, resize) becomes one affine grid per sample, so a batch costs a handful of
kernels whatever its size. The distributions follow torchvision's; pixels differ in interpolation only
(bilinear throughout, where RandomRotation uses nearest).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms.v2.functional import equalize

from ml.models import Preprocessing

if TYPE_CHECKING:
    from ml.train.config import AugmentConfig

# torchvision draws up to this many (area, aspect) pairs per box and keeps the first that fits.
BOX_ATTEMPTS = 10
CROP_RATIO = (3 / 4, 4 / 3)  # RandomResizedCrop's default width/height range
ERASING_RATIO = (0.3, 3.3)  # RandomErasing's default height/width range


def batch_eval_transform(images: torch.Tensor, preprocessing: Preprocessing, normalize: bool = True) -> torch.Tensor:
    """FerEvalPreset for a batch: uint8 (B, H, W) -> float (B, 1, S, S), resized and normalised."""
    x = images.unsqueeze(1).float().div_(255)
    size = preprocessing.input_size
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return _normalize(x, preprocessing) if normalize else x


class BatchAugment:
    """Call on a uint8 batch (B, 48, 48) and a generator on the batch's device; gives float (B, 1, S, S)."""

    def __init__(self, augment: AugmentConfig, preprocessing: Preprocessing):
        self.augment = augment
        self.preprocessing = preprocessing

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = images.unsqueeze(1)
        if self.augment.equalize > 0:
            x = self._equalize(x, generator)
        if self._moves_pixels():
            x = self._geometry(x.float().div_(255), generator)
        else:
            x = batch_eval_transform(x.squeeze(1), self.preprocessing, normalize=False)
        a, scale = self.augment, x.shape[-1] / 48  # photo effects are sized for a 48-pixel face
        if a.downscale > 0:
            x = _downscale(x, a.downscale, [round(side * scale) for side in a.downscale_side], generator)
        if a.blur > 0:
            x = _blur(x, a.blur, (a.blur_sigma[0] * scale, a.blur_sigma[1] * scale), generator)
        jitter = self.augment.color_jitter
        if jitter.brightness > 0 or jitter.contrast > 0:
            x = _color_jitter(x, jitter.brightness, jitter.contrast, generator)
        if a.gamma > 0:
            x = x.clamp_min(1e-4).pow(_uniform(-a.gamma, a.gamma, len(x), generator).exp().view(-1, 1, 1, 1))
        if a.noise > 0:
            std = _uniform(0, a.noise, len(x), generator).view(-1, 1, 1, 1)
            x = (x + std * torch.randn(x.shape, generator=generator, device=x.device)).clamp_(0, 1)
        if a.jpeg > 0:
            x = _jpeg(x, a.jpeg, a.jpeg_quality, generator)
        if self.augment.random_erasing > 0:
            x = _erase(x, self.augment.random_erasing, self.augment.erasing_scale, generator)
        return _normalize(x, self.preprocessing) if self.augment.normalize else x

    def _moves_pixels(self) -> bool:
        a = self.augment
        return (a.hflip or a.rotation > 0 or a.crop_padding > 0 or a.random_resized_crop is not None
                or self._jitters_framing())

    def _jitters_framing(self) -> bool:
        a = self.augment
        return a.scale_jitter is not None or a.shift_jitter > 0 or a.aspect_jitter > 0

    def _equalize(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        chosen = _rand(len(x), generator) < self.augment.equalize
        return torch.where(chosen.view(-1, 1, 1, 1), equalize(x), x)

    def _geometry(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        theta = self._affine(len(x), x.shape[-1], generator)
        size = self.preprocessing.input_size
        grid = F.affine_grid(theta, [len(x), 1, size, size], align_corners=False)
        # Rotation and padded crops fill with black as torchvision does (upscaled to 64 or 224, the outer
        # half pixel then greys a little); without them no sample leaves the image, and "border" matches
        # F.interpolate at the edges exactly.
        padding_mode = self.augment.padding_mode
        if padding_mode is None:
            fills = self.augment.rotation > 0 or self.augment.crop_padding > 0 or self._jitters_framing()
            padding_mode = "zeros" if fills else "border"
        return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)

    def _affine(self, n: int, image_size: int, generator: torch.Generator) -> torch.Tensor:
        """Per-sample (n, 2, 3) maps from output to source coordinates, both in [-1, 1].

        torchvision applies flip, rotation, padded crop, resized crop in that order; the inverse map
        undoes them last to first: source = flip(rotate(box_centre + shift + box_half_size * output)).
        """
        a, device = self.augment, generator.device
        half_size, centre = torch.ones(n, 2, device=device), torch.zeros(n, 2, device=device)
        if a.random_resized_crop is not None:
            half_size, centre = _resized_crop_boxes(n, image_size, a.random_resized_crop, generator)
        if self._jitters_framing():
            half_size, centre = _jitter_framing(half_size, centre, a, generator)
        shift = torch.zeros(n, 2, device=device)
        if a.crop_padding > 0:  # RandomCrop(48, padding) = a whole-pixel shift in [-padding, padding]
            shift = _randint(-a.crop_padding, a.crop_padding, (n, 2), generator) * (2 / image_size)
        angle = _uniform(-a.rotation, a.rotation, n, generator) * (math.pi / 180)
        mirror = torch.ones(n, device=device)
        if a.hflip:
            mirror = torch.where(_rand(n, generator) < 0.5, -1.0, 1.0)
        cos, sin = angle.cos(), angle.sin()
        rotate = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
        flip_rotate = rotate * torch.stack([mirror, torch.ones_like(mirror)], -1).unsqueeze(-1)
        linear = flip_rotate * half_size.unsqueeze(-2)  # scales columns: the box's x and y half-sizes
        offset = flip_rotate @ (centre + shift).unsqueeze(-1)
        return torch.cat([linear, offset], dim=-1)


def _jitter_framing(half_size: torch.Tensor, centre: torch.Tensor, a: AugmentConfig, generator):
    """A detector's box is never where the last one was: scale, move and stretch the crop per sample."""
    n = len(half_size)
    if a.scale_jitter is not None:
        low, high = a.scale_jitter
        half_size = half_size * _uniform(math.log(low), math.log(high), (n, 1), generator).exp()
    if a.aspect_jitter > 0:
        stretch = _uniform(-a.aspect_jitter, a.aspect_jitter, n, generator).exp()
        half_size = half_size * torch.stack([stretch.sqrt(), stretch.rsqrt()], -1)
    if a.shift_jitter > 0:
        centre = centre + _uniform(-a.shift_jitter, a.shift_jitter, (n, 2), generator) * 2 * half_size
    return half_size, centre


def _downscale(x: torch.Tensor, p: float, sides: list[int], generator) -> torch.Tensor:
    """A share p of the batch through one lower resolution (drawn per batch), then back up."""
    side = int(_randint(sides[0], sides[1], (), generator).item())
    if side >= x.shape[-1]:
        return x
    small = F.interpolate(x, size=(side, side), mode="area")
    back = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return torch.where((_rand(len(x), generator) < p).view(-1, 1, 1, 1), back, x)


def _blur(x: torch.Tensor, p: float, sigma_range, generator) -> torch.Tensor:
    """A Gaussian blur with its own sigma per chosen image, as one grouped separable convolution."""
    n, size = len(x), x.shape[-1]
    radius = max(1, math.ceil(3 * sigma_range[1]))
    sigma = _uniform(sigma_range[0], sigma_range[1], n, generator)
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(taps**2) / (2 * sigma[:, None] ** 2))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    identity = (taps == 0).to(x.dtype).expand(n, -1)
    kernel = torch.where((_rand(n, generator) < p)[:, None], kernel, identity)
    # (n, 1, S, S) as one image of n channels, each blurred by its own kernel.
    y = F.pad(x.reshape(1, n, size, size), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, kernel.view(n, 1, 1, -1), groups=n)
    y = F.conv2d(y, kernel.view(n, 1, -1, 1), groups=n)
    return y.reshape(n, 1, size, size)


def _jpeg(x: torch.Tensor, p: float, quality_range, generator) -> torch.Tensor:
    """A JPEG round trip for a share p of the batch at one quality (drawn per batch), with OpenCV's libjpeg."""
    chosen = (_rand(len(x), generator) < p).nonzero().flatten()
    if len(chosen) == 0:
        return x
    quality = int(_randint(quality_range[0], quality_range[1], (), generator).item())
    pixels = x[chosen, 0].mul(255).round_().clamp_(0, 255).to(torch.uint8).cpu().numpy()
    decoded = np.stack([_jpeg_round_trip(image, quality) for image in pixels])
    x = x.clone()
    x[chosen] = torch.from_numpy(decoded).unsqueeze(1).to(x.device, x.dtype).div_(255)
    return x


def _jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def _resized_crop_boxes(n: int, size: int, scale, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """RandomResizedCrop's box per sample, as (half width, half height) and centre in [-1, 1]."""
    height, width = _candidate_boxes(n, size, scale, CROP_RATIO, generator)
    fits = (width > 0) & (width <= size) & (height > 0) & (height <= size)
    height, width, found = _first_fitting(fits, height, width)
    # torchvision's fallback for a square image is the whole image.
    height, width = torch.where(found, height, size), torch.where(found, width, size)
    top, left = _offset_within(size - height, generator), _offset_within(size - width, generator)
    half_size = torch.stack([width, height], -1) / size
    centre = torch.stack([left + width / 2, top + height / 2], -1) * (2 / size) - 1
    return half_size, centre


def _erase(x: torch.Tensor, p: float, scale, generator) -> torch.Tensor:
    """RandomErasing with value 0: a rectangle per chosen sample, none where ten draws found no fit."""
    n, size = len(x), x.shape[-1]
    # RandomErasing's ratio is height over width: the transpose of the crop's.
    width, height = _candidate_boxes(n, size, scale, ERASING_RATIO, generator)
    fits = (height < size) & (width < size)
    height, width, found = _first_fitting(fits, height, width)
    top, left = _offset_within(size - height, generator), _offset_within(size - width, generator)
    rows = torch.arange(size, device=x.device)
    in_rows = (rows >= top[:, None]) & (rows < (top + height)[:, None])
    in_cols = (rows >= left[:, None]) & (rows < (left + width)[:, None])
    chosen = found & (_rand(n, generator) < p)
    mask = in_rows[:, :, None] & in_cols[:, None, :] & chosen[:, None, None]
    return x.masked_fill(mask.unsqueeze(1), 0.0)


def _candidate_boxes(n: int, size: int, scale, ratio, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BOX_ATTEMPTS whole-pixel (height, width) draws per sample with width/height log-uniform in `ratio`."""
    area = size * size * _uniform(scale[0], scale[1], (n, BOX_ATTEMPTS), generator)
    aspect = _uniform(math.log(ratio[0]), math.log(ratio[1]), (n, BOX_ATTEMPTS), generator).exp()
    return (area / aspect).sqrt().round(), (area * aspect).sqrt().round()


def _first_fitting(fits: torch.Tensor, height: torch.Tensor, width: torch.Tensor):
    """The first fitting candidate per row (argmax gives the first maximum) and whether there was one."""
    first = fits.int().argmax(dim=1, keepdim=True)
    return height.gather(1, first).squeeze(1), width.gather(1, first).squeeze(1), fits.any(dim=1)


def _color_jitter(x: torch.Tensor, brightness: float, contrast: float, generator) -> torch.Tensor:
    n = len(x)
    brightness_factor = _uniform(max(0.0, 1 - brightness), 1 + brightness, n, generator).view(-1, 1, 1, 1)
    contrast_factor = _uniform(max(0.0, 1 - contrast), 1 + contrast, n, generator).view(-1, 1, 1, 1)
    # ColorJitter picks the order per image, and with clamping to [0, 1] the order matters.
    contrast_first = (_rand(n, generator) < 0.5).view(-1, 1, 1, 1)
    one_way = _adjust_brightness(_adjust_contrast(x, contrast_factor), brightness_factor)
    other_way = _adjust_contrast(_adjust_brightness(x, brightness_factor), contrast_factor)
    return torch.where(contrast_first, one_way, other_way)


def _adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (x * factor).clamp_(0, 1)


def _adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # each image's own mean gray, as adjust_contrast does
    return (factor * x + (1 - factor) * mean).clamp_(0, 1)


def _normalize(x: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    # Python numbers, not tensors: copying a new tensor to the GPU every batch would wait for the GPU.
    (mean,), (std,) = preprocessing.mean, preprocessing.std  # one gray channel
    return (x - mean) / std


def _rand(shape, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device)


def _uniform(low: float, high: float, shape, generator: torch.Generator) -> torch.Tensor:
    return _rand(shape, generator) * (high - low) + low


def _randint(low: int, high: int, shape, generator: torch.Generator) -> torch.Tensor:
    """Whole numbers in [low, high], both ends included, as floats."""
    return torch.randint(low, high + 1, shape, generator=generator, device=generator.device).float()


def _offset_within(slack: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A whole-pixel offset in [0, slack] per sample, like torch.randint(0, slack + 1)."""
    return (_rand(slack.shape, generator) * (slack + 1)).floor()
