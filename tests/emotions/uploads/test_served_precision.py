"""Uploads are predicted by the shipped ensemble in int8 (it carries calibration faces), in float with
MODEL_INT8 off; both predict the astronaut's face the same way."""
from pathlib import Path

from ml.inference import load_image

from emotions.uploads import services


SHIPPED = Path(__file__).resolve().parents[3] / "ml" / "weights" / "default.pt"


def test_the_shipped_model_is_served_int8_unless_the_setting_turns_it_off(settings, astronaut_jpeg):
    shipped = settings.SHIPPED_MODEL_PATH = SHIPPED  # this folder's conftest serves a tiny model otherwise
    int8 = services.predictor_for(shipped)
    assert int8.precision == "int8"
    settings.MODEL_INT8 = False
    exact = services.predictor_for(shipped)
    assert exact.precision == "float32" and exact is not int8

    image = load_image(astronaut_jpeg)
    (served,), (as_trained,) = int8.analyse(image).faces, exact.analyse(image).faces
    assert served.label == as_trained.label
    assert max(abs(served.probabilities[k] - as_trained.probabilities[k]) for k in served.probabilities) < 0.05
