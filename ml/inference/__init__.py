"""Emotions in uploaded photos: decode safely, find faces, classify them with a saved model.

    predictor = EmotionPredictor.from_checkpoint("runs/ferlite/best.pt")
    analysis = predictor.analyse(load_image(uploaded_bytes))   # ImageError for a bad upload
    picture = draw_boxes(load_image(uploaded_bytes), analysis.faces)
"""
from ml.inference.drawing import draw_boxes
from ml.inference.faces import (
    DETECTORS,
    FACE_SIZE,
    MAX_FACE_CROP_SIDE,
    Box,
    DetectedFace,
    Landmarks,
    crop_face,
    detect_faces,
    detect_faces_in_frames,
    is_face_crop,
)
from ml.inference.images import (
    ACCEPTED_FORMATS,
    MAX_BYTES,
    MAX_PIXELS,
    ImageError,
    image_to_gray_array,
    image_to_rgb_array,
    load_image,
)
from ml.inference.predictor import Analysis, EmotionPredictor, FacePrediction

__all__ = [
    "ACCEPTED_FORMATS",
    "Analysis",
    "Box",
    "DETECTORS",
    "DetectedFace",
    "EmotionPredictor",
    "FACE_SIZE",
    "FacePrediction",
    "ImageError",
    "Landmarks",
    "MAX_BYTES",
    "MAX_FACE_CROP_SIDE",
    "MAX_PIXELS",
    "crop_face",
    "detect_faces",
    "detect_faces_in_frames",
    "draw_boxes",
    "image_to_gray_array",
    "image_to_rgb_array",
    "is_face_crop",
    "load_image",
]
