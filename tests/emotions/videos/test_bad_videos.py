"""Bad videos get a clear message, a 400 (or a 413 when too large), and nothing of them is stored; a video
with no face in it is no error: it is done, with no faces and a message saying so."""
from pathlib import Path

import pytest
from videos_test_support import bad_videos, face_video, video_file

from emotions.models import Video

pytestmark = pytest.mark.django_db


def nothing_stored(settings) -> bool:
    media = Path(settings.MEDIA_ROOT)
    return not Video.objects.exists() and not any((media / "videos").rglob("*"))


@pytest.mark.parametrize("case", list(bad_videos()))
def test_a_bad_video_is_refused_by_the_api_with_its_reason_and_nothing_is_stored(client, settings, sent, case):
    data, name, reason = bad_videos()[case]
    response = client.post("/api/videos/", {"video": video_file(name, data)})
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{name}: {reason}")
    assert nothing_stored(settings) and sent == []


@pytest.mark.parametrize("case", list(bad_videos()))
def test_a_bad_video_is_refused_on_the_page_with_its_reason(visitor, settings, case):
    data, name, reason = bad_videos()[case]
    response = visitor.post("/videos/", {"video": video_file(name, data)})
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert nothing_stored(settings)


def test_a_video_longer_than_the_limit_is_refused(client, settings):
    settings.VIDEO_MAX_SECONDS = 2
    response = client.post("/api/videos/", {"video": video_file("long.avi", face_video("one.avi"))})
    assert response.status_code == 400
    assert response.json() == {"error": "long.avi: the video is 3 s long; the limit is 2 s."}
    assert nothing_stored(settings)


def test_a_video_larger_than_the_limit_is_refused_with_a_413(client, settings):
    data = face_video("one.avi")
    settings.VIDEO_MAX_BYTES = len(data) - 1
    response = client.post("/api/videos/", {"video": video_file("big.avi", data)})
    assert response.status_code == 413
    assert response.json()["error"].startswith("big.avi: the file is ") and "; the limit is " in response.json()["error"]
    assert nothing_stored(settings)


def test_a_video_larger_than_the_limit_is_refused_on_the_page_with_a_413(visitor, settings):
    data = face_video("one.avi")
    settings.VIDEO_MAX_BYTES = 2**20 // 8
    assert len(data) > settings.VIDEO_MAX_BYTES
    response = visitor.post("/videos/", {"video": video_file("big.avi", data)})
    assert response.status_code == 413 and "the limit is 0.125 MB" in response.content.decode()
    assert nothing_stored(settings)


@pytest.mark.parametrize("fps, reason", [("fast", "fps must be a number"), ("0", "fps must be more than 0"),
                                         ("-2", "fps must be more than 0"), ("1000", "at most 60"),
                                         ("nan", "fps must be more than 0")])
def test_an_fps_that_is_not_a_positive_rate_is_refused(client, settings, fps, reason):
    response = client.post("/api/videos/", {"video": video_file("one.avi", face_video("one.avi")), "fps": fps})
    assert response.status_code == 400 and reason in response.json()["error"]
    assert nothing_stored(settings)


def test_a_post_without_a_video_says_which_field_to_use(client):
    response = client.post("/api/videos/", {"image": video_file("one.avi", face_video("one.avi"))})
    assert response.status_code == 400
    assert response.json() == {"error": "Send the video as a multipart field named 'video'."}


def test_two_videos_in_one_request_are_refused(client, settings):
    data = face_video("one.avi")
    response = client.post("/api/videos/", {"video": [video_file("a.avi", data), video_file("b.avi", data)]})
    assert response.status_code == 400 and "one video per request" in response.json()["error"]
    assert nothing_stored(settings)


def test_without_a_model_videos_are_refused_with_a_503(client, no_model, settings):
    response = client.post("/api/videos/", {"video": video_file("one.avi", face_video("one.avi"))})
    assert response.status_code == 503 and "no model is available" in response.json()["error"]
    assert nothing_stored(settings)


def test_a_video_without_a_face_is_done_with_no_faces_and_a_message(client, worker):
    response = client.post("/api/videos/", {"video": video_file("coffee.mp4", face_video("coffee.mp4", scene="none"),
                                                                "video/mp4")})
    assert response.status_code == 202
    worker()
    body = client.get(response["Location"]).json()
    assert body["status"] == "done" and body["faces"] == []
    assert body["message"] == "No face was found in any sampled frame."
    assert body["progress"] == {"frames_done": 12, "frames_total": 12}
    page = client.get(f"/videos/{body['id']}/").content.decode()
    assert "No face was found in any sampled frame." in page
