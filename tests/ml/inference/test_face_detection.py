"""The Haar cascade finds real faces, ignores faceless photos, and crops what it finds FER-style."""
import numpy as np
import pytest

from ml.inference import Box, crop_face, detect_faces, image_to_gray_array, is_face_crop
from ml.inference.faces import _drop_duplicates


def test_the_astronaut_has_one_face_in_the_upper_left(astronaut):
    boxes = detect_faces(image_to_gray_array(astronaut))
    assert len(boxes) == 1
    face = boxes[0]
    assert face.x + face.w / 2 < 256 and face.y + face.h / 2 < 256
    assert 60 <= face.w <= 160 and face.w == face.h


def test_a_photo_without_faces_has_no_boxes(coffee):
    assert detect_faces(image_to_gray_array(coffee)) == []


def test_a_smooth_gradient_has_no_boxes():
    gradient = np.tile(np.linspace(0, 255, 640, dtype=np.uint8), (480, 1))
    assert detect_faces(gradient) == []


def test_faces_smaller_than_the_minimum_are_ignored(astronaut):
    assert detect_faces(image_to_gray_array(astronaut), min_face_fraction=0.5) == []


def test_a_large_photo_is_searched_shrunk_and_boxes_come_back_in_its_own_pixels(astronaut):
    gray = image_to_gray_array(astronaut)
    (small,) = detect_faces(gray)
    (large,) = detect_faces(image_to_gray_array(astronaut.resize((2048, 2048))))
    for small_value, large_value in zip((small.x, small.y, small.w), (large.x, large.y, large.w)):
        assert large_value == pytest.approx(4 * small_value, rel=0.15, abs=16)


def test_faces_come_left_to_right(astronaut):
    gray = image_to_gray_array(astronaut)
    face_area = gray[:256, 96:352]
    twins = np.full((256, 768), 128, dtype=np.uint8)
    twins[:, 448:704] = face_area  # the right-hand copy is pasted first on purpose
    twins[:, 32:288] = face_area
    boxes = detect_faces(twins)
    assert len(boxes) == 2 and boxes[0].x < 288 <= boxes[1].x


def test_the_same_face_found_twice_is_kept_once():
    big, inside, elsewhere = Box(10, 10, 100, 100), Box(20, 20, 70, 70), Box(200, 10, 80, 80)
    assert sorted(_drop_duplicates([inside, big, elsewhere]), key=lambda b: b.x) == [big, elsewhere]


def test_a_crop_is_48_by_48_uint8(astronaut):
    gray = image_to_gray_array(astronaut)
    crop = crop_face(gray, detect_faces(gray)[0])
    assert crop.shape == (48, 48) and crop.dtype == np.uint8


def test_a_face_at_the_edge_is_padded_with_its_own_edge_pixels():
    gray = np.full((100, 100), 200, dtype=np.uint8)
    crop = crop_face(gray, Box(0, 0, 40, 40), margin=0.5)
    assert crop.shape == (48, 48) and (crop == 200).all()  # no black bars


def test_a_crop_keeps_the_face_centred_with_a_margin():
    gray = np.zeros((200, 200), dtype=np.uint8)
    gray[50:150, 50:150] = 255
    crop = crop_face(gray, Box(50, 50, 100, 100), margin=0.2)
    assert crop[24, 24] == 255 and crop[2, 2] == 0 and crop[45, 45] == 0


def test_small_images_count_as_face_crops():
    assert is_face_crop(48, 48) and is_face_crop(96, 80)
    assert not is_face_crop(97, 50) and not is_face_crop(512, 512)
