"""Prediction speed on this CPU: per face, per batch, and for a whole upload, against baselines in the same run.

Baselines, measured in the same process with the same threads so machine load affects all alike:
- the deployed model as trained, without the inference optimisations (batch norms folded into the
  convolutions, channels_last) that the upload path applies;
- the seed model cnn3 with random weights at its 48x48 input (weights do not change the speed), for
  the relative cost of the deployed model per face;
- the 'classify the whole image' upload path, which skips face detection, for what detection costs.

    python bench/predict_speed.py                                  # a fresh ferlite (width 16), astronaut photo
    python bench/predict_speed.py --checkpoint runs/x/best.pt --threads 2 --image photo.jpg --json out.json
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

# Run as a script from a checkout: the repository root holds the `ml` package.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.classes import FER_CLASSES  # noqa: E402
from ml.inference import EmotionPredictor, draw_boxes, load_image  # noqa: E402
from ml.models import count_parameters, create_model  # noqa: E402
from report import cpu_name, save_json  # noqa: E402

BATCH = 64


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="the model to time (default: a freshly initialised ferlite, width 16)")
    parser.add_argument("--threads", type=int, default=2, help="torch's and OpenCV's threads (default 2)")
    parser.add_argument("--image", default="astronaut", help="a photo file, or 'astronaut' (scikit-image's)")
    parser.add_argument("--face-runs", type=int, default=200, help="timed batch-1 predictions per model")
    parser.add_argument("--batch-runs", type=int, default=20, help="timed batches of 64 per model")
    parser.add_argument("--photo-runs", type=int, default=20, help="timed uploads per path")
    parser.add_argument("--json", help="also write the results here")
    return parser.parse_args(argv)


def deployed_predictor(checkpoint: str | None, optimize: bool = True, int8: bool = True) -> tuple[EmotionPredictor, str]:
    if checkpoint:
        return EmotionPredictor.from_checkpoint(checkpoint, optimize=optimize, int8=int8), f"checkpoint {checkpoint}"
    source = "no checkpoint given: a freshly initialised ferlite (width 16)"
    return random_predictor("ferlite", optimize=optimize, width=16), source


def random_predictor(name: str, optimize: bool = True, **options) -> EmotionPredictor:
    torch.manual_seed(0)
    model = create_model(name, num_classes=len(FER_CLASSES), **options)
    return EmotionPredictor(model, FER_CLASSES, model.preprocessing, model_name=name, optimize=optimize)


def photo_bytes(image: str) -> bytes:
    if image != "astronaut":
        return Path(image).read_bytes()
    import skimage.data
    from PIL import Image

    buffer = io.BytesIO()  # saved as a phone would send it: a JPEG, not raw pixels
    Image.fromarray(skimage.data.astronaut()).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def seconds_per_call(calls: dict, runs: int, warmup: int = 3) -> dict[str, np.ndarray]:
    """Times of each call, taken in turn within one loop: a load spike on this shared CPU hits all alike."""
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    times = {name: [] for name in calls}
    for _ in range(runs):
        for name, fn in calls.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return {name: np.array(t) for name, t in times.items()}


def upload(predictor: EmotionPredictor, data: bytes, whole_image: bool) -> int:
    """What the web app does per upload: decode, find and crop faces, classify, draw the result."""
    image = load_image(data)
    analysis = predictor.analyse(image, whole_image=whole_image)
    draw_boxes(image, analysis.faces)
    return len(analysis.faces)


def row(measurement: str, model: str, times: np.ndarray, faces_per_call: int = 1, **extra) -> dict:
    median = float(np.median(times))
    return {
        "measurement": measurement,
        "model": model,
        "median_ms": round(median * 1000, 2),
        "p90_ms": round(float(np.percentile(times, 90)) * 1000, 2),
        "faces_per_s": round(faces_per_call / median, 1) if faces_per_call else None,
        "runs": len(times),
        **extra,
    }


def model_rows(predictors: dict[str, EmotionPredictor], args) -> list[dict]:
    faces = np.random.default_rng(0).integers(0, 256, size=(BATCH, 48, 48), dtype=np.uint8)
    single = {name: lambda p=p: p.predict_faces(faces[:1]) for name, p in predictors.items()}
    batched = {name: lambda p=p: p.predict_faces(faces) for name, p in predictors.items()}
    one = seconds_per_call(single, args.face_runs, warmup=10)
    batch = seconds_per_call(batched, args.batch_runs)
    return [row("one face (batch 1)", name, t) for name, t in one.items()] + [
        row(f"batch of {BATCH} faces", name, t, BATCH) for name, t in batch.items()
    ]


def upload_rows(label: str, predictor: EmotionPredictor, data: bytes, args) -> list[dict]:
    image = load_image(data)
    paths = {"upload, faces detected": False, "upload, whole image only (baseline)": True}
    found = {name: upload(predictor, data, whole) for name, whole in paths.items()}
    calls = {name: lambda whole=whole: upload(predictor, data, whole) for name, whole in paths.items()}
    calls["of which: face detection alone"] = lambda: predictor.detect_faces(image)
    times = seconds_per_call(calls, args.photo_runs)
    rows = [row(name, label, times[name], found[name], faces_found=found[name]) for name in paths]
    rows.append(row("of which: face detection alone", predictor.detector, times["of which: face detection alone"], 0))
    return rows


def environment(args, predictor: EmotionPredictor, float_model: torch.nn.Module, source: str, data: bytes) -> dict:
    image = load_image(data)
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),  # a shared CPU: other work slows every row alike
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "model": predictor.model_name,
        "model_source": source,
        "precision": predictor.precision,
        "parameters": count_parameters(float_model),  # an int8 model packs its weights out of parameters()
        "input_size": predictor.preprocessing.input_size,
        "photo": f"{args.image} ({image.width}x{image.height}, {len(data) / 1024:.0f} KB)",
    }


def markdown(results: dict) -> str:
    env = results["environment"]
    lines = [
        f"CPU: {env['cpu']} ({env['cores']} cores, load average {env['load_average']});"
        f" torch {env['torch']}, {env['threads']} threads",
        f"Model: {env['model']} ({env['parameters']:,} parameters, input {env['input_size']}x{env['input_size']}),"
        f" {env['model_source']}; photo: {env['photo']}",
        f"Served in {env['precision']}. Baselines: the deployed model without the inference optimisations (folded"
        " batch norms, channels_last, and int8 where the checkpoint is calibrated for it); where it is served in"
        " int8, the same model in float with the other optimisations; cnn3 (seed model, random weights, 48x48) per face; the whole-image upload path, which skips"
        " face detection. Calls being compared are timed in turn within one loop.",
        "",
        "| measurement | model | median ms | p90 ms | faces/s | runs |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results["rows"]:
        faces_per_s = "–" if r["faces_per_s"] is None else r["faces_per_s"]
        cells = [r["measurement"], r["model"], r["median_ms"], r["p90_ms"], faces_per_s, r["runs"]]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)  # the Haar cascade runs in OpenCV's own thread pool (MTCNN in torch's)
    predictor, source = deployed_predictor(args.checkpoint)
    unoptimized, _ = deployed_predictor(args.checkpoint, optimize=False)
    baseline = random_predictor("cnn3")
    data = photo_bytes(args.image)
    deployed_label = f"{predictor.model_name} (deployed, {predictor.precision})"
    compared = {deployed_label: predictor}
    if predictor.precision == "int8":
        compared[f"{predictor.model_name}, float (baseline)"] = deployed_predictor(args.checkpoint, int8=False)[0]
    compared[f"{predictor.model_name}, not optimized (baseline)"] = unoptimized
    compared["cnn3, random weights (baseline)"] = baseline
    rows = model_rows(compared, args)
    rows += upload_rows(deployed_label, predictor, data, args)
    results = {"environment": environment(args, predictor, unoptimized.model, source, data), "rows": rows}
    print(markdown(results))
    save_json(args.json, results)


if __name__ == "__main__":
    main()
