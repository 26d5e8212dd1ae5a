"""The predictor classifies faces found in a photo, or a whole image that is a face already."""
import numpy as np
import pytest

from ml.classes import FER_CLASSES
from ml.evaluate import predict_probabilities
from ml.inference import Box, EmotionPredictor, crop_face, detect_faces, draw_boxes, image_to_gray_array
from ml.inference.framing import Framing, frame_face, measured_framing
from ml.train.checkpoint import load_model


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint):
    return EmotionPredictor.from_checkpoint(tiny_checkpoint)


def assert_is_a_distribution(probabilities: dict):
    assert list(probabilities) == list(FER_CLASSES)
    assert all(isinstance(p, float) and 0 <= p <= 1 for p in probabilities.values())
    assert sum(probabilities.values()) == pytest.approx(1, abs=1e-3)


def test_it_knows_its_model_and_classes(predictor, face_crop):
    assert predictor.model_name == "ferlite" and predictor.class_names == list(FER_CLASSES)
    faces = np.stack([np.asarray(face_crop)] * 4)
    np.testing.assert_array_equal(predictor.predict_faces(faces), predictor.predict_faces(faces))  # no dropout


def test_a_48_pixel_crop_is_classified_whole(predictor, face_crop):
    analysis = predictor.analyse(face_crop)
    assert analysis.whole_image and (analysis.width, analysis.height) == (48, 48)
    (face,) = analysis.faces
    assert face.box == Box(0, 0, 48, 48)
    assert_is_a_distribution(face.probabilities)
    assert face.label == max(face.probabilities, key=face.probabilities.get)
    assert np.array_equal(face.crop, np.asarray(face_crop))


def test_the_astronaut_gives_one_face_where_the_detector_put_it(predictor, astronaut):
    analysis = predictor.analyse(astronaut)
    assert not analysis.whole_image and (analysis.width, analysis.height) == (512, 512)
    (face,) = analysis.faces
    assert [face.box] == [found.box for found in detect_faces(np.asarray(astronaut), detector="mtcnn")]
    assert face.crop.shape == (48, 48) and face.crop.dtype == np.uint8
    assert_is_a_distribution(face.probabilities)


def test_it_finds_faces_with_mtcnn_unless_told_to_use_the_cascade(tiny_checkpoint, predictor, astronaut):
    assert predictor.detector == "mtcnn"
    haar = EmotionPredictor.from_checkpoint(tiny_checkpoint, detector="haar")
    (face,) = haar.analyse(astronaut).faces
    (found,) = detect_faces(image_to_gray_array(astronaut), detector="haar")
    assert face.box == found.box
    assert np.array_equal(face.crop, frame_face(image_to_gray_array(astronaut), found.box, measured_framing("haar")))


def test_faces_are_cut_as_fer2013_framed_them_with_the_eyes_levelled(predictor, astronaut):
    (face,) = predictor.analyse(astronaut).faces
    (found,) = detect_faces(np.asarray(astronaut), detector="mtcnn")
    framing = measured_framing("mtcnn")
    assert framing.level_eyes and framing.scale < 1.2  # measured: FER2013 shows less than MTCNN's box
    assert np.array_equal(face.crop, frame_face(image_to_gray_array(astronaut), found.box, framing, found.landmarks))


def test_a_framing_can_be_chosen(tiny_checkpoint, astronaut):
    wide = Framing.from_margin(0.3, level_eyes=False)
    predictor = EmotionPredictor.from_checkpoint(tiny_checkpoint, framing=wide)
    (face,) = predictor.analyse(astronaut).faces
    (found,) = detect_faces(np.asarray(astronaut), detector="mtcnn")
    assert np.array_equal(face.crop, frame_face(image_to_gray_array(astronaut), found.box, wide))


def test_an_unknown_detector_is_refused(tiny_checkpoint):
    with pytest.raises(ValueError, match="detector must be one of mtcnn, haar"):
        EmotionPredictor.from_checkpoint(tiny_checkpoint, detector="yunet")


def test_no_face_found_gives_no_predictions(predictor, coffee):
    analysis = predictor.analyse(coffee)
    assert analysis.faces == [] and not analysis.whole_image


def test_asking_for_the_whole_image_classifies_it_in_one_box(predictor, coffee):
    analysis = predictor.analyse(coffee, whole_image=True)
    assert analysis.whole_image
    (face,) = analysis.faces
    assert face.box == Box(0, 0, 600, 400)
    assert_is_a_distribution(face.probabilities)


def test_faces_are_fed_as_evaluation_feeds_them(predictor, tiny_checkpoint):
    faces = np.random.default_rng(3).integers(0, 256, size=(70, 48, 48), dtype=np.uint8)  # more than one batch
    ours = predictor.predict_faces(faces)
    checkpoint_model, _ = load_model(tiny_checkpoint)
    reference = predict_probabilities(checkpoint_model, faces, predictor.preprocessing)
    assert ours.shape == (70, 7)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_no_faces_give_an_empty_result(predictor):
    assert predictor.predict_faces(np.zeros((0, 48, 48), dtype=np.uint8)).shape == (0, 7)


def test_faces_of_the_wrong_shape_are_refused(predictor):
    with pytest.raises(ValueError, match="48, 48"):
        predictor.predict_faces(np.zeros((2, 64, 64), dtype=np.uint8))


def test_the_result_picture_has_the_boxes_drawn_on_a_copy(predictor, astronaut):
    analysis = predictor.analyse(astronaut)
    picture = draw_boxes(astronaut, analysis.faces)
    assert picture.size == astronaut.size and picture.mode == "RGB"
    assert picture.tobytes() != astronaut.tobytes()
    box = analysis.faces[0].box
    assert picture.getpixel((box.x + box.w // 2, box.y + box.h - 1)) == (0, 200, 80)


def test_a_grayscale_picture_gets_coloured_boxes(predictor, face_crop):
    picture = draw_boxes(face_crop, predictor.analyse(face_crop).faces)
    assert picture.mode == "RGB" and face_crop.mode == "L"
