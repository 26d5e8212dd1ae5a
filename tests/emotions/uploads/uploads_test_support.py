"""Photos for the upload tests, encoded the ways people send them, and the bad ones they send by mistake.

(A module of its own, imported by name like emotions_test_support: tests/ has no packages.)"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def astronaut() -> Image.Image:
    """Eileen Collins' portrait: one frontal face in a 512x512 photo."""
    import skimage.data

    return Image.fromarray(skimage.data.astronaut())


def coffee() -> Image.Image:
    """A cup of coffee on a table: a real photo with no face in it."""
    import skimage.data

    return Image.fromarray(skimage.data.coffee())


def file(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def png_claiming_size(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header says `width` x `height`: a decompression bomb's header, without the bomb."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # the IHDR chunk's checksum
    return bytes(data)


def sideways_with_exif(image: Image.Image) -> bytes:
    """A JPEG stored turned a quarter, with the EXIF orientation (6) that turns it upright again."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif, quality=92)


def sixteen_bit_png(image: Image.Image) -> bytes:
    gray = np.asarray(image.convert("L"), dtype=np.uint16) * 257
    return encode(Image.fromarray(gray.astype(np.uint16)), "PNG")


def animated_gif(image: Image.Image) -> bytes:
    frames = [image.convert("P"), image.convert("L").convert("P")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)


def bad_uploads() -> dict[str, tuple[bytes, str]]:
    """{what is wrong: (the bytes, what the refusal says)} for the uploads refused with a 400."""
    jpeg = encode(astronaut(), "JPEG", quality=90)
    return {
        "empty": (b"", "the file is empty"),
        "text renamed .jpg": (b"Dear diary, today I renamed a text file.\n" * 20, "not an image"),
        "truncated JPEG": (jpeg[: len(jpeg) // 2], "truncated or corrupt"),
        "decompression bomb": (png_claiming_size(30_000, 30_000), "30000x30000 pixels"),
    }


def embedded_figure(response, chart_id: str) -> dict:
    """The figure a page placed with {% chart figure chart_id %}, read back from its json_script."""
    import json
    import re

    html = response.content.decode()
    found = re.search(rf'<script id="{re.escape(chart_id)}-data" type="application/json">(.*?)</script>', html, re.S)
    assert found, f"no chart {chart_id!r} on the page"
    return json.loads(found.group(1))
