import pytest
import torch
from torch import nn

from ml.train.config import MixConfig
from ml.train.regularizers import BatchMixer, make_ema, mixed_loss


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


def test_the_ema_warms_up_so_it_follows_the_weights_early_and_settles_at_its_decay():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = make_ema(model, decay=0.99)
    start = ema.module[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    ema.update_parameters(model)
    # First update: decay min(0.99, 1/10) = 0.1, so the average moves 90% of the way, not 1%.
    torch.testing.assert_close(ema.module[0].weight, 0.1 * start + 0.9 * model[0].weight)
    for _ in range(1000):
        ema.update_parameters(model)
    assert ema.current_decay() == 0.99
    assert int(ema.n_averaged) == 1001
    assert ema.module[1].num_batches_tracked == model[1].num_batches_tracked  # counters are copied


def test_a_restored_ema_continues_with_the_same_decay():
    model = nn.Linear(3, 2)
    ema = make_ema(model, decay=0.999)
    for _ in range(50):
        ema.update_parameters(model)
    restored = make_ema(model, decay=0.999)
    restored.load_state_dict(ema.state_dict())
    assert restored.current_decay() == ema.current_decay() == 51 / 60
