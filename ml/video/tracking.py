"""Following faces from one sampled frame to the next, so that "face 1" stays the same person.

Greedy matching on the boxes alone (no appearance model): each frame's faces are paired with the
tracks seen in the last `max_gap` seconds, the pairs that overlap most first (intersection over
union), then, for faces that moved too far between two samples to overlap, the pairs whose centres
are nearest (at most `max_shift` face sizes apart, and of similar size). A face left unpaired starts a
new track; a track not seen for more than `max_gap` seconds has ended, so a face that leaves and comes
back later is a new track. Tracks are numbered 1, 2, ... in order of first appearance (left to right
within a frame).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from ml.inference.faces import Box

TRACK_GAP_SECONDS = 1.0
MIN_IOU = 0.3
MAX_CENTRE_SHIFT = 1.0  # in face sizes: how far a face may move between two samples and keep its track
MIN_SIZE_RATIO = 0.5  # a face matched by its centre alone must be at least half, at most twice, the size


@dataclass
class _Track:
    number: int
    box: Box
    last_seen: float


class FaceTracker:
    def __init__(self, max_gap: float = TRACK_GAP_SECONDS, min_iou: float = MIN_IOU,
                 max_shift: float = MAX_CENTRE_SHIFT):
        self.max_gap, self.min_iou, self.max_shift = max_gap, min_iou, max_shift
        self._live: list[_Track] = []
        self._count = 0

    def update(self, t: float, boxes: Sequence[Box]) -> list[int]:
        """The track number of each of `boxes`, the faces of the frame at `t` seconds (times increasing)."""
        self._live = [track for track in self._live if t - track.last_seen <= self.max_gap + 1e-6]
        pairs = []
        for i, track in enumerate(self._live):
            for j, box in enumerate(boxes):
                overlap = iou(track.box, box)
                shift = centre_shift(track.box, box)
                if overlap >= self.min_iou or (shift <= self.max_shift and size_ratio(track.box, box) >= MIN_SIZE_RATIO):
                    pairs.append((-overlap, shift, i, j))
        numbers: list[int | None] = [None] * len(boxes)
        used = set()
        for _, _, i, j in sorted(pairs):
            if i in used or numbers[j] is not None:
                continue
            used.add(i)
            numbers[j] = self._live[i].number
            self._live[i].box, self._live[i].last_seen = boxes[j], t
        for j, box in enumerate(boxes):
            if numbers[j] is None:
                self._count += 1
                numbers[j] = self._count
                self._live.append(_Track(self._count, box, t))
        return numbers


def iou(a: Box, b: Box) -> float:
    overlap_w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    overlap_h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    if overlap_w <= 0 or overlap_h <= 0:
        return 0.0
    overlap = overlap_w * overlap_h
    return overlap / (a.w * a.h + b.w * b.h - overlap)


def centre_shift(a: Box, b: Box) -> float:
    """The distance between the boxes' centres, in face sizes (the mean of their longer sides)."""
    distance = math.hypot(a.x + a.w / 2 - b.x - b.w / 2, a.y + a.h / 2 - b.y - b.h / 2)
    return distance / ((max(a.w, a.h) + max(b.w, b.h)) / 2)


def size_ratio(a: Box, b: Box) -> float:
    """The smaller box's longer side over the larger's: 1 for equal sizes."""
    sides = sorted((max(a.w, a.h), max(b.w, b.h)))
    return sides[0] / sides[1]
