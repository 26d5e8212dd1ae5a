"""The deployed model applied to uploads: faces found, cropped and classified in one batch.

Threads are the caller's choice: a worker process calls `torch.set_num_threads(n)` (the model and
MTCNN) and `cv2.setNumThreads(n)` (the Haar cascade) once at start-up; nothing here changes them. On a small shared
CPU n=1 is the safe choice: on our busy 2-core machine, bench/predict_speed.py measured a p90 of 3 ms
per face with 1 thread and 177 ms with 2 (threads wait for each other when another process holds a core).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from ml.inference.faces import (
    DETECTORS,
    FACE_SIZE,
    Box,
    DetectedFace,
    crop_face,
    detect_faces,
    detect_faces_in_frames,
    is_face_crop,
)
from ml.inference.framing import Framing, frame_face, measured_framing
from ml.inference.images import image_to_gray_array, image_to_rgb_array
from ml.inference.optimize import optimize_for_inference, trace_for_serving
from ml.inference.quantize import int8_available, quantize_model, stored_calibration_faces
from ml.models import Preprocessing
from ml.train.checkpoint import load_model
from ml.transforms import FerEvalPreset

BATCH_SIZE = 64

logger = logging.getLogger(__name__)


def _served_model(model: nn.Module, preprocessing: Preprocessing, device: torch.device, optimize: bool,
                  int8_calibration: np.ndarray | None) -> tuple[nn.Module, str]:
    if not optimize:
        return model.eval().to(device), "float32"
    if int8_calibration is not None and device.type == "cpu":
        if int8_available():
            quantized = quantize_model(model, int8_calibration, preprocessing)
            return trace_for_serving(quantized, preprocessing.input_size), "int8"
        logger.warning("this torch has no x86 int8 engine: serving the model in float")
    optimized = optimize_for_inference(model).to(device)
    if device.type == "cpu":
        optimized = trace_for_serving(optimized, preprocessing.input_size)
    return optimized, "float32"


@dataclass(frozen=True, eq=False)  # eq=False: the crop is an array, and arrays do not compare to a bool
class FacePrediction:
    box: Box
    label: str
    probabilities: dict[str, float]  # class name -> probability, in the model's class order
    crop: np.ndarray = field(repr=False)  # (48, 48) uint8, what the model saw before its resize/normalise


@dataclass(frozen=True)
class Analysis:
    faces: list[FacePrediction]
    whole_image: bool  # classified whole (a face crop, or asked to) rather than through face detection
    width: int
    height: int


class EmotionPredictor:
    def __init__(
        self,
        model: nn.Module,
        class_names: Sequence[str],
        preprocessing: Preprocessing,
        *,
        model_name: str = "",
        device: str | torch.device = "cpu",
        optimize: bool = True,
        detector: str = "mtcnn",
        framing: Framing | None = None,
        int8_calibration: np.ndarray | None = None,
    ):
        if detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
        self.device = torch.device(device)
        # An int8 copy (when calibration faces came with the checkpoint) or a folded, channels_last one
        # predicts as the model does, faster (bench/predict_speed.py times them; the model card scores both).
        self.model, self.precision = _served_model(model, preprocessing, self.device, optimize, int8_calibration)
        self.class_names = list(class_names)
        self.preprocessing = preprocessing
        self.model_name = model_name
        self.detector = detector  # MTCNN always runs on the CPU: a few small convolutions per photo
        # How a face is cut around each detector's box: by default as FER2013 framed its faces, measured
        # per detector (bench/crop_geometry.py). Haar stands in for MTCNN where facenet-pytorch is missing.
        self.framings = {name: framing or measured_framing(name) for name in DETECTORS}
        self._transform = FerEvalPreset(preprocessing)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device = "cpu", *, optimize: bool = True, detector: str = "mtcnn",
        framing: Framing | None = None, int8: bool = True,
    ) -> "EmotionPredictor":
        """The checkpoint as served: int8 where it carries calibration faces (`python -m ml quantize`)
        and `int8` is left on, in float otherwise."""
        model, checkpoint = load_model(path, map_location=device)
        return cls(
            model, checkpoint["class_names"], model.preprocessing, model_name=checkpoint["model"]["name"],
            device=device, optimize=optimize, detector=detector, framing=framing,
            int8_calibration=stored_calibration_faces(checkpoint) if int8 else None,
        )

    @torch.inference_mode()
    def predict_faces(self, faces_48: np.ndarray) -> np.ndarray:
        """(N, K) float32 probabilities for (N, 48, 48) uint8 faces, in `class_names` order."""
        faces_48 = np.asarray(faces_48)
        if faces_48.ndim != 3 or faces_48.shape[1:] != (FACE_SIZE, FACE_SIZE) or faces_48.dtype != np.uint8:
            raise ValueError(f"predict_faces needs (N, 48, 48) uint8 faces, got {faces_48.shape} {faces_48.dtype}")
        outputs = [np.zeros((0, len(self.class_names)), dtype=np.float32)]
        for start in range(0, len(faces_48), BATCH_SIZE):
            # The preset takes a whole (N, 1, 48, 48) batch: one resize and normalise instead of N.
            batch = torch.from_numpy(faces_48[start : start + BATCH_SIZE]).unsqueeze(1)
            inputs = self._transform(batch).to(self.device)
            outputs.append(self.model(inputs).float().softmax(dim=1).cpu().numpy())
        return np.concatenate(outputs)

    def analyse(self, image: Image.Image, *, whole_image: bool = False) -> Analysis:
        """Every face in `image`, or the image itself when it is a face crop or `whole_image` is asked for.

        No face found (and `whole_image` not asked for) gives an empty `faces`: the caller decides
        whether to try again with `whole_image=True`.
        """
        cut = cut_faces(image, detector=self.detector, framings=self.framings, whole_image=whole_image)
        boxes, crops, whole, (width, height) = cut.boxes, cut.crops, cut.whole_image, cut.size
        probabilities = self.predict_faces(crops)
        faces = [self._face_prediction(box, crop, row) for box, crop, row in zip(boxes, crops, probabilities)]
        return Analysis(faces=faces, whole_image=whole, width=width, height=height)

    def analyse_frames(self, frames: Sequence[np.ndarray]) -> list[list[FacePrediction]]:
        """The faces in each of `frames`, (H, W, 3) uint8 RGB pictures of one size (a video's frames).

        Each frame is searched and its faces cut and classified as `analyse` does a photo's (never
        whole: a video frame is a scene, however small), but the detector searches all the frames in
        one batch and the model classifies every frame's faces in one batch.
        """
        if not len(frames):
            return []
        grays = [image_to_gray_array(Image.fromarray(rgb)) for rgb in frames]  # the luma a photo gets
        detected = detect_faces_in_frames(grays if self.detector == "haar" else frames, detector=self.detector)
        crops = [self._framed_faces(gray, faces) for gray, faces in zip(grays, detected)]
        probabilities = self.predict_faces(np.concatenate(crops))
        results, start = [], 0
        for faces, frame_crops in zip(detected, crops):
            rows = probabilities[start : start + len(faces)]
            results.append([self._face_prediction(f.box, c, r) for f, c, r in zip(faces, frame_crops, rows)])
            start += len(faces)
        return results

    def detect_faces(self, image: Image.Image, gray: np.ndarray | None = None) -> list[DetectedFace]:
        """The faces in `image` as this predictor's detector finds them: MTCNN reads colour, Haar gray."""
        return _detect(image, self.detector, gray)

    def _framed_faces(self, gray: np.ndarray, detected: Sequence[DetectedFace]) -> np.ndarray:
        return _framed_faces(gray, detected, self.framings)

    def _face_prediction(self, box: Box, crop: np.ndarray, probabilities: np.ndarray) -> FacePrediction:
        return FacePrediction(
            box=box,
            label=self.class_names[int(probabilities.argmax())],
            probabilities={name: round(float(p), 4) for name, p in zip(self.class_names, probabilities)},
            crop=crop,
        )


