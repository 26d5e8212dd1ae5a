"""The pages: the photo upload page also takes a video, the video's page shows the worker's progress while it
runs (frames done of total) and offers to cancel, and /videos/ lists a person's videos."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from videos_test_support import face_video, video_file

from emotions.models import Video

pytestmark = pytest.mark.django_db


def test_the_upload_page_takes_a_video_too(visitor):
    page = visitor.get("/upload/").content.decode()
    assert 'action="/videos/"' in page and 'name="video"' in page and 'name="fps"' in page
    assert "up to 200 MB and 10 minutes" in page
    assert 'href="/videos/"' in page  # in the navigation


def test_an_uploaded_video_shows_its_progress_until_a_worker_is_done(visitor):
    response = visitor.post("/videos/", {"video": video_file("clip.avi", face_video("one.avi")), "fps": "2"})
    video = Video.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/videos/{video.pk}/"
    page = visitor.get(response["Location"]).content.decode()
    assert "0 of 6 frames" in page and '<progress max="6" value="0"' in page
    assert f'data-video-status="/videos/{video.pk}/status.json"' in page and ">Cancel</button>" in page
    video.claim("inference@test")
    video.record_progress(4, 6)
    assert visitor.get(f"/videos/{video.pk}/status.json").json()["progress"] == {"frames_done": 4, "frames_total": 6}
    assert "4 of 6 frames" in visitor.get("/videos/").content.decode()


def test_a_failed_video_shows_why(visitor):
    visitor.post("/videos/", {"video": video_file("clip.avi", face_video("one.avi"))})
    video = Video.objects.get()
    video.claim("inference@test")
    video.mark_failed("The analysis failed: out of memory")
    page = visitor.get(f"/videos/{video.pk}/").content.decode()
    assert "The analysis failed: out of memory" in page and ">Cancel</button>" not in page


def test_the_downloads_wait_for_the_result(visitor):
    visitor.post("/videos/", {"video": video_file("clip.avi", face_video("one.avi"))})
    pk = Video.objects.get().pk
    assert visitor.get(f"/videos/{pk}/faces.csv").status_code == 404
    assert visitor.get(f"/videos/{pk}/result.json").status_code == 404
    assert visitor.get(f"/videos/{pk}/frames/0.jpg").status_code == 404



def settings_read_with(**env) -> list:
    """[VIDEO_MAX_BYTES, VIDEO_MAX_SECONDS] as a fresh process reads them with `env` set."""
    script = "import json, fer_site.settings as s; print(json.dumps([s.VIDEO_MAX_BYTES, s.VIDEO_MAX_SECONDS]))"
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIDEO_")}
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[3], env={**base, **env},
                            capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout)


def test_the_limits_come_from_the_environment():
    assert settings_read_with() == [200 * 1024 * 1024, 600]
    assert settings_read_with(VIDEO_MAX_BYTES="1000000", VIDEO_MAX_SECONDS="90.5") == [1_000_000, 90.5]
