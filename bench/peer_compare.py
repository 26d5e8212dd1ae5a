"""Ours against the PyPI package `fer`, side by side in one run, on the same faces, photos and CPU.

1. FER2013 PrivateTest, the 48x48 crops: ours as `python -m ml evaluate` scores it; fer with each crop
   given as the whole face (the box inset by fer's own 10 px offsets, so what fer cuts is exactly the crop).
2. Each development set through each system's whole pipeline, largest face per photo, scored two ways:
   strict (no face found is a miss) and with the whole image as the face where none was found. Ours is
   `python -m ml evaluate-photos`; fer is `FER().detect_emotions` on the photo as OpenCV decodes it.
3. Decode, detect and classify on scikit-image's astronaut (a JPEG, quality 90): ours is `load_image` +
   `EmotionPredictor.analyse`, fer is `cv2.imdecode` + `detect_emotions`, each warm in its own process
   with the same threads, timed in turn (ours, fer, ours, fer, ...) after a warm-up.

fer runs in its own virtualenv (TensorFlow; created on first use, then reused) through
bench/peer_fer_worker.py; its figures use fer's defaults: the OpenCV Haar detector and the quantized
TFLite classifier.

    .venv/bin/python bench/peer_compare.py --json var/bench/peer_compare.json
    .venv/bin/python bench/peer_compare.py --skip-install --devsets DIR [DIR ...] --checkpoint runs/x/best.pt
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

# Run as a script from a checkout: the repository root holds the `ml` package.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from jsonl_worker import Worker  # noqa: E402
from ml.classes import FER_CLASSES  # noqa: E402
from ml.data.entry_sources import file_sha256  # noqa: E402
from ml.evaluate import compute_metrics  # noqa: E402
from report import cpu_name, save_json  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"  # beside the checkout, as the Makefile has it
FER_REQUIREMENT = "fer==25.10.3"  # the version docs/benchmarks.md's figures were measured with
# fer's declared requirements also pull in full TensorFlow, facenet-pytorch (torch), moviepy, pandas and
# opencv-contrib; detecting and classifying photos on a CPU needs only these.
PEER_DEPENDENCIES = ["tensorflow-cpu", "opencv-python-headless<5", "requests", "Pillow", "setuptools<81"]
NO_FACE = len(FER_CLASSES)  # strict scoring's prediction where no face was found: no class (as evaluate-photos)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ROOT / "ml/weights/default.pt"), help="our model")
    parser.add_argument("--peer-venv", default=str(ROOT / "var/peer-venv"), help="fer's virtualenv (made if missing)")
    parser.add_argument("--skip-install", action="store_true", help="fail if fer's virtualenv is not ready")
    parser.add_argument("--fer-requirement", default=FER_REQUIREMENT,
                        help=f"what to install (default {FER_REQUIREMENT})")
    parser.add_argument("--store", default=str(ROOT / "var/fer2013.npz"),
                        help="FER2013 as `python -m ml import` writes it; imported from FER2013_ZIP if missing")
    parser.add_argument("--devsets", nargs="+", metavar="DIR",
                        help="labelled photo folders (<class>/<image> or labels.csv); default: twpfe and muxspace"
                        " from DEVSETS_ZIP (../shared/data/devsets.zip), unzipped into var/devsets")
    parser.add_argument("--limit", type=int, help="at most N PrivateTest faces, a stratified sample (quick trials)")
    parser.add_argument("--threads", type=int, default=2, help="threads of each system (default 2)")
    parser.add_argument("--photo-runs", type=int, default=30, help="timed runs per system on the astronaut")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs per system first")
    parser.add_argument("--json", help="also write the results here")
    return parser.parse_args(argv)


STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{(time.perf_counter() - STARTED) / 60:5.1f} min] {message}", file=sys.stderr, flush=True)


# ---- fer's virtualenv ---------------------------------------------------------------------------------

def peer_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def peer_is_ready(venv: Path) -> bool:
    python = peer_python(venv)
    if not python.exists():
        return False
    check = subprocess.run([python, "-c", "from fer.fer import FER"], capture_output=True, text=True)
    return check.returncode == 0


def ensure_peer_venv(venv: Path, requirement: str, skip_install: bool) -> Path:
    """fer's python, installing fer (without its heavy requirements) and what it needs on a CPU first."""
    if peer_is_ready(venv):
        return peer_python(venv)
    if skip_install:
        raise SystemExit(f"error: {venv} has no working fer (`from fer.fer import FER` fails); "
                         "run without --skip-install to create it, or point --peer-venv at one")
    log(f"installing {requirement} into {venv} (TensorFlow: a few minutes)")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [peer_python(venv), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", requirement], check=True)
    subprocess.run([*pip, *PEER_DEPENDENCIES], check=True)
    if not peer_is_ready(venv):
        raise SystemExit(f"error: installed {requirement} into {venv}, but `from fer.fer import FER` still fails")
    return peer_python(venv)


def thread_environment(threads: int) -> dict[str, str]:
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
    return {**{name: str(threads) for name in names}, "TF_CPP_MIN_LOG_LEVEL": "2"}


# ---- the data -----------------------------------------------------------------------------------------

def default_devsets() -> list[Path]:
    folder = ROOT / "var" / "devsets"
    if not folder.exists():
        archive = Path(os.environ.get("DEVSETS_ZIP", SHARED_DATA / "devsets.zip"))
        if not archive.exists():
            raise SystemExit(f"error: no development sets: {archive} is missing; set DEVSETS_ZIP or pass --devsets")
        log(f"unzipping {archive} into {folder.parent}")
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(folder.parent)  # the archive's top folder is devsets/
    return [folder / "twpfe", folder / "muxspace"]


def load_store(path: Path, limit: int | None):
    from ml.data import FerStore

    if not path.exists():
        archive = os.environ.get("FER2013_ZIP", str(SHARED_DATA / "fer2013.zip"))
        log(f"importing {archive} into {path}")
        subprocess.run([sys.executable, "-m", "ml", "import", archive, "--out", path], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
    store = FerStore.load(path)
    return store.subsample(max_per_split=limit, seed=0) if limit else store


# ---- scoring ------------------------------------------------------------------------------------------

def class_indices(names: list[str | None]) -> list[int | None]:
    index = {name.lower(): i for i, name in enumerate(FER_CLASSES)}
    return [None if name is None else index[name.lower()] for name in names]


def score_photos(labels: list[int], largest: list[int | None], whole: list[int | None]) -> dict:
    """Both ways of scoring photos: strict (no face is a miss) and the whole image where no face was found."""
    def first_found(*predictions: int | None) -> int:
        return next((p for p in predictions if p is not None), NO_FACE)

    return {
        "strict": compute_metrics(labels, [first_found(face) for face in largest], FER_CLASSES),
        "whole_image_fallback": compute_metrics(
            labels, [first_found(face, whole_image) for face, whole_image in zip(largest, whole)], FER_CLASSES),
    }


# ---- the three measurements ---------------------------------------------------------------------------

def privatetest(store, checkpoint: str, fer: Worker, scratch: Path) -> dict:
    from ml.evaluate import evaluate_checkpoint

    images, labels = store.split("private_test")
    log(f"PrivateTest ({len(labels):,} faces): ours")
    ours = evaluate_checkpoint(checkpoint, store, "private_test", device="cpu")
    log("PrivateTest: fer")
    np.save(scratch / "private_test.npy", images)
    predicted = class_indices(fer.request("classify_crops", npy=str(scratch / "private_test.npy"))["labels"])
    return {"ours": ours, "fer": compute_metrics(labels, predicted, FER_CLASSES)}


def ours_on_photos(folder: Path, checkpoint: str) -> dict:
    """`python -m ml evaluate-photos --json`, its progress shown as it goes.

    One thread: these passes are not timed, and on a busy 2-core machine two threads mostly wait for each
    other (muxspace beside a training run: 1,000 of its 1,915 photos in 75 minutes with two threads, all
    of them in 8 minutes with one).
    """
    command = [sys.executable, "-m", "ml", "evaluate-photos", str(folder), "--checkpoint", checkpoint, "--json"]
    ran = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, **thread_environment(1)})
    if ran.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed with status {ran.returncode}")
    return json.loads(ran.stdout)