@dataclass
class CutFaces:
    boxes: list[Box]
    crops: np.ndarray  # (N, 48, 48) uint8, one per box
    whole_image: bool  # the image was taken as one face (a face crop, or asked for)
    size: tuple[int, int]  # the image's width and height


def cut_faces(image: Image.Image, *, detector: str = "mtcnn", framings: dict[str, Framing] | None = None,
              whole_image: bool = False) -> CutFaces:
    """The served path up to the model: every face in `image` found by `detector` and cut as FER2013
    framed its faces, or the image itself when it is a face crop or `whole_image` is asked for. Uploads
    and photo data sets (ml/data/photos.py) go through this one function, so a model learns from faces cut
    exactly as it is later shown them."""
    gray = image_to_gray_array(image)
    height, width = gray.shape
    if whole_image or is_face_crop(width, height):
        box = Box(0, 0, width, height)
        return CutFaces([box], crop_face(gray, box, margin=0.0)[None], True, (width, height))
    detected = _detect(image, detector, gray)
    framings = framings or {name: measured_framing(name) for name in DETECTORS}
    return CutFaces([face.box for face in detected], _framed_faces(gray, detected, framings), False, (width, height))


def _detect(image: Image.Image, detector: str, gray: np.ndarray | None = None) -> list[DetectedFace]:
    """MTCNN reads colour, Haar gray."""
    if detector == "haar":
        return detect_faces(image_to_gray_array(image) if gray is None else gray, detector="haar")
    return detect_faces(image_to_rgb_array(image), detector=detector)


def _framed_faces(gray: np.ndarray, detected: Sequence[DetectedFace], framings: dict[str, Framing]) -> np.ndarray:
    """(N, 48, 48) uint8: each detected face cut from `gray` as FER2013 framed its faces."""
    crops = np.zeros((len(detected), FACE_SIZE, FACE_SIZE), dtype=np.uint8)
    for i, face in enumerate(detected):
        crops[i] = frame_face(gray, face.box, framings[face.detector], face.landmarks)
    return crops
