"""Training speed: images per second for each registered model, DataLoader path and device-resident path.

Both paths run fit()'s own pieces (make_train_loader with FerTrainPreset in workers, DeviceBatches with
BatchAugment) under the same train_one_epoch, on a recipe's augmentations; warm-up steps are not timed.

    python bench/train_speed.py                                   # every model on CPU, a few steps each
    python bench/train_speed.py --models cnn3,ferlite --steps 5
    python bench/train_speed.py --device cuda --compile --json var/bench/train_speed-h100.json
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

# Run as a script from a checkout: the repository root holds the `ml` package.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.models import count_parameters, create_model, list_models  # noqa: E402
from ml.train.config import SchedulerConfig, TrainConfig  # noqa: E402
from ml.train.dataset import FerDataset  # noqa: E402
from ml.train.device_data import DeviceBatches  # noqa: E402
from ml.train.loop import describe_device, make_train_loader, train_one_epoch  # noqa: E402
from ml.train.optim import build_schedule  # noqa: E402
from ml.transforms import FerTrainPreset  # noqa: E402
from report import cpu_name, save_json  # noqa: E402

FER_TRAIN_SIZE = 28_709  # images in FER2013's Training split
NUM_CLASSES = 7


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default="all", help="comma-separated registered names (default: all)")
    parser.add_argument("--batch-size", type=int, help="default 128 on cuda; 32 on cpu, so all models take ~5 min")
    parser.add_argument("--steps", type=int, help="timed steps per model and path (default 50 on cuda, 3 on cpu)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 10 on cuda, 1 on cpu)")
    parser.add_argument("--workers", type=int, help="DataLoader workers (default 2 on cpu, up to 8 on cuda)")
    parser.add_argument("--data", default="synthetic", help="a FER store (.npz) or 'synthetic' (random faces)")
    parser.add_argument("--recipe", default=str(ROOT / "configs/seed001_vgg_style.yaml"), help="whose augmentations")
    parser.add_argument("--compile", action="store_true", help="torch.compile each model (warm-up covers compiling)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    on_gpu = args.device == "cuda"
    args.batch_size = args.batch_size or (128 if on_gpu else 32)
    args.steps = args.steps or (50 if on_gpu else 3)
    args.warmup = args.warmup if args.warmup is not None else (10 if on_gpu else 1)
    args.workers = args.workers if args.workers is not None else (min(8, os.cpu_count() or 1) if on_gpu else 2)
    args.models = list_models() if args.models == "all" else args.models.split(",")
    return args


def training_split(data: str) -> tuple[np.ndarray, np.ndarray]:
    if data != "synthetic":
        from ml.data import FerStore

        return FerStore.load(data).split("train")
    # Pixel values do not change the speed; FER2013's size keeps epochs (and worker restarts) realistic.
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(FER_TRAIN_SIZE, 48, 48), dtype=np.uint8)
    return images, rng.integers(0, NUM_CLASSES, size=FER_TRAIN_SIZE)


def endless(batches_for_epoch):
    """Batches across as many epochs as the measurement needs, each epoch built as fit() builds it."""
    for epoch in itertools.count(1):
        yield from batches_for_epoch(epoch)


def images_per_second(model: nn.Module, batches, args, device: torch.device) -> float:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    schedule = build_schedule(optimizer, SchedulerConfig(), epochs=1, steps_per_epoch=1)
    criterion = nn.CrossEntropyLoss()

    def train(steps: int) -> int:
        _, _, seen, _ = train_one_epoch(
            model, itertools.islice(batches, steps), criterion, optimizer, schedule, device,
            mixed_precision=device.type == "cuda",
        )
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return seen

    train(args.warmup)
    started = time.perf_counter()
    seen = train(args.steps)
    return seen / (time.perf_counter() - started)


def dataloader_batches(config: TrainConfig, images, labels, preprocessing):
    dataset = FerDataset(images, labels, FerTrainPreset(config.augment, preprocessing))
    return endless(lambda epoch: make_train_loader(dataset, config, NUM_CLASSES, epoch))


def device_batches(config: TrainConfig, images, labels, preprocessing, device):
    batches = DeviceBatches.for_training(images, labels, config, preprocessing, device)

    def epoch_of(epoch: int) -> DeviceBatches:
        batches.set_epoch(epoch)
        return batches

    return endless(epoch_of)


def bench_model(name: str, recipe: TrainConfig, images, labels, args, device: torch.device) -> dict:
    config = recipe.replace(model={"name": name}, batch_size=args.batch_size, num_workers=args.workers)
    model = create_model(name, num_classes=NUM_CLASSES).to(device)
    preprocessing = model.preprocessing
    model = model.to(memory_format=torch.channels_last)  # as fit() trains it, on every device
    trained = torch.compile(model) if args.compile else model
    # Closing the DataLoader's generator shuts its workers down before the other path is timed.
    with contextlib.closing(dataloader_batches(config, images, labels, preprocessing)) as batches:
        loader_speed = images_per_second(trained, batches, args, device)
    with contextlib.closing(device_batches(config, images, labels, preprocessing, device)) as batches:
        device_speed = images_per_second(trained, batches, args, device)
    return {
        "model": name,
        "params_m": round(count_parameters(model) / 1e6, 2),
        "input_size": preprocessing.input_size,
        "dataloader_img_s": round(loader_speed, 1),
        "device_img_s": round(device_speed, 1),
        "speedup": round(device_speed / loader_speed, 2),
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return describe_device(device)
    return f"{describe_device(device)}, {os.cpu_count()} cores, {cpu_name()}"


def markdown(results: dict) -> str:
    lines = [
        f"Device: {results['device']}; torch {results['torch']}; batch {results['batch_size']}, "
        f"{results['steps']} timed steps after {results['warmup']} warm-up; augmentations of "
        f"{results['recipe']}; DataLoader workers {results['workers']}; compile {results['compile']}; "
        f"{'bf16 autocast' if results['device'].startswith('cuda') else 'fp32'}, channels_last.",
        "",
        "| model | params | input | DataLoader img/s | device-resident img/s | speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['model']} | {row['params_m']}M | {row['input_size']} | {row['dataloader_img_s']:,.0f} "
            f"| {row['device_img_s']:,.0f} | {row['speedup']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    recipe = TrainConfig.from_yaml(args.recipe)
    images, labels = training_split(args.data)
    results = {
        "device": device_name(device),
        "torch": torch.__version__,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "recipe": Path(args.recipe).stem,
        "workers": args.workers,
        "compile": args.compile,
        "data": args.data,
        "rows": [],
    }
    for name in args.models:
        print(f"{name} ...", file=sys.stderr, flush=True)
        results["rows"].append(bench_model(name, recipe, images, labels, args, device))
    print(markdown(results))
    save_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
