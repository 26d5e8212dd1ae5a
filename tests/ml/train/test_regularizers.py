import pytest
import torch

from ml.train.config import MixConfig
from ml.train.regularizers import BatchMixer, mixed_loss


def batch(size=8):
    images = torch.arange(size, dtype=torch.float32).view(size, 1, 1, 1).expand(size, 1, 48, 48).clone()
    return images, torch.arange(size)


def test_no_alpha_means_no_mixing():
    images, labels = batch()
    mixed, a, b, lam = BatchMixer(MixConfig())(images, labels)
    assert lam == 1.0 and torch.equal(mixed, images) and torch.equal(a, b)


def test_mixup_blends_each_image_with_its_partner_by_lam():
    torch.manual_seed(0)
    images, labels = batch()
    mixed, a, b, lam = BatchMixer(MixConfig(mixup_alpha=0.4))(images, labels)
    assert 0 < lam < 1
    expected = lam * images[a] + (1 - lam) * images[b]  # labels equal the image values here
    assert torch.allclose(mixed, expected)


def test_cutmix_pastes_a_box_and_weights_labels_by_its_area():
    torch.manual_seed(3)
    images, labels = batch()
    mixed, a, b, lam = BatchMixer(MixConfig(cutmix_alpha=1.0))(images, labels)
    for i in range(len(labels)):
        from_partner = (mixed[i] == images[b[i]]).float().mean().item() if a[i] != b[i] else None
        if from_partner is not None:
            assert from_partner == pytest.approx(1 - lam, abs=1e-6)


def test_prob_zero_never_mixes():
    images, labels = batch()
    mixer = BatchMixer(MixConfig(mixup_alpha=1.0, prob=0.0))
    assert all(mixer(images, labels)[3] == 1.0 for _ in range(10))


def test_the_mixed_loss_weights_both_label_sets():
    logits = torch.randn(4, 3)
    a, b = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 1, 0, 2])
    ce = torch.nn.CrossEntropyLoss()
    assert mixed_loss(ce, logits, a, b, 0.3).item() == pytest.approx(0.3 * ce(logits, a).item() + 0.7 * ce(logits, b).item())
