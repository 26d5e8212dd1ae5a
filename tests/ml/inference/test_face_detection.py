"""MTCNN and the Haar cascade find real faces, ignore faceless photos, and the faces are cropped FER-style."""
import numpy as np
import pytest
import torch

from ml.inference import Box, DetectedFace, crop_face, detect_faces, image_to_gray_array, is_face_crop
from ml.inference import faces as faces_module
from ml.inference.faces import _drop_duplicates, _from_mtcnn

BOTH = pytest.mark.parametrize("detector", ["mtcnn", "haar"])


@pytest.fixture(scope="module")
def astronaut_rgb(astronaut) -> np.ndarray:
    return np.asarray(astronaut)


@BOTH
def test_the_astronaut_has_one_face_in_the_upper_left(astronaut_rgb, detector):
    (face,) = detect_faces(astronaut_rgb, detector=detector)
    assert face.detector == detector
    assert face.box.x + face.box.w / 2 < 256 and face.box.y + face.box.h / 2 < 256
    assert 60 <= face.box.w <= 160 and 60 <= face.box.h <= 160


def test_mtcnn_gives_the_astronaut_five_landmarks_in_her_face(astronaut_rgb):
    (face,) = detect_faces(astronaut_rgb, detector="mtcnn")
    assert face.score > 0.99 and len(face.landmarks) == 5
    box = face.box
    assert all(box.x <= x <= box.x + box.w and box.y <= y <= box.y + box.h for x, y in face.landmarks)
    points = face.landmarks
    eyes_y, mouth_y = (points.left_eye[1], points.right_eye[1]), (points.mouth_left[1], points.mouth_right[1])
    assert max(eyes_y) < points.nose[1] < min(mouth_y)
    assert points.left_eye[0] < points.right_eye[0] and points.mouth_left[0] < points.mouth_right[0]


def test_the_cascade_gives_a_square_and_no_landmarks(astronaut_rgb):
    (face,) = detect_faces(astronaut_rgb, detector="haar")
    assert face.box.w == face.box.h and face.landmarks is None and face.score is None


def test_mtcnn_finds_the_face_in_a_gray_photo_too(astronaut_rgb, astronaut):
    (from_gray,) = detect_faces(image_to_gray_array(astronaut), detector="mtcnn")
    (from_rgb,) = detect_faces(astronaut_rgb, detector="mtcnn")
    assert abs(from_gray.box.x - from_rgb.box.x) < 10 and abs(from_gray.box.y - from_rgb.box.y) < 10


@BOTH
def test_a_photo_without_faces_has_none(coffee, detector):
    assert detect_faces(np.asarray(coffee), detector=detector) == []


@BOTH
@pytest.mark.parametrize("pixels", [
    np.full((480, 640, 3), 128, dtype=np.uint8),
    np.tile(np.linspace(0, 255, 640, dtype=np.uint8), (480, 1)),
], ids=["flat gray", "gradient"])
def test_a_featureless_image_has_no_faces(pixels, detector):
    assert detect_faces(pixels, detector=detector) == []


@BOTH
def test_faces_smaller_than_the_minimum_are_ignored(astronaut_rgb, detector):
    assert detect_faces(astronaut_rgb, detector=detector, min_face_fraction=0.5) == []


@BOTH
def test_an_image_too_small_for_the_smallest_face_has_none(detector):
    assert detect_faces(np.zeros((20, 500, 3), dtype=np.uint8), detector=detector) == []


@BOTH
def test_a_large_photo_is_searched_shrunk_and_boxes_come_back_in_its_own_pixels(astronaut, detector):
    (small,) = detect_faces(np.asarray(astronaut), detector=detector)
    (large,) = detect_faces(np.asarray(astronaut.resize((2048, 2048))), detector=detector)
    for side in ("x", "y", "w"):
        assert getattr(large.box, side) == pytest.approx(4 * getattr(small.box, side), rel=0.15, abs=16)
    if detector == "mtcnn":
        assert large.landmarks.nose[0] == pytest.approx(4 * small.landmarks.nose[0], rel=0.1)


