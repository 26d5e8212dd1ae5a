"""Where FER2013's crop lies relative to a face detector's box, measured on FER2013's own faces.

Each face is enlarged 4x (so the detector sees a photo-sized face) and set in the middle of a canvas of
its own mean gray, twice its size; the detector then runs on the canvas, and the detection nearest the
middle gives the box. FER2013's crop is the known square in the middle, so each face gives the crop's
side over the box's larger side (`scale`) and the crop's centre minus the box's, in box sizes
(`offset_x`, `offset_y`). The medians are the framing that matches what the model was trained on.

    python bench/crop_geometry.py --data var/fer2013.npz --detector mtcnn --faces 2000 [--write]

`--write` records the medians in ml/inference/framings.json, which the predictor reads.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.data import FerStore  # noqa: E402
from ml.inference.faces import detect_faces  # noqa: E402
from ml.inference.framing import FRAMINGS_FILE  # noqa: E402
from report import cpu_name  # noqa: E402

ENLARGE = 4


def fer2013_detections(store: FerStore, detector: str, faces: int, seed: int = 0):
    """(side, detection) per chosen Training face, enlarged ENLARGE times in the middle of a mean-gray canvas
    twice its size; detection is the one nearest the middle, or None when nothing lies near it.

    FER2013's square is then known: it spans [side / 2, 3 * side / 2) in both directions of the canvas."""
    images, _ = store.split("train")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(images), size=min(faces, len(images)), replace=False)
    side = 48 * ENLARGE
    middle = np.array([side, side])
    for index in chosen:
        face = cv2.resize(images[index], (side, side), interpolation=cv2.INTER_CUBIC)
        canvas = np.full((2 * side, 2 * side), int(face.mean()), dtype=np.uint8)
        canvas[side // 2 : side // 2 + side, side // 2 : side // 2 + side] = face
        found = detect_faces(np.stack([canvas] * 3, axis=-1), detector=detector)
        nearest = min(found, key=lambda f: np.linalg.norm(_centre(f.box) - middle)) if found else None
        if nearest is not None and np.linalg.norm(_centre(nearest.box) - middle) > side / 4:
            nearest = None  # something else in the canvas, not the face
        yield side, nearest


def measure(store: FerStore, detector: str, faces: int, seed: int = 0) -> dict:
    rows, angles, missed, tried = [], [], 0, 0
    for side, nearest in fer2013_detections(store, detector, faces, seed):
        tried += 1
        if nearest is None:
            missed += 1
            continue
        box = nearest.box
        centre = _centre(box)
        rows.append((side / max(box.w, box.h), (side - centre[0]) / box.w, (side - centre[1]) / box.h))
        if nearest.landmarks is not None:
            (lx, ly), (rx, ry) = nearest.landmarks[0], nearest.landmarks[1]
            angles.append(np.degrees(np.arctan2(ry - ly, rx - lx)))
    if not rows:
        raise SystemExit(f"{detector} found none of the {tried} faces: nothing to measure")
    values = np.array(rows)
    result = {
        "detector": detector,
        "faces": tried,
        "found": int(len(rows)),
        "missed": int(missed),
        "scale": round(float(np.median(values[:, 0])), 3),
        "offset_x": round(float(np.median(values[:, 1])), 3),
        "offset_y": round(float(np.median(values[:, 2])), 3),
        "scale_iqr": [round(float(q), 3) for q in np.percentile(values[:, 0], [25, 75])],
        "offset_y_iqr": [round(float(q), 3) for q in np.percentile(values[:, 2], [25, 75])],
    }
    if angles:
        result["eye_angle_median_abs"] = round(float(np.median(np.abs(angles))), 2)
        result["eye_angle_p90_abs"] = round(float(np.percentile(np.abs(angles), 90)), 2)
    return result


def _centre(box) -> np.ndarray:
    return np.array([box.x + box.w / 2, box.y + box.h / 2])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a store written by `python -m ml import`")
    parser.add_argument("--detector", action="append", choices=["mtcnn", "haar"],
                        help="measure this detector (repeat for several; default both)")
    parser.add_argument("--faces", type=int, default=2000, help="FER2013 Training faces to measure on")
    parser.add_argument("--write", action="store_true", help=f"record the medians in {FRAMINGS_FILE.name}")
    parser.add_argument("--framings-file", type=Path, default=FRAMINGS_FILE, help="where --write records them")
    args = parser.parse_args(argv)
    cv2.setNumThreads(2)
    store = FerStore.load(args.data)
    results = []
    for detector in args.detector or ["mtcnn", "haar"]:
        started = time.perf_counter()
        results.append(measure(store, detector, args.faces))
        results[-1]["seconds"] = round(time.perf_counter() - started, 1)
    print(f"FER2013 Training faces enlarged {ENLARGE}x on a mean-gray canvas; {cpu_name()}")
    print("| detector | faces | found | scale (IQR) | offset_x | offset_y (IQR) | eye tilt median / p90 |")
    print("| --- | ---: | ---: | --- | ---: | --- | --- |")
    for r in results:
        tilt = f"{r['eye_angle_median_abs']}° / {r['eye_angle_p90_abs']}°" if "eye_angle_median_abs" in r else "-"
        print(f"| {r['detector']} | {r['faces']} | {r['found']} | {r['scale']} ({r['scale_iqr'][0]}-{r['scale_iqr'][1]}) "
              f"| {r['offset_x']:+.3f} | {r['offset_y']:+.3f} ({r['offset_y_iqr'][0]:+.3f} to {r['offset_y_iqr'][1]:+.3f}) | {tilt} |")
    if args.write:
        recorded = json.loads(args.framings_file.read_text()) if args.framings_file.exists() else {}
        for r in results:
            recorded[r["detector"]] = {key: r[key] for key in ("scale", "offset_x", "offset_y", "faces", "found")}
            recorded[r["detector"]]["command"] = f"python bench/crop_geometry.py --data var/fer2013.npz --faces {args.faces} --write"
        args.framings_file.write_text(json.dumps(recorded, indent=2) + "\n")
        print(f"wrote {args.framings_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
