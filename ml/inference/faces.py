"""Finding faces in a photo and cutting them out the way FER2013's faces were cut: square, gray, 48x48.

The detector is the frontal-face Haar cascade that ships inside opencv-python: it works offline with
nothing to download, and is fast on a CPU. It misses profiles and small faces, hence the minimum size.
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

FACE_SIZE = 48  # FER2013's faces; the model's own input size is applied later by FerEvalPreset
MAX_FACE_CROP_SIDE = 96  # an upload this small is taken to be a face already
DETECTION_SIDE = 1024  # longer photos are shrunk for detection: faster, and the cascade needs no more
CASCADE_FILE = "haarcascade_frontalface_default.xml"
_DUPLICATE_OVERLAP = 0.5  # share of the smaller box covered by the larger: the same face found twice


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def is_face_crop(width: int, height: int) -> bool:
    return width <= MAX_FACE_CROP_SIDE and height <= MAX_FACE_CROP_SIDE


def detect_faces(gray: np.ndarray, *, min_face_fraction: float = 0.08, min_face_pixels: int = 24) -> list[Box]:
    """Frontal faces in an (H, W) uint8 image, left to right.

    A face must be at least `min_face_pixels` and `min_face_fraction` of the shorter side: smaller
    detections are mostly texture that looks like a face, and too few pixels to read an emotion from.
    """
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"detect_faces needs an (H, W) uint8 image, got {gray.shape} {gray.dtype}")
    height, width = gray.shape
    scale = min(1.0, DETECTION_SIDE / max(height, width))
    small = gray if scale == 1.0 else cv2.resize(gray, _scaled(width, height, scale), interpolation=cv2.INTER_AREA)
    min_side = max(min_face_pixels, min_face_fraction * min(height, width))
    min_side_small = max(1, math.ceil(min_side * scale))
    found = _cascade().detectMultiScale(
        cv2.equalizeHist(small), scaleFactor=1.1, minNeighbors=5, minSize=(min_side_small, min_side_small)
    )
    boxes = [_unscaled(tuple(int(v) for v in row), scale, width, height) for row in found]
    return sorted(_drop_duplicates(boxes), key=lambda b: (b.x, b.y))


def crop_face(gray: np.ndarray, box: Box, margin: float = 0.2) -> np.ndarray:
    """A (48, 48) uint8 square around `box`, widened by `margin` of its size on each side.

    Where the square runs off the photo the edge pixels are repeated: black bars would look like part
    of the face to the model. Shrinking uses INTER_AREA (no aliasing); enlarging uses INTER_LINEAR,
    since INTER_AREA enlarges like nearest-neighbour and leaves blocky faces.
    """
    side = max(1, round(max(box.w, box.h) * (1 + 2 * margin)))
    left = round(box.x + box.w / 2 - side / 2)
    top = round(box.y + box.h / 2 - side / 2)
    height, width = gray.shape
    x0, y0, x1, y1 = max(0, left), max(0, top), min(width, left + side), min(height, top + side)
    square = cv2.copyMakeBorder(
        gray[y0:y1, x0:x1],
        y0 - top, top + side - y1, x0 - left, left + side - x1,
        cv2.BORDER_REPLICATE,
    )
    interpolation = cv2.INTER_AREA if side >= FACE_SIZE else cv2.INTER_LINEAR
    return cv2.resize(square, (FACE_SIZE, FACE_SIZE), interpolation=interpolation)


@functools.cache
def _cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not load its face detector {CASCADE_FILE}; is opencv installed fully?")
    return cascade


def _scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def _unscaled(box: tuple[int, int, int, int], scale: float, width: int, height: int) -> Box:
    x, y, w, h = (round(v / scale) for v in box)
    x, y = min(max(0, x), width - 1), min(max(0, y), height - 1)
    return Box(x, y, min(w, width - x), min(h, height - y))


def _drop_duplicates(boxes: list[Box]) -> list[Box]:
    """Keep the larger of two boxes that mostly overlap: the cascade sometimes finds a face twice."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: b.w * b.h, reverse=True):
        if all(_overlap_of_smaller(box, other) < _DUPLICATE_OVERLAP for other in kept):
            kept.append(box)
    return kept


def _overlap_of_smaller(a: Box, b: Box) -> float:
    overlap_w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    overlap_h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    if overlap_w <= 0 or overlap_h <= 0:
        return 0.0
    return overlap_w * overlap_h / min(a.w * a.h, b.w * b.h)
