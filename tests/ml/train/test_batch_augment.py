"""BatchAugment: FerTrainPreset's augmentations drawn per sample for a whole batch, checked key by key."""
import math

import pytest
import torch
from torchvision.transforms.v2.functional import equalize

from ml.models import Preprocessing
from ml.train.batch_augment import BatchAugment, batch_eval_transform
from ml.train.config import AugmentConfig, ColorJitterConfig
from ml.transforms import FerEvalPreset, FerTrainPreset

PLAIN = Preprocessing(48, mean=(0.0,), std=(1.0,))  # outputs stay in [0, 1], easy to reason about
EXACT = dict(rtol=0, atol=1e-5)  # grid_sample's float rounding of whole-pixel moves


def noise_faces(count=64, seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (count, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def augment(images, seed=0, preprocessing=PLAIN, **keys) -> torch.Tensor:
    transform = BatchAugment(AugmentConfig(normalize=False, **keys), preprocessing)
    return transform(images, torch.Generator().manual_seed(seed))


def as_float(images: torch.Tensor) -> torch.Tensor:
    return images.unsqueeze(1).float() / 255


@pytest.mark.parametrize("size", [48, 64])
def test_with_no_augmentation_the_output_is_the_eval_transform(size):
    images, preprocessing = noise_faces(), Preprocessing(size)
    out = BatchAugment(AugmentConfig(), preprocessing)(images, torch.Generator().manual_seed(0))
    assert torch.equal(out, batch_eval_transform(images, preprocessing))


@pytest.mark.parametrize("size", [48, 64])
def test_the_eval_transform_matches_the_eval_preset(size):
    images, preprocessing = noise_faces(8), Preprocessing(size)
    expected = torch.stack([FerEvalPreset(preprocessing)(image.numpy()) for image in images])
    # The preset resizes the uint8 image and so rounds to whole gray levels; the batch stays in float.
    torch.testing.assert_close(batch_eval_transform(images, preprocessing), expected, rtol=0, atol=2 / 255 + 1e-6)


def test_the_output_is_float_of_the_model_input_size_and_normalised():
    preprocessing = Preprocessing(64, mean=(0.5,), std=(0.25,))
    config = AugmentConfig(hflip=True, rotation=10, crop_padding=4, random_erasing=0.5)
    out = BatchAugment(config, preprocessing)(noise_faces(16), torch.Generator().manual_seed(0))
    assert out.shape == (16, 1, 64, 64) and out.dtype == torch.float32
    assert out.min() >= (0 - 0.5) / 0.25 and out.max() <= (1 - 0.5) / 0.25


def test_hflip_mirrors_about_half_the_batch_and_leaves_the_rest():
    images = noise_faces(200)
    out, original = augment(images, hflip=True), as_float(images)
    mirrored = [torch.allclose(o, m, **EXACT) for o, m in zip(out, original.flip(-1))]
    unchanged = [torch.allclose(o, u, **EXACT) for o, u in zip(out, original)]
    assert all(m != u for m, u in zip(mirrored, unchanged))
    assert 70 <= sum(mirrored) <= 130


def shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """The image moved by (dy, dx) pixels with black coming in: a padded crop's result."""
    size = image.shape[-1]
    padded = torch.nn.functional.pad(image, (size, size, size, size))
    return padded[..., size - dy : 2 * size - dy, size - dx : 2 * size - dx]


def test_crop_padding_shifts_by_whole_pixels_with_black_fill():
    images, padding = noise_faces(32), 3
    out, original = augment(images, crop_padding=padding), as_float(images)
    shifts = set()
    for result, image in zip(out, original):
        matches = [
            (dy, dx)
            for dy in range(-padding, padding + 1)
            for dx in range(-padding, padding + 1)
            if torch.allclose(result, shifted(image, dy, dx), **EXACT)
        ]
        assert len(matches) == 1
        shifts.add(matches[0])
    assert len(shifts) > 10


def test_rotation_turns_the_image_about_its_centre_within_the_range():
    images = torch.zeros(64, 48, 48, dtype=torch.uint8)
    images[:, 22:26, 38:42] = 255  # a bright square 16 px right of the centre, on the horizontal axis
    out = augment(images, rotation=20)[:, 0]
    rows, cols = torch.meshgrid(torch.arange(48.0) - 23.5, torch.arange(48.0) - 23.5, indexing="ij")
    weight = out.sum(dim=(1, 2))
    y, x = (out * rows).sum(dim=(1, 2)) / weight, (out * cols).sum(dim=(1, 2)) / weight
    angles = torch.rad2deg(torch.atan2(y, x))
    assert torch.allclose(torch.hypot(x, y), torch.full_like(x, 16.0), atol=0.3)
    assert angles.abs().max() <= 20.5 and angles.std() > 5


def test_random_resized_crop_picks_boxes_of_the_asked_area_and_aspect():
    # The same seed draws the same boxes, so a horizontal and a vertical ramp give each box's width and height.
    ramp = torch.arange(48, dtype=torch.uint8) * 5
    across, down = ramp.expand(48, 48).expand(64, 48, 48), ramp[:, None].expand(48, 48).expand(64, 48, 48)
    out_across = augment(across, seed=3, random_resized_crop=(0.3, 0.5))[:, 0] * 255 / 5
    out_down = augment(down, seed=3, random_resized_crop=(0.3, 0.5))[:, 0] * 255 / 5
    # Output pixel centres span (size - 1) / size of the box: scale back, within a pixel for edge clamping.
    width = (out_across[:, 0, -1] - out_across[:, 0, 0]) * 48 / 47
    height = (out_down[:, -1, 0] - out_down[:, 0, 0]) * 48 / 47
    area, aspect = width * height / 48**2, width / height
    assert area.min() >= 0.3 - 0.06 and area.max() <= 0.5 + 0.06
    assert abs(area.mean().item() - 0.4) < 0.03
    assert aspect.min() >= 0.75 - 0.1 and aspect.max() <= 4 / 3 + 0.1


def test_erasing_blacks_out_one_rectangle_of_the_asked_area():
    images = torch.full((100, 48, 48), 255, dtype=torch.uint8)
    out = augment(images, random_erasing=1.0, erasing_scale=(0.05, 0.2))[:, 0]
    for result in out:
        erased = result == 0
        rows, cols = erased.any(dim=1).nonzero(), erased.any(dim=0).nonzero()
        height, width = len(rows), len(cols)
        assert rows.max() - rows.min() + 1 == height and cols.max() - cols.min() + 1 == width
        assert erased.sum() == height * width  # the bounding box is full: a rectangle
        assert 0.05 - 0.01 <= height * width / 48**2 <= 0.2 + 0.01
        assert 0.3 - 0.1 <= height / width <= 3.3 + 0.5
        assert (result[~erased] == 1).all()


def test_erasing_happens_with_its_probability():
    images = torch.full((200, 48, 48), 255, dtype=torch.uint8)
    out = augment(images, random_erasing=0.25)
    erased = (out == 0).flatten(1).any(dim=1)
    assert 30 <= erased.sum() <= 70


def test_brightness_scales_each_image_by_a_factor_within_its_range():
    images = torch.full((200, 48, 48), 100, dtype=torch.uint8)
    out = augment(images, color_jitter=ColorJitterConfig(brightness=0.2))
    factors = out.mean(dim=(1, 2, 3)) / (100 / 255)
    assert factors.min() >= 0.8 - 1e-5 and factors.max() <= 1.2 + 1e-5 and factors.std() > 0.05


def test_contrast_stretches_each_image_about_its_own_mean_within_its_range():
    images = torch.full((200, 48, 48), 50, dtype=torch.uint8)
    images[:, 24:] = 150
    out = augment(images, color_jitter=ColorJitterConfig(contrast=0.5))
    factors = (out[:, 0, -1, 0] - out[:, 0, 0, 0]) / (100 / 255)
    means = out.mean(dim=(1, 2, 3))
    assert factors.min() >= 0.5 - 1e-5 and factors.max() <= 1.5 + 1e-5 and factors.std() > 0.1
    torch.testing.assert_close(means, torch.full_like(means, 100 / 255))


def test_jitter_keeps_pixels_within_zero_and_one():
    out = augment(noise_faces(), color_jitter=ColorJitterConfig(brightness=0.9, contrast=0.9))
    assert out.min() >= 0 and out.max() <= 1


def test_equalize_with_probability_one_equalises_every_image():
    images = noise_faces(8) // 2  # a narrow histogram, so equalising changes it
    out = augment(images, equalize=1.0)
    torch.testing.assert_close(out, as_float(equalize(images.unsqueeze(1)).squeeze(1)), rtol=0, atol=0)


def test_the_same_generator_seed_gives_the_same_batch():
    config = dict(hflip=True, rotation=10, crop_padding=4, equalize=0.5, random_erasing=0.5,
                  random_resized_crop=(0.8, 1.0), color_jitter=ColorJitterConfig(0.2, 0.2))
    images = noise_faces()
    assert torch.equal(augment(images, seed=1, **config), augment(images, seed=1, **config))
    assert not torch.equal(augment(images, seed=1, **config), augment(images, seed=2, **config))


def test_a_recipe_looks_on_average_as_it_does_through_the_preset(fer2013_small_store):
    images = fer2013_small_store.split("train")[0][:200]
    config = AugmentConfig(hflip=True, rotation=10, crop_padding=4, random_erasing=0.5,
                           color_jitter=ColorJitterConfig(0.2, 0.2))
    preprocessing = Preprocessing(48)
    torch.manual_seed(0)
    preset = FerTrainPreset(config, preprocessing)
    per_image = torch.stack([preset(image) for image in images])
    batched = BatchAugment(config, preprocessing)(torch.from_numpy(images), torch.Generator().manual_seed(0))
    assert abs(per_image.mean() - batched.mean()) < 0.02
    # A little below: bilinear rotation smooths where RandomRotation's nearest neighbour copies pixels.
    assert -0.03 < batched.std() - per_image.std() < 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_it_augments_on_the_gpu_with_a_gpu_generator():
    images = noise_faces().cuda()
    config = AugmentConfig(hflip=True, rotation=10, crop_padding=4, random_erasing=0.5, equalize=0.5)
    out = BatchAugment(config, Preprocessing(64))(images, torch.Generator(device="cuda").manual_seed(0))
    assert out.device.type == "cuda" and out.shape == (64, 1, 64, 64)
    assert math.isclose(out.mean().item(), 0.0, abs_tol=0.2)
