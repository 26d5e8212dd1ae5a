"""Videos for the video tests, made on the spot from real face photos (bench/face_video.py films the
astronaut's portrait and scikit-image's coffee), and the bad files people send by mistake.

(A module of its own, imported by name like emotions_test_support: tests/ has no packages.)"""
from __future__ import annotations

import atexit
import functools
import shutil
import sys
import tempfile
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "uploads"))  # uploads_test_support

from face_video import RETURN_GONE, write_face_video  # noqa: E402,F401
from uploads_test_support import astronaut, encode  # noqa: E402,F401

SIZE = (320, 240)  # small frames keep MTCNN quick; the faces are still about 45 px
SECONDS, NATIVE_FPS = 3.0, 12.0
_FOLDER = Path(tempfile.mkdtemp(prefix="fer-test-videos-"))
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)


@functools.cache
def face_video(name: str, scene: str = "one", seconds: float = SECONDS, fps: float = NATIVE_FPS) -> bytes:
    """The bytes of `scene` written as `name` (its suffix picks the container), made once per run."""
    return write_face_video(_FOLDER / name, scene=scene, seconds=seconds, fps=fps, size=SIZE).read_bytes()


def video_file(name: str, data: bytes, content_type: str = "video/x-msvideo") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def bad_videos() -> dict[str, tuple[bytes, str, str]]:
    """{what is wrong: (the bytes, the file name, what the refusal says)} for the videos refused with a 400."""
    return {
        "empty": (b"", "empty.mp4", "the file is empty"),
        "text renamed .mp4": (b"these are my notes, not a video\n" * 20, "notes.mp4",
                              "not a video we can read (MP4, MOV, WebM, AVI)"),
        "a photo renamed .mov": (encode(astronaut(), "JPEG", quality=90), "photo.mov", "not a video we can read"),
        "cut before its first frame": (face_video("one.mp4")[:400], "cut.mp4",
                                       "the video is truncated or corrupt: no frame of it could be decoded"),
    }
