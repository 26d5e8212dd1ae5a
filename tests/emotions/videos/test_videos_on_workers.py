"""The whole path with real processes: a redis-server and a prefork Celery worker consuming the `inference`
queue (as `manage.py runstack` starts it), sharing the test database file and MEDIA_ROOT."""
import pytest
from emotions_test_support import wait_for
from videos_test_support import face_video, video_file

from emotions.models import Video

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("media_shared_with_inference_worker"),
]


def test_an_api_video_is_analysed_by_a_worker_on_the_inference_queue(client, inference_stack, settings):
    settings.INFERENCE_WAIT_SECONDS = 120
    response = client.post("/api/videos/?wait=1", {"video": video_file("two.mp4", face_video("two.mp4", scene="two"),
                                                                      "video/mp4")})
    body = response.json()
    assert response.status_code == 201 and body["status"] == "done", body
    assert [face["track"] for face in body["faces"]] == [1, 2]
    assert all(len(face["frames"]) == 12 for face in body["faces"])
    [worker] = inference_stack.running_workers()
    assert "Task emotions.process_video[" in worker.log_text()
    video = Video.objects.get(pk=body["id"])
    assert video.claimed_by == "inference@test" and video.csv_path.is_file() and video.frame_path(11).is_file()


def test_a_page_upload_shows_progress_then_the_result(visitor, inference_stack):
    response = visitor.post("/videos/", {"video": video_file("long.avi", face_video("long.avi", seconds=8.0))})
    status_url = response["Location"] + "status.json"
    seen = []

    def finished():
        body = visitor.get(status_url).json()
        seen.append(body["progress"]["frames_done"])
        return body["status"] == "done" and body

    done = wait_for(finished, 120, "the worker to analyse the video", interval=0.1)
    assert done["progress"] == {"frames_done": 32, "frames_total": 32}
    assert any(0 < frames < 32 for frames in seen), seen  # progress was visible on the way
    assert "1 face followed through the video" in visitor.get(response["Location"]).content.decode()


def test_cancelling_stops_the_worker_mid_video(visitor, inference_stack):
    # 30 s of video, 120 frames to sample: far more than the worker can analyse before the cancel lands.
    response = visitor.post("/videos/", {"video": video_file("half-minute.avi", face_video("half-minute.avi", seconds=30.0))})
    video = Video.objects.get()
    wait_for(lambda: Video.objects.get(pk=video.pk).frames_done > 0, 60, "the worker to start on the video", interval=0.1)
    assert visitor.post(response["Location"] + "cancel/").status_code == 302
    [worker] = inference_stack.running_workers()
    wait_for(lambda: f"video {video.pk} stopped after" in worker.log_text(), 30, "the worker to stop")
    video.refresh_from_db()
    assert video.status == "cancelled" and video.frames_done < video.frames_total == 120 and video.faces == []