@BOTH
def test_faces_come_left_to_right(astronaut, detector):
    gray = image_to_gray_array(astronaut)
    face_area = gray[:256, 96:352]
    twins = np.full((256, 768), 128, dtype=np.uint8)
    twins[:, 448:704] = face_area  # the right-hand copy is pasted first on purpose
    twins[:, 32:288] = face_area
    faces = detect_faces(twins, detector=detector)
    assert len(faces) == 2 and faces[0].box.x < 288 <= faces[1].box.x


def test_a_face_running_off_the_photo_has_its_box_cut_at_the_edge(astronaut_rgb):
    cut = np.ascontiguousarray(astronaut_rgb[:, 200:])  # the astronaut's face starts about 20 px left of here
    (face,) = detect_faces(cut, detector="mtcnn")
    assert face.box.x == 0 and face.box.x + face.box.w <= cut.shape[1] and face.box.w > 30
    assert face.landmarks is not None  # landmarks keep where MTCNN puts them, even past the edge


def test_boxes_found_past_the_edges_are_cut_to_the_photo_and_empty_ones_dropped():
    found = _from_mtcnn(np.array([[-30.0, -10.0, 60.0, 70.0, 0.99], [90.0, 50.0, 130.0, 120.0, 0.9],
                                  [120.0, 10.0, 150.0, 40.0, 0.8]]), None)
    faces = [faces_module._unscaled(f, 1.0, width=100, height=100) for f in found]
    assert faces[0].box == Box(0, 0, 60, 70) and faces[1].box == Box(90, 50, 10, 50) and faces[2] is None


def test_mtcnn_object_arrays_and_none_are_read_as_plain_faces():
    boxes = np.empty(1, dtype=object)
    boxes[0] = np.array([[10.5, 20.0, 50.0, 70.0, 0.98]], dtype=np.float32)
    points = np.empty(1, dtype=object)
    points[0] = np.arange(10, dtype=np.float32).reshape(1, 5, 2)
    nested = np.array([[[10.5, 20.0, 50.0, 70.0, 0.98]]], dtype=object)  # how numpy 2 nests them
    for answer in (boxes[0].astype(object), nested[0], list(boxes)):
        ((corners, detector, score, landmarks),) = _from_mtcnn(answer, points[0].astype(object))
        assert corners == (10.5, 20.0, 50.0, 70.0) and detector == "mtcnn" and score == pytest.approx(0.98)
        assert landmarks.dtype == np.float64 and landmarks.shape == (5, 2)
    assert _from_mtcnn(None, None) == []  # MTCNN.detect's "no face"
    assert _from_mtcnn(np.zeros((0, 5), dtype=object), np.zeros((0, 5, 2), dtype=object)) == []


def test_the_same_face_found_twice_is_kept_once():
    big, inside, elsewhere = (DetectedFace(box, "haar") for box in (Box(10, 10, 100, 100), Box(20, 20, 70, 70),
                                                                    Box(200, 10, 80, 80)))
    assert sorted(_drop_duplicates([inside, big, elsewhere]), key=lambda f: f.box.x) == [big, elsewhere]


def test_the_cascade_stands_in_where_facenet_pytorch_is_missing(astronaut_rgb, monkeypatch):
    monkeypatch.setattr(faces_module, "mtcnn_available", lambda: False)
    (face,) = detect_faces(astronaut_rgb, detector="mtcnn")
    assert face.detector == "haar"


def test_an_unknown_detector_or_image_is_refused(astronaut_rgb):
    with pytest.raises(ValueError, match="mtcnn, haar"):
        detect_faces(astronaut_rgb, detector="yunet")
    with pytest.raises(ValueError, match="uint8"):
        detect_faces(astronaut_rgb.astype(np.float32))


def test_mtcnn_is_built_once_from_the_wheels_weights_and_loaded_weights_only(monkeypatch):
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    faces_module._mtcnn_networks.cache_clear()
    networks = faces_module._mtcnn_networks()
    assert faces_module._mtcnn_networks() is networks
    assert len(calls) == 3 and all(k.get("weights_only") is True for k in calls)
    assert not any(network.training for network in networks)


def test_a_crop_is_48_by_48_uint8(astronaut, astronaut_rgb):
    crop = crop_face(image_to_gray_array(astronaut), detect_faces(astronaut_rgb)[0].box)
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
