"""Turn one image file's bytes into a 48x48 grayscale face, saying whether it had to be converted."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

FACE_SIZE = (48, 48)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"})


@dataclass(frozen=True)
class DecodedFace:
    pixels: np.ndarray  # uint8 (48, 48)
    converted_to_grayscale: bool
    resized: bool


def decode_face(data: bytes) -> DecodedFace:
    """Raises ValueError with Pillow's reason when the bytes are not a readable image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            original_mode, original_size = image.mode, image.size
            # For a big JPEG this lets the decoder skip most of the work; other formats ignore it.
            image.draft("L", FACE_SIZE)
            image.load()
            if image.mode != "L":
                image = image.convert("L")
            if image.size != FACE_SIZE:
                image = image.resize(FACE_SIZE, Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except Exception as error:  # Pillow reports corrupt data with many exception types.
        raise ValueError(f"unreadable image ({type(error).__name__}: {error})") from error
    return DecodedFace(pixels, converted_to_grayscale=original_mode != "L", resized=original_size != FACE_SIZE)
