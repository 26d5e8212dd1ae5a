"""The admin's zip import with real processes: a redis-server and a prefork Celery worker on the `inference`
queue (as `manage.py runstack` starts it), sharing the test database file and MEDIA_ROOT. Staff upload the
zip with the Django test client; the worker imports it, and then scores a run on it once it is marked an
evaluation set."""
import shutil

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from emotions_test_support import make_experiment, wait_for
from photo_sets_test_support import class_folders, labels_csv_folder, people_rows, zip_of

from emotions.models import Dataset, PhotoImport, RunEvaluation, TrainingRun

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("media_shared_with_inference_worker"),
]


def upload_zip(client, data: bytes, name: str, **options) -> PhotoImport:
    response = client.post("/admin/emotions/photoimport/add/", {
        "name": name, "zip_file": SimpleUploadedFile("my_faces.zip", data, "application/zip"), "group_column": "",
        "test_groups": "", "test_share": "0.2", "val_share": "0.1", "seed": "0", **options})
    assert response.status_code == 302, response.context["adminform"].form.errors
    return PhotoImport.objects.get(name=name)


def wait_until_ended(photo_import: PhotoImport) -> PhotoImport:
    def ended():
        photo_import.refresh_from_db()
        return not photo_import.is_active
    wait_for(ended, 120, f"the import of {photo_import.name} to end (it is {photo_import.status}, {photo_import.step})")
    return photo_import


def test_a_zip_uploaded_in_the_admin_is_imported_by_the_inference_worker(staff_client, tmp_path, inference_stack):
    photo_import = upload_zip(staff_client, zip_of(class_folders(tmp_path / "faces", per_class=6)), "office faces")
    assert photo_import.sent_at is not None  # Redis took it after the commit

    photo_import = wait_until_ended(photo_import)
    assert photo_import.status == "succeeded", photo_import.error
    assert photo_import.worker == "inference@test" and (photo_import.done, photo_import.total) == (42, 42)
    dataset = photo_import.dataset
    assert dataset.kind == "photos" and dataset.num_images() == 42 and dataset.store_path.is_file()
    assert not photo_import.archive and not list((inference_stack.media / "photo-imports").rglob("*.zip"))
    [worker] = inference_stack.running_workers()
    assert "Task emotions.import_photos[" in worker.log_text()

    page = staff_client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "Import report" in page and "face-grid samples" in page


def test_a_bad_label_fails_on_the_worker_naming_the_file_and_row(staff_client, tmp_path, inference_stack):
    rows = people_rows(people=2, per_person=4)
    rows[5] = (rows[5][0], "Meh", rows[5][2])
    photo_import = upload_zip(staff_client, zip_of(labels_csv_folder(tmp_path / "bad", rows)), "bad labels")
    photo_import = wait_until_ended(photo_import)
    assert photo_import.status == "failed"
    assert photo_import.error.startswith("my_faces/labels.csv row 7: unknown label 'Meh'")
    assert not Dataset.objects.filter(name="bad labels").exists()
    assert not list((inference_stack.media / "datasets").glob("bad-labels-*"))


def test_a_set_marked_in_the_admin_gets_every_run_scored_by_the_worker(staff_client, tmp_path, noise_dataset,
                                                                       tiny_model_path, inference_stack):
    experiment = make_experiment(noise_dataset)
    run = TrainingRun.objects.create(experiment=experiment, config=experiment.config, status="succeeded")
    run.out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_model_path, run.out_dir / "best.pt")
    run.checkpoint = f"{run.out_dir_name}/best.pt"
    run.save()
    photo_import = wait_until_ended(upload_zip(staff_client, zip_of(class_folders(tmp_path / "faces", per_class=5)),
                                               "street faces"))
    dataset = photo_import.dataset

    staff_client.post(f"/admin/emotions/dataset/{dataset.pk}/change/", {"is_evaluation_set": "on"})
    evaluation = wait_for(lambda: RunEvaluation.objects.filter(run=run, dataset=dataset, status="done").first(), 60,
                          "the worker to score the run on the evaluation set")
    assert evaluation.metrics["num_samples"] == dataset.num_images("private_test") == 7
    page = staff_client.get("/experiments/").content.decode()
    assert "street faces acc." in page
