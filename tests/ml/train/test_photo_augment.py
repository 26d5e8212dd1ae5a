"""The photo augmentations: what a face detector and a camera do to a face, drawn per sample for a batch."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from ml.models import Preprocessing
from ml.train.batch_augment import BatchAugment
from ml.train.config import AugmentConfig, ConfigError, TrainConfig
from ml.train.loop import uses_device_pipeline

PLAIN = Preprocessing(48, mean=(0.0,), std=(1.0,))


def smooth_faces(count=32, seed=0) -> torch.Tensor:
    """Smooth random images: blur and JPEG leave noise-free images nearly alone and change noise a lot,
    so these tell a real blur from an identity."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 1, 6, 6, generator=generator)
    smooth = torch.nn.functional.interpolate(coarse, size=(48, 48), mode="bicubic", align_corners=False)
    return smooth.clamp(0, 1).mul(255).round().to(torch.uint8).squeeze(1)


def centre_dot_faces(count=64) -> torch.Tensor:
    images = torch.zeros(count, 48, 48, dtype=torch.uint8)
    images[:, 22:26, 22:26] = 255
    return images


def augment(images, seed=0, **keys) -> torch.Tensor:
    return BatchAugment(AugmentConfig(normalize=False, **keys), PLAIN)(images, torch.Generator().manual_seed(seed))


def as_float(images: torch.Tensor) -> torch.Tensor:
    return images.unsqueeze(1).float() / 255


