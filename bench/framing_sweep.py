"""Dev-set accuracy by crop framing: the table behind ml/inference/framing.py's choices.

Every photo of each labelled folder is decoded and its faces detected once, as an upload is; then the
largest face is cut out with each framing in turn (the old centred margins 0.0-0.3, the framing measured
on FER2013 by bench/crop_geometry.py, with and without levelling the eyes, with each border fill) and
classified by each checkpoint. A photo with no face is classified whole, as the upload page offers.

    python bench/framing_sweep.py var/devsets/twpfe var/devsets/muxspace \
        --checkpoint ml/weights/default.pt [--checkpoint other.pt] [--detector mtcnn]

Select and tune on development sets only; never train on them.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.evaluate import compute_metrics  # noqa: E402
from ml.inference.faces import Box  # noqa: E402
from ml.inference.framing import Framing, frame_face, measured_framing  # noqa: E402
from ml.inference.images import image_to_gray_array, load_image  # noqa: E402
from ml.inference.photo_eval import read_labelled_folder  # noqa: E402
from ml.inference.predictor import EmotionPredictor  # noqa: E402
from report import cpu_name  # noqa: E402

MARGINS = (0.0, 0.1, 0.2, 0.3)


def framings(detector: str) -> dict[str, Framing]:
    measured = measured_framing(detector)
    named = {f"margin {m:.1f}": Framing.from_margin(m, level_eyes=False, border="replicate") for m in MARGINS}
    named.update({f"margin {m:.1f}, mirrored, level": Framing.from_margin(m, border="reflect") for m in MARGINS})
    # How the fill past the photo's edge decides the spread over margins on tightly cropped photos.
    named.update({f"margin {m:.1f}, gray, level": Framing.from_margin(m, border="constant") for m in MARGINS})
    named.update({f"margin {m:.1f}, fit inside, level": Framing.from_margin(m, border="fit") for m in MARGINS})
    named["measured, replicate"] = replace(measured, level_eyes=False, border="replicate")
    named["measured, mirrored"] = replace(measured, level_eyes=False, border="reflect")
    named["measured, mirrored, level"] = replace(measured, border="reflect")
    named["measured, gray, level"] = replace(measured, border="constant")
    named["measured, fit inside, level (served)"] = measured
    for factor in (0.9, 1.1):  # the neighbours of the measured size: is the measured one near the best?
        named[f"measured x{factor}, fit inside, level"] = replace(measured, scale=round(measured.scale * factor, 3))
    return named


def load_set(folder: Path, predictor: EmotionPredictor, cache_dir: Path):
    """Per photo: label, gray pixels, and the largest face as the predictor's detector finds it (None when none).

    Detections are cached per folder and detector (var/cache/framing_sweep): they are the slow part, and
    the framings and models are what a sweep varies."""
    photos, _ = read_labelled_folder(folder)
    cache_path = cache_dir / f"{folder.name}-{predictor.detector}.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    rows = []
    for photo in photos:
        image = load_image(photo.path.read_bytes(), max_bytes=50 * 1024 * 1024)
        gray = image_to_gray_array(image)
        if photo.name not in cache:
            faces = predictor.detect_faces(image, gray)
            largest = max(faces, key=lambda f: f.box.w * f.box.h) if faces else None
            cache[photo.name] = None if largest is None else {
                "box": largest.box.to_dict(), "landmarks": None if largest.landmarks is None else list(largest.landmarks)}
        entry = cache[photo.name]
        face = None if entry is None else CachedFace(Box(**entry["box"]), entry["landmarks"])
        rows.append((photo.label, gray, face))
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_path.write_text(json.dumps(cache))
    return rows, [photo.name for photo in photos]


def raters_agree(folder: Path) -> set[str] | None:
    """Photos whose raters' majority matches the posed label (twpfe's `agree` column), if the set has one."""
    labels = folder / "labels.csv"
    if not labels.is_file():
        return None
    with labels.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if "agree" not in (reader.fieldnames or []):
            return None
        return {row["path"] for row in reader if row["agree"].strip() == "1"}


@dataclass(frozen=True)
class CachedFace:
    box: Box
    landmarks: list | None


def crops_for(rows, framing: Framing) -> np.ndarray:
    crops = np.zeros((len(rows), 48, 48), dtype=np.uint8)
    for i, (_, gray, face) in enumerate(rows):
        if face is None:
            whole = Box(0, 0, gray.shape[1], gray.shape[0])
            crops[i] = frame_face(gray, whole, Framing(scale=1.0, level_eyes=False))
        else:
            crops[i] = frame_face(gray, face.box, framing, face.landmarks)
    return crops


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="labelled photo folders (class sub-folders or labels.csv)")
    parser.add_argument("--checkpoint", action="append", help="a checkpoint to score (repeat for several)")
    parser.add_argument("--detector", default="mtcnn", choices=["mtcnn", "haar"])
    parser.add_argument("--only", action="append", help="only framings whose name contains this text")
    parser.add_argument("--cache", type=Path, default=Path(__file__).resolve().parents[1] / "var" / "cache" / "framing_sweep",
                        help="where detections are kept between runs")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    cv2.setNumThreads(2)
    checkpoints = args.checkpoint or ["ml/weights/default.pt"]
    predictors = {str(c): EmotionPredictor.from_checkpoint(c, detector=args.detector) for c in checkpoints}
    started = time.perf_counter()
    detecting = next(iter(predictors.values()))
    cache_dir = args.cache
    sets = {}
    for folder in args.folders:
        rows, names = load_set(folder, detecting, cache_dir)
        sets[folder.name] = rows
        agreed = raters_agree(folder)
        if agreed is not None:  # twpfe's README asks for the whole set and the photos raters agreed on
            sets[f"{folder.name} (agree)"] = [row for row, name in zip(rows, names) if name in agreed]
    print(f"detected faces in {sum(map(len, sets.values()))} photos in {time.perf_counter() - started:.0f} s "
          f"({args.detector}; {cpu_name()})")
    header = "| framing | model | " + " | ".join(f"{name} acc | {name} F1" for name in sets) + " |"
    print(header)
    print("| --- | --- | " + " | ".join("---: | ---:" for _ in sets) + " |")
    for framing_name, framing in framings(args.detector).items():
        if args.only and not any(text in framing_name for text in args.only):
            continue
        crops = {name: crops_for(rows, framing) for name, rows in sets.items()}
        for model_name, predictor in predictors.items():
            cells = []
            for name, rows in sets.items():
                names = predictor.class_names
                truth = [names.index(label) for label, _, _ in rows]
                predicted = predictor.predict_faces(crops[name]).argmax(axis=1)
                metrics = compute_metrics(truth, predicted, names)
                cells.append(f"{metrics['accuracy']:.1%} | {metrics['macro_f1']:.3f}")
            print(f"| {framing_name} | {model_name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
