"""Choose the shipped ensemble: every candidate (members, their targets, prior correction) on PublicTest
against both label sets and on the development sets through the whole photo pipeline, in one run.

Each member's probabilities are computed once per set (int8 as served with --int8), and a candidate
averages its members' probabilities, as `EnsembleModel` does, then divides by a training prior to its
exponent. Columns: PublicTest against FER2013's labels and against the FER+ raters' majority (the faces
that have one); each photo folder against its label and, where labels.csv carries the raters' readings
(twpfe), against the raters' top vote and on the photos whose raters agree with the posed label.
PrivateTest is never read.

    python bench/ferplus_candidates.py var/devsets/twpfe var/devsets/muxspace --data var/fer2013.npz --int8 \\
        --member q0=ml/weights/default.pt#0 --member d0=var/ferplus_runs/ferlite_cpu_long_fpd/best.pt \\
        --candidate "shipped=q0+q1+q2+q3@0.2" --candidate "fpd=d0+d1+d2+d3"

A candidate is NAME=MEMBER+MEMBER...[@EXPONENT]; the exponent divides by FER2013's Training label
frequencies (as `python -m ml ensemble --prior-correction` does), `@fp0.3` by the FER+ raters' mean
distribution on Training instead. `MEMBER*2` weighs a member twice; `MEMBER:Angry/Fear` lets it vote on
those classes only.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from framing_sweep import crops_for, load_set  # noqa: E402

from ml.data import FerStore  # noqa: E402
from ml.data.ferplus import majority_labels, vote_distributions  # noqa: E402
from ml.evaluate import compute_metrics, predict_probabilities  # noqa: E402
from ml.inference.framing import measured_framing  # noqa: E402
from ml.inference.photo_eval import read_labelled_folder  # noqa: E402
from ml.inference.predictor import EmotionPredictor  # noqa: E402
from ml.inference.quantize import calibration_faces, quantize_model  # noqa: E402
from ml.train.checkpoint import initial_checkpoint, model_from_checkpoint  # noqa: E402
from report import cpu_name, save_json  # noqa: E402


def load_member(spec: str):
    """NAME=PATH or NAME=PATH#INDEX (a member of an ensemble checkpoint)."""
    name, _, where = spec.partition("=")
    path, _, index = where.partition("#")
    checkpoint = initial_checkpoint(path, int(index) if index else None)
    return name, checkpoint


def parse_candidate(spec: str) -> tuple[str, list[tuple[str, list[str] | None]], float, str]:
    """NAME=M1+M2:Angry/Fear...@EXPONENT: a member followed by `:CLASSES` votes on those classes only."""
    name, _, rest = spec.partition("=")
    members, _, exponent = rest.partition("@")
    prior = "fer2013"
    if exponent.startswith("fp"):
        prior, exponent = "ferplus", exponent[2:]
    parsed = []
    for member in members.split("+"):
        member, _, classes = member.partition(":")
        member, _, weight = member.partition("*")
        parsed.append((member, classes.split("/") if classes else None, float(weight or 1)))
    return name, parsed, float(exponent or 0), prior


def class_weights(members, names) -> np.ndarray:
    """(members, classes): a member's weight where it votes on a class, else 0."""
    return np.array([[weight if only is None or name in only else 0.0 for name in names]
                     for _, only, weight in members])


def photo_sets(folders: list[Path], cache: Path) -> dict:
    """Per folder: the served crops (MTCNN, the measured framing, the whole photo where no face is found),
    the labels and, where the folder has them, the raters' top vote and agreement."""
    detector = EmotionPredictor.from_checkpoint("ml/weights/default.pt", detector="mtcnn")
    sets = {}
    for folder in folders:
        rows, names = load_set(folder, detector, cache)
        photos = {photo.name: photo for photo in read_labelled_folder(folder)[0]}
        ordered = [photos[name] for name in names]
        sets[folder.name] = {
            "faces": crops_for(rows, measured_framing("mtcnn")),
            "label": np.array([detector.class_names.index(p.label) for p in ordered]),
            "top_vote": np.array([detector.class_names.index(p.raters_label) if p.raters_label else -1 for p in ordered]),
            "agree": np.array([bool(p.raters_agree) for p in ordered]),
        }
    return sets


