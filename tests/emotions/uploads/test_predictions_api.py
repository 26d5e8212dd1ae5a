"""Programs upload a photo to POST /api/predictions/ and read the faces back as JSON."""
import uuid

import pytest
from uploads_test_support import bad_uploads, file

from emotions.models import Upload
from ml.classes import FER_CLASSES

pytestmark = pytest.mark.django_db

API = "/api/predictions/"


def test_a_photo_with_a_face_gives_its_box_label_and_seven_probabilities(client, astronaut_jpeg):
    response = client.post(f"{API}?wait=1", {"image": file("astronaut.jpg", astronaut_jpeg)})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "done" and body["model"] == "shipped" and body["predicted_by"] == "web"
    assert uuid.UUID(body["id"]) == Upload.objects.get().pk
    [face] = body["faces"]
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
    assert list(face["probabilities"]) == list(FER_CLASSES)
    assert face["label"] == max(face["probabilities"], key=face["probabilities"].get)
    assert sum(face["probabilities"].values()) == pytest.approx(1, abs=1e-3)


def test_a_photo_without_a_face_gives_no_faces(client, coffee_jpeg):
    body = client.post(f"{API}?wait=1", {"image": file("coffee.jpg", coffee_jpeg)}).json()
    assert body["status"] == "done" and body["faces"] == []


def test_whole_image_classifies_the_photo_as_one_face(client, coffee_jpeg):
    body = client.post(f"{API}?wait=1&whole_image=1", {"image": file("coffee.jpg", coffee_jpeg)}).json()
    assert body["whole_image"] and [face["box"] for face in body["faces"]] == [[0, 0, 600, 400]]


def test_without_wait_it_answers_at_once_and_get_gives_the_result_later(client, astronaut_jpeg, settings):
    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 3600
    response = client.post(API, {"image": file("astronaut.jpg", astronaut_jpeg)})
    body = response.json()
    assert response.status_code == 202 and body["status"] == "pending" and body["faces"] == []
    assert response["Location"] == f"{API}{body['id']}/"

    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 0  # no worker answered: the web process predicts it
    later = client.get(f"{API}{body['id']}/")
    assert later.status_code == 200 and later.json()["status"] == "done" and len(later.json()["faces"]) == 1
    assert later.json() == client.get(f"{API}{body['id']}/").json()


def test_the_record_says_the_web_process_predicted_it_when_no_worker_answered(
    client, astronaut_jpeg, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        body = client.post(f"{API}?wait=1", {"image": file("astronaut.jpg", astronaut_jpeg)}).json()
    assert sent == [uuid.UUID(body["id"])]  # it was sent to the queue first
    assert Upload.objects.get().predicted_by == "web"


@pytest.mark.parametrize("problem", list(bad_uploads()))
def test_a_bad_upload_gets_a_json_error_and_nothing_is_stored(client, problem, settings):
    data, message = bad_uploads()[problem]
    response = client.post(API, {"image": file("photo.jpg", data)})
    assert response.status_code == 400 and message in response.json()["error"]
    assert not Upload.objects.exists() and not (settings.MEDIA_ROOT / "uploads").exists()


def test_a_photo_over_the_size_limit_gets_413(client, astronaut_jpeg, settings):
    settings.UPLOAD_MAX_BYTES = 20_000
    response = client.post(API, {"image": file("astronaut.jpg", astronaut_jpeg)})
    assert response.status_code == 413 and "the limit is" in response.json()["error"]
    assert not Upload.objects.exists()


def test_a_post_without_an_image_field_or_with_two_is_refused(client, astronaut_jpeg):
    missing = client.post(API, {"photo": file("astronaut.jpg", astronaut_jpeg)})
    assert missing.status_code == 400 and "'image'" in missing.json()["error"]
    two = client.post(API, {"image": [file("a.jpg", astronaut_jpeg), file("b.jpg", astronaut_jpeg)]})
    assert two.status_code == 400 and "one image per request" in two.json()["error"]
    assert not Upload.objects.exists()


def test_without_a_model_the_api_answers_503(client, no_model, astronaut_jpeg):
    response = client.post(API, {"image": file("astronaut.jpg", astronaut_jpeg)})
    assert response.status_code == 503
    assert response.json() == {"error": "no model is available: deploy a trained run or add ml/weights/default.pt"}
    assert not Upload.objects.exists()


def test_an_unknown_id_is_a_json_404(client):
    response = client.get(f"{API}{uuid.uuid4()}/")
    assert response.status_code == 404 and response.json() == {"error": "No such prediction."}


def test_the_api_needs_no_csrf_token(astronaut_jpeg):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post(f"{API}?wait=1", {"image": file("astronaut.jpg", astronaut_jpeg)}).status_code == 201


def test_other_methods_are_refused_in_json(client):
    assert client.get(API).status_code == 405 and "POST" in client.get(API).json()["error"]
