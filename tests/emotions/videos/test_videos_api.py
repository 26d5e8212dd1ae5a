"""The JSON API: POST /api/videos/ answers 202 with {"id", "status", "progress"} at once, the GET the same and
the results once a worker is done; ?wait=1 waits for the worker, never analysing in the request. What the
broker refused or lost, and what a dead worker held, is sent again by the sweep."""
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from videos_test_support import face_video, video_file

from emotions.infra import dispatch
from emotions.models import Video
from emotions.videos import services
from emotions.videos.tasks import process_video, sweep_videos

pytestmark = pytest.mark.django_db

API = "/api/videos/"


def short_video() -> bytes:
    return face_video("short.avi", seconds=1.0)  # 4 sampled frames


def post(client, data: bytes | None = None, url: str = API, **fields):
    return client.post(url, {"video": video_file("clip.avi", data or short_video()), **fields})


def test_a_post_answers_202_at_once_with_the_id_status_and_progress(client, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client)
    assert response.status_code == 202
    body = response.json()
    assert {"id", "status", "progress"} <= set(body)
    assert body["status"] == "pending" and body["progress"] == {"frames_done": 0, "frames_total": 4}
    assert "faces" not in body and "duration" not in body
    assert response["Location"] == f"/api/videos/{body['id']}/"
    assert sent == [uuid.UUID(body["id"])]  # sent to the inference queue once committed


