"""Cutting a face the way FER2013 framed its faces: size and centre from the box, levelled eyes, edges."""
import json

import cv2
import numpy as np
import pytest

from ml.inference import Box
from ml.inference import framing as framing_module
from ml.inference.framing import Framing, cut_square, eye_angle, frame_face, measured_framing


def gradient_photo(width=200, height=160) -> np.ndarray:
    """Brighter to the right: where a crop comes from shows in its pixel values."""
    return np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))


def blob_photo(points, size=240) -> np.ndarray:
    image = np.full((size, size), 60, dtype=np.uint8)
    for x, y in points:
        cv2.circle(image, (round(x), round(y)), 6, 250, -1)
    return image


def bright_centres(crop: np.ndarray, threshold=150) -> list[tuple[float, float]]:
    count, _, _, centres = cv2.connectedComponentsWithStats((crop > threshold).astype(np.uint8))
    return sorted((float(x), float(y)) for x, y in centres[1:])


def smooth_photo(size=300) -> np.ndarray:
    coarse = np.random.default_rng(0).integers(0, 256, size=(12, 12)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def test_a_scale_one_square_inside_the_photo_is_the_box_shrunk():
    photo = smooth_photo()
    crop = frame_face(photo, Box(40, 60, 144, 144), Framing(scale=1.0, level_eyes=False))
    expected = cv2.resize(photo[60:204, 40:184], (48, 48), interpolation=cv2.INTER_AREA)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert np.abs(crop.astype(int) - expected).mean() < 1.5


def test_the_scale_widens_the_square_around_the_box():
    photo = blob_photo([(120, 120)])
    tight = bright_centres(frame_face(photo, Box(90, 90, 60, 60), Framing(scale=1.0)))
    wide = bright_centres(frame_face(photo, Box(90, 90, 60, 60), Framing(scale=2.0)))
    # The blob stays in the middle and its image shrinks as the square widens.
    assert tight[0] == pytest.approx((23.5, 23.5), abs=1) and wide[0] == pytest.approx((23.5, 23.5), abs=1)
    blob_area = lambda crop: int((crop > 150).sum())  # noqa: E731
    assert blob_area(frame_face(photo, Box(90, 90, 60, 60), Framing(scale=1.0))) > 3 * blob_area(
        frame_face(photo, Box(90, 90, 60, 60), Framing(scale=2.0)))


def test_offsets_move_the_square_in_box_sizes():
    photo = blob_photo([(120, 120)])
    # The square's centre moves 0.25 box widths right and 0.25 box heights down: the blob moves up-left.
    crop = frame_face(photo, Box(90, 90, 60, 60), Framing(scale=1.0, offset_x=0.25, offset_y=0.25))
    ((x, y),) = bright_centres(crop)
    assert x == pytest.approx(23.5 - 12, abs=1) and y == pytest.approx(23.5 - 12, abs=1)


def test_levelling_turns_tilted_eyes_onto_one_row():
    eyes = [(90, 100), (150, 130)]  # the right eye 30 px lower: about 26.6 degrees of tilt
    photo = blob_photo(eyes)
    box = Box(70, 70, 100, 100)
    assert eye_angle(eyes) == pytest.approx(26.57, abs=0.01)
    tilted = bright_centres(frame_face(photo, box, Framing(scale=1.2, level_eyes=False), landmarks=eyes))
    level = bright_centres(frame_face(photo, box, Framing(scale=1.2), landmarks=eyes))
    assert abs(tilted[0][1] - tilted[1][1]) > 8
    assert abs(level[0][1] - level[1][1]) < 1


def test_an_implausible_tilt_is_not_levelled():
    eyes = [(90, 100), (110, 160)]  # 71 degrees: a wrong landmark, not a head
    photo = blob_photo(eyes)
    box = Box(60, 60, 100, 100)
    assert np.array_equal(frame_face(photo, box, Framing(scale=1.2), landmarks=eyes),
                          frame_face(photo, box, Framing(scale=1.2, level_eyes=False)))


def test_a_square_past_the_edge_is_mirrored_not_smeared():
    photo = gradient_photo()
    box = Box(0, 40, 80, 80)  # the square (scale 1.5) reaches 20 px past the left edge
    mirrored = frame_face(photo, box, Framing(scale=1.5, level_eyes=False, border="reflect"))
    smeared = frame_face(photo, box, Framing(scale=1.5, level_eyes=False, border="replicate"))
    outside = slice(0, 6)  # the left 6 output columns show what lies past the photo
    assert np.ptp(smeared[:, outside]) <= 2  # a flat stripe of the edge colour
    assert np.ptp(mirrored[:, outside]) > 6  # the photo's own content, mirrored
    assert np.array_equal(mirrored[:, 12:], smeared[:, 12:])


def test_fit_keeps_the_square_inside_the_photo():
    photo = gradient_photo(160, 160)
    crop = frame_face(photo, Box(10, 10, 140, 140), Framing(scale=1.6, level_eyes=False, border="fit"))
    whole = cv2.resize(photo, (48, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(crop.astype(int) - whole).max() <= 2


def test_the_served_framing_shows_only_what_the_photo_holds():
    # A face near the photo's edge: the served crop is the square moved and shrunk to fit, not mirrored.
    photo = gradient_photo(200, 160)
    box = Box(0, 40, 80, 80)
    served = measured_framing("mtcnn")
    assert served.border == "fit"
    wide = Framing(scale=1.5, level_eyes=False)  # reaches 20 px past the left edge
    crop = frame_face(photo, box, wide)
    shifted = frame_face(photo, Box(20, 40, 80, 80), Framing(scale=1.5, level_eyes=False, border="reflect"))
    assert np.array_equal(crop, shifted)  # the same square, moved right until it lies inside
    assert not np.array_equal(crop, frame_face(photo, box, Framing(scale=1.5, level_eyes=False, border="reflect")))


def test_a_small_face_is_enlarged_smoothly():
    photo = np.random.default_rng(1).integers(0, 256, size=(60, 60), dtype=np.uint8)
    crop = cut_square(photo, 30, 30, 20)
    assert crop.shape == (48, 48)
    assert len(np.unique(crop)) > 200  # interpolated, not blocky nearest-neighbour


def test_the_measured_framing_is_read_per_detector(tmp_path, monkeypatch):
    path = tmp_path / "framings.json"
    path.write_text(json.dumps({"mtcnn": {"scale": 1.7, "offset_x": 0.01, "offset_y": -0.05, "faces": 10}}))
    monkeypatch.setattr(framing_module, "FRAMINGS_FILE", path)
    framing_module._measured_framings.cache_clear()
    try:
        assert measured_framing("mtcnn") == Framing(scale=1.7, offset_x=0.01, offset_y=-0.05)
        assert measured_framing("haar") == Framing()
    finally:
        framing_module._measured_framings.cache_clear()


def test_a_bad_framing_is_refused_by_name():
    with pytest.raises(ValueError, match="border"):
        Framing(border="smear")
    with pytest.raises(ValueError, match="scale"):
        Framing(scale=0)