def fer_on_photos(folder: Path, fer: Worker) -> dict:
    """fer on the photos and labels that evaluate-photos reads (the same reader), scored the same two ways."""
    from ml.inference.photo_eval import read_labelled_folder

    photos, _ = read_labelled_folder(folder)
    answers = fer.request("classify_photos", paths=[str(photo.path) for photo in photos])["results"]
    scored = [(photo, answer) for photo, answer in zip(photos, answers) if answer["error"] is None]
    labels = class_indices([photo.label for photo, _ in scored])
    largest = class_indices([answer["largest"] for _, answer in scored])
    whole = class_indices([answer["whole"] for _, answer in scored])
    return {
        "num_photos": len(scored),
        "skipped": [{"path": photo.name, "reason": answer["error"]} for photo, answer in zip(photos, answers)
                    if answer["error"] is not None],
        "no_face": sum(face is None for face in largest),
        **score_photos(labels, largest, whole),
    }


def devsets(folders: list[Path], checkpoint: str, fer: Worker) -> dict:
    results = {}
    for folder in folders:
        log(f"{folder.name}: ours (python -m ml evaluate-photos)")
        ours = ours_on_photos(folder, checkpoint)
        log(f"{folder.name}: fer ({ours['num_photos']:,} photos)")
        results[folder.name] = {"ours": ours, "fer": fer_on_photos(folder, fer)}
    return results


