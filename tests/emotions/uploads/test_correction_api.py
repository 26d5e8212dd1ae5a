"""POST /api/predictions/<id>/faces/<n>/label with {"label": "Happy"}: a program corrects a face of its own
prediction as the page does, authenticated as the rest of the API (a bearer token, or the session)."""
import json

import pytest
from django.test import Client
from test_corrections import face_png
from uploads_test_support import file

from emotions.models import ApiToken, Correction

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def program(member) -> tuple[Client, str]:
    """A script of member's, holding a token they made: no session, no cookie."""
    _, secret = ApiToken.objects.issue(member, "labelling script")
    return Client(), secret


def predict(client, headers=None, learn: bool = True) -> dict:
    query = "?wait=1" + ("&learn_from_corrections=1" if learn else "")
    response = client.post(f"/api/predictions/{query}", {"image": file("face.png", face_png(), "image/png")},
                           **(headers or {}))
    assert response.status_code == 201, response.content
    return response.json()


def label(client, prediction: dict, body: dict, index: int = 0, headers=None):
    return client.post(f"/api/predictions/{prediction['id']}/faces/{index}/label", json.dumps(body),
                       content_type="application/json", **(headers or {}))


def test_a_program_corrects_a_face_of_its_prediction_with_its_token(program, member):
    client, secret = program
    prediction = predict(client, bearer(secret))
    assert prediction["learn_from_corrections"] is True

    response = label(client, prediction, {"label": "Happy"}, headers=bearer(secret))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == prediction["id"] and body["faces"][0]["true_label"] == "Happy"
    assert body["corrected_face"] == 0 and body["kept_to_learn_from"] is True
    correction = Correction.objects.get()
    assert correction.owner == member and correction.label == "Happy"


def test_a_browser_session_corrects_its_own_prediction_too(visitor):
    prediction = predict(visitor, learn=False)
    response = label(visitor, prediction, {"label": "sad"})
    assert response.status_code == 200 and response.json()["faces"][0]["true_label"] == "Sad"
    assert response.json()["kept_to_learn_from"] is False and not Correction.objects.exists()


def test_a_session_request_needs_its_csrf_token_a_token_request_does_not(member):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member)
    browser.get("/upload/")  # the page sets the CSRF cookie
    prediction = predict(browser)
    assert label(browser, prediction, {"label": "Happy"}).status_code == 403
    token = browser.cookies["csrftoken"].value
    assert label(browser, prediction, {"label": "Happy"}, headers={"HTTP_X_CSRFTOKEN": token}).status_code == 200

    _, secret = ApiToken.objects.issue(member, "script")
    assert label(Client(enforce_csrf_checks=True), prediction, {"label": "Sad"}, headers=bearer(secret)).status_code == 200


def test_a_form_field_works_as_well_as_json(program):
    client, secret = program
    prediction = predict(client, bearer(secret))
    response = client.post(f"/api/predictions/{prediction['id']}/faces/0/label", {"label": "Neutral"}, **bearer(secret))
    assert response.status_code == 200 and response.json()["faces"][0]["true_label"] == "Neutral"


@pytest.mark.parametrize("body, index, message", [
    ({"label": "Bored"}, 0, "Unknown emotion 'Bored'"),
    ({"label": ""}, 0, "Unknown emotion"),
    ({"emotion": "Happy"}, 0, 'Send the emotion as JSON: {"label": "Happy"}.'),
    ("not json", 0, 'Send the emotion as JSON'),
    ({"label": "Happy"}, 1, "This upload has no face 2; it has 1."),
])
def test_a_bad_label_or_face_index_is_a_400(program, body, index, message):
    client, secret = program
    prediction = predict(client, bearer(secret))
    if body == "not json":
        response = client.post(f"/api/predictions/{prediction['id']}/faces/0/label", "{not json",
                               content_type="application/json", **bearer(secret))
    else:
        response = label(client, prediction, body, index=index, headers=bearer(secret))
    assert response.status_code == 400 and message in response.json()["error"]
    assert not Correction.objects.exists()


def test_someone_elses_prediction_is_a_404(program, outsider, visitor):
    client, secret = program
    prediction = predict(client, bearer(secret))
    _, outsiders_secret = ApiToken.objects.issue(outsider, "theirs")
    assert label(Client(), prediction, {"label": "Happy"}, headers=bearer(outsiders_secret)).status_code == 404
    assert label(visitor, prediction, {"label": "Happy"}).status_code == 404
    assert label(Client(), {"id": "00000000-0000-0000-0000-000000000000"}, {"label": "Happy"},
                 headers=bearer(secret)).status_code == 404
    assert not Correction.objects.exists()


def test_a_wrong_token_is_a_401_and_other_methods_a_405(program):
    client, secret = program
    prediction = predict(client, bearer(secret))
    assert label(client, prediction, {"label": "Happy"}, headers=bearer("wrong")).status_code == 401
    response = client.get(f"/api/predictions/{prediction['id']}/faces/0/label", **bearer(secret))
    assert response.status_code == 405 and "Use POST" in response.json()["error"]
