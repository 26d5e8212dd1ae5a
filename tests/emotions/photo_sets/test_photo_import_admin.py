"""Staff upload a zip of a labelled photo folder in the admin; a worker on the `inference` queue imports it
(the task's function called here; test_photo_import_on_a_worker.py runs a real one). The row keeps status,
progress and errors; bad input leaves no Dataset and no file behind."""
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from photo_sets_test_support import class_folders, face_png, labels_csv_folder, people_rows, zip_of, zip_with

from emotions.models import Dataset, PhotoImport
from emotions.photo_sets import imports
from emotions.photo_sets.tasks import import_photos, sweep_photo_sets

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/emotions/photoimport/add/"


def post_zip(client, data: bytes, name: str = "dataset", filename: str = "my_faces.zip", **options):
    form = {"name": name, "zip_file": SimpleUploadedFile(filename, data, "application/zip"), "group_column": "",
            "test_groups": "", "test_share": "0.2", "val_share": "0.1", "seed": "0", **options}
    return client.post(ADD_URL, form)


def media_files() -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def test_staff_upload_a_zip_and_a_worker_imports_it(staff_client, staff, tmp_path, sent,
                                                   django_capture_on_commit_callbacks):
    form = staff_client.get(ADD_URL).content.decode()
    assert "Zip of the photo folder" in form and 'name="group_column"' in form
    data = zip_of(class_folders(tmp_path / "faces", per_class=5))
    with django_capture_on_commit_callbacks(execute=True):
        response = post_zip(staff_client, data, name="my faces")
    assert response.status_code == 302, response.context["adminform"].form.errors
    photo_import = PhotoImport.objects.get()
    assert (photo_import.name, photo_import.archive_name, photo_import.status) == ("my faces", "my_faces.zip", "queued")
    assert photo_import.created_by == staff and photo_import.archive.name == f"photo-imports/{photo_import.pk}/photos.zip"
    assert sent.of("emotions.import_photos") == [[photo_import.pk]] and photo_import.task_id == "task-1"
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["my_faces.zip is saved; a worker imports it, and this page shows how far it got."]

    import_photos(photo_import.pk)  # what the worker runs
    photo_import.refresh_from_db()
    assert photo_import.status == "succeeded", photo_import.error
    assert (photo_import.done, photo_import.total, photo_import.step) == (35, 35, "imported")
    dataset = photo_import.dataset
    assert dataset.kind == "photos" and dataset.num_images() == 35 and dataset.source_name == "my_faces.zip"
    assert not photo_import.archive and media_files() == [dataset.store_file.name]  # the zip is gone

    page = staff_client.get("/admin/emotions/photoimport/").content.decode()
    assert "succeeded" in page and f"/datasets/{dataset.pk}/" in page
    assert staff_client.get(f"/admin/emotions/photoimport/{photo_import.pk}/change/").status_code == 200


def test_a_duplicate_delivery_does_nothing(staff_client, tmp_path):
    post_zip(staff_client, zip_of(class_folders(tmp_path / "faces", per_class=2)))
    photo_import = PhotoImport.objects.get()
    imports.run_photo_import(photo_import.pk, "inference@one")
    imports.run_photo_import(photo_import.pk, "inference@two")
    photo_import.refresh_from_db()
    assert photo_import.worker == "inference@one" and Dataset.objects.count() == 1


def test_a_labels_csv_with_groups_and_options_from_the_form(staff_client, tmp_path):
    folder = labels_csv_folder(tmp_path / "people", people_rows(people=4, per_person=7))
    post_zip(staff_client, zip_of(folder, wrap=None), name="people", group_column="person", test_groups="person2",
             is_evaluation_set="on")
    import_photos(PhotoImport.objects.get().pk)
    dataset = Dataset.objects.get(name="people")
    store = dataset.load_store()
    assert set(store.groups[store.split_rows("private_test")].tolist()) == {"person2"}
    assert dataset.is_evaluation_set


def test_a_bad_label_fails_the_import_naming_the_file_and_row_and_leaves_nothing(staff_client, tmp_path):
    rows = people_rows(people=2, per_person=4)
    rows[2] = (rows[2][0], "Confused", rows[2][2])
    post_zip(staff_client, zip_of(labels_csv_folder(tmp_path / "bad", rows)))
    photo_import = PhotoImport.objects.get()
    import_photos(photo_import.pk)
    photo_import.refresh_from_db()
    assert photo_import.status == "failed"
    assert photo_import.error.startswith("my_faces/labels.csv row 4: unknown label 'Confused'")
    assert "/tmp" not in photo_import.error
    assert not Dataset.objects.exists() and media_files() == []


