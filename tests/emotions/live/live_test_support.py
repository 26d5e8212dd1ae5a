"""Camera pictures for the live page's tests: real photos framed as a camera films them, and a Y4M video
of them that Chromium's fake camera plays (--use-file-for-fake-video-capture)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def camera_picture(photo: Image.Image, width: int, height: int) -> Image.Image:
    """`photo` scaled to fit a `width` x `height` camera picture, centred on black."""
    scale = min(width / photo.width, height / photo.height)
    scaled = photo.convert("RGB").resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS)
    picture = Image.new("RGB", (width, height))
    picture.paste(scaled, ((width - scaled.width) // 2, (height - scaled.height) // 2))
    return picture


def write_y4m(path: Path, frames: list[Image.Image], fps: int = 10) -> Path:
    """An uncompressed YUV4MPEG2 video (4:2:0, the only layout Chromium's file camera reads) of `frames`,
    all of one even size. Chromium plays it at `fps` and loops it."""
    import cv2

    width, height = frames[0].size
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            assert frame.size == (width, height), "every frame of a Y4M has the video's size"
            out.write(b"FRAME\n")
            # (H * 3/2, W): the Y plane, then U and V at a quarter of its size each, as Y4M stores them.
            out.write(cv2.cvtColor(np.asarray(frame.convert("RGB")), cv2.COLOR_RGB2YUV_I420).tobytes())
    return path
