"""Opening an uploaded video with OpenCV's FFmpeg backend, and taking frames from it at a chosen rate.

`probe_video` refuses what we cannot or will not read with a `VideoError` a user can act on, before any
face is searched: a file that is not MP4, MOV, WebM/Matroska or AVI (recognised by its first bytes, so
FFmpeg never opens a playlist, an image or a script that names other files), a video with no frame
that decodes, one too long, or with frames too large. Its duration and frame rate come from the header
when the header is plausible, else from the frames' own timestamps: a WebM recorded in a browser
(MediaRecorder) has no duration in its header, and FFmpeg then reports a frame count of -1e17, and
some report their timestamps' tick (1000) as their frame rate.

`sample_frames` decodes every frame in order (seeking is unreliable across codecs) and keeps the one
nearest each sampling time k / fps, by the frames' own timestamps, so a variable frame rate or a
header's wrong frame rate does not shift the times. Only kept frames are converted to RGB.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

MAX_SECONDS = 600
MAX_FRAME_PIXELS = 4096 * 2304  # 4K, cinema and UHD; larger frames would only cost memory
MAX_HEADER_FPS = 240  # above this a header's frame rate is its timestamps' tick, not frames
TIMESTAMP_FRAMES = 30  # frames whose timestamps give the frame rate when the header's is implausible

NOT_A_VIDEO = "not a video we can read (MP4, MOV, WebM, AVI)"
NO_FRAME = "the video is truncated or corrupt: no frame of it could be decoded"
EMPTY = "the file is empty"


class VideoError(ValueError):
    """A video we refuse; `str(error)` is written for the person who uploaded it."""


@dataclass(frozen=True)
class VideoInfo:
    duration: float  # seconds, from the first frame's start to the last frame's end
    fps: float  # the video's own frame rate (its average, for a variable rate)
    frame_count: int
    width: int
    height: int
    measured: bool  # the header was missing or implausible: the figures come from decoding every frame


@dataclass(frozen=True, eq=False)  # eq=False: the pixels are an array
class SampledFrame:
    index: int  # among the sampled frames, from 0
    t: float  # seconds since the first frame, the frame's own timestamp
    rgb: np.ndarray  # (H, W, 3) uint8


def container_of(head: bytes) -> str | None:
    """The container format that `head` (a file's first 16 bytes or more) starts, if it is one we take."""
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "MP4/MOV"  # ISO base media: an 'ftyp' box first, or an older QuickTime atom
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "WebM/Matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    return None


def probe_video(path: str | Path, *, max_seconds: float | None = MAX_SECONDS) -> VideoInfo:
    """The video's duration, frame rate, frame count and size, or a `VideoError` saying why we refuse it."""
    path = Path(path)
    if os.stat(path).st_size == 0:  # FileNotFoundError names the file
        raise VideoError(EMPTY)
    with open(path, "rb") as file:
        if container_of(file.read(16)) is None:
            raise VideoError(NOT_A_VIDEO)
    capture = open_capture(path)
    try:
        _check_frame_size(int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        ok = capture.grab()
        ok, frame = capture.retrieve() if ok else (False, None)
        if not ok or frame is None:
            raise VideoError(NO_FRAME)
        # The decoded frame's size, not the header's: OpenCV turns a phone's portrait video upright.
        height, width = frame.shape[:2]
        _check_frame_size(width, height)
        header_fps = capture.get(cv2.CAP_PROP_FPS)
        header_count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    finally:
        capture.release()
    if 0 < header_fps <= MAX_HEADER_FPS and 0 < header_count < 1e8:
        info = VideoInfo(round(header_count / header_fps, 3), header_fps, int(header_count), width, height, False)
        _check_duration(info.duration, max_seconds)
        return info
    return _measure(path, width, height, header_fps, max_seconds)


def open_capture(path: str | Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise VideoError(NO_FRAME)  # the first bytes said video: a header that starts right and then breaks
    return capture


class FrameSampler:
    """The frame nearest each time k / fps (k = 0, 1, ...), in order.

    A frame is taken for time k / fps when its timestamp is within half a frame before it or later,
    which under a steady frame rate is the nearest frame; a frame serves one time at most, so an `fps`
    above the video's own gives every frame once. A video whose frames run past `max_seconds`
    (its header said less) raises `VideoError` when the decoding gets there. Once iterated to the end,
    `end` is where the last frame ends (seconds): the video's duration as decoded.
    """

    def __init__(self, path: str | Path, fps: float, info: VideoInfo, *, max_seconds: float | None = MAX_SECONDS):
        if not fps > 0:
            raise ValueError(f"fps must be greater than 0, got {fps}")
        self.path, self.fps, self.info, self.max_seconds = path, fps, info, max_seconds
        self.end: float | None = None

    def __iter__(self) -> Iterator[SampledFrame]:
        step, half_frame = 1 / self.fps, 0.5 / self.info.fps
        capture = open_capture(self.path)
        try:
            first = None
            t = -math.inf
            k = index = 0
            while capture.grab():
                t, first = _frame_time(capture, first, t, self.info.fps)
                if self.max_seconds is not None and t > self.max_seconds:
                    raise VideoError(_too_long(t, self.max_seconds, more=True))
                if t < k * step - half_frame:
                    continue
                ok, bgr = capture.retrieve()
                if not ok:
                    continue  # a frame that decoded but will not convert: the next one stands in
                yield SampledFrame(index, round(t, 3), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                index += 1
                while k * step - half_frame <= t:  # a frame serves one sampling time, the nearest
                    k += 1
            if first is not None:
                self.end = round(t + 1 / self.info.fps, 3)
        finally:
            capture.release()


def planned_samples(info: VideoInfo, fps: float) -> int:
    """How many frames `sample_frames` takes from a video as `info` describes it."""
    step, half_frame = 1 / fps, 0.5 / info.fps
    last_t = max(0.0, info.duration - 1 / info.fps)
    return math.floor((last_t + half_frame) / step + 1e-9) + 1


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min" + (f" {rest} s" if rest else "")


def _measure(path: Path, width: int, height: int, header_fps: float, max_seconds: float | None) -> VideoInfo:
    """Duration and frame rate from the frames' timestamps: every frame is decoded (not converted)."""
    capture = open_capture(path)
    try:
        first, times, count = None, [], 0
        last_t = -math.inf
        fallback_fps = header_fps if 0 < header_fps <= MAX_HEADER_FPS else 25.0
        while capture.grab():
            last_t, first = _frame_time(capture, first, last_t, fallback_fps)
            count += 1
            if len(times) < TIMESTAMP_FRAMES:
                times.append(last_t)
            if max_seconds is not None and last_t > max_seconds:
                raise VideoError(_too_long(last_t, max_seconds, more=True))
    finally:
        capture.release()
    if first is None:
        raise VideoError(NO_FRAME)
    gaps = np.diff(times)
    gaps = gaps[gaps > 0]
    fps = 1 / float(np.median(gaps)) if len(gaps) else fallback_fps
    if 0 < header_fps <= MAX_HEADER_FPS and abs(fps - header_fps) / header_fps < 0.1:
        fps = header_fps  # the header's rate is exact where the timestamps are rounded to milliseconds
    duration = round(last_t + 1 / fps, 3)
    _check_duration(duration, max_seconds)
    return VideoInfo(duration, fps, count, width, height, True)


def _frame_time(capture: cv2.VideoCapture, first: float | None, last_t: float, fps: float) -> tuple[float, float]:
    """The grabbed frame's time since the first frame, never before the previous frame's."""
    pts = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
    if first is None:
        first = pts if math.isfinite(pts) else 0.0
    t = pts - first
    if not math.isfinite(t) or t <= last_t:
        t = last_t + 1 / fps  # a frame without a usable timestamp follows the one before
    return t, first


def _check_frame_size(width: int, height: int) -> None:
    if width * height > MAX_FRAME_PIXELS:
        raise VideoError(f"the video's frames are {width}x{height} pixels; the limit is "
                         f"{MAX_FRAME_PIXELS / 1e6:.1f} megapixels (4K)")


def _check_duration(duration: float, max_seconds: float | None) -> None:
    if max_seconds is not None and duration > max_seconds:
        raise VideoError(_too_long(duration, max_seconds))


def _too_long(seconds: float, max_seconds: float, more: bool = False) -> str:
    length = f"more than {format_seconds(seconds)}" if more else format_seconds(seconds)
    return f"the video is {length} long; the limit is {format_seconds(max_seconds)}"
