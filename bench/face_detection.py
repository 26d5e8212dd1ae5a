"""Face detectors side by side: the Haar cascade, MTCNN, and MTCNN with the cascade where it finds nothing.

On folders of photos that each show one face (the development sets), a photo with no face found is a
miss (a recall proxy) and one with more than one face has a false detection (a false-detection proxy).
Each photo is decoded as an upload is (`load_image`) and handed to each detector in turn, as the
predictor hands it (RGB to MTCNN, gray to the cascade), so a load spike on a shared CPU hits all alike.
Then the whole detection on scikit-image's astronaut, timed in turn over repeated runs, with 1 and with 2
threads (torch's for MTCNN, OpenCV's for the cascade).

The photo sets run with one thread by default, as a worker on a small shared CPU should: with two on
our busy 2-core machine MTCNN's threads wait for each other and a photo can take seconds.

    python bench/face_detection.py                        # var/devsets, unzipped from ../shared/data/devsets.zip
    python bench/face_detection.py /tmp/dev/devsets --limit 200 --json var/bench/faces.json

A set is a sub-folder of the given folder (its images are found at any depth); never commit its photos.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.inference import ImageError, detect_faces, image_to_gray_array, image_to_rgb_array, load_image  # noqa: E402
from report import cpu_name, save_json  # noqa: E402

DEVSETS_ZIP = ROOT.parent / "shared" / "data" / "devsets.zip"
DEFAULT_FOLDER = ROOT / "var" / "devsets"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}
DETECTORS = {
    "Haar cascade": lambda rgb, gray: detect_faces(gray, detector="haar"),
    "MTCNN": lambda rgb, gray: detect_faces(rgb, detector="mtcnn"),
    "MTCNN, Haar where it finds none": lambda rgb, gray: (
        detect_faces(rgb, detector="mtcnn") or detect_faces(gray, detector="haar")
    ),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER,
                        help=f"a folder of photo sets (default {DEFAULT_FOLDER.relative_to(ROOT)}, unzipped"
                             f" from {DEVSETS_ZIP} when absent)")
    parser.add_argument("--sets", help="comma-separated sub-folders to measure (default: every one with images)")
    parser.add_argument("--limit", type=int, help="at most this many photos per set (an even sample)")
    parser.add_argument("--threads", type=int, default=1, help="threads for the photo sets (default 1)")
    parser.add_argument("--astronaut-threads", default="1,2", help="thread counts to time the astronaut with")
    parser.add_argument("--astronaut-runs", type=int, default=30, help="timed detections of the astronaut per detector")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def photo_sets(folder: Path, names: str | None, limit: int | None) -> dict[str, list[Path]]:
    if not folder.exists() and folder == DEFAULT_FOLDER and DEVSETS_ZIP.exists():
        with zipfile.ZipFile(DEVSETS_ZIP) as archive:  # its entries sit under devsets/
            archive.extractall(folder.parent)
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder of photo sets")
    chosen = names.split(",") if names else sorted(p.name for p in folder.iterdir() if p.is_dir())
    sets = {}
    for name in chosen:
        photos = sorted(p for p in (folder / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if limit and len(photos) > limit:
            photos = [photos[i] for i in np.linspace(0, len(photos) - 1, limit).round().astype(int)]
        if photos:
            sets[name] = photos
    if not sets:
        raise SystemExit(f"no photos in the sets of {folder}")
    return sets


def measure_set(photos: list[Path]) -> tuple[list[dict], int]:
    faces = {name: [] for name in DETECTORS}
    seconds = {name: [] for name in DETECTORS}
    unreadable = 0
    for path in photos:
        try:
            image = load_image(path.read_bytes(), max_bytes=50 * 2**20)
        except ImageError:
            unreadable += 1
            continue
        rgb, gray = image_to_rgb_array(image), image_to_gray_array(image)
        for name, detect in DETECTORS.items():
            started = time.perf_counter()
            found = detect(rgb, gray)
            seconds[name].append(time.perf_counter() - started)
            faces[name].append(len(found))
    rows = []
    for name in DETECTORS:
        counts, times = np.array(faces[name]), np.array(seconds[name]) * 1000
        rows.append({
            "detector": name,
            "photos": len(counts),
            "with_a_face": int((counts >= 1).sum()),
            "with_more_than_one": int((counts > 1).sum()),
            "median_ms": round(float(np.median(times)), 1),
            "p90_ms": round(float(np.percentile(times, 90)), 1),
        })
    return rows, unreadable


def time_astronaut(runs: int, threads: int, warmup: int = 3) -> list[dict]:
    import skimage.data

    use_threads(threads)
    rgb = np.ascontiguousarray(skimage.data.astronaut())
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    for _ in range(warmup):
        for detect in DETECTORS.values():
            detect(rgb, gray)
    times = {name: [] for name in DETECTORS}
    for _ in range(runs):
        for name, detect in DETECTORS.items():  # in turn within one loop: a load spike hits all alike
            started = time.perf_counter()
            detect(rgb, gray)
            times[name].append(time.perf_counter() - started)
    return [{"detector": name, "threads": threads, "faces": len(DETECTORS[name](rgb, gray)), "runs": runs,
             "median_ms": round(float(np.median(t)) * 1000, 1), "p90_ms": round(float(np.percentile(t, 90)) * 1000, 1)}
            for name, t in times.items()]


def percent(part: int, whole: int) -> str:
    return f"{part:,} ({100 * part / whole:.1f}%)" if whole else "0"


def markdown(results: dict) -> str:
    env = results["environment"]
    lines = [
        f"CPU: {env['cpu']} ({env['cores']} cores, load average {env['load_average']}); torch {env['torch']},"
        f" OpenCV {env['opencv']}; photo sets with {env['threads']} thread(s)",
        "",
        "| set | detector | photos with a face | photos with more than one | median ms | p90 ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, rows in results["sets"].items():
        for r in rows:
            found, extra = percent(r["with_a_face"], r["photos"]), percent(r["with_more_than_one"], r["photos"])
            lines.append(f"| {name} ({r['photos']:,} photos) | {r['detector']} | {found} | {extra}"
                         f" | {r['median_ms']} | {r['p90_ms']} |")
    for r in results["astronaut"]:
        lines.append(f"| astronaut 512x512, {r['threads']} thread{'s' if r['threads'] > 1 else ''}, {r['runs']} runs"
                     f" | {r['detector']} | {r['faces']} face(s) | | {r['median_ms']} | {r['p90_ms']} |")
    return "\n".join(lines)


def use_threads(threads: int) -> None:
    torch.set_num_threads(threads)  # MTCNN
    cv2.setNumThreads(threads)  # the cascade


def main(argv=None) -> None:
    args = parse_args(argv)
    use_threads(args.threads)
    sets = photo_sets(args.folder, args.sets, args.limit)
    results = {"sets": {}, "unreadable": {}}
    for name, photos in sets.items():
        print(f"{name}: {len(photos):,} photos...", file=sys.stderr, flush=True)
        results["sets"][name], results["unreadable"][name] = measure_set(photos)
    results["astronaut"] = [row for threads in args.astronaut_threads.split(",")
                            for row in time_astronaut(args.astronaut_runs, int(threads))]
    results["environment"] = {
        "cpu": cpu_name(), "cores": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2),
        "threads": args.threads, "torch": torch.__version__, "opencv": cv2.__version__,
    }
    print(markdown(results))
    save_json(args.json, results)


if __name__ == "__main__":
    main()
