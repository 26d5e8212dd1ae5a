"""Emotions over time in uploaded videos: frames sampled, faces classified as in photos and followed.

    predictor = EmotionPredictor.from_checkpoint("ml/weights/default.pt")
    analysis = analyse_video(path, predictor, fps=4, progress=on_progress, should_stop=cancelled)  # VideoError
    analysis.to_json(); analysis.write_csv("faces.csv"); analysis.emotion_shares()
"""
from ml.video.analysis import (
    DEFAULT_FPS,
    NO_FACE,
    AnnotatedFrame,
    FaceFrame,
    FaceTrack,
    VideoAnalysis,
    analyse_video,
)
from ml.video.reader import MAX_SECONDS, FrameSampler, VideoError, VideoInfo, probe_video
from ml.video.tracking import FaceTracker

__all__ = [
    "AnnotatedFrame",
    "DEFAULT_FPS",
    "FaceFrame",
    "FaceTrack",
    "FaceTracker",
    "FrameSampler",
    "MAX_SECONDS",
    "NO_FACE",
    "VideoAnalysis",
    "VideoError",
    "VideoInfo",
    "analyse_video",
    "probe_video",
]
