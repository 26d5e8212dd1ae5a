"""A model card for a shipped checkpoint: what it is, what it was trained on, how it scores."""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch
import yaml

from ml.models import count_parameters


def build_model_card(checkpoint_path: str | Path, store, *, command: str = "") -> str:
    """Evaluate on PublicTest (where the recipe was selected) and PrivateTest (held out, once) and
    describe the checkpoint in Markdown."""
    from ml.evaluate import evaluate_checkpoint
    from ml.train.checkpoint import load_model

    model, checkpoint = load_model(checkpoint_path)
    scores = {split: evaluate_checkpoint(checkpoint_path, store, split, device="cpu")
              for split in ("public_test", "private_test")}
    config = checkpoint["config"]
    size_mb = Path(checkpoint_path).stat().st_size / 1e6
    lines = [
        f"# Model card: {Path(checkpoint_path).name}",
        "",
        f"- **Architecture**: `{checkpoint['model']['name']}` with options `{checkpoint['model']['options']}`, "
        f"{count_parameters(model):,} parameters; file {size_mb:.1f} MB",
        f"- **Recipe**: `{config.get('name')}`; best epoch {checkpoint['epoch']} of {config.get('epochs')} "
        "(selected by PublicTest macro-F1)",
        f"- **Input**: {checkpoint['preprocessing']['input_size']}x{checkpoint['preprocessing']['input_size']} "
        f"grayscale, normalised with mean {checkpoint['preprocessing']['mean']} and std {checkpoint['preprocessing']['std']}",
        f"- **Classes**: {', '.join(checkpoint['class_names'])}",
        f"- **Training data**: FER2013 Training split, source SHA-256 `{checkpoint['data_checksum']}`",
        f"- **Evaluated on**: {platform.machine()} CPU, torch {torch.__version__}"
        + (f"; made with `{command}`" if command else ""),
        "",
        "| split | images | accuracy | macro-F1 | weighted F1 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for split, metrics in scores.items():
        lines.append(f"| {split} | {metrics['num_samples']:,} | {metrics['accuracy']:.4f} | "
                     f"{metrics['macro_f1']:.4f} | {metrics['weighted_f1']:.4f} |")
    lines += ["", "Per class on PrivateTest:", "", "| class | precision | recall | F1 | support |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name, row in scores["private_test"]["per_class"].items():
        lines.append(f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |")
    lines += ["", "Training config:", "", "```yaml", _config_yaml(config).rstrip(), "```", ""]
    return "\n".join(lines)


def _config_yaml(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)
