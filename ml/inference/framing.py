"""Cutting a face out of a photo the way FER2013 framed its faces, measured rather than guessed.

A detector's box is not FER2013's crop: FER2013 shows more forehead, chin and cheek, and its crop sits
a little off the box's centre. `Framing` says where FER2013's square lies relative to a detector's box
(side and centre, in box sizes); `bench/crop_geometry.py` measures it by running the detector on
FER2013's own faces, and `ml/inference/framings.json` keeps the measured figures per detector.

With eye landmarks the face is also levelled: the square is rotated about its centre so the eyes lie
on one line. A square that reaches past the photo is shrunk and moved to fit inside it ("fit"): the model
then sees only what the photo holds. Mirroring the photo at its edge ("reflect") or filling with gray
invents pixels; on the development sets they score the same or lower at the measured framing, and with a
wider framing than measured they lose far more (bench/framing_sweep.py; docs/photo-pipeline.md).
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

FACE_SIZE = 48
FRAMINGS_FILE = Path(__file__).with_name("framings.json")
MAX_LEVELLING_DEGREES = 30  # a tilt beyond this is more likely a wrong landmark than a tilted head
_WORK_SIDE = 2 * FACE_SIZE  # rotate at twice the output size, then shrink: no aliasing, little work
_BORDERS = {"reflect": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}


@dataclass(frozen=True)
class Framing:
    scale: float = 1.4  # the square's side over the box's larger side (1 + 2 * margin)
    offset_x: float = 0.0  # the square's centre minus the box's, in box widths (+ is right)
    offset_y: float = 0.0  # likewise in box heights (+ is down)
    level_eyes: bool = True  # rotate so the eyes are level, when the detector gives eyes
    # A square reaching past the photo: "fit" shrinks and moves the square inside, "reflect" mirrors the
    # photo at its edge, "replicate" repeats the edge pixels, "constant" fills with the crop's mean gray.
    border: str = "fit"

    def __post_init__(self):
        if not self.scale > 0:
            raise ValueError(f"Framing.scale must be greater than 0, got {self.scale}")
        if self.border not in (*_BORDERS, "fit"):
            raise ValueError(f"Framing.border must be one of {', '.join(_BORDERS)}, fit; got {self.border!r}")

    @classmethod
    def from_margin(cls, margin: float, **keys) -> "Framing":
        """The old `margin` knob: a centred square widened by `margin` of the box on each side."""
        return cls(scale=1 + 2 * margin, **keys)

    def to_dict(self) -> dict:
        return asdict(self)


def measured_framing(detector: str) -> Framing:
    """The framing measured for `detector` on FER2013 (framings.json), or the centred 1.4 default."""
    entry = _measured_framings().get(detector)
    if entry is None:
        return Framing()
    return Framing(**{key: entry[key] for key in ("scale", "offset_x", "offset_y") if key in entry})


@functools.cache
def _measured_framings() -> dict:
    if not FRAMINGS_FILE.exists():
        return {}
    return json.loads(FRAMINGS_FILE.read_text())


def eye_angle(landmarks) -> float:
    """Degrees to rotate the image (counter-clockwise, OpenCV's sense) to bring the eyes level.

    `landmarks` starts with the left eye then the right eye as they appear in the image, (x, y) each.
    """
    (left_x, left_y), (right_x, right_y) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(right_y - left_y, right_x - left_x))


def frame_face(gray: np.ndarray, box, framing: Framing, landmarks=None) -> np.ndarray:
    """A (48, 48) uint8 face cut from `gray` around the detector's `box` as `framing` says."""
    side = max(1.0, framing.scale * max(box.w, box.h))
    centre_x = box.x + box.w / 2 + framing.offset_x * box.w
    centre_y = box.y + box.h / 2 + framing.offset_y * box.h
    if framing.border == "fit":
        centre_x, centre_y, side = fit_inside(gray.shape, centre_x, centre_y, side)
    angle = 0.0
    if framing.level_eyes and landmarks is not None:
        angle = eye_angle(landmarks)
        if abs(angle) > MAX_LEVELLING_DEGREES:
            angle = 0.0
    border = "reflect" if framing.border == "fit" else framing.border  # "fit" reaches past only when turned
    return cut_square(gray, centre_x, centre_y, side, angle, border=border)


def fit_inside(shape: tuple[int, int], centre_x: float, centre_y: float, side: float) -> tuple[float, float, float]:
    """The square shrunk to the photo's shorter side if larger, then moved the least to lie inside the photo."""
    height, width = shape[:2]
    side = min(side, width, height)
    return min(max(centre_x, side / 2), width - side / 2), min(max(centre_y, side / 2), height - side / 2), side


def cut_square(gray: np.ndarray, centre_x: float, centre_y: float, side: float, angle: float = 0.0,
               border: str = "reflect") -> np.ndarray:
    """The square of `side` pixels centred on (centre_x, centre_y), turned by `angle` degrees, as 48x48.

    The region (with room to turn) is cut out first and shrunk with INTER_AREA, so the rotation works on
    a small image whatever the photo's size; parts past the photo's edge are filled by `border`.
    """
    # Room for the rotated square's corners, plus a pixel for interpolation.
    reach = side * (abs(math.cos(math.radians(angle))) + abs(math.sin(math.radians(angle)))) / 2 + 1
    left, top = math.floor(centre_x - reach), math.floor(centre_y - reach)
    right, bottom = math.ceil(centre_x + reach), math.ceil(centre_y + reach)
    region = _region_with_border(gray, left, top, right, bottom, _BORDERS[border])
    # Shrink the region so the square becomes _WORK_SIDE pixels (never enlarge: that only costs time).
    shrink = min(1.0, _WORK_SIDE / side)
    if shrink < 1.0:
        size = (max(1, round(region.shape[1] * shrink)), max(1, round(region.shape[0] * shrink)))
        region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    scale_x, scale_y = region.shape[1] / (right - left), region.shape[0] / (bottom - top)
    # The centre in OpenCV's pixel-centre coordinates (pixel i spans [i - 0.5, i + 0.5]).
    centre = ((centre_x - left) * scale_x - 0.5, (centre_y - top) * scale_y - 0.5)
    work_side = side * scale_x
    # Turn about the centre and move the square to the middle of the output. A square larger than 48
    # pixels is turned at its own size and then shrunk with INTER_AREA (warpAffine has no area filter).
    out_side = FACE_SIZE if work_side <= FACE_SIZE else round(work_side)
    transform = cv2.getRotationMatrix2D(centre, angle, out_side / work_side)
    transform[:, 2] += (out_side / 2 - 0.5 - centre[0], out_side / 2 - 0.5 - centre[1])
    turned = cv2.warpAffine(region, transform, (out_side, out_side), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT_101)
    if out_side == FACE_SIZE:
        return turned
    return cv2.resize(turned, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)


def _region_with_border(gray: np.ndarray, left: int, top: int, right: int, bottom: int, border: int) -> np.ndarray:
    height, width = gray.shape
    x0, y0, x1, y1 = max(0, left), max(0, top), min(width, right), min(height, bottom)
    if x0 >= x1 or y0 >= y1:  # wholly outside the photo: nothing to mirror, so gray
        return np.full((bottom - top, right - left), 128, dtype=np.uint8)
    pads = (y0 - top, bottom - y1, x0 - left, right - x1)
    inside = gray[y0:y1, x0:x1]
    if border == cv2.BORDER_REFLECT_101 and (max(pads[:2]) >= inside.shape[0] or max(pads[2:]) >= inside.shape[1]):
        # OpenCV reflects only once: a pad wider than the photo itself falls back to repeating the edge.
        border = cv2.BORDER_REPLICATE
    value = int(inside.mean()) if border == cv2.BORDER_CONSTANT else 0
    return cv2.copyMakeBorder(inside, *pads, border, value=value)
