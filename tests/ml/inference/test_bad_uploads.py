"""Each way an upload can be bad gives an ImageError whose message tells the user what is wrong."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ml.inference import ImageError, load_image


def encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header says `width` x `height`: a decompression bomb's header, without the bomb."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # the IHDR chunk's checksum
    return bytes(data)


def noisy_photo(size=(200, 150)) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))


def refusal(data: bytes, **limits) -> str:
    with pytest.raises(ImageError) as caught:
        load_image(data, **limits)
    return str(caught.value)


def test_an_empty_file_is_refused():
    assert refusal(b"") == "the file is empty"


def test_text_renamed_to_jpg_is_not_an_image():
    text = b"Dear diary, today I uploaded a text file.\n" * 20
    assert refusal(text) == "not an image we can read (JPEG, PNG, WebP, BMP)"


def test_a_format_we_do_not_accept_is_refused_like_a_non_image():
    assert refusal(encode(noisy_photo(), "TIFF")) == "not an image we can read (JPEG, PNG, WebP, BMP)"


@pytest.mark.parametrize("format", ["JPEG", "PNG"])
def test_a_truncated_file_is_refused(format):
    whole = encode(noisy_photo(), format)
    assert refusal(whole[: len(whole) // 2]) == "the image is truncated or corrupt"


def test_a_header_with_garbage_after_it_is_corrupt():
    assert refusal(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200) in (
        "the image is truncated or corrupt",
        "not an image we can read (JPEG, PNG, WebP, BMP)",
    )


def test_a_decompression_bomb_is_refused_from_its_header():
    assert refusal(png_claiming_size(30000, 30000)) == "the image is 30000x30000 pixels; the limit is 40 megapixels"


def test_an_image_over_our_pixel_limit_but_under_pillows_is_refused():
    assert refusal(png_claiming_size(8000, 6000)) == "the image is 8000x6000 pixels; the limit is 40 megapixels"


def test_the_pixel_limit_can_be_lowered():
    assert refusal(encode(noisy_photo(), "PNG"), max_pixels=10_000) == (
        "the image is 200x150 pixels; the limit is 0.01 megapixels"
    )


def test_a_file_over_the_size_limit_is_refused_before_decoding():
    oversized = b"\x89PNG\r\n\x1a\n" + bytes(int(12.3 * 2**20) - 8)
    assert refusal(oversized) == "the file is 12.3 MB; the limit is 10 MB"


def test_a_file_just_over_the_limit_never_reads_as_the_limit():
    assert refusal(bytes(10 * 2**20 + 1)) == "the file is 10.1 MB; the limit is 10 MB"


def test_the_size_limit_can_be_lowered():
    assert refusal(encode(noisy_photo(), "PNG"), max_bytes=2**20 // 20) == "the file is 0.1 MB; the limit is 0.05 MB"