# Between timed runs: OpenMP's and TensorFlow's worker threads spin for a while after a run, and on two
# cores the other system's spinning threads would be timed as part of this one's run.
SETTLE_SECONDS = 0.2


def astronaut(ours: Worker, fer: Worker, scratch: Path, warmup: int, runs: int) -> dict:
    from predict_speed import photo_bytes

    path = scratch / "astronaut.jpg"
    path.write_bytes(photo_bytes("astronaut"))
    workers = {"ours": ours, "fer": fer}
    for _ in range(warmup):
        for worker in workers.values():
            worker.request("time_photo", path=str(path))
    seconds = {name: [] for name in workers}
    faces = {}
    for _ in range(runs):  # in turn: a load spike on this shared CPU hits both alike
        for name, worker in workers.items():
            time.sleep(SETTLE_SECONDS)
            answer = worker.request("time_photo", path=str(path))
            seconds[name].append(answer["seconds"])
            faces[name] = answer["faces"]
    return {
        name: {
            "median_ms": round(float(np.median(times)) * 1000, 2),
            "p90_ms": round(float(np.percentile(times, 90)) * 1000, 2),
            "runs": len(times),
            "faces_found": faces[name],
        }
        for name, times in seconds.items()
    }


def environment(ours: dict, fer: dict, checkpoint: str, threads: int, code: str) -> dict:

    return {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),  # a shared CPU: other work slows both alike
        "threads": threads,
        "checkpoint": checkpoint,
        "checkpoint_sha256": file_sha256(checkpoint),
        "code": code,
        "ours": ours,
        "fer": fer,
    }


def code_version() -> str:
    """The commit measured, and whether the code our side runs (ml/) had changes not yet committed."""
    def git(*arguments: str) -> str:
        ran = subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True)
        return ran.stdout.strip() if ran.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    return commit + (" with uncommitted changes in ml/" if git("status", "--porcelain", "ml") else "")


# ---- the table ----------------------------------------------------------------------------------------

def accuracy_and_f1(metrics: dict) -> str:
    return f"{metrics['accuracy']:.1%} ({metrics['macro_f1']:.3f})"