def test_a_folder_without_labels_fails_with_what_it_expected(staff_client):
    post_zip(staff_client, zip_with({"notes.txt": b"hello"}))
    photo_import = PhotoImport.objects.get()
    import_photos(photo_import.pk)
    photo_import.refresh_from_db()
    assert photo_import.status == "failed" and "no labelled photos" in photo_import.error
    assert "class>/<image> sub-folders or a labels.csv" in photo_import.error
    assert not Dataset.objects.exists() and media_files() == []


@pytest.mark.parametrize("entries, message", [
    ({"../evil/happy/1.png": b"x"}, "entry ../evil/happy/1.png: an unsafe path"),
    ({"/etc/happy/1.png": b"x"}, "entry /etc/happy/1.png: an unsafe path"),
    ({}, "the zip holds no files"),
])
def test_an_unsafe_or_empty_zip_is_refused_before_anything_is_kept(staff_client, entries, message, sent):
    response = post_zip(staff_client, zip_with(entries))
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors["zip_file"])
    assert not PhotoImport.objects.exists() and media_files() == [] and sent == []


def test_a_file_that_is_not_a_zip_or_too_big_is_refused(staff_client, settings):
    response = post_zip(staff_client, face_png(0), filename="face.zip")
    assert "face.zip: not a readable zip file" in " ".join(response.context["adminform"].form.errors["zip_file"])
    settings.PHOTO_IMPORT_MAX_BYTES = 100
    response = post_zip(staff_client, zip_with({"happy/1.png": face_png(1)}))
    assert "the limit is 0.0 MB" in " ".join(response.context["adminform"].form.errors["zip_file"])
    settings.PHOTO_IMPORT_MAX_BYTES = 10**9
    settings.PHOTO_IMPORT_MAX_FILES = 2
    response = post_zip(staff_client, zip_with({f"happy/{n}.png": face_png(n) for n in range(3)}))
    assert "holds 3 files; the limit is 2" in " ".join(response.context["adminform"].form.errors["zip_file"])
    assert not PhotoImport.objects.exists()


def test_a_zip_that_unpacks_to_more_than_it_says_is_stopped_on_the_worker(staff_client, settings, tmp_path):
    post_zip(staff_client, zip_of(class_folders(tmp_path / "faces", per_class=3)))
    settings.PHOTO_IMPORT_MAX_UNPACKED_BYTES = 2000  # lowered after the check: as if the headers had lied
    photo_import = PhotoImport.objects.get()
    import_photos(photo_import.pk)
    photo_import.refresh_from_db()
    assert photo_import.status == "failed" and "unpacks to" in photo_import.error
    assert not Dataset.objects.exists() and media_files() == []


def test_a_taken_name_is_a_form_error(staff_client, noise_dataset, tmp_path):
    response = post_zip(staff_client, zip_of(class_folders(tmp_path / "faces", per_class=1)), name="noise")
    assert "A dataset named 'noise' exists already." in response.context["adminform"].form.errors["name"]


def test_an_import_whose_worker_died_is_failed_by_the_sweep_and_its_zip_removed(staff_client, tmp_path, settings):
    post_zip(staff_client, zip_of(class_folders(tmp_path / "faces", per_class=1)))
    photo_import = PhotoImport.objects.get()
    assert photo_import.claim("inference@dead")
    PhotoImport.objects.filter(pk=photo_import.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.PHOTO_IMPORT_STALE_SECONDS + 1))
    assert sweep_photo_sets()["failed"] == 1
    photo_import.refresh_from_db()
    assert photo_import.status == "failed" and "inference@dead stopped during the import" in photo_import.error
    assert media_files() == []


def test_a_live_import_is_not_failed_by_a_sweeping_host_whose_clock_is_ahead(staff_client, tmp_path, monkeypatch):
    post_zip(staff_client, zip_of(class_folders(tmp_path / "faces", per_class=1)))
    photo_import = PhotoImport.objects.get()
    assert photo_import.claim("inference@cpu")  # its heartbeat stamped by the database's clock
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(seconds=settings.PHOTO_IMPORT_STALE_SECONDS + 60))
    assert sweep_photo_sets()["failed"] == 0
    photo_import.refresh_from_db()
    assert photo_import.status == "running"


def test_an_import_never_sent_is_sent_again_by_the_sweep(staff_client, tmp_path, sent):
    post_zip(staff_client, zip_of(class_folders(tmp_path / "faces", per_class=1)))
    photo_import = PhotoImport.objects.get()
    PhotoImport.objects.filter(pk=photo_import.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert sweep_photo_sets()["sent"] == 1
    assert sent.of("emotions.import_photos") == [[photo_import.pk]]


def test_outsiders_and_viewers_cannot_import(client, outsider, viewer, tmp_path):
    client.force_login(outsider)
    assert client.get(ADD_URL).status_code == 302
    client.force_login(viewer)
    assert post_zip(client, zip_of(class_folders(tmp_path / "faces", per_class=1))).status_code == 403
    assert not PhotoImport.objects.exists()
