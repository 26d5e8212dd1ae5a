"""Short videos of real faces, made on the spot: the video benchmark and the video tests film these.

The face is Eileen Collins' (scikit-image's `astronaut`, a real photo), cut out with her hair and
shoulders and moved over a plain background; the faceless scene pans over scikit-image's `coffee`.
Scenes, at any size, frame rate and length (positions follow time, not frame numbers):

- "one": one face gliding left to right and growing a little;
- "two": two faces side by side (the right one mirrored), both bobbing;
- "return": one face that shows for 1 s, leaves for 1.5 s, and comes back;
- "none": a table with a cup of coffee, no face.

    write_face_video("interview.avi", scene="two", seconds=20, fps=25, size=(640, 480))
"""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

SCENES = ("one", "two", "return", "none")
FOURCC_BY_SUFFIX = {".avi": "MJPG", ".mp4": "mp4v", ".mov": "mp4v", ".webm": "VP90", ".mkv": "VP80"}
BACKGROUND = (96, 104, 112)
RETURN_GONE = (1.0, 2.5)  # the "return" scene: the face is away from 1.0 s to 2.5 s


@functools.cache
def head() -> np.ndarray:
    """The astronaut's head and shoulders, 256x256 RGB: the face is about 85x110 in the middle."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[:256, 96:352])


@functools.cache
def _coffee() -> np.ndarray:
    import skimage.data

    return skimage.data.coffee()


def scene_frame(scene: str, t: float, seconds: float, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """The (H, W, 3) RGB frame of `scene` at time `t` of a video `seconds` long."""
    width, height = size
    if scene == "none":
        coffee = _coffee()
        pan = int((coffee.shape[1] - coffee.shape[0] * width / height) * min(1.0, t / max(seconds, 1e-9)))
        view = coffee[:, max(0, pan):max(0, pan) + round(coffee.shape[0] * width / height)]
        return cv2.resize(view, size, interpolation=cv2.INTER_AREA)
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    side = round(0.55 * height)  # the head's square; the face is about a third of it
    progress = min(1.0, t / max(seconds, 1e-9))
    if scene == "one":
        grown = round(side * (1 + 0.15 * progress))
        _paste(canvas, head(), grown, (0.3 + 0.4 * progress) * width, 0.5 * height)
    elif scene == "two":
        bob = 0.04 * height * math.sin(2 * math.pi * t / 2)
        _paste(canvas, head(), side, 0.27 * width, 0.5 * height + bob)
        _paste(canvas, head()[:, ::-1], side, 0.73 * width, 0.5 * height - bob)
    elif scene == "return":
        if not RETURN_GONE[0] <= t < RETURN_GONE[1]:
            _paste(canvas, head(), side, (0.4 + 0.05 * math.sin(t)) * width, 0.5 * height)
    else:
        raise ValueError(f"scene must be one of {', '.join(SCENES)}, got {scene!r}")
    return canvas


def face_video_frames(scene: str, seconds: float, fps: float, size=(640, 480)) -> Iterator[np.ndarray]:
    for index in range(round(seconds * fps)):
        yield scene_frame(scene, index / fps, seconds, size)


def write_face_video(path: str | Path, *, scene: str = "one", seconds: float = 3.0, fps: float = 12.0,
                     size: tuple[int, int] = (640, 480), fourcc: str | None = None) -> Path:
    """Write the scene with OpenCV's FFmpeg writer; the codec follows the suffix (MJPG in .avi, mp4v in .mp4)."""
    path = Path(path)
    fourcc = fourcc or FOURCC_BY_SUFFIX[path.suffix.lower()]
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} into {path.name}")
    try:
        for frame in face_video_frames(scene, seconds, fps, size):
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def _paste(canvas: np.ndarray, picture: np.ndarray, side: int, centre_x: float, centre_y: float) -> None:
    """`picture` scaled to `side` pixels square, centred at (centre_x, centre_y), cut at the canvas' edges."""
    scaled = cv2.resize(picture, (side, side), interpolation=cv2.INTER_AREA if side < picture.shape[0] else cv2.INTER_LINEAR)
    left, top = round(centre_x - side / 2), round(centre_y - side / 2)
    height, width = canvas.shape[:2]
    x0, y0, x1, y1 = max(0, left), max(0, top), min(width, left + side), min(height, top + side)
    if x0 < x1 and y0 < y1:
        canvas[y0:y1, x0:x1] = scaled[y0 - top:y1 - top, x0 - left:x1 - left]
