"""How long each recipe takes to train here: a short timed run of the recipe itself, extrapolated.

Each recipe runs through `fit()` exactly as `python -m ml recipes` would train it (its model, batch size,
sampler, augmentations, data pipeline and class subset), for two epochs on a stratified sample of `--limit`
images per split. The first is warm-up (one-off set-up, first-call kernel selection); the second's timings give training and validation images per second, and the estimate
is the full epoch (every training and PublicTest image of the recipe's classes) times its configured epochs.
Early stopping can only make a run shorter. The first row is the baseline the others are compared with.

    python bench/recipe_time.py configs/ferlite_cpu_long.yaml configs/seed*.yaml --data var/fer2013.npz

The table says which recipes fit 2.5 hours of training on a CPU and which need a GPU.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.data import FerStore  # noqa: E402
from ml.train import TrainConfig, fit  # noqa: E402
from ml.train.loop import prepare_store  # noqa: E402
from report import save_json  # noqa: E402

CPU_BUDGET_HOURS = 2.5


def time_recipe(config: TrainConfig, store: FerStore, limit: int) -> dict:
    full = prepare_store(config.replace(limit=None), store)
    train_images, val_images = len(full.split("train")[1]), len(full.split("public_test")[1])
    short = config.replace(limit=limit, epochs=2, early_stopping_patience=None)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        fitted = fit(short, store, out, log=None)
        wall = time.perf_counter() - started
    epoch = fitted.history[-1]  # the first epoch warms up
    sample = prepare_store(short, store)
    sampled_train, sampled_val = len(sample.split("train")[1]), len(sample.split("public_test")[1])
    train_seconds = sampled_train / epoch.images_per_second
    val_per_second = sampled_val / max(epoch.seconds - train_seconds, 1e-6)
    epoch_seconds = train_images / epoch.images_per_second + val_images / val_per_second
    return {
        "recipe": config.name,
        "model": config.model.name,
        "epochs": config.epochs,
        "early_stopping": config.early_stopping_patience is not None,
        "train_images": train_images,
        "train_img_s": round(epoch.images_per_second, 1),
        "val_img_s": round(val_per_second, 1),
        "epoch_minutes": round(epoch_seconds / 60, 2),
        "total_hours": round(epoch_seconds * config.epochs / 3600, 2),
        "timed_seconds": round(wall, 1),
    }


def markdown(rows: list[dict], device: str, limit: int) -> str:
    baseline = rows[0]
    lines = [
        f"Device: {device}; the second of two epochs on {limit} images per split, timed through fit(); "
        f"estimate = full epoch x configured epochs; baseline `{baseline['recipe']}`.",
        "",
        "| recipe | model | train img/s | x baseline | one epoch | epochs | estimate | fits 2.5 h on this machine |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        epochs = f"{row['epochs']}{' (early stop)' if row['early_stopping'] else ''}"
        fits = "yes" if row["total_hours"] <= CPU_BUDGET_HOURS else f"no: needs a GPU (about {row['total_hours']:.1f} h here)"
        lines.append(
            f"| `{row['recipe']}` | {row['model']} | {row['train_img_s']:,.0f} | "
            f"{row['train_img_s'] / baseline['train_img_s']:.2f}x | {row['epoch_minutes']:.1f} min | {epochs} | "
            f"{_hours(row['total_hours'])} | {fits} |"
        )
    return "\n".join(lines)


def _hours(hours: float) -> str:
    return f"{hours * 60:.0f} min" if hours < 1.5 else f"{hours:.1f} h"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", help="recipes; the first is the baseline")
    parser.add_argument("--data", required=True, help="a store written by `python -m ml import`")
    parser.add_argument("--limit", type=int, default=512, help="images per split in the timed epoch")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    store = FerStore.load(args.data)
    rows = []
    for path in args.configs:
        config = TrainConfig.from_yaml(path).replace(device=args.device)
        print(f"{config.name} ...", file=sys.stderr, flush=True)
        rows.append(time_recipe(config, store, args.limit))
    device = f"{args.device} ({torch.get_num_threads()} threads), {os.cpu_count()} cores"
    print(markdown(rows, device, args.limit))
    save_json(args.json, {"device": device, "limit": args.limit, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
