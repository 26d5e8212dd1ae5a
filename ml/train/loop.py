"""The training loop: `train_one_epoch()`, `validate()` and `fit()` joining them.

`fit` takes a config, a FerStore and an output folder, and gives back where the best and last
checkpoints are. Callers watch and steer it through two callbacks: `on_epoch` (after each epoch; may
ask to stop) and `should_stop` (polled before every batch; the web app cancels runs with it).
"""
from __future__ import annotations

import contextlib
import functools
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, WeightedRandomSampler

from ml.evaluate import compute_metrics, resolve_device
from ml.models import create_model
from ml.train.checkpoint import checkpoint_payload, initial_checkpoint, load_checkpoint, model_from_checkpoint, save_checkpoint
from ml.train.config import TrainConfig
from ml.train.dataset import FerDataset, target_classes
from ml.train.device_data import DeviceBatches
from ml.train.losses import build_loss
from ml.train.targets import SplitTargets, ValidationLabels, training_targets
from ml.train.optim import build_optimizer, build_schedule
from ml.train.distill import make_distiller
from ml.train.regularizers import BatchMixer, make_ema, mixed_loss
from ml.transforms import FerEvalPreset, FerTrainPreset


NAN_CHECK_EVERY = 50  # batches between NaN checks on a GPU


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite: training cannot recover, so the run stops with this message."""


@dataclass
class EpochResult:
    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_macro_f1: float
    lr: float
    seconds: float
    images_per_second: float
    is_best: bool = False
    # PublicTest against the FER+ raters' majority (the faces that have one), where the store has votes.
    val_ferplus_acc: float | None = None
    val_ferplus_macro_f1: float | None = None
    # What chose the best epoch: PublicTest macro-F1 on the labels the run learns (ml/train/targets.py).
    selection_score: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def progress_line(self) -> str:
        best = "  *best" if self.is_best else ""
        ferplus = ""
        if self.val_ferplus_acc is not None:
            ferplus = f" | FER+ acc {self.val_ferplus_acc:.4f} macro-F1 {self.val_ferplus_macro_f1:.4f}"
        return (
            f"epoch {self.epoch:3d}/{self.epochs}  train loss {self.train_loss:.4f} acc {self.train_acc:.4f}  "
            f"val loss {self.val_loss:.4f} acc {self.val_acc:.4f} macro-F1 {self.val_macro_f1:.4f}{ferplus}  "
            f"lr {self.lr:.2e}  {self.seconds:.1f}s  {self.images_per_second:.0f} img/s{best}"
        )


@dataclass
class FitResult:
    best_checkpoint: Path | None  # None when the run stopped before finishing an epoch
    last_checkpoint: Path | None
    best_epoch: int
    epochs_run: int
    stop_reason: str  # "completed" | "early_stopping" | "cancelled"
    history: list[EpochResult] = field(default_factory=list)
    device: str = "cpu"


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def draw_weights(config: TrainConfig, labels: np.ndarray, num_classes: int,
                 sample_weights: np.ndarray | None = None) -> np.ndarray | None:
    """Per training face, its chance of being drawn: by its store's weight, and by the inverse of its
    class's frequency with `sampler: weighted`. None: every face once per epoch, shuffled."""
    weights = None if sample_weights is None else np.asarray(sample_weights, dtype=np.float64)
    if config.sampler == "weighted":
        counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
        balanced = 1.0 / counts[labels]
        weights = balanced if weights is None else weights * balanced
    return weights


def make_train_loader(dataset: FerDataset, config: TrainConfig, num_classes: int, epoch: int,
                      sample_weights: np.ndarray | None = None) -> DataLoader:
    # A generator seeded per epoch makes the batch order (and augmentation in workers) reproducible,
    # also after a resume in the middle of a run.
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    sampler = None
    weights = draw_weights(config, target_classes(dataset.labels).numpy(), num_classes, sample_weights)
    if weights is not None:
        draws = config.samples_per_epoch or len(dataset)
        sampler = WeightedRandomSampler(weights, num_samples=draws, replacement=True, generator=generator)
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=generator,
        num_workers=config.num_workers,
        worker_init_fn=_seed_worker,
        drop_last=(config.samples_per_epoch or len(dataset)) > config.batch_size,  # a batch of one breaks BatchNorm
        persistent_workers=False,
    )


def uses_device_pipeline(config: TrainConfig, device: torch.device) -> bool:
    if config.data_pipeline == "auto":
        # Photo augmentations exist in the batched pipeline only; on a CPU both pipelines run at one speed.
        return device.type == "cuda" or bool(config.augment.photo_keys())
    return config.data_pipeline == "device"