def score(truth: np.ndarray, predicted: np.ndarray, names, rows=None) -> dict:
    rows = np.ones(len(truth), bool) if rows is None else rows
    metrics = compute_metrics(truth[rows].tolist(), predicted[rows].tolist(), names)
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "n": int(rows.sum()),
            "recall": {name: row["recall"] for name, row in metrics["per_class"].items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--data", required=True, help="a FER2013 store imported with --ferplus")
    parser.add_argument("--member", action="append", required=True, help="NAME=CHECKPOINT[#INDEX]")
    parser.add_argument("--candidate", action="append", required=True, help="NAME=M1+M2...[@EXPONENT]")
    parser.add_argument("--int8", action="store_true", help="score each member int8-quantised, as served")
    parser.add_argument("--cache", type=Path, default=Path(__file__).resolve().parents[1] / "var" / "cache" / "framing_sweep")
    parser.add_argument("--json", help="also write the table here")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    started = time.perf_counter()

    store = FerStore.load(args.data)
    if store.votes is None:
        parser.error(f"{args.data} has no FER+ votes: import it with --ferplus")
    names = list(store.class_names)
    train_images, train_labels = store.split("train")
    priors = {"fer2013": np.bincount(train_labels, minlength=7) / len(train_labels)}
    distributions, usable = vote_distributions(store.split_votes("train"))
    priors["ferplus"] = distributions[usable].mean(axis=0)
    public_faces, public_labels = store.split("public_test")
    public_ferplus = majority_labels(store.split_votes("public_test"))
    sets = photo_sets(args.folders, args.cache)
    calibration = calibration_faces(train_images, train_labels) if args.int8 else None

    probabilities = {}
    for spec in args.member:
        name, checkpoint = load_member(spec)
        model = model_from_checkpoint(checkpoint)
        if args.int8:
            model = quantize_model(model, calibration, model.preprocessing)
        probabilities[name] = {"PublicTest": predict_probabilities(model, public_faces, model.preprocessing)}
        for set_name, photo_set in sets.items():
            probabilities[name][set_name] = predict_probabilities(model, photo_set["faces"], model.preprocessing)
        print(f"member {name}: {checkpoint.get('config', {}).get('name', '?')} "
              f"(labels {checkpoint.get('config', {}).get('labels', 'fer2013')})", file=sys.stderr, flush=True)

    results = []
    for spec in args.candidate:
        name, members, exponent, prior = parse_candidate(spec)
        label = "+".join(m + (f"*{weight:g}" if weight != 1 else "") + (f" ({'/'.join(only)} only)" if only else "")
                         for m, only, weight in members)
        row = {"candidate": name, "members": label, "prior": f"{prior} {exponent:g}" if exponent else "none"}
        weights = class_weights(members, names)

        def predicted(set_name: str) -> np.ndarray:
            # Per class, the mean of the members that vote on it (all of them, unless a member is limited).
            stacked = np.stack([probabilities[m][set_name] for m, _, _ in members])
            mean = (stacked * weights[:, None, :]).sum(axis=0) / weights.sum(axis=0)
            adjusted = mean / priors[prior] ** exponent
            return adjusted.argmax(axis=1)

        public = predicted("PublicTest")
        row["public_fer2013"] = score(public_labels, public, names)
        row["public_ferplus"] = score(public_ferplus, public, names, public_ferplus >= 0)
        for set_name, photo_set in sets.items():
            guess = predicted(set_name)
            row[set_name] = score(photo_set["label"], guess, names)
            if (photo_set["top_vote"] >= 0).any():
                row[f"{set_name}_top_vote"] = score(photo_set["top_vote"], guess, names, photo_set["top_vote"] >= 0)
                row[f"{set_name}_agree"] = score(photo_set["label"], guess, names, photo_set["agree"])
        results.append(row)

    columns = ["public_fer2013", "public_ferplus"] + [key for key in results[0] if key not in
                                                     ("candidate", "members", "prior", "public_fer2013", "public_ferplus")]
    titles = {"public_fer2013": "PublicTest, FER2013", "public_ferplus": "PublicTest, FER+"}
    for set_name in sets:
        titles[f"{set_name}_top_vote"] = f"{set_name}, raters' top vote"
        titles[f"{set_name}_agree"] = f"{set_name}, raters agree"
    print(f"# {len(args.candidate)} candidates, members {'int8' if args.int8 else 'float'}; {cpu_name()}; "
          f"{time.perf_counter() - started:.0f} s")
    print("| candidate | members | prior | " + " | ".join(titles.get(c, c) for c in columns) + " |")
    print("| --- | --- | --- | " + " | ".join("---:" for _ in columns) + " |")
    for row in results:
        cells = [f"{row[c]['accuracy']:.1%} ({row[c]['macro_f1']:.3f})" for c in columns]
        print(f"| {row['candidate']} | {row['members']} | {row['prior']} | " + " | ".join(cells) + " |")
    # Recall per class on each photo set against its own labels: what a candidate gives up, and where.
    for set_name in sets:
        print(f"\n{set_name}, recall per class:")
        print("| candidate | " + " | ".join(names) + " |")
        print("| --- | " + " | ".join("---:" for _ in names) + " |")
        for row in results:
            print(f"| {row['candidate']} | " + " | ".join(f"{row[set_name]['recall'][n]:.2f}" for n in names) + " |")
    if args.json:
        save_json(args.json, {"machine": cpu_name(), "int8": args.int8, "rows": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
