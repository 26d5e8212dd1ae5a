"""A model card for a shipped checkpoint: what it is, what it was trained on, how it scores."""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from ml.models import count_parameters
from ml.models.ensemble import prior_source_words


def build_model_card(checkpoint_path: str | Path, store, *, command: str = "") -> str:
    """Evaluate on PublicTest (where the recipe was selected) and PrivateTest (held out, once) and
    describe the checkpoint in Markdown."""
    from ml.evaluate import evaluate_checkpoint
    from ml.train.checkpoint import load_model

    model, checkpoint = load_model(checkpoint_path)
    scores = {split: evaluate_checkpoint(checkpoint_path, store, split, device="cpu")
              for split in ("public_test", "private_test")}
    served_int8 = scores["public_test"]["precision"] == "int8"
    # An int8 checkpoint is also scored as trained, so the card shows what quantising cost.
    float_scores = {split: evaluate_checkpoint(checkpoint_path, store, split, device="cpu", int8=False)
                    for split in scores} if served_int8 else {}
    config = checkpoint["config"]
    size_mb = Path(checkpoint_path).stat().st_size / 1e6
    latency = face_latency(checkpoint_path)
    lines = [
        f"# Model card: {Path(checkpoint_path).name}",
        "",
        *_architecture_lines(checkpoint, model, size_mb),
        f"- **Input**: {checkpoint['preprocessing']['input_size']}x{checkpoint['preprocessing']['input_size']} "
        f"grayscale, normalised with mean {checkpoint['preprocessing']['mean']} and std {checkpoint['preprocessing']['std']}",
        f"- **Classes**: {', '.join(checkpoint['class_names'])}",
        f"- **Training data**: FER2013 Training split, source SHA-256 `{checkpoint['data_checksum']}`",
        f"- **Labels learned**: {_labels_learned(checkpoint)}",
        *([] if "members" in checkpoint else [f"- **Teacher**: {_teacher_line(config)}"]),
        f"- **Speed**: {latency.median_ms:.2f} ms per face at batch 1 (median of {latency.rounds} rounds of "
        f"{latency.runs} predictions, the rounds' medians {latency.low_ms:.2f}-{latency.high_ms:.2f} ms; "
        f"{latency.threads} CPU threads, {_precision_words(latency.precision)} as the upload path runs it) on "
        f"{platform.machine()}, {os.cpu_count()} cores, when this card was made",
        f"- **Evaluated on**: {platform.machine()} CPU, torch {torch.__version__}"
        + (f"; made with `{command}`" if command else ""),
        "",
        "FER2013 labels: the one rater per face the data set ships with. FER+ majority: the class more than half "
        "of ten FER+ raters chose once single votes are dropped (Barsoum et al. 2016), on the faces that have one.",
        "",
        "| split | labels | images | accuracy | macro-F1 | weighted F1 |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    rows = [(f"{split}{', int8 as served' if served_int8 else ''}", metrics) for split, metrics in scores.items()]
    rows += [(f"{split}, float as trained", metrics) for split, metrics in float_scores.items()]
    rows = [(label, name, scored) for label, metrics in rows
            for name, scored in (("FER2013", metrics), ("FER+ majority", metrics.get("ferplus"))) if scored]
    for label, label_set, metrics in rows:
        lines.append(f"| {label} | {label_set} | {metrics['num_samples']:,} | {metrics['accuracy']:.4f} | "
                     f"{metrics['macro_f1']:.4f} | {metrics['weighted_f1']:.4f} |")
    private = scores["private_test"]
    for title, metrics in (("FER2013 labels", private), ("the FER+ majority", private.get("ferplus"))):
        if not metrics:
            continue
        lines += ["", f"Per class on PrivateTest against {title}:", "", "| class | precision | recall | F1 | support |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for name, row in metrics["per_class"].items():
            lines.append(f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |")
    lines += _photo_pipeline_section(checkpoint_path)
    for member in checkpoint.get("members", []):
        lines += ["", f"Member `{member['config'].get('name')}`'s training config:", "", "```yaml",
                  _config_yaml(member["config"]).rstrip(), "```"]
    if "members" not in checkpoint:
        lines += ["", "Training config:", "", "```yaml", _config_yaml(config).rstrip(), "```"]
    lines.append("")
    return "\n".join(lines)


def _architecture_lines(checkpoint: dict[str, Any], model, size_mb: float) -> list[str]:
    config = checkpoint["config"]
    if "members" not in checkpoint:
        return [
            f"- **Architecture**: `{checkpoint['model']['name']}` with options `{checkpoint['model']['options']}`, "
            f"{count_parameters(model):,} parameters; file {size_mb:.1f} MB",
            f"- **Recipe**: `{config.get('name')}`; best epoch {checkpoint['epoch']} of {config.get('epochs')} "
            f"(selected by PublicTest macro-F1 on the labels it learned){_init_words(config)}",
        ]
    options = checkpoint["model"]["options"]
    tta = ", each also on the mirrored face (flip TTA)" if options.get("flip_tta") else ""
    prior = options.get("prior_correction")
    if prior:
        tta += f", then divided by {prior_source_words(prior)} to the power {prior['exponent']:g} and renormalised"
    lines = [f"- **Architecture**: an ensemble of {len(checkpoint['members'])} models served as one (one batch, "
             f"probabilities averaged{tta}), {count_parameters(model):,} parameters in all; file {size_mb:.1f} MB"]
    for member, member_model in zip(checkpoint["members"], model.members):
        member_config = member["config"]
        lines.append(
            f"  - `{member_config.get('name')}`: `{member['model']['name']}` with options `{member['model']['options']}`, "
            f"{count_parameters(member_model):,} parameters; best epoch {member.get('epoch')} of "
            f"{member_config.get('epochs')} (selected by PublicTest macro-F1); learned {_labels_words(member_config)}"
            f"{_init_words(member_config)}; {_teacher_line(member_config)}")
    return lines


LABEL_WORDS = {
    "fer2013": "FER2013's labels",
    "ferplus_majority": "the FER+ raters' majority",
    "ferplus_distribution": "the FER+ raters' vote distribution",
}


def _labels_words(config: dict[str, Any]) -> str:
    labels = config.get("labels", "fer2013")
    if labels == "mixed":
        weight = config.get("mixed_fer2013_weight", 0.5)
        return f"{weight:g} of FER2013's one-hot label and {1 - weight:g} of the FER+ raters' vote distribution"
    return LABEL_WORDS.get(labels, labels)


def _init_words(config: dict[str, Any]) -> str:
    if not config.get("init_from"):
        return ""
    member = config.get("init_member")
    return f", fine-tuned from `{config['init_from']}`" + (f" member {member}" if member is not None else "")


def _labels_learned(checkpoint: dict[str, Any]) -> str:
    configs = [member["config"] for member in checkpoint.get("members", [])] or [checkpoint.get("config") or {}]
    learned = sorted({_labels_words(config) for config in configs})
    if len(configs) == 1:
        return learned[0]
    return "; ".join(f"{sum(_labels_words(c) == words for c in configs)} member(s) {words}" for words in learned)


def _photo_pipeline_section(checkpoint_path: str | Path) -> list[str]:
    """The figures `python -m ml evaluate-photos --save` recorded for this very checkpoint, if any."""
    from ml.inference.photo_eval import load_photo_evaluations, summary_rows

    rows = summary_rows(load_photo_evaluations(checkpoint_path))
    if not rows:
        return []
    lines = [
        "", "## Whole photo pipeline", "",
        "Labelled photos through the upload path (decode, detect, crop, classify; the largest face counts). "
        "Strict: a photo with no face found is a miss. With fallback: the whole image is classified where no "
        "face was found, as the upload page offers.", "",
        "| set | photos | no face | strict accuracy | strict macro-F1 | with fallback accuracy "
        "| with fallback macro-F1 | raters' top vote | raters agree | command |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        skipped = f" ({row['skipped']:,} skipped)" if row["skipped"] else ""
        command = f"`{row['command']}`" if row["command"] else ""
        top_vote = f"{row['raters_top_vote_accuracy']:.4f}" if row.get("raters_top_vote_accuracy") is not None else "—"
        agree = (f"{row['raters_agree_accuracy']:.4f} ({row['raters_agree_photos']:,} photos)"
                 if row.get("raters_agree_accuracy") is not None else "—")
        lines.append(f"| {row['set']} | {row['photos']:,}{skipped} | {row['no_face']:,} | "
                     f"{row['strict_accuracy']:.4f} | {row['strict_macro_f1']:.4f} | {row['fallback_accuracy']:.4f} | "
                     f"{row['fallback_macro_f1']:.4f} | {top_vote} | {agree} | {command} |")
    lines += ["", "Raters' top vote: the same predictions scored against the class most of the set's raters chose "
              "(where the set has raters). Raters agree: only the photos whose raters' majority is the posed label."]
    framings = sorted({row["framing"] for row in rows if row["framing"]})
    if framings:
        lines += ["", "Faces cut as: " + "; ".join(framings) + "."]
    return lines


def _precision_words(precision: str) -> str:
    if precision == "int8":
        return "int8 weights and activations (`python -m ml quantize`)"
    return "float, batch norms folded"


def _teacher_line(config: dict[str, Any]) -> str:
    teacher = (config.get("distill") or {}).get("teacher_checkpoint")
    if not teacher:
        return "none: trained on the labels alone"
    distill = config["distill"]
    return (f"distilled from `{teacher}` (a student: weight {distill['alpha']} on the teacher's predictions at "
            f"temperature {distill['temperature']}, the rest on the labels)")


@dataclass(frozen=True)
class FaceLatency:
    median_ms: float  # the median of the rounds' medians
    low_ms: float  # the quickest round's median
    high_ms: float  # the slowest round's median
    rounds: int
    runs: int  # predictions per round
    threads: int
    precision: str = "float32"  # what the predictor served: "int8" or "float32"


def face_latency(checkpoint_path: str | Path, threads: int = 2, runs: int = 200, rounds: int = 7) -> FaceLatency:
    """Milliseconds to predict one 48x48 face, as EmotionPredictor serves it, with `threads` threads.

    One run of a few hundred predictions swings by a third on a shared machine (other processes, CPU
    frequency), so the figure is the median of several rounds with short pauses between them, and the
    rounds' spread is reported with it."""
    import time

    import numpy as np

    from ml.inference import EmotionPredictor

    predictor = EmotionPredictor.from_checkpoint(checkpoint_path)
    face = np.random.default_rng(0).integers(0, 256, size=(1, 48, 48), dtype=np.uint8)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for _ in range(10):
            predictor.predict_faces(face)
        round_medians = []
        for _ in range(rounds):
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                predictor.predict_faces(face)
                times.append(time.perf_counter() - started)
            round_medians.append(float(np.median(times)) * 1000)
            time.sleep(0.2)  # so one burst of other work colours one round, not all of them
    finally:
        torch.set_num_threads(previous)
    return FaceLatency(float(np.median(round_medians)), min(round_medians), max(round_medians), rounds, runs, threads,
                       predictor.precision)


def _config_yaml(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)