def test_a_large_upload_that_django_wrote_to_disk_is_checked_there_and_stored_whole(client, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every upload goes to a temporary file, as a large video does
    response = post(client)
    assert response.status_code == 202
    video = Video.objects.get()
    assert video.file.read() == short_video() and video.size == len(short_video())
    assert video.content_type == "video/x-msvideo" and video.file.name == f"videos/{video.pk}/original.avi"


def test_the_get_answers_the_same_and_once_done_the_faces_over_time(client, worker):
    location = post(client)["Location"]
    assert client.get(location).json()["status"] == "pending"
    worker()
    body = client.get(location).json()
    assert body["status"] == "done" and body["progress"] == {"frames_done": 4, "frames_total": 4}
    assert body["duration"] == 1.0 and body["fps"] == 4.0
    [face] = body["faces"]
    assert face["track"] == 1 and [frame["t"] for frame in face["frames"]] == pytest.approx([0, 0.25, 0.5, 0.75], abs=0.05)
    assert set(face["frames"][0]) == {"t", "box", "label", "probabilities"} and len(face["frames"][0]["box"]) == 4


def test_fps_sets_the_sampling_rate_up_to_the_videos_own(client, worker):
    slow = post(client, face_video("one.avi"), fps="2").json()  # 3 s at 2 a second
    fast = post(client, face_video("one.avi"), fps="30").json()  # a 12 fps video: every frame, 36
    assert slow["progress"]["frames_total"] == 6 and fast["progress"]["frames_total"] == 36
    Video.objects.filter(pk=fast["id"]).update(status="cancelled")  # no need to analyse all 36
    worker()
    done = client.get(f"{API}{slow['id']}/").json()
    assert done["fps"] == 2.0 and len(done["faces"][0]["frames"]) == 6


def test_wait_waits_for_the_worker_and_answers_201_with_the_result(client, monkeypatch, transactional_db):
    """`?wait=1` with a worker: the broker's delivery is a thread here, running the task as a worker would."""
    def deliver(video):
        threading.Thread(target=process_video, args=[str(video.pk)]).start()
        return True

    monkeypatch.setattr(services, "send_video", deliver)
    response = post(client, url=f"{API}?wait=1")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "done" and len(body["faces"]) == 1 and body["progress"]["frames_done"] == 4
    assert Video.objects.get(pk=body["id"]).claimed_by == "worker"


def test_wait_without_a_worker_answers_202_after_inference_wait_seconds_and_never_analyses_here(client, settings):
    settings.INFERENCE_WAIT_SECONDS = 1
    started = time.monotonic()
    response = post(client, url=f"{API}?wait=1")
    assert 1 <= time.monotonic() - started < 10
    assert response.status_code == 202 and response.json()["status"] == "pending"
    video = Video.objects.get()
    assert (video.status, video.frames_done, video.claimed_by) == ("pending", 0, "")


def test_an_unknown_id_is_a_json_404_and_other_methods_are_405(client):
    assert client.get(f"{API}{uuid.uuid4()}/").json() == {"error": "No such video."}
    assert client.get(API).status_code == 405 and client.get(API).json()["error"].startswith("Use POST")
    assert client.delete(f"{API}{uuid.uuid4()}/").status_code == 405


# Nothing gets lost ----------------------------------------------------------------------------------
def broken_send(*args, **kwargs):
    raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_with_the_broker_down_the_video_is_kept_and_sent_again_by_the_sweep(
    client, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.undo()  # the real send_video, through a broker that is down, then back
    monkeypatch.setattr(dispatch, "send", broken_send)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client)
    assert response.status_code == 202 and response.json()["status"] == "pending"
    video = Video.objects.get()
    assert "The queue is unreachable" in video.queue_error and video.sent_at is None
    assert "The queue is unreachable just now" in client.get(f"/videos/{video.pk}/").content.decode()

    sent = []
    monkeypatch.setattr(dispatch, "send", lambda name, args, **options: sent.append((name, args)))
    assert sweep_videos() == {"released": 0, "sent": 1}
    assert sent == [("emotions.process_video", [str(video.pk)])]
    video.refresh_from_db()
    assert video.queue_error == "" and video.sent_at is not None and video.status == "pending"


def test_a_video_whose_worker_stopped_beating_is_released_and_sent_again(client, monkeypatch, settings):
    video = Video.objects.get(pk=post(client).json()["id"])
    assert video.claim("inference@gone")
    Video.objects.filter(pk=video.pk).update(beat_at=timezone.now() - timedelta(seconds=settings.INFERENCE_STALE_SECONDS + 1),
                                             frames_done=2)
    sent = []
    monkeypatch.setattr(services, "send_video", lambda v: sent.append(v.pk) or True)
    assert services.sweep_videos()["released"] == 1 and sent == [video.pk]
    video.refresh_from_db()
    assert (video.status, video.claimed_by, video.frames_done) == ("pending", "", 0)


def test_a_restarted_worker_releases_what_its_previous_life_held(client, monkeypatch):
    video = Video.objects.get(pk=post(client).json()["id"])
    assert video.claim("inference@host")
    sent = []
    monkeypatch.setattr(services, "send_video", lambda v: sent.append(v.pk) or True)
    assert services.release_claims_of("inference@other") == 0
    assert services.release_claims_of("inference@host") == 1 and sent == [video.pk]


def test_a_second_delivery_of_the_same_video_does_nothing(client, worker):
    video_id = post(client).json()["id"]
    worker()
    finished = Video.objects.get(pk=video_id).finished_at
    process_video(video_id)
    assert Video.objects.get(pk=video_id).finished_at == finished


# Cancelling -----------------------------------------------------------------------------------------
def test_a_cancelled_video_is_never_analysed(visitor, worker):
    response = visitor.post("/videos/", {"video": video_file("clip.avi", short_video())})
    page = response["Location"]
    assert visitor.post(f"{page}cancel/").status_code == 302
    worker()
    video = Video.objects.get()
    assert video.status == "cancelled" and video.frames_done == 0 and video.faces == []
    assert "Cancelled after 0 of 4 frames." in visitor.get(page).content.decode()
    assert visitor.get(f"{page}status.json").json()["status"] == "cancelled"


@pytest.mark.django_db(transaction=True)  # the heartbeat thread reads the row on a connection of its own
def test_cancelling_a_video_being_analysed_stops_its_worker_at_the_next_beat(client, monkeypatch):
    monkeypatch.setattr(services, "BEAT_SECONDS", 0.05)
    video = Video.objects.get(pk=post(client).json()["id"])
    assert video.claim("inference@test")
    with services.VideoHeartbeat(video) as heartbeat:
        time.sleep(0.2)
        assert not heartbeat.stop_requested.is_set()
        assert Video.objects.get(pk=video.pk).cancel()
        assert heartbeat.stop_requested.wait(5)
    assert not video.mark_done(model="shipped")  # the worker's late result is not written over the cancel
    assert Video.objects.get(pk=video.pk).status == "cancelled"


def test_a_finished_video_cannot_be_cancelled(visitor, worker):
    page = visitor.post("/videos/", {"video": video_file("clip.avi", short_video())})["Location"]
    worker()
    response = visitor.post(f"{page}cancel/", follow=True)
    assert "This video is already done." in response.content.decode()
    assert Video.objects.get().status == "done"


@pytest.mark.django_db(transaction=True)  # the heartbeat thread reads the row on a connection of its own
def test_a_deleted_video_stops_its_worker(client, monkeypatch):
    monkeypatch.setattr(services, "BEAT_SECONDS", 0.05)
    video = Video.objects.get(pk=post(client).json()["id"])
    assert video.claim("inference@test")
    with services.VideoHeartbeat(video) as heartbeat:
        Video.objects.filter(pk=video.pk).delete()
        assert heartbeat.stop_requested.wait(5)
