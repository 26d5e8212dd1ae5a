"""Videos are private exactly as photos are: a visitor sees their session's, a member their account's, a
program with an API token its user's; everyone else gets a 404. Deleting removes files and record, and
videos are purged with photos after UPLOAD_RETENTION_DAYS."""
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from videos_test_support import face_video, video_file

from emotions.models import ApiToken, Video
from emotions.videos.tasks import purge_old_videos

pytestmark = pytest.mark.django_db


def short_video() -> bytes:
    return face_video("short.avi", seconds=1.0)


def video_as(client, name: str, worker) -> Video:
    response = client.post("/videos/", {"video": video_file(name, short_video())})
    assert response.status_code == 302, response.content.decode()
    worker()
    video = Video.objects.get(original_name=name)
    assert video.status == "done"
    return video


def urls_of(video: Video) -> list[str]:
    pk = video.pk
    return [f"/videos/{pk}/", f"/videos/{pk}/status.json", f"/videos/{pk}/original", f"/videos/{pk}/frames/0.jpg",
            f"/videos/{pk}/faces.csv", f"/videos/{pk}/result.json", f"/api/videos/{pk}/"]


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_a_visitors_video_belongs_to_their_session_like_their_photos(visitor, worker):
    video = video_as(visitor, "mine.avi", worker)
    assert video.owner is None and video.session_owner == visitor.session["upload_owner"]
    assert [visitor.get(url).status_code for url in urls_of(video)] == [200] * 7
    assert "mine.avi" in visitor.get("/videos/").content.decode()


def test_another_session_can_neither_see_nor_fetch_nor_touch_it(visitor, stranger, worker):
    video = video_as(visitor, "mine.avi", worker)
    assert [stranger.get(url).status_code for url in urls_of(video)] == [404] * 7
    assert "mine.avi" not in stranger.get("/videos/").content.decode()
    assert stranger.post(f"/videos/{video.pk}/cancel/").status_code == 404
    assert stranger.post(f"/videos/{video.pk}/delete/").status_code == 404
    assert Video.objects.filter(pk=video.pk).exists()


def test_a_members_video_belongs_to_their_account(member_client, member, visitor, outsider, client, worker):
    video = video_as(member_client, "member.avi", worker)
    assert video.owner == member and video.session_owner == ""
    client.force_login(outsider)
    assert [client.get(url).status_code for url in urls_of(video)] == [404] * 7
    assert [visitor.get(url).status_code for url in urls_of(video)] == [404] * 7


def test_a_program_with_a_token_owns_its_videos_and_another_users_token_gets_a_404(member, outsider, worker):
    _, secret = ApiToken.objects.issue(member, "lab camera script")
    _, other_secret = ApiToken.objects.issue(outsider, "someone else's script")
    program = Client()
    response = program.post("/api/videos/", {"video": video_file("lab.avi", short_video())}, **bearer(secret))
    assert response.status_code == 202
    video = Video.objects.get()
    assert video.owner == member
    worker()
    assert program.get(response["Location"], **bearer(secret)).json()["status"] == "done"
    assert program.get(response["Location"], **bearer(other_secret)).status_code == 404
    assert Client().get(response["Location"]).status_code == 404
    member_client = Client()
    member_client.force_login(member)
    assert "lab.avi" in member_client.get("/videos/").content.decode()


def test_a_wrong_token_gets_401(client):
    response = client.post("/api/videos/", {"video": video_file("clip.avi", short_video())}, **bearer("fer_wrong"))
    assert response.status_code == 401 and not Video.objects.exists()


def test_an_api_video_without_a_session_or_token_is_fetched_by_its_id_alone(client):
    body = Client().post("/api/videos/", {"video": video_file("clip.avi", short_video())}).json()
    assert client.get(f"/api/videos/{body['id']}/").status_code == 200


def test_videos_made_before_logging_in_follow_the_visitor_into_their_account(visitor, member, worker):
    video = video_as(visitor, "before.avi", worker)
    response = visitor.post("/login/", {"username": "member", "password": "member-password"})
    assert response.status_code == 302
    video.refresh_from_db()
    assert video.owner == member and "before.avi" in visitor.get("/videos/").content.decode()


def test_deleting_a_video_removes_its_files_and_record(visitor, worker, django_capture_on_commit_callbacks):
    video = video_as(visitor, "gone.avi", worker)
    assert video.csv_path.is_file() and video.frame_path(0).is_file()
    with django_capture_on_commit_callbacks(execute=True):
        response = visitor.post(f"/videos/{video.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/videos/"
    assert not Video.objects.exists() and not video.directory.exists()


def test_videos_are_purged_with_photos_after_the_retention_days(visitor, worker, settings,
                                                               django_capture_on_commit_callbacks):
    settings.UPLOAD_RETENTION_DAYS = 30
    old = video_as(visitor, "old.avi", worker)
    Video.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    new = Video.objects.create(original_name="new.avi", requested_fps=4, file="videos/x/original.avi")
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_old_videos() == 1
    assert list(Video.objects.all()) == [new] and not old.directory.exists()
    assert settings.CELERY_BEAT_SCHEDULE["purge-old-videos"]["schedule"] == \
        settings.CELERY_BEAT_SCHEDULE["purge-old-uploads"]["schedule"]