def make_batches(config: TrainConfig, train_split, val_split, preprocessing, num_classes: int, device: torch.device,
                 sample_weights: np.ndarray | None = None):
    """The epoch's training batches (a function of the epoch) and the validation batches, for the configured
    pipeline: augmented on the device from a resident copy of the data, or by DataLoader workers on the CPU."""
    (train_images, train_labels), (val_images, val_labels) = train_split, val_split
    val_batch_size = max(256, config.batch_size)
    if uses_device_pipeline(config, device):
        train = DeviceBatches.for_training(train_images, train_labels, config, preprocessing, device,
                                           sample_weights=sample_weights)
        val = DeviceBatches.for_evaluation(
            val_images, val_labels, preprocessing,
            batch_size=val_batch_size, device=device, normalize=config.augment.normalize,
        )

        def train_batches(epoch: int) -> DeviceBatches:
            train.set_epoch(epoch)
            return train

        return train_batches, val
    train_set = FerDataset(train_images, train_labels, FerTrainPreset(config.augment, preprocessing))
    val_set = FerDataset(val_images, val_labels, FerEvalPreset(preprocessing, normalize=config.augment.normalize))
    val_loader = DataLoader(val_set, batch_size=val_batch_size, num_workers=config.num_workers)
    return functools.partial(make_train_loader, train_set, config, num_classes, sample_weights=sample_weights), val_loader


def _cpu_state(module: nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule,
    device: torch.device,
    *,
    mixed_precision: bool = False,
    should_stop: Callable[[], bool] | None = None,
    epoch: int = 1,
    grad_clip: float | None = None,
    mixer: BatchMixer | None = None,
    ema=None,
    distiller=None,
) -> tuple[float, float, int, bool]:
    """One pass over the training data. Returns (mean loss, accuracy, images seen, cancelled).

    Running sums stay on the device: reading a GPU value every step would make the CPU wait for it.
    On a GPU the loss is checked for NaN every NAN_CHECK_EVERY batches for the same reason.
    With a mixer, accuracy is counted against each image's first label.
    """
    model.train()
    check_every = 1 if device.type == "cpu" else NAN_CHECK_EVERY
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0

    def summary() -> tuple[float, float]:
        return total_loss.item() / max(seen, 1), correct.item() / max(seen, 1)

    for batch_index, (images, labels) in enumerate(loader):
        if should_stop is not None and should_stop():
            return (*summary(), seen, True)
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        labels_b, lam = labels, 1.0
        if mixer is not None:
            images, labels, labels_b, lam = mixer(images, labels)
        with _autocast(device, mixed_precision):
            logits = model(images)
            loss = mixed_loss(criterion, logits.float(), labels, labels_b, lam)
            if distiller is not None:
                loss = distiller.loss(images, logits.float(), loss)
        if batch_index % check_every == 0 and not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"loss became {loss.item()} at epoch {epoch}, batch {batch_index + 1}; "
                "lower the learning rate or check the data"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_value_(model.parameters(), grad_clip)
        optimizer.step()
        if ema is not None:
            ema.update_parameters(model)
        schedule.after_batch()
        total_loss += loss.detach() * len(labels)
        classes = labels if labels.ndim == 1 else labels.argmax(dim=1)
        correct += (logits.argmax(dim=1) == classes).sum()
        seen += len(labels)
    mean_loss, accuracy = summary()
    if not math.isfinite(mean_loss):
        raise NonFiniteLossError(f"loss became {mean_loss} during epoch {epoch}; lower the learning rate or check the data")
    return mean_loss, accuracy, seen, False


@torch.no_grad()
def validate(
    model: nn.Module, loader: DataLoader, criterion: nn.Module, device: torch.device, mixed_precision: bool = False
) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean loss, true labels and predicted labels over a loader."""
    loss, true, logits = validation_logits(model, loader, criterion, device, mixed_precision)
    return loss, true, logits.argmax(axis=1)


@torch.no_grad()
def validation_logits(
    model: nn.Module, loader: DataLoader, criterion: nn.Module, device: torch.device, mixed_precision: bool = False
) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean loss against the loader's targets, those targets, and the logits, in the loader's order."""
    model.eval()
    total_loss, seen, true, outputs = 0.0, 0, [], []
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        with _autocast(device, mixed_precision):
            logits = model(images)
        total_loss += criterion(logits.float(), labels).item() * len(labels)
        seen += len(labels)
        true.append(labels.cpu())
        outputs.append(logits.float().cpu())
    return total_loss / max(seen, 1), torch.cat(true).numpy(), torch.cat(outputs).numpy()


