"""Emotions over time in a video: frames sampled, faces found and classified as in photos, and followed.

    predictor = EmotionPredictor.from_checkpoint("ml/weights/default.pt")
    analysis = analyse_video("interview.mp4", predictor, fps=4, progress=lambda done, total: ...)
    analysis.to_json()            # {"duration", "fps", "faces": [{"track", "frames": [{"t", "box", ...}]}]}
    analysis.write_csv("interview.csv")
    analysis.emotion_shares()     # {1: {"Angry": 0.0, ..., "Happy": 0.75, ...}, 2: {...}}

Frames go through the photo path (`EmotionPredictor.analyse_frames`: the same detector, framing and
model), `FRAME_BATCH` at a time, so the detector and the model each run once per batch.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from PIL import Image

from ml.inference.drawing import draw_boxes
from ml.inference.faces import Box
from ml.inference.predictor import EmotionPredictor, FacePrediction
from ml.video.reader import MAX_SECONDS, FrameSampler, SampledFrame, planned_samples, probe_video
from ml.video.tracking import TRACK_GAP_SECONDS, FaceTracker

DEFAULT_FPS = 4.0
FRAME_BATCH = 8  # sampled frames searched and classified together: 2 s of video at 4 fps
ANNOTATED_MAX_SIDE = 960  # annotated frames are shrunk to this: a scrubber needs no more
ANNOTATED_QUALITY = 85
NO_FACE = "no face was found in any sampled frame"


@dataclass(frozen=True)
class FaceFrame:
    """One face in one sampled frame."""

    t: float  # seconds since the video's first frame
    box: Box  # in the video's pixels
    label: str
    probabilities: dict[str, float]  # class name -> probability, in the model's class order

    def to_json(self) -> dict:
        return {"t": self.t, "box": [self.box.x, self.box.y, self.box.w, self.box.h], "label": self.label,
                "probabilities": dict(self.probabilities)}


@dataclass(frozen=True)
class FaceTrack:
    """One person's face through the video, in the sampled frames it was found in."""

    track: int  # 1, 2, ... in order of first appearance
    frames: list[FaceFrame]

    def emotion_shares(self) -> dict[str, float]:
        """The share of this face's sampled frames (so of its time on screen) with each top emotion."""
        counts = dict.fromkeys(self.frames[0].probabilities, 0)
        for frame in self.frames:
            counts[frame.label] += 1
        return {name: round(count / len(self.frames), 4) for name, count in counts.items()}

    def to_json(self) -> dict:
        return {"track": self.track, "frames": [frame.to_json() for frame in self.frames]}


@dataclass(frozen=True)
class AnnotatedFrame:
    t: float
    jpeg: bytes = field(repr=False)  # the frame with each face's box, track and emotion drawn


@dataclass(frozen=True)
class VideoAnalysis:
    duration: float  # seconds
    fps: float  # the sampling rate: the one asked for, at most the video's own
    frames_total: int  # frames sampled (those to sample, when cancelled)
    frames_done: int  # frames analysed: frames_total unless cancelled
    sample_times: list[float]  # the analysed frames' times, faces or not
    faces: list[FaceTrack]  # by track number
    class_names: list[str]
    width: int
    height: int
    video_fps: float  # the video's own frame rate
    cancelled: bool = False  # `should_stop` asked to stop: the figures cover `frames_done` frames
    annotated: list[AnnotatedFrame] = field(default_factory=list, repr=False)

    def emotion_shares(self) -> dict[int, dict[str, float]]:
        """Each face's share of time per emotion, by track number."""
        return {face.track: face.emotion_shares() for face in self.faces}

    def to_json(self) -> dict:
        """What the API answers for a finished video: `duration`, `fps` and `faces`."""
        return {"duration": self.duration, "fps": self.fps, "faces": [face.to_json() for face in self.faces]}

    def csv_columns(self) -> list[str]:
        return ["track", "time", "x", "y", "w", "h", *self.class_names, "label"]

    def write_csv(self, target: str | Path | TextIO) -> None:
        """One row per face per sampled frame it is in: track, time, box, the probabilities, the label."""
        if isinstance(target, (str, Path)):
            with open(target, "w", newline="", encoding="utf-8") as file:
                self.write_csv(file)
            return
        writer = csv.writer(target)
        writer.writerow(self.csv_columns())
        for face in self.faces:
            for frame in face.frames:
                box = frame.box
                writer.writerow([face.track, f"{frame.t:.3f}", box.x, box.y, box.w, box.h,
                                 *(f"{frame.probabilities[name]:.4f}" for name in self.class_names), frame.label])

    def to_csv(self) -> str:
        buffer = io.StringIO(newline="")
        self.write_csv(buffer)
        return buffer.getvalue()


