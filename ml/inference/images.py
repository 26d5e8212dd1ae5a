"""Uploaded bytes to a decoded RGB or L image, or an `ImageError` whose message a user can act on.

Every check that can run before decoding does (size in bytes, format, pixel count from the header), so
a decompression bomb is refused without allocating its pixels. Decoding is then forced with `.load()`:
Pillow decodes lazily, and a truncated file would otherwise fail later, far from the upload.
"""
from __future__ import annotations

import io
import math
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's JPEG opener also takes the MPO JPEGs many phone cameras write (a preview frame appended).
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")

NOT_AN_IMAGE = "not an image we can read (JPEG, PNG, WebP, BMP)"
CORRUPT = "the image is truncated or corrupt"


class ImageError(ValueError):
    """An upload we refuse; `str(error)` is written for the person who uploaded it."""


def load_image(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode an upload to an RGB or L image, upright as its EXIF says, first frame of an animation."""
    _check_byte_size(data, max_bytes)
    with warnings.catch_warnings():
        # Pillow only warns between 1x and 2x its own pixel limit; a warning here is a refusal.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open(data, max_pixels)
        _check_pixel_count(image.size, max_pixels)
        try:
            image.seek(0)  # an animation's first frame
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(_too_many_pixels(image.size, max_pixels)) from None
        except Exception:  # decoders raise OSError, SyntaxError, ValueError, struct.error...
            raise ImageError(CORRUPT) from None
    return _to_rgb_or_l(_upright(image))


def image_to_gray_array(image: Image.Image) -> np.ndarray:
    """(H, W) uint8 luminance, what the models and the Haar cascade work on."""
    return np.ascontiguousarray(np.asarray(image.convert("L"), dtype=np.uint8))


def image_to_rgb_array(image: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB, what MTCNN finds faces in (a gray image as three equal channels)."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _check_byte_size(data: bytes, max_bytes: int) -> None:
    if not data:
        raise ImageError("the file is empty")
    if len(data) > max_bytes:
        # Rounded up, so a file just over the limit never reads as exactly the limit.
        size_mb = math.ceil(len(data) / 2**20 * 10) / 10
        raise ImageError(f"the file is {size_mb:.1f} MB; the limit is {round(max_bytes / 2**20, 2):g} MB")


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        size = _size_from_header(data)
        raise ImageError(_too_many_pixels(size, max_pixels) if size else "the image has too many pixels") from None
    except UnidentifiedImageError:
        raise ImageError(NOT_AN_IMAGE) from None
    except Exception:  # a header that starts right and then breaks
        raise ImageError(CORRUPT) from None


def _size_from_header(data: bytes) -> tuple[int, int] | None:
    """The size Image.open refused to report: a format plugin on its own reads only the header."""
    Image.init()
    for name in ACCEPTED_FORMATS:
        factory, accept = Image.OPEN[name]
        if accept is not None and not accept(data[:16]):
            continue
        try:
            return factory(io.BytesIO(data)).size
        except Exception:
            continue
    return None


def _check_pixel_count(size: tuple[int, int], max_pixels: int) -> None:
    if size[0] * size[1] > max_pixels:
        raise ImageError(_too_many_pixels(size, max_pixels))


def _too_many_pixels(size: tuple[int, int], max_pixels: int) -> str:
    return f"the image is {size[0]}x{size[1]} pixels; the limit is {max_pixels / 1e6:g} megapixels"


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # broken EXIF should not cost the user their upload; the pixels are fine
        return image


def _to_rgb_or_l(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in _SIXTEEN_BIT_MODES:
        return _sixteen_bit_to_l(image)
    if image.mode == "1":
        return image.convert("L")
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in image.info:
        return _flatten_on_white(image)
    return image.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV, F


def _sixteen_bit_to_l(image: Image.Image) -> Image.Image:
    """Scale 0..65535 to 0..255: Pillow's own convert("L") clips, turning most of a 16-bit photo white."""
    values = np.asarray(image).astype(np.float64)
    return Image.fromarray(np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8))


def _flatten_on_white(image: Image.Image) -> Image.Image:
    # Transparent pixels carry arbitrary colours underneath; white is what a viewer shows them as.
    rgba = image.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return flat.convert("L") if image.mode in ("LA", "La") else flat
