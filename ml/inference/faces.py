"""Finding faces in a photo and cutting them out the way FER2013's faces were cut: square, gray, 48x48.

Two detectors, both offline with nothing to download:
- "mtcnn" (the default): MTCNN from facenet-pytorch 2.5.3, three small CNNs whose weights ship inside the
  pinned wheel. It finds turned, tilted and small faces the cascade misses, and gives five landmarks
  (eyes, nose, mouth corners) to align a face with. It runs on torch's CPU threads.
- "haar": OpenCV's frontal-face Haar cascade, shipped inside opencv-python, run in OpenCV's thread pool.
  It stands in for MTCNN where facenet-pytorch is not installed.

bench/face_detection.py measures both on the development sets (one face per photo; docs/photo-pipeline.md has
the table): MTCNN found a face in 1,232 of twpfe's 1,232 photos and 1,861 of muxspace's 1,915, the cascade
in 1,228 and 1,440, each with a handful of extra boxes, in about the cascade's time. Running the cascade
where MTCNN finds nothing found 3 more faces in 3,147 photos, for the cascade's time on every photo
without a face: not worth it, so one detector runs, and the upload page offers the whole image instead.

Both keep faces of at least 8% of the photo's shorter side: smaller detections are mostly texture that
looks like a face, and too few pixels to read an emotion from.
"""
from __future__ import annotations

import functools
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch

FACE_SIZE = 48  # FER2013's faces; the model's own input size is applied later by FerEvalPreset
MAX_FACE_CROP_SIDE = 96  # an upload this small is taken to be a face already
DETECTION_SIDE = 1024  # longer photos are shrunk for detection: faster, and neither detector needs more
DETECTORS = ("mtcnn", "haar")
CASCADE_FILE = "haarcascade_frontalface_default.xml"
# facenet-pytorch's defaults: a face's probability after each of the three networks, and the step
# between the sizes searched.
MTCNN_THRESHOLDS = (0.6, 0.7, 0.7)
MTCNN_SCALE_STEP = 0.709
_DUPLICATE_OVERLAP = 0.5  # share of the smaller box covered by the larger: the same face found twice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class Landmarks(NamedTuple):
    """Five (x, y) points in the photo's pixels. Left and right as seen in the photo, not the person's."""

    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    nose: tuple[float, float]
    mouth_left: tuple[float, float]
    mouth_right: tuple[float, float]


@dataclass(frozen=True)
class DetectedFace:
    box: Box  # inside the photo: a face at the edge has its box cut at the edge
    detector: str  # "mtcnn" or "haar"
    score: float | None = None  # MTCNN's probability that this is a face; the cascade gives none
    landmarks: Landmarks | None = None  # MTCNN's; may lie past the photo's edge with the face


def is_face_crop(width: int, height: int) -> bool:
    return width <= MAX_FACE_CROP_SIDE and height <= MAX_FACE_CROP_SIDE


def detect_faces(
    pixels: np.ndarray, *, detector: str = "mtcnn", min_face_fraction: float = 0.08, min_face_pixels: int = 24
) -> list[DetectedFace]:
    """Faces in an (H, W, 3) RGB or (H, W) gray uint8 image, left to right.

    MTCNN reads colour (a gray image is searched as three equal channels), the cascade reads gray.
    A face must be at least `min_face_pixels` and `min_face_fraction` of the shorter side.
    """
    return detect_faces_in_frames(
        [pixels], detector=detector, min_face_fraction=min_face_fraction, min_face_pixels=min_face_pixels
    )[0]


def detect_faces_in_frames(
    frames, *, detector: str = "mtcnn", min_face_fraction: float = 0.08, min_face_pixels: int = 24
) -> list[list[DetectedFace]]:
    """`detect_faces` for each of `frames`, images of one size and kind (a video's frames).

    MTCNN searches them as one batch, which finds the same faces as one frame at a time in less time
    per frame (bench/video_throughput.py); the cascade takes them one by one.
    """
    for pixels in frames:
        if pixels.dtype != np.uint8 or not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
            raise ValueError(
                f"detect_faces needs an (H, W, 3) or (H, W) uint8 image, got {pixels.shape} {pixels.dtype}")
    if len({pixels.shape for pixels in frames}) > 1:
        raise ValueError(f"frames searched together must share one shape, got {sorted({f.shape for f in frames})}")
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
    if not len(frames):
        return []
    if detector == "mtcnn" and not mtcnn_available():
        detector = "haar"
    height, width = frames[0].shape[:2]
    scale = min(1.0, DETECTION_SIDE / max(height, width))
    small = [
        pixels if scale == 1.0 else cv2.resize(pixels, _scaled(width, height, scale), interpolation=cv2.INTER_AREA)
        for pixels in frames
    ]
    min_side = max(1, math.ceil(max(min_face_pixels, min_face_fraction * min(height, width)) * scale))
    found = _mtcnn_faces(small, min_side) if detector == "mtcnn" else [_haar_faces(p, min_side) for p in small]
    return [_in_photo(per_frame, scale, width, height) for per_frame in found]