def prepare_store(config: TrainConfig, store):
    """The data a run trains and is scored on: the config's class subset, then its `limit` sample."""
    if config.classes is not None:
        store = store.select_classes(config.classes)
    if config.limit is not None:
        store = store.subsample(config.limit, seed=config.seed)
    return store


@dataclass
class TrainingData:
    images: np.ndarray  # uint8 (n, 48, 48): every store's training faces that have a target
    targets: SplitTargets
    sample_weights: np.ndarray | None  # per face, where the recipe weights its stores (None: draw uniformly)

    def class_prior(self, num_classes: int) -> np.ndarray:
        """The mean target of a drawn face: the class frequencies the run learns, stores weighted by their draws."""
        targets = _as_distributions(self.targets.targets, num_classes)
        weights = self.sample_weights if self.sample_weights is not None else np.ones(len(targets))
        prior = (weights[:, None] * targets).sum(axis=0)
        return prior / prior.sum()


def training_data(config: TrainConfig, stores, log: Callable[[str], None]) -> TrainingData:
    """The training split of every store, joined, with each face's target under the recipe's labels and, where
    the recipe weights its stores (`data_weights`) or draws a fixed number of faces per epoch, the weight a
    face is drawn with: weights [3, 1] draw three faces from the first store for each from the second,
    whatever their sizes. A store without FER+ votes (the user's own photos) keeps its one-hot labels under
    FER+ targets: its labels are the truth for its faces."""
    if config.data_weights is not None and len(config.data_weights) != len(stores):
        raise ValueError(f"data_weights has {len(config.data_weights)} weights for {len(stores)} data sets")
    for other in stores[1:]:
        if list(other.class_names) != list(stores[0].class_names):
            raise ValueError(f"the data sets disagree on classes: {stores[0].class_names} vs {other.class_names}")
    if config.labels != "fer2013" and all(one.votes is None for one in stores):
        raise ValueError(f"labels: {config.labels} needs FER+ votes in "
                         + ("the store" if len(stores) == 1 else "at least one of the data sets")
                         + "; import FER2013 with --ferplus VOTES_CSV")
    images, targets, weights, rows, left_out, total = [], [], [], [], 0, 0
    for index, one in enumerate(stores):
        one_images, one_labels = one.split("train")
        mode = config.labels if one.votes is not None else "fer2013"
        split_targets = training_targets(mode, one_labels, one.split_votes("train"),
                                         fer2013_weight=config.mixed_fer2013_weight,
                                         num_classes=len(one.class_names))
        images.append(one_images[split_targets.rows])
        targets.append(split_targets.targets)
        rows.append(split_targets.rows)
        left_out += split_targets.left_out
        total += len(one_labels)
        count = int(split_targets.rows.sum())
        # A store's share of the draws is its weight, however many faces it holds.
        weight = config.data_weights[index] / max(count, 1) if config.data_weights is not None else 1.0
        weights.append(np.full(count, weight, dtype=np.float64))
    if total == 0:
        raise ValueError("the training split is empty")
    if left_out:
        log(f"labels {config.labels}: {left_out:,} of {total:,} training faces have no FER+ "
            "reading (no votes, mostly unknown or not a face"
            + (", or no majority" if config.labels == "ferplus_majority" else "") + ") and are left out")
    if any(part.ndim == 2 for part in targets):  # joined with distributions, every row must be one
        targets = [_as_distributions(part, len(stores[0].class_names)) for part in targets]
    joined = SplitTargets(rows=np.concatenate(rows), targets=np.concatenate(targets), left_out=left_out)
    if len(joined.targets) == 0:
        raise ValueError(f"no training face has a target under labels: {config.labels}")
    sample_weights = np.concatenate(weights)
    if len(stores) > 1:
        shares = [w.sum() for w in weights]
        sizes = ", ".join(f"{len(t):,} faces ({share / sum(shares):.0%} of draws)" for t, share in zip(targets, shares))
        log(f"training on {len(stores)} data sets: {sizes}")
    weighted = config.data_weights is not None or config.samples_per_epoch is not None
    return TrainingData(np.concatenate(images), joined, sample_weights if weighted else None)


def _as_distributions(targets: np.ndarray, num_classes: int) -> np.ndarray:
    if targets.ndim == 2:
        return targets
    return np.eye(num_classes, dtype=np.float32)[targets]