def analyse_video(
    path: str | Path,
    predictor: EmotionPredictor,
    *,
    fps: float = DEFAULT_FPS,
    max_seconds: float | None = MAX_SECONDS,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    annotated_frames: int = 0,
    track_gap: float = TRACK_GAP_SECONDS,
    frame_batch: int = FRAME_BATCH,
) -> VideoAnalysis:
    """Every face's emotions through the video at `path`, sampled `fps` times a second (at most the video's rate).

    Raises `VideoError` (a message for the uploader) for a file that is not a video we read, has no
    decodable frame, or lasts more than `max_seconds`; the file's size in bytes is the caller's to check.
    A video without a face is no error: its `faces` is empty (`NO_FACE` says so to a person).
    `progress(frames_done, frames_total)` is called after each batch of frames, and once at the start;
    `should_stop()` before each sampled frame is decoded: when it says stop, the faces analysed so far
    come back with `cancelled` set. `annotated_frames` > 0 keeps up to that many sampled frames, evenly
    spread, as JPEGs with the boxes drawn (`annotated`), for a scrubber. `frame_batch` frames are
    searched and classified together (1: each on its own, as photos are).
    """
    if not fps > 0:
        raise ValueError(f"fps must be greater than 0, got {fps}")
    info = probe_video(path, max_seconds=max_seconds)
    fps = min(float(fps), info.fps)
    total = planned_samples(info, fps)
    # At a low sampling rate a face must be able to keep its track from one sample to the next.
    tracker = FaceTracker(max_gap=max(track_gap, 1.5 / fps))
    state = _Progress(total, progress)
    tracks: dict[int, list[FaceFrame]] = {}
    times: list[float] = []
    annotated: list[AnnotatedFrame] = []
    batch: list[SampledFrame] = []
    cancelled = False

    def analyse_batch() -> None:
        for frame, faces in zip(batch, predictor.analyse_frames([f.rgb for f in batch])):
            numbers = tracker.update(frame.t, [face.box for face in faces])
            for number, face in zip(numbers, faces):
                tracks.setdefault(number, []).append(FaceFrame(frame.t, face.box, face.label, face.probabilities))
            times.append(frame.t)
            if _is_kept(frame.index, annotated_frames, state.total) and len(annotated) < annotated_frames:
                annotated.append(AnnotatedFrame(frame.t, annotated_jpeg(frame, faces, numbers)))
        state.advance(len(batch))
        batch.clear()

    state.report()
    sampler = FrameSampler(path, fps, info, max_seconds=max_seconds)
    frames = iter(sampler)
    try:
        while True:
            if should_stop is not None and should_stop():
                cancelled = True
                break
            frame = next(frames, None)
            if frame is None:
                break
            batch.append(frame)
            if len(batch) >= frame_batch:
                analyse_batch()
    finally:
        frames.close()
    if batch and not cancelled:
        analyse_batch()
    if not cancelled:
        state.finish()  # the frames there were, whatever the header promised
    return VideoAnalysis(
        duration=sampler.end if sampler.end is not None else info.duration, fps=round(fps, 3),
        frames_total=state.total, frames_done=state.done,
        sample_times=times, faces=[FaceTrack(number, tracks[number]) for number in sorted(tracks)],
        class_names=list(predictor.class_names), width=info.width, height=info.height,
        video_fps=round(info.fps, 3), cancelled=cancelled, annotated=annotated,
    )


def annotated_jpeg(frame: SampledFrame, faces: list[FacePrediction], tracks: list[int]) -> bytes:
    """The frame with each face's box, track number and emotion drawn, as a JPEG of at most 960 px a side."""
    picture = draw_boxes(Image.fromarray(frame.rgb), faces, names=[f"{number}" for number in tracks])
    picture.thumbnail((ANNOTATED_MAX_SIDE, ANNOTATED_MAX_SIDE))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=ANNOTATED_QUALITY)
    return buffer.getvalue()


def _is_kept(index: int, wanted: int, total: int) -> bool:
    """Whether sampled frame `index` of `total` is one of `wanted` frames spread evenly from the first."""
    if wanted <= 0:
        return False
    return index == 0 or index * wanted // total != (index - 1) * wanted // total


class _Progress:
    def __init__(self, total: int, callback: Callable[[int, int], None] | None):
        self.total, self.done, self.callback = total, 0, callback

    def report(self) -> None:
        if self.callback is not None:
            self.callback(self.done, self.total)

    def advance(self, frames: int) -> None:
        self.done += frames
        self.total = max(self.total, self.done)  # a header that understated the length
        self.report()

    def finish(self) -> None:
        if self.total != self.done:
            self.total = self.done
            self.report()