def _in_photo(found: list["_Found"], scale: float, width: int, height: int) -> list[DetectedFace]:
    faces = [_unscaled(face, scale, width, height) for face in found]
    return sorted(_drop_duplicates([face for face in faces if face is not None]), key=lambda f: (f.box.x, f.box.y))


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
def mtcnn_available() -> bool:
    try:
        import facenet_pytorch  # noqa: F401
    except ImportError:
        log.warning("facenet-pytorch is not installed: faces are found with OpenCV's Haar cascade instead of MTCNN")
        return False
    return True


class _Found(NamedTuple):
    """A face as a detector reports it, in the pixels it searched (the photo, maybe shrunk)."""

    corners: tuple[float, float, float, float]  # left, top, right, bottom
    detector: str
    score: float | None = None
    points: np.ndarray | None = None  # (5, 2) landmarks


def _mtcnn_faces(images: list[np.ndarray], min_side: int) -> list[list[_Found]]:
    """The faces in each of `images` (one size), searched as one batch."""
    rgb = [np.repeat(pixels[:, :, None], 3, axis=2) if pixels.ndim == 2 else pixels for pixels in images]
    if min(rgb[0].shape[:2]) < min_side:
        return [[] for _ in rgb]  # no face of the minimum size fits (and facenet-pytorch fails on an empty size pyramid)
    from facenet_pytorch.models.utils.detect_face import detect_face

    with torch.inference_mode():
        boxes, points = detect_face(
            np.stack(rgb), min_side, *_mtcnn_networks(), list(MTCNN_THRESHOLDS), MTCNN_SCALE_STEP, torch.device("cpu")
        )
    return [_from_mtcnn(boxes[i], points[i]) for i in range(len(rgb))]


def _from_mtcnn(boxes, points) -> list[_Found]:
    """facenet-pytorch's answer for one image as plain floats.

    Under numpy 2 it comes as object arrays ((N, 5) box corners and probability, (N, 5, 2) landmarks),
    and `MTCNN.detect` says "no face" with None: both are read here.
    """
    if boxes is None or len(boxes) == 0:
        return []
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    points = None if points is None else np.asarray(points, dtype=np.float64).reshape(-1, 5, 2)
    return [
        _Found(tuple(row[:4]), "mtcnn", float(row[4]), None if points is None else points[i])
        for i, row in enumerate(boxes)
    ]


def _haar_faces(pixels: np.ndarray, min_side: int) -> list[_Found]:
    gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 else pixels
    found = _cascade().detectMultiScale(
        cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    return [_Found((x, y, x + w, y + h), "haar") for x, y, w, h in (map(float, row) for row in found)]


@functools.cache
def _mtcnn_networks() -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """The three networks, built once per process. Their weights are plain state dicts inside the wheel,
    loaded here with weights_only=True (the library's own loader calls torch.load without it)."""
    import facenet_pytorch
    from facenet_pytorch import ONet, PNet, RNet

    weights = Path(facenet_pytorch.__file__).parent / "data"
    networks = []
    for name, network in (("pnet", PNet), ("rnet", RNet), ("onet", ONet)):
        model = network(pretrained=False)
        model.load_state_dict(torch.load(weights / f"{name}.pt", map_location="cpu", weights_only=True))
        networks.append(model.eval())
    return tuple(networks)


@functools.cache
def _cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not load its face detector {CASCADE_FILE}; is opencv installed fully?")
    return cascade


def _scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def _unscaled(found: _Found, scale: float, width: int, height: int) -> DetectedFace | None:
    """The face in the photo's pixels, its box cut at the photo's edges; None if nothing is left inside."""
    corners, detector, score, points = found
    x0, y0, x1, y1 = (v / scale for v in corners)
    left, top = min(max(0, round(x0)), width), min(max(0, round(y0)), height)
    right, bottom = min(max(0, round(x1)), width), min(max(0, round(y1)), height)
    if right - left < 1 or bottom - top < 1:
        return None
    landmarks = None
    if points is not None:
        landmarks = Landmarks(*((round(float(x) / scale, 1), round(float(y) / scale, 1)) for x, y in points))
    return DetectedFace(Box(left, top, right - left, bottom - top), detector, score, landmarks)


def _drop_duplicates(faces: list[DetectedFace]) -> list[DetectedFace]:
    """Keep the larger of two boxes that mostly overlap: a detector sometimes finds a face twice."""
    kept: list[DetectedFace] = []
    for face in sorted(faces, key=lambda f: f.box.w * f.box.h, reverse=True):
        if all(_overlap_of_smaller(face.box, other.box) < _DUPLICATE_OVERLAP for other in kept):
            kept.append(face)
    return kept


def _overlap_of_smaller(a: Box, b: Box) -> float:
    overlap_w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    overlap_h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    if overlap_w <= 0 or overlap_h <= 0:
        return 0.0
    return overlap_w * overlap_h / min(a.w * a.h, b.w * b.h)
