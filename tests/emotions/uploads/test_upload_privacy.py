"""Uploads are private: a visitor sees their session's, a member their account's; strangers get a 404.
Deleting removes files and records, and old uploads are purged after UPLOAD_RETENTION_DAYS."""
from datetime import timedelta

import pytest
from django.utils import timezone
from uploads_test_support import file

from emotions.models import Upload
from emotions.uploads import services
from emotions.uploads.tasks import purge_old_uploads

pytestmark = pytest.mark.django_db


def upload_as(client, name: str, data: bytes) -> Upload:
    response = client.post("/upload/", {"images": [file(name, data)]})
    assert response.status_code == 302
    client.get(response["Location"])  # predicted by the web process as the page is opened
    return Upload.objects.get(original_name=name)


def urls_of(upload: Upload) -> list[str]:
    pk = upload.pk
    return [f"/uploads/{pk}/", f"/uploads/{pk}/status.json", f"/uploads/{pk}/original",
            f"/uploads/{pk}/annotated.jpg", f"/uploads/{pk}/faces/0.png", f"/api/predictions/{pk}/"]


def test_a_visitors_upload_belongs_to_their_session(visitor, astronaut_jpeg):
    upload = upload_as(visitor, "mine.jpg", astronaut_jpeg)
    assert upload.owner is None and upload.session_owner == visitor.session["upload_owner"]
    assert all(visitor.get(url).status_code == 200 for url in urls_of(upload))


def test_another_session_can_neither_see_nor_fetch_it(visitor, stranger, astronaut_jpeg):
    upload = upload_as(visitor, "mine.jpg", astronaut_jpeg)
    assert [stranger.get(url).status_code for url in urls_of(upload)] == [404] * 6
    assert "mine.jpg" not in stranger.get("/history/").content.decode()
    assert stranger.post(f"/uploads/{upload.pk}/delete/").status_code == 404
    assert stranger.post(f"/uploads/{upload.pk}/whole-image/").status_code == 404
    assert Upload.objects.filter(pk=upload.pk).exists()


def test_a_members_upload_belongs_to_their_account(member_client, member, visitor, outsider, client, astronaut_jpeg):
    upload = upload_as(member_client, "member.jpg", astronaut_jpeg)
    assert upload.owner == member and upload.session_owner == ""
    assert "member.jpg" in member_client.get("/history/").content.decode()
    client.force_login(outsider)
    assert [client.get(url).status_code for url in urls_of(upload)] == [404] * 6
    assert [visitor.get(url).status_code for url in urls_of(upload)] == [404] * 6


def test_uploads_made_before_logging_in_follow_the_visitor_into_their_account(visitor, member, astronaut_jpeg):
    upload = upload_as(visitor, "before.jpg", astronaut_jpeg)
    response = visitor.post("/login/", {"username": "member", "password": "member-password"})
    assert response.status_code == 302
    upload.refresh_from_db()
    assert upload.owner == member and "before.jpg" in visitor.get("/history/").content.decode()


def test_the_history_lists_only_ones_own_uploads(visitor, stranger, astronaut_jpeg, coffee_jpeg):
    upload_as(visitor, "mine.jpg", astronaut_jpeg)
    upload_as(stranger, "theirs.jpg", coffee_jpeg)
    html = visitor.get("/history/").content.decode()
    assert "mine.jpg" in html and "theirs.jpg" not in html


def test_an_anonymous_api_upload_is_fetched_by_whoever_holds_its_id(client, stranger, astronaut_jpeg):
    body = client.post("/api/predictions/?wait=1", {"image": file("api.jpg", astronaut_jpeg)}).json()
    assert stranger.get(f"/api/predictions/{body['id']}/").json() == body


def test_deleting_an_upload_removes_its_files_and_record(visitor, astronaut_jpeg, django_capture_on_commit_callbacks):
    upload = upload_as(visitor, "mine.jpg", astronaut_jpeg)
    assert upload.directory.is_dir() and {p.name for p in upload.directory.iterdir()} == {"original", "annotated.jpg", "face-0.png"}

    with django_capture_on_commit_callbacks(execute=True):
        response = visitor.post(f"/uploads/{upload.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/history/"
    assert not Upload.objects.filter(pk=upload.pk).exists() and not upload.directory.exists()
    assert visitor.get(f"/uploads/{upload.pk}/").status_code == 404


def test_deleting_takes_a_post(visitor, astronaut_jpeg):
    upload = upload_as(visitor, "mine.jpg", astronaut_jpeg)
    assert visitor.get(f"/uploads/{upload.pk}/delete/").status_code == 405
    assert Upload.objects.filter(pk=upload.pk).exists()


@pytest.mark.database
def test_uploads_older_than_the_retention_are_purged_with_their_files(
    visitor, astronaut_jpeg, coffee_jpeg, settings, django_capture_on_commit_callbacks
):
    settings.UPLOAD_RETENTION_DAYS = 30
    old = upload_as(visitor, "old.jpg", astronaut_jpeg)
    recent = upload_as(visitor, "recent.jpg", coffee_jpeg)
    Upload.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))

    with django_capture_on_commit_callbacks(execute=True):
        assert purge_old_uploads() == 1
    assert list(Upload.objects.all()) == [recent] and not old.directory.exists() and recent.directory.is_dir()


def test_deleting_a_members_account_deletes_their_uploads_and_files(
    member_client, member, astronaut_jpeg, django_capture_on_commit_callbacks
):
    upload = upload_as(member_client, "member.jpg", astronaut_jpeg)
    with django_capture_on_commit_callbacks(execute=True):
        member.delete()
    assert not Upload.objects.exists() and not upload.directory.exists()


def test_the_purge_runs_on_the_beat_schedule():
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["purge-old-uploads"]["task"] == "emotions.purge_old_uploads"
    assert settings.CELERY_TASK_ROUTES["emotions.purge_old_uploads"] == {"queue": "inference"}


def test_the_navigation_links_to_upload_and_history(visitor):
    html = visitor.get("/upload/").content.decode()
    assert '<a href="/upload/">Upload</a>' in html and '<a href="/history/">History</a>' in html


def test_a_deployed_run_serves_predictions_before_the_shipped_weights(visitor, experiment, tiny_model_path, astronaut_jpeg):
    import shutil

    from emotions.models import TrainingRun

    run = TrainingRun.objects.create(experiment=experiment, config=experiment.config, status="succeeded")
    run.out_dir.mkdir(parents=True)
    shutil.copy(tiny_model_path, run.out_dir / "best.pt")
    run.checkpoint = f"{run.out_dir_name}/best.pt"
    run.save()
    run.deploy()
    assert services.model_in_use().description == f"run {run.pk}"
    assert upload_as(visitor, "mine.jpg", astronaut_jpeg).model == f"run {run.pk}"
