"""A camera frame posted by the live page comes back with every face boxed and labelled, predicted as a
photo upload is (the same model, detector, framing and share of the cores), and nothing of it is kept."""
import contextlib
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from live_test_support import camera_picture
from uploads_test_support import astronaut, encode, file, png_claiming_size

from emotions.infra import cpu_share
from emotions.models import Upload
from emotions.uploads import services
from ml.classes import FER_CLASSES

pytestmark = pytest.mark.django_db


def post_frame(client, data: bytes, name: str = "frame.jpg", content_type: str = "image/jpeg", **headers):
    return client.post("/live/frame/", {"frame": file(name, data, content_type)}, **headers)


def test_the_live_page_offers_the_camera_and_a_rolling_chart_of_the_seven_emotions(visitor):
    response = visitor.get("/live/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<video" in html and "data-overlay" in html and "Save this moment" in html
    assert 'data-frame-url="/live/frame/"' in html and 'data-save-url="/live/save/"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<script src="/static/js/live.js" defer>' in html and '<script src="/static/vendor/plotly.min.js" defer>' in html
    figure = json.loads(html.split('<script id="live-chart-data" type="application/json">')[1].split("</script>")[0])
    assert [trace["name"] for trace in figure["data"]] == list(FER_CLASSES)
    assert figure["layout"]["xaxis"]["range"] == [-60, 0]
    assert '<a href="/live/" aria-current="page">Live</a>' in html


def test_every_page_links_to_the_live_page(visitor):
    assert '<a href="/live/"' in visitor.get("/upload/").content.decode()


def test_a_frame_with_a_face_comes_back_with_its_box_and_label_and_nothing_is_stored(visitor, astronaut_jpeg, settings):
    with CaptureQueriesContext(connection) as queries:
        response = post_frame(visitor, astronaut_jpeg)
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["model"] == "shipped" and (result["width"], result["height"]) == (480, 360)
    assert result["whole_image"] is False
    (face,) = result["faces"]
    assert face["label"] in FER_CLASSES and list(face["probabilities"]) == list(FER_CLASSES)
    assert sum(face["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    x, y, w, h = face["box"]
    assert 0 <= x and x + w <= 480 and 0 <= y and y + h <= 360 and 40 < w < 200  # her face, not the frame
    assert Upload.objects.count() == 0
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []
    assert not settings.MEDIA_ROOT.exists() or not any(settings.MEDIA_ROOT.rglob("*.*"))
    assert "upload_owner" not in visitor.session  # nor a session made for it


def test_a_frame_is_predicted_exactly_as_the_same_picture_uploaded_as_a_photo(visitor, astronaut_jpeg):
    frame = post_frame(visitor, astronaut_jpeg).json()
    (upload,) = services.create_uploads(services.check_files([file("same.jpg", astronaut_jpeg)]))
    services.predict(upload.pk, Upload.PredictedBy.WEB)
    upload.refresh_from_db()
    assert upload.status == "done" and frame["faces"] == upload.faces and frame["model"] == upload.model


def test_each_frame_takes_its_share_of_the_cores_as_an_upload_does(visitor, astronaut_jpeg, monkeypatch, settings):
    settings.INFERENCE_SHARE_CORES = True
    shares = []

    @contextlib.contextmanager
    def recorded_share(cores):
        shares.append(cores)
        yield 1

    monkeypatch.setattr(cpu_share, "share_of_cores", recorded_share)
    for _ in range(3):
        assert post_frame(visitor, astronaut_jpeg).status_code == 200
    assert shares == [settings.INFERENCE_THREADS] * 3


def test_a_frame_without_a_face_comes_back_with_no_faces(visitor, coffee_jpeg):
    response = post_frame(visitor, coffee_jpeg)
    assert response.status_code == 200 and response.json()["faces"] == []


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"Dear diary, today I sent a text file as a frame.\n" * 20, "not an image"),
    (encode(astronaut(), "JPEG")[:4000], "truncated or corrupt"),
], ids=["empty", "text", "truncated JPEG"])
def test_a_frame_that_is_not_a_picture_is_a_400_that_says_why(visitor, data, message):
    response = post_frame(visitor, data)
    assert response.status_code == 400 and message in response.json()["error"]
    assert Upload.objects.count() == 0


def test_a_post_without_a_frame_is_a_400(visitor):
    response = visitor.post("/live/frame/", {})
    assert response.status_code == 400 and "'frame'" in response.json()["error"]


def test_a_frame_over_the_byte_limit_is_a_413(visitor, astronaut_jpeg, settings):
    settings.LIVE_FRAME_MAX_BYTES = len(astronaut_jpeg) - 1
    response = post_frame(visitor, astronaut_jpeg)
    assert response.status_code == 413 and "the limit is" in response.json()["error"]


def test_a_frame_of_too_many_pixels_is_a_413_without_decoding_it(visitor):
    response = post_frame(visitor, png_claiming_size(4000, 3000), "frame.png", "image/png")
    assert response.status_code == 413
    assert response.json()["error"] == "The frame is 4000x3000 pixels; the limit is 2.0736 megapixels: send it downscaled."


def test_a_full_hd_frame_is_within_the_limits(visitor):
    frame = encode(camera_picture(astronaut(), 1920, 1080), "JPEG", quality=80)
    assert post_frame(visitor, frame).status_code == 200


def test_frames_need_the_csrf_token(astronaut_jpeg):
    browser = Client(enforce_csrf_checks=True)
    assert post_frame(browser, astronaut_jpeg).status_code == 403
    browser.get("/live/")  # sets the CSRF cookie, as the page does
    token = browser.cookies["csrftoken"].value
    assert post_frame(browser, astronaut_jpeg, HTTP_X_CSRFTOKEN=token).status_code == 200


def test_frames_are_posted_not_fetched(visitor):
    assert visitor.get("/live/frame/").status_code == 405


def test_without_a_model_the_page_says_so_and_frames_are_503(visitor, astronaut_jpeg, no_model):
    assert "no model is available" in visitor.get("/live/").content.decode()
    response = post_frame(visitor, astronaut_jpeg)
    assert response.status_code == 503 and "no model is available" in response.json()["error"]


def test_a_broken_model_is_said_on_the_page_and_in_each_frames_answer(visitor, astronaut_jpeg, settings, tmp_path):
    settings.SHIPPED_MODEL_PATH = tmp_path / "broken.pt"
    settings.SHIPPED_MODEL_PATH.write_bytes(b"not a checkpoint")
    assert "The model could not be loaded" in visitor.get("/live/").content.decode()
    response = post_frame(visitor, astronaut_jpeg)
    assert response.status_code == 500 and response.json()["error"].startswith("The prediction failed")


def test_a_frame_waits_for_a_prediction_running_in_its_process_then_is_skipped_with_a_503(visitor, astronaut_jpeg, settings):
    settings.LIVE_FRAME_WAIT_SECONDS = 0.05
    with services._web_prediction_slot:  # an upload predicted by this web process
        response = post_frame(visitor, astronaut_jpeg)
    assert response.status_code == 503 and response["Retry-After"] == "1" and "busy" in response.json()["error"]
    assert post_frame(visitor, astronaut_jpeg).status_code == 200  # and the next one is answered


def test_members_use_the_live_page_too(member_client, astronaut_jpeg):
    assert member_client.get("/live/").status_code == 200
    assert len(post_frame(member_client, astronaut_jpeg).json()["faces"]) == 1
