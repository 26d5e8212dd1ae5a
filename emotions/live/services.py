"""Live camera frames: each decoded, checked and predicted in its own request with the upload's code
path (emotions.uploads.services.analyse_here: the same model, detector, framing and share of the cores),
then forgotten. No row, no file: what a person keeps is what they save, which becomes an ordinary upload.
"""
from __future__ import annotations

import io

from django.conf import settings

from emotions.uploads import services as uploads
from emotions.uploads.services import UploadRefused

FrameRefused = UploadRefused  # a bad frame is refused as a bad upload is: a message and its HTTP status


def predict_frame(frame) -> dict:
    """The faces in one camera frame (an uploaded file), as the API shows an upload's:
    {"model", "width", "height", "whole_image", "faces": [{"box", "label", "probabilities"}]}.
    FrameRefused (400 or 413), uploads.NoModelAvailable, or uploads.WebProcessBusy."""
    image = decode_frame(frame)
    choice, analysis = uploads.analyse_here(image, wait=settings.LIVE_FRAME_WAIT_SECONDS)
    return {
        "model": choice.description, "width": analysis.width, "height": analysis.height,
        "whole_image": analysis.whole_image, "faces": [uploads.face_result(face) for face in analysis.faces],
    }


def decode_frame(frame):
    """The frame decoded by the upload's `load_image`, within the live limits (LIVE_FRAME_MAX_BYTES,
    LIVE_FRAME_MAX_PIXELS: a 413, said in words); anything unreadable is a 400."""
    from ml.inference import ImageError, load_image

    if frame is None:
        raise FrameRefused("Send the frame as a multipart field named 'frame'.")
    max_bytes, max_pixels = settings.LIVE_FRAME_MAX_BYTES, settings.LIVE_FRAME_MAX_PIXELS
    if frame.size is not None and frame.size > max_bytes:  # refused before reading it into memory
        raise FrameRefused(f"The frame is {frame.size / 2**10:.0f} kB; the limit is {max_bytes / 2**10:g} kB.", 413)
    data = frame.read()
    size = _size_in_header(data)
    if size and size[0] * size[1] > max_pixels:
        raise FrameRefused(f"The frame is {size[0]}x{size[1]} pixels; the limit is {max_pixels / 1e6:g} megapixels: "
                           "send it downscaled.", 413)
    try:
        return load_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    except ImageError as error:
        raise FrameRefused(f"Bad frame: {error}.", 413 if len(data) > max_bytes else 400) from None


def _size_in_header(data: bytes) -> tuple[int, int] | None:
    """(width, height) as the image's header says, without decoding its pixels; None if unreadable."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # not an image, or one Pillow refuses outright: load_image says what is wrong
        return None
