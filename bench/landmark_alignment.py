"""Does aligning a face on its five landmarks beat framing it on the detector's box? Both, in one run.

The served framing (ml/inference/framing.py) places FER2013's square relative to MTCNN's box and turns
it to level the eyes. The other way, usual in face recognition, fits a similarity transform (scale,
turn, shift) that carries the face's five MTCNN landmarks (eyes, nose, mouth corners) onto where they
sit in FER2013's faces, so the square's size comes from the face's own geometry rather than from the
box, which can vary with the photo. The template is measured here, as bench/crop_geometry.py measures
the box framing: MTCNN on FER2013 Training faces enlarged 4x on a mean-gray canvas, median landmarks.

Each framing is then scored at 0.8-1.2x its own size on labelled photo folders (largest face; the whole
photo where none is found; the square kept inside the photo, as served), with the checkpoint as served.

    python bench/landmark_alignment.py var/devsets/twpfe var/devsets/muxspace \
        --data var/fer2013.npz --checkpoint ml/weights/default.pt [--faces 1000]

Select and tune on development sets only; never train on them.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from crop_geometry import fer2013_detections  # noqa: E402
from framing_sweep import crops_for, load_set, raters_agree  # noqa: E402
from ml.data import FerStore  # noqa: E402
from ml.evaluate import compute_metrics  # noqa: E402
from ml.inference.framing import MAX_LEVELLING_DEGREES, cut_square, fit_inside, measured_framing  # noqa: E402
from ml.inference.predictor import EmotionPredictor  # noqa: E402
from report import cpu_name  # noqa: E402

FACTORS = (0.8, 0.9, 1.0, 1.1, 1.2)


def measure_template(store: FerStore, faces: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """(5, 2) median MTCNN landmarks in FER2013's square (0-1 across, 0-1 down), and how many faces gave them."""
    points = [(np.array(found.landmarks, dtype=float) - side / 2) / side
              for side, found in fer2013_detections(store, "mtcnn", faces, seed)
              if found is not None and found.landmarks is not None]
    if not points:
        raise SystemExit(f"MTCNN gave landmarks on none of the {faces} faces: nothing to measure")
    return np.median(np.array(points), axis=0), len(points)


def similarity_to(points: np.ndarray, template: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scale, rotation and shift (least squares, Umeyama) that carry `points` onto `template`."""
    points_mean, template_mean = points.mean(axis=0), template.mean(axis=0)
    centred_points, centred_template = points - points_mean, template - template_mean
    u, singular, vt = np.linalg.svd(centred_template.T @ centred_points / len(points))
    reflection = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ reflection @ vt
    scale = float(np.trace(np.diag(singular) @ reflection) / (centred_points ** 2).sum(axis=1).mean())
    return scale, rotation, template_mean - scale * rotation @ points_mean


def aligned_crop(gray: np.ndarray, landmarks, template: np.ndarray, factor: float = 1.0) -> np.ndarray:
    """The 48x48 face whose landmarks best match the template, its square `factor` times the fitted one."""
    scale, rotation, shift = similarity_to(np.array(landmarks, dtype=float), template)
    side = factor / scale
    centre = rotation.T @ (np.array([0.5, 0.5]) - shift) / scale
    angle = math.degrees(math.atan2(rotation[0, 1], rotation[0, 0]))
    if abs(angle) > MAX_LEVELLING_DEGREES:  # as served: a larger turn is more likely a wrong landmark
        angle = 0.0
    centre_x, centre_y, side = fit_inside(gray.shape, centre[0], centre[1], side)  # as served
    return cut_square(gray, centre_x, centre_y, side, angle)


def aligned_crops(rows, template: np.ndarray, factor: float, box_framing) -> np.ndarray:
    crops = crops_for(rows, box_framing)  # no face, or no landmarks: as served
    for i, (_, gray, face) in enumerate(rows):
        if face is not None and face.landmarks is not None:
            crops[i] = aligned_crop(gray, face.landmarks, template, factor)
    return crops


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="labelled photo folders (class sub-folders or labels.csv)")
    parser.add_argument("--data", required=True, help="a FER2013 store, to measure the landmark template on")
    parser.add_argument("--checkpoint", default="ml/weights/default.pt")
    parser.add_argument("--faces", type=int, default=1000, help="FER2013 Training faces to measure the template on")
    parser.add_argument("--cache", type=Path, default=Path(__file__).resolve().parents[1] / "var" / "cache" / "framing_sweep",
                        help="where detections are kept between runs (shared with framing_sweep.py)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    cv2.setNumThreads(2)
    started = time.perf_counter()
    template, measured_on = measure_template(FerStore.load(args.data), args.faces)
    print(f"FER2013's landmark template from {measured_on} of {args.faces} Training faces "
          f"({time.perf_counter() - started:.0f} s; {cpu_name()}), in the square's units:")
    for name, (x, y) in zip(("left eye", "right eye", "nose", "mouth left", "mouth right"), template):
        print(f"  {name}: {x:.3f}, {y:.3f}")
    predictor = EmotionPredictor.from_checkpoint(args.checkpoint, detector="mtcnn")
    sets = {}
    for folder in args.folders:
        rows, names = load_set(folder, predictor, args.cache)
        sets[folder.name] = rows
        agreed = raters_agree(folder)
        if agreed is not None:
            sets[f"{folder.name} (agree)"] = [row for row, name in zip(rows, names) if name in agreed]
    served = measured_framing("mtcnn")
    framings = {f"box x{f}": lambda rows, f=f: crops_for(rows, replace(served, scale=round(served.scale * f, 3)))
                for f in FACTORS}
    framings.update({f"landmarks x{f}": lambda rows, f=f: aligned_crops(rows, template, f, served) for f in FACTORS})
    print(f"\n{args.checkpoint} as served; box x1.0 is the served framing")
    print("| framing | " + " | ".join(f"{name} acc | {name} F1" for name in sets) + " |")
    print("| --- | " + " | ".join("---: | ---:" for _ in sets) + " |")
    accuracy = {}
    for framing_name, crop in framings.items():
        cells = []
        for name, rows in sets.items():
            truth = [predictor.class_names.index(label) for label, _, _ in rows]
            predicted = predictor.predict_faces(crop(rows)).argmax(axis=1)
            metrics = compute_metrics(truth, predicted, predictor.class_names)
            accuracy[framing_name, name] = metrics["accuracy"]
            cells.append(f"{metrics['accuracy']:.1%} | {metrics['macro_f1']:.3f}")
        print(f"| {framing_name} | " + " | ".join(cells) + " |", flush=True)
    print("\nspread over 0.8-1.2x (points, best minus worst):")
    for anchor in ("box", "landmarks"):
        spreads = [100 * (max(accuracy[f"{anchor} x{f}", name] for f in FACTORS)
                          - min(accuracy[f"{anchor} x{f}", name] for f in FACTORS)) for name in sets]
        print(f"  {anchor}: " + ", ".join(f"{name} {spread:.1f}" for name, spread in zip(sets, spreads)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
