"""Our upload path, kept warm in a process of its own for bench/peer_compare.py to time against `fer`'s.

What an upload costs the web app before drawing: `load_image` (decode, upright, RGB) and
`EmotionPredictor.analyse` (detect, crop, classify), with the threads the server gives it.

    .venv/bin/python bench/peer_ours_worker.py --checkpoint ml/weights/default.pt --threads 2
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the `ml` package
sys.path.insert(0, str(ROOT / "bench"))  # jsonl_worker

from jsonl_worker import serve  # noqa: E402
from ml.inference import EmotionPredictor, load_image  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)  # face detection runs in OpenCV's own pool
    predictor = EmotionPredictor.from_checkpoint(args.checkpoint)
    photo_bytes: dict[str, bytes] = {}

    def time_photo(path: str) -> dict:
        data = photo_bytes.setdefault(path, Path(path).read_bytes())
        started = time.perf_counter()
        analysis = predictor.analyse(load_image(data))
        return {"seconds": time.perf_counter() - started, "faces": len(analysis.faces)}

    def hello() -> dict:
        detector = getattr(predictor, "detector", "haar")  # the upload path's detector, as served
        return {"model": predictor.model_name, "detector": detector, "torch": torch.__version__,
                "opencv": cv2.__version__, "threads": torch.get_num_threads(), "python": sys.version.split()[0]}

    serve({"hello": hello, "time_photo": time_photo})


if __name__ == "__main__":
    main()