def _improved(monitor: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if monitor == "val_loss" else value > best


def with_start(config: TrainConfig) -> tuple[TrainConfig, dict | None]:
    """A run's config with the architecture of the checkpoint it starts from (`init_from`, a member where it
    names one), and that checkpoint: a recipe can fine-tune any model it is pointed at, whatever its own
    `model` says. Without `init_from`, the config as it is and None."""
    if config.init_from is None:
        return config, None
    initial = initial_checkpoint(config.init_from, config.init_member)
    return config.replace(model={"name": initial["model"]["name"], "options": dict(initial["model"]["options"])}), initial


def fit(
    config: TrainConfig,
    store,
    out_dir: str | Path,
    *,
    on_epoch: Callable[[EpochResult], bool | None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume_from: str | Path | None = None,
    log: Callable[[str], None] | None = print,
) -> FitResult:
    log = log or (lambda line: None)
    out_dir = Path(out_dir)
    config, initial = with_start(config)
    if resume_from is not None:
        initial = None  # the weights are the resumed checkpoint's; the architecture stays the start's
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(config.to_yaml())
    seed_everything(config.seed, config.deterministic)
    device = resolve_device(config.device)

    stores = [prepare_store(config, one) for one in (store if isinstance(store, (list, tuple)) else [store])]
    store = stores[0]  # validation, selection and the checkpoint's data checksum: the first store given
    class_names = list(store.class_names)
    num_classes = len(class_names)
    training = training_data(config, stores, log)
    train_images, train_labels = training.images, training.targets.targets
    train_targets = training.targets
    val_images, val_labels = store.split("public_test")
    if len(val_labels) == 0:
        raise ValueError("the validation (PublicTest) split is empty")
    val_scoring = ValidationLabels.for_split(config, store, "public_test")

    if initial is not None:
        if list(initial["class_names"]) != class_names:
            raise ValueError(f"{config.init_from} predicts {initial['class_names']}, this run {class_names}")
        model = model_from_checkpoint(initial).train()
        log(f"starting from {config.init_from}" + (f", member {config.init_member}" if config.init_member is not None else "")
            + f" ({initial.get('config', {}).get('name', initial['model']['name'])})")
    else:
        model = create_model(config.model.name, num_classes=num_classes, **config.model.options)
    preprocessing = model.preprocessing
    # channels_last is what cuDNN and oneDNN convolutions run fastest: +10-30% per step on a 2-core CPU too.
    model = model.to(device).to(memory_format=torch.channels_last)
    # Checkpoints keep saving `model`: a compiled wrapper's state_dict keys carry an `_orig_mod.` prefix.
    forward_model = torch.compile(model) if config.compile else model

    train_batches, val_loader = make_batches(
        config, (train_images, train_labels), (val_images, val_labels), preprocessing, num_classes, device,
        sample_weights=training.sample_weights,
    )
    steps_per_epoch = len(train_batches(0))

    criterion = build_loss(config.loss, train_targets.class_indices, num_classes).to(device)
    mixer = BatchMixer(config.mix)
    mixer = mixer if mixer.enabled else None
    ema = make_ema(model, config.ema_decay) if config.ema_decay else None
    distiller = make_distiller(config.distill, preprocessing, class_names, device)
    # What is validated and checkpointed: the averaged weights when there is an EMA.
    evaluated_model = ema.module if ema is not None else model
    optimizer = build_optimizer(model, config.optimizer)
    schedule = build_schedule(optimizer, config.scheduler, config.epochs, steps_per_epoch)

    history: list[EpochResult] = []
    best_score: float | None = None  # val macro-F1 of the best checkpoint
    best_epoch = 0
    monitor_best: float | None = None  # for early stopping
    epochs_without_improvement = 0
    start_epoch = 1
    if resume_from is not None:
        state = load_checkpoint(resume_from, map_location=device)
        model.load_state_dict(state.get("train_state_dict", state["state_dict"]))
        if ema is not None:
            ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        loop = state["loop"]
        best_score, best_epoch = loop["best_score"], loop["best_epoch"]
        monitor_best, epochs_without_improvement = loop["monitor_best"], loop["epochs_without_improvement"]
        history = [EpochResult(**row) for row in state["history"]]
        start_epoch = state["epoch"] + 1
        log(f"resuming from {resume_from} at epoch {start_epoch}")

    writer = None
    if config.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"), purge_step=start_epoch)

    def payload(epoch: int, metrics: dict, with_training_state: bool) -> dict:
        data = checkpoint_payload(
            evaluated_model, name=config.model.name, options=config.model.options, class_names=class_names,
            config=config.to_dict(), metrics=metrics, epoch=epoch, data_checksum=store.source_checksum,
            data_checksums=[one.source_checksum for one in stores],
            history=[row.to_dict() for row in history],
        )
        if with_training_state:
            if ema is not None:
                data["train_state_dict"] = _cpu_state(model)
                data["ema"] = _cpu_state(ema)
            data["optimizer"] = optimizer.state_dict()
            data["scheduler"] = schedule.state_dict()
            data["rng"] = {"torch": torch.get_rng_state()}
            data["loop"] = {
                "best_score": best_score,
                "best_epoch": best_epoch,
                "monitor_best": monitor_best,
                "epochs_without_improvement": epochs_without_improvement,
            }
        return data

    best_path, last_path = out_dir / "best.pt", out_dir / "last.pt"
    log(
        f"training {config.model.name} on {len(train_labels):,} images "
        f"(validation {len(val_labels):,}), {num_classes} classes, {describe_device(device)}"
    )
    stop_reason = "completed"
    epoch = start_epoch - 1
    try:
        for epoch in range(start_epoch, config.epochs + 1):
            started = time.perf_counter()
            loader = train_batches(epoch)
            train_loss, train_acc, seen, cancelled = train_one_epoch(
                forward_model, loader, criterion, optimizer, schedule, device,
                mixed_precision=config.mixed_precision, should_stop=should_stop, epoch=epoch,
                grad_clip=config.grad_clip, mixer=mixer, ema=ema, distiller=distiller,
            )
            if cancelled:
                # Keep what the finished epochs learnt; the interrupted epoch is not counted.
                stop_reason = "cancelled"
                epoch -= 1
                break
            train_seconds = time.perf_counter() - started
            val_model = evaluated_model if ema is not None else forward_model
            _, _, val_logits = validation_logits(val_model, val_loader, criterion, device, config.mixed_precision)
            val_loss = val_scoring.loss(criterion, val_logits)
            if not math.isfinite(val_loss):
                raise NonFiniteLossError(f"validation loss became {val_loss} at epoch {epoch}")
            val, val_ferplus = val_scoring.metrics(val_logits.argmax(axis=1), class_names)
            result = EpochResult(
                epoch=epoch,
                epochs=config.epochs,
                train_loss=train_loss,
                train_acc=train_acc,
                val_loss=val_loss,
                val_acc=val["accuracy"],
                val_macro_f1=val["macro_f1"],
                lr=optimizer.param_groups[-1]["lr"],
                seconds=time.perf_counter() - started,
                images_per_second=seen / max(train_seconds, 1e-9),
                val_ferplus_acc=val_ferplus["accuracy"] if val_ferplus else None,
                val_ferplus_macro_f1=val_ferplus["macro_f1"] if val_ferplus else None,
            )
            result.selection_score = val_scoring.selection_score(val, val_ferplus)
            schedule.after_epoch(val_loss)
            if best_score is None or result.selection_score > best_score:
                best_score, best_epoch, result.is_best = result.selection_score, epoch, True
            monitored = val_loss if config.early_stopping_monitor == "val_loss" else result.selection_score
            if _improved(config.early_stopping_monitor, monitored, monitor_best):
                monitor_best, epochs_without_improvement = monitored, 0
            else:
                epochs_without_improvement += 1
            history.append(result)
            metrics = {**result.to_dict(), "validation": val, "labels": config.labels}
            if val_ferplus:
                metrics["validation_ferplus"] = val_ferplus
            if result.is_best:
                save_checkpoint(payload(epoch, metrics, with_training_state=False), best_path)
            save_checkpoint(payload(epoch, metrics, with_training_state=True), last_path)
            if writer is not None:
                for key in ("train_loss", "val_loss"):
                    writer.add_scalar(f"loss/{key[:-5]}", getattr(result, key), epoch)
                for key in ("train_acc", "val_acc"):
                    writer.add_scalar(f"accuracy/{key[:-4]}", getattr(result, key), epoch)
                writer.add_scalar("macro_f1/val", result.val_macro_f1, epoch)
                writer.add_scalar("lr", result.lr, epoch)
                writer.flush()
            log(result.progress_line())
            if on_epoch is not None and on_epoch(result):
                stop_reason = "cancelled"
                break
            if config.early_stopping_patience and epochs_without_improvement >= config.early_stopping_patience:
                stop_reason = "early_stopping"
                log(f"early stopping: {config.early_stopping_monitor} has not improved for {epochs_without_improvement} epochs")
                break
    finally:
        if writer is not None:
            writer.close()

    return FitResult(
        best_checkpoint=best_path if best_path.exists() else None,
        last_checkpoint=last_path if last_path.exists() else None,
        best_epoch=best_epoch,
        epochs_run=max(epoch, 0),
        stop_reason=stop_reason,
        history=history,
        device=describe_device(device),
    )
