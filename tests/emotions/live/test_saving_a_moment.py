"""'Save this moment' makes the frame on screen an ordinary photo upload: exactly one, its saver's like any
upload (their session's or account's, private to them), predicted and listed as any other."""
import pytest
from django.test import Client
from live_test_support import camera_picture
from uploads_test_support import astronaut, encode, file

from emotions.models import Upload

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def moment_jpeg() -> bytes:
    """The whole camera picture, 640x480, as the page saves it."""
    return encode(camera_picture(astronaut(), 640, 480), "JPEG", quality=92)


def save(client, data: bytes, name: str = "live-20240501-101500.jpg", **headers):
    return client.post("/live/save/", {"image": file(name, data)}, **headers)


def test_saving_a_moment_makes_exactly_one_ordinary_upload_and_links_to_it(
    visitor, moment_jpeg, sent, settings, django_capture_on_commit_callbacks,
):
    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 0  # no worker: the web process predicts it when it is opened
    with django_capture_on_commit_callbacks(execute=True):
        response = save(visitor, moment_jpeg)
    assert response.status_code == 201, response.content
    upload = Upload.objects.get()
    assert response.json() == {"id": str(upload.pk), "status": "pending", "url": f"/uploads/{upload.pk}/"}
    assert upload.original_name == "live-20240501-101500.jpg" and upload.content_type == "image/jpeg"
    assert not upload.whole_image and upload.image.read() == moment_jpeg
    assert sent == [upload.pk]  # sent to the inference queue like any upload

    page = visitor.get(f"/uploads/{upload.pk}/").content.decode()
    assert "1 face found" in page
    upload.refresh_from_db()
    assert upload.status == "done" and upload.width == 640 and len(upload.faces) == 1
    assert "live-20240501-101500.jpg" in visitor.get("/history/").content.decode()


def test_a_visitors_moment_belongs_to_their_session_and_strangers_get_a_404(visitor, stranger, moment_jpeg):
    pk = save(visitor, moment_jpeg).json()["id"]
    upload = Upload.objects.get(pk=pk)
    assert upload.owner is None and upload.session_owner == visitor.session["upload_owner"]
    assert visitor.get(f"/uploads/{pk}/").status_code == 200
    assert stranger.get(f"/uploads/{pk}/").status_code == 404
    assert stranger.get(f"/uploads/{pk}/original").status_code == 404


def test_a_members_moment_belongs_to_their_account(member_client, member, moment_jpeg):
    pk = save(member_client, moment_jpeg).json()["id"]
    assert Upload.objects.get(pk=pk).owner == member


def test_a_bad_moment_is_refused_as_a_bad_upload_is_and_nothing_is_stored(visitor):
    response = save(visitor, b"not a picture at all" * 10)
    assert response.status_code == 400 and "not an image" in response.json()["error"]
    assert Upload.objects.count() == 0


def test_a_moment_over_the_upload_limit_is_a_413(visitor, moment_jpeg, settings):
    settings.UPLOAD_MAX_BYTES = len(moment_jpeg) - 1
    assert save(visitor, moment_jpeg).status_code == 413
    assert Upload.objects.count() == 0


def test_a_moment_is_one_image(visitor, moment_jpeg):
    response = visitor.post("/live/save/", {"image": [file("a.jpg", moment_jpeg), file("b.jpg", moment_jpeg)]})
    assert response.status_code == 400 and Upload.objects.count() == 0
    assert visitor.post("/live/save/", {}).status_code == 400


def test_saving_needs_the_csrf_token(moment_jpeg):
    browser = Client(enforce_csrf_checks=True)
    assert save(browser, moment_jpeg).status_code == 403
    browser.get("/live/")
    assert save(browser, moment_jpeg, HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value).status_code == 201
    assert Upload.objects.count() == 1


def test_without_a_model_nothing_is_saved(visitor, moment_jpeg, no_model):
    assert save(visitor, moment_jpeg).status_code == 503
    assert Upload.objects.count() == 0