def markdown(results: dict) -> str:
    env = results["environment"]
    ours, fer = env["ours"], env["fer"]
    lines = [
        f"CPU: {env['cpu']} ({env['cores']} cores, load average {env['load_average_start']} at the start,"
        f" {env['load_average']} at the end); timed with {env['threads']} threads each; {env['date']},"
        f" {env['code']}; the run took {env['seconds'] / 60:.0f} min",
        f"Ours: {ours['model']} ({env['checkpoint']}, sha256 {env['checkpoint_sha256'][:12]}), torch {ours['torch']},"
        f" OpenCV {ours['opencv']}, Python {ours['python']}; the upload path (load_image,"
        f" EmotionPredictor.analyse), detector: {ours['detector']}",
        f"fer {fer['fer']}: TensorFlow {fer['tensorflow']}, OpenCV {fer['opencv']}, Python {fer['python']};"
        f" detector: {fer['detector']}; classifier: {fer['classifier']}",
        "PrivateTest: fer is given each crop as the whole face (its box inset by fer's 10 px offsets, so it"
        " cuts exactly the crop). Photos: the largest face; fer's detect_emotions on the photo as OpenCV"
        " decodes it (BGR); the same photos and labels as evaluate-photos reads.",
        "",
        f"| accuracy (macro-F1) | ours ({ours['model']}) | fer {fer['fer']} |",
        "|---|---:|---:|",
    ]

    def add(label: str, ours_cell, fer_cell) -> None:
        lines.append(f"| {label} | {ours_cell} | {fer_cell} |")

    private = results["privatetest"]
    add(f"FER2013 PrivateTest, {private['ours']['num_samples']:,} crops 48x48",
        accuracy_and_f1(private["ours"]), accuracy_and_f1(private["fer"]))
    for name, both in results["devsets"].items():
        mine, theirs = both["ours"], both["fer"]
        add(f"{name}, {mine['num_photos']:,} photos, largest face, strict (no face = miss)",
            accuracy_and_f1(mine["strict"]), accuracy_and_f1(theirs["strict"]))
        add(f"{name}, whole image where no face was found",
            accuracy_and_f1(mine["whole_image_fallback"]), accuracy_and_f1(theirs["whole_image_fallback"]))
        add(f"{name}, photos with no face found", f"{mine['no_face']:,}", f"{theirs['no_face']:,}")
        if mine["skipped"] or theirs["skipped"]:
            add(f"{name}, photos skipped as unreadable", len(mine["skipped"]), len(theirs["skipped"]))
    timing = results["astronaut"]
    add(f"astronaut 512x512 JPEG: decode, detect, classify; median ms (p90), {timing['ours']['runs']} runs",
        f"{timing['ours']['median_ms']:.1f} ({timing['ours']['p90_ms']:.1f})",
        f"{timing['fer']['median_ms']:.1f} ({timing['fer']['p90_ms']:.1f})")
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    load_at_start = round(os.getloadavg()[0], 2)
    code = code_version()  # before measuring: others may commit while this runs
    python = ensure_peer_venv(Path(args.peer_venv), args.fer_requirement, args.skip_install)
    folders = [Path(folder) for folder in args.devsets] if args.devsets else default_devsets()
    store = load_store(Path(args.store), args.limit)

    import torch

    torch.set_num_threads(args.threads)
    env = thread_environment(args.threads)
    fer_command = [str(python), str(ROOT / "bench/peer_fer_worker.py"), "--threads", str(args.threads)]
    ours_command = [sys.executable, str(ROOT / "bench/peer_ours_worker.py"), "--checkpoint", args.checkpoint,
                    "--threads", str(args.threads)]
    with tempfile.TemporaryDirectory(prefix="peer-compare-") as scratch, \
            Worker(fer_command, env=env) as fer, Worker(ours_command, env=env) as ours:
        fer_about, ours_about = fer.request("hello"), ours.request("hello")
        results = {"privatetest": privatetest(store, args.checkpoint, fer, Path(scratch))}
        results["devsets"] = devsets(folders, args.checkpoint, fer)
        log(f"astronaut: {args.warmup} warm-up and {args.photo_runs} timed runs each, in turn")
        results["astronaut"] = astronaut(ours, fer, Path(scratch), args.warmup, args.photo_runs)
    results["environment"] = {**environment(ours_about, fer_about, args.checkpoint, args.threads, code),
                              "load_average_start": load_at_start,
                              "seconds": round(time.perf_counter() - STARTED)}
    print(markdown(results))
    save_json(args.json, results)


if __name__ == "__main__":
    main()
