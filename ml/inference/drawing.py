"""The result picture: each face's box and its predicted emotion drawn on a copy of the upload."""
from __future__ import annotations

from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from ml.inference.predictor import FacePrediction

BOX_COLOUR = (0, 200, 80)
TEXT_COLOUR = (255, 255, 255)


def draw_boxes(image: Image.Image, faces: Sequence[FacePrediction], names: Sequence[str] | None = None) -> Image.Image:
    """An RGB copy of `image` with a labelled box per face; lines and text grow with the picture.

    `names`, one per face (a video's track numbers), go before each label: "1: Happy 91%".
    """
    canvas = image.convert("RGB")  # convert always copies, so the caller's image is untouched
    draw = ImageDraw.Draw(canvas)
    line = max(2, round(max(canvas.size) / 300))
    font = ImageFont.load_default(size=max(12, line * 7))
    for i, face in enumerate(faces):
        box = face.box
        draw.rectangle((box.x, box.y, box.x + box.w - 1, box.y + box.h - 1), outline=BOX_COLOUR, width=line)
        name = f"{names[i]}: " if names is not None else ""
        _draw_label(draw, font, f"{name}{face.label} {face.probabilities[face.label]:.0%}", box)
    return canvas


def _draw_label(draw: ImageDraw.ImageDraw, font, text: str, box) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    text_w, text_h = right - left + 6, bottom - top + 6
    # Above the box when there is room, else just inside its top edge.
    y = box.y - text_h if box.y >= text_h else box.y
    draw.rectangle((box.x, y, box.x + text_w, y + text_h), fill=BOX_COLOUR)
    draw.text((box.x + 3 - left, y + 3 - top), text, fill=TEXT_COLOUR, font=font)
