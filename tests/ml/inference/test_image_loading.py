"""Good uploads in every accepted shape come out as upright RGB or L images with the right pixels."""
import io

import numpy as np
import pytest
from PIL import Image

from ml.inference import image_to_gray_array, load_image


def encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


RED = (255, 0, 0)


@pytest.mark.parametrize("format", ["JPEG", "PNG", "WEBP", "BMP", "GIF"])
def test_each_accepted_format_loads(format):
    image = load_image(encode(Image.new("RGB", (40, 30), RED), format))
    assert image.size == (40, 30) and image.mode == "RGB"
    assert np.allclose(image.getpixel((20, 15)), RED, atol=8)


def test_a_grayscale_upload_stays_grayscale():
    image = load_image(encode(Image.new("L", (20, 20), 77), "PNG"))
    assert image.mode == "L" and image.getpixel((5, 5)) == 77


def test_exif_orientation_6_is_turned_upright():
    wide = Image.new("RGB", (60, 40), (0, 0, 0))
    wide.paste(RED, (0, 0, 10, 10))  # a marker in the stored top-left corner
    exif = wide.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image = load_image(encode(wide, "JPEG", exif=exif, quality=95))
    assert image.size == (40, 60)
    assert image.getpixel((35, 4))[0] > 200  # the marker is now top right
    assert image.getpixel((4, 4))[0] < 60


def test_an_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (30, 30), RED), Image.new("RGB", (30, 30), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    image = load_image(data)
    assert image.mode == "RGB" and image.getpixel((10, 10)) == RED


def test_a_16_bit_png_is_scaled_to_8_bits_not_clipped():
    levels = np.array([[0, 257 * 64, 257 * 128, 65535]], dtype=np.uint16)
    sixteen_bit = Image.fromarray(np.repeat(levels, 4, axis=0))
    assert sixteen_bit.mode == "I;16"
    image = load_image(encode(sixteen_bit, "PNG"))
    assert image.mode == "L"
    assert np.asarray(image)[0].tolist() == [0, 64, 128, 255]


def test_a_cmyk_jpeg_comes_out_rgb():
    cmyk_red = Image.new("CMYK", (24, 24), (0, 255, 255, 0))
    image = load_image(encode(cmyk_red, "JPEG", quality=95))
    assert image.mode == "RGB"
    assert np.allclose(image.getpixel((12, 12)), RED, atol=12)


def test_transparent_pixels_become_white():
    see_through = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    image = load_image(encode(see_through, "PNG"))
    assert image.mode == "RGB" and image.getpixel((5, 5)) == (255, 255, 255)


def test_a_palette_image_with_transparency_becomes_rgb():
    palette = Image.new("P", (10, 10), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image = load_image(encode(palette, "PNG", transparency=0))
    assert image.mode == "RGB" and image.getpixel((5, 5)) == RED


def test_gray_with_alpha_stays_gray():
    image = load_image(encode(Image.new("LA", (10, 10), (90, 255)), "PNG"))
    assert image.mode == "L" and image.getpixel((5, 5)) == 90


def test_the_gray_array_is_uint8_rows_by_columns():
    gray = image_to_gray_array(Image.new("RGB", (40, 30), RED))
    assert gray.shape == (30, 40) and gray.dtype == np.uint8