def high_frequency_energy(x: torch.Tensor) -> torch.Tensor:
    """Per image: mean squared difference of neighbouring pixels; blur lowers it, noise raises it."""
    return (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean(dim=(1, 2, 3))


def centre_of_mass(x: torch.Tensor) -> torch.Tensor:
    weights = x.squeeze(1)
    coords = torch.arange(48, dtype=torch.float32)
    total = weights.sum(dim=(1, 2))
    return torch.stack([(weights.sum(2) * coords).sum(1) / total, (weights.sum(1) * coords).sum(1) / total], 1)


def test_scale_jitter_makes_faces_larger_and_smaller_within_its_range():
    out = augment(centre_dot_faces(), scale_jitter=(0.5, 2.0), padding_mode="zeros")
    # The dot's area scales with 1/scale^2: a 4x4 dot becomes between 2x2 and 8x8.
    areas = (out > 0.5).float().sum(dim=(1, 2, 3))
    assert areas.min() >= 2 and areas.max() <= 70
    assert areas.min() < 10 < areas.max()


def test_shift_jitter_moves_the_centre_by_at_most_its_share_of_the_side():
    out = augment(centre_dot_faces(), shift_jitter=0.1)
    moved = (centre_of_mass(out) - 23.5).abs()
    assert moved.max() <= 0.1 * 48 + 0.5
    assert moved.max() > 1.5


def test_aspect_jitter_stretches_one_way_and_squeezes_the_other():
    images = torch.zeros(64, 48, 48, dtype=torch.uint8)
    images[:, 16:32, 16:32] = 255  # a square
    out = augment(images, aspect_jitter=0.4, padding_mode="zeros") > 0.5
    widths = out.any(dim=2).float().sum(dim=(1, 2))
    heights = out.any(dim=3).float().sum(dim=(1, 2))
    ratio = widths / heights
    assert ratio.min() < 0.85 and ratio.max() > 1.15


def test_reflection_padding_fills_a_zoomed_out_crop_with_the_face_mirrored_not_black():
    images = torch.full((16, 48, 48), 200, dtype=torch.uint8)
    zeros = augment(images, scale_jitter=(1.5, 1.5), padding_mode="zeros")
    mirrored = augment(images, scale_jitter=(1.5, 1.5), padding_mode="reflection")
    assert zeros[:, :, 0, 0].max() < 0.1
    torch.testing.assert_close(mirrored, torch.full_like(mirrored, 200 / 255), rtol=0, atol=1e-4)


def test_blur_smooths_only_the_chosen_share_of_the_batch():
    images = torch.randint(0, 256, (200, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = augment(images, blur=0.5, blur_sigma=(0.8, 1.2))
    before, after = high_frequency_energy(as_float(images)), high_frequency_energy(out)
    blurred = after < 0.5 * before
    assert torch.allclose(out[~blurred], as_float(images)[~blurred], atol=1e-5)
    assert 70 <= int(blurred.sum()) <= 130


def test_blur_keeps_a_flat_image_flat():
    images = torch.full((8, 48, 48), 100, dtype=torch.uint8)
    out = augment(images, blur=1.0)
    torch.testing.assert_close(out, as_float(images), rtol=0, atol=1e-5)


def test_noise_adds_zero_mean_noise_of_at_most_the_configured_std():
    images = torch.full((64, 48, 48), 128, dtype=torch.uint8)
    out = augment(images, noise=0.05)
    deviation = out - 128 / 255
    assert deviation.mean().abs() < 0.002
    stds = deviation.std(dim=(1, 2, 3))
    assert stds.max() <= 0.055 and stds.min() < 0.02 < stds.max()


def test_gamma_darkens_and_brightens_midtones_and_keeps_black_and_white():
    images = torch.zeros(64, 48, 48, dtype=torch.uint8)
    images[:, :, 16:32] = 128
    images[:, :, 32:] = 255
    out = augment(images, gamma=0.7)
    mid = out[:, 0, 0, 20]
    assert mid.min() < 0.4 and mid.max() > 0.6
    assert out[:, 0, :, :16].max() < 0.01 and out[:, 0, :, 32:].min() > 0.99


def test_downscale_loses_detail_in_the_chosen_share_only():
    images = torch.randint(0, 256, (200, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    out = augment(images, downscale=0.3, downscale_side=(16, 16))
    changed = (out - as_float(images)).abs().amax(dim=(1, 2, 3)) > 1e-4
    assert 35 <= int(changed.sum()) <= 85
    assert (high_frequency_energy(out[changed]) < 0.5 * high_frequency_energy(as_float(images[changed]))).all()


def test_jpeg_matches_a_real_jpeg_round_trip_at_the_drawn_quality():
    images = smooth_faces(40)
    out = augment(images, jpeg=1.0, jpeg_quality=(30, 30))
    for image, result in zip(images[:5], out[:5]):
        buffer = io.BytesIO()
        Image.fromarray(image.numpy()).save(buffer, format="JPEG", quality=30)
        reference = np.asarray(Image.open(buffer)).astype(np.float32) / 255
        # torchvision and Pillow both use libjpeg; rounding in the DCT may differ by a level here and there.
        assert np.abs(result[0].numpy() - reference).mean() < 2 / 255
    assert not torch.allclose(out, as_float(images), atol=1 / 255)


def test_photo_augmentations_are_reproducible_from_the_generator_seed():
    keys = dict(scale_jitter=(0.8, 1.2), shift_jitter=0.05, aspect_jitter=0.1, gamma=0.3, blur=0.3, noise=0.02,
                downscale=0.3, jpeg=0.3, padding_mode="reflection")
    images = smooth_faces(32)
    assert torch.equal(augment(images, seed=5, **keys), augment(images, seed=5, **keys))
    assert not torch.equal(augment(images, seed=5, **keys), augment(images, seed=6, **keys))


def test_photo_augmentations_choose_the_batched_pipeline_on_a_cpu():
    config = TrainConfig.from_dict({"model": {"name": "ferlite"}, "augment": {"jpeg": 0.2}})
    assert uses_device_pipeline(config, torch.device("cpu"))
    plain = TrainConfig.from_dict({"model": {"name": "ferlite"}, "augment": {"hflip": True}})
    assert not uses_device_pipeline(plain, torch.device("cpu"))


@pytest.mark.parametrize(
    "augment_keys, key",
    [
        ({"scale_jitter": [1.2, 0.8]}, "augment.scale_jitter"),
        ({"blur": 1.5}, "augment.blur"),
        ({"jpeg_quality": [0, 90]}, "augment.jpeg_quality"),
        ({"downscale_side": [2, 30]}, "augment.downscale_side"),
        ({"padding_mode": "smear"}, "augment.padding_mode"),
    ],
)
def test_bad_photo_augmentation_keys_are_named(augment_keys, key):
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"augment": augment_keys})
    assert error.value.key == key


def test_the_dataloader_pipeline_refuses_photo_augmentations_by_name():
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({"data_pipeline": "dataloader", "augment": {"noise": 0.02}})
    assert error.value.key == "data_pipeline" and "augment.noise" in str(error.value)
