"""The PyPI package `fer`, kept warm in its own virtualenv and used the way its README shows: a BGR photo
from OpenCV into `FER().detect_emotions`. Started by bench/peer_compare.py; answers JSON lines.

Run under the peer virtualenv's python (it imports TensorFlow; nothing here imports our `ml`):

    var/peer-venv/bin/python bench/peer_fer_worker.py --threads 2

Threads: OpenCV's pool (the Haar detector), TensorFlow's intra- and inter-op pools, and the TFLite
interpreter that fer builds for its default quantized classifier. fer builds that interpreter without a
thread count, so the worker builds it with one and hands it to fer through fer's own interpreter cache.

What fer sees as a face: fer squares the box, widens it by its offsets (10 px a side) and cuts it from the
photo padded with a grey border. To classify an image as a whole face (a FER2013 crop, or a photo where no
face was found) the box is inset by those offsets, so the cut is exactly the image, with no border.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # jsonl_worker, beside this file

from jsonl_worker import serve  # noqa: E402

FER_OFFSETS = (10, 10)  # FER()'s default `offsets`, the margin it adds around every box


def box_for_whole_image(width: int, height: int, offsets: tuple[int, int] = FER_OFFSETS) -> tuple[int, int, int, int]:
    """The (x, y, w, h) box that fer widens back to the whole image: the image is the face."""
    x_offset, y_offset = offsets
    if width > 2 * x_offset and height > 2 * y_offset:
        return (x_offset, y_offset, width - 2 * x_offset, height - 2 * y_offset)
    return (0, 0, width, height)  # too small to inset: fer adds its border around the whole image


def largest_face(faces: list[dict]) -> dict | None:
    """The face with the largest box (the first of equals), as fer's `detect_emotions` lists them."""
    if not faces:
        return None
    return max(faces, key=lambda face: int(face["box"][2]) * int(face["box"][3]))


def top_emotion(emotions: dict[str, float]) -> str:
    # fer's own top_emotion(): the first of equal scores wins (fer rounds its scores to 2 decimals).
    return max(emotions, key=emotions.get)


class FerSystem:
    def __init__(self, threads: int):
        import cv2
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        cv2.setNumThreads(threads)

        from fer.fer import FER

        self.cv2 = cv2
        self.threads = threads
        model_path = Path(sys.modules["fer"].__file__).parent / "data" / "emotion_model_quantized.tflite"
        interpreter = tf.lite.Interpreter(model_path=str(model_path), num_threads=threads)
        interpreter.allocate_tensors()
        FER._tflite_interpreter_cache = interpreter
        self.detector = FER(mtcnn=False)  # its default; MTCNN would need facenet-pytorch, torch and torchvision
        self._photo_bytes: dict[str, bytes] = {}

    def decode(self, data: bytes):
        import numpy as np

        # What cv2.imread gives fer's README: BGR, 8-bit, upright as the EXIF says.
        return self.cv2.imdecode(np.frombuffer(data, np.uint8), self.cv2.IMREAD_COLOR)

    def whole_image_label(self, image) -> str:
        height, width = image.shape[:2]
        faces = self.detector.detect_emotions(image, face_rectangles=[box_for_whole_image(width, height)])
        return top_emotion(faces[0]["emotions"])

    # ---- requests -------------------------------------------------------------------------------------

    def hello(self) -> dict:
        import cv2
        import numpy
        import tensorflow
        import fer

        return {
            "fer": fer.__version__,
            "tensorflow": tensorflow.__version__,
            "opencv": cv2.__version__,
            "numpy": numpy.__version__,
            "python": sys.version.split()[0],
            "detector": "OpenCV Haar cascade (fer's default: scale 1.1, 5 neighbours, faces from 50 px)",
            "classifier": "fer's default: the quantized TFLite model, 64x64 grey",
            "threads": self.threads,
        }

    def classify_crops(self, npy: str) -> dict:
        """fer's label for each (48, 48) uint8 face in the .npy file, the whole crop as the face."""
        import numpy as np

        faces = np.load(npy)
        labels = [self.whole_image_label(self.cv2.cvtColor(face, self.cv2.COLOR_GRAY2BGR)) for face in faces]
        return {"labels": labels}

    def classify_photos(self, paths: list[str]) -> dict:
        """Per photo: faces found, the largest face's label, and the whole image's label when none was found."""
        results = []
        for done, path in enumerate(paths, 1):
            try:
                image = self.decode(Path(path).read_bytes())
            except OSError as error:
                image, problem = None, str(error)
            else:
                problem = "OpenCV cannot decode it"
            if image is None:
                results.append({"error": problem, "faces": 0, "largest": None, "whole": None})
                continue
            faces = self.detector.detect_emotions(image)
            largest = largest_face(faces)
            results.append({
                "error": None,
                "faces": len(faces),
                "largest": top_emotion(largest["emotions"]) if largest else None,
                "whole": None if largest else self.whole_image_label(image),
            })
            if done % 500 == 0:
                print(f"  fer: {done:,}/{len(paths):,} photos", file=sys.stderr, flush=True)
        return {"results": results}

    def time_photo(self, path: str) -> dict:
        """Decode and detect-and-classify one photo (held in memory), timed here."""
        data = self._photo_bytes.setdefault(path, Path(path).read_bytes())
        started = time.perf_counter()
        faces = self.detector.detect_emotions(self.decode(data))
        return {"seconds": time.perf_counter() - started, "faces": len(faces)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(name, str(args.threads))  # too late for libraries already loaded: the driver sets them
    system = FerSystem(args.threads)
    serve({
        "hello": system.hello,
        "classify_crops": system.classify_crops,
        "classify_photos": system.classify_photos,
        "time_photo": system.time_photo,
    })


if __name__ == "__main__":
    main()
