"""The whole path with real processes: a redis-server and a prefork Celery worker consuming the
`inference` queue, sharing the test database file and MEDIA_ROOT. The model is a
deployed run's checkpoint, which the worker finds through the database as the web process does."""
import shutil

import pytest
from emotions_test_support import wait_for
from uploads_test_support import file

from emotions.models import TrainingRun, Upload

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("media_shared_with_inference_worker"),
]


@pytest.fixture
def deployed_run(experiment, tiny_model_path, settings):
    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 60  # the worker is up: the web process must not step in
    run = TrainingRun.objects.create(experiment=experiment, config=experiment.config, status="succeeded")
    run.out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_model_path, run.out_dir / "best.pt")
    run.checkpoint = f"{run.out_dir_name}/best.pt"
    run.save()
    run.deploy()
    return run


def test_an_api_upload_is_predicted_by_a_worker_on_the_inference_queue(client, deployed_run, astronaut_jpeg,
                                                                       inference_stack):
    response = client.post("/api/predictions/?wait=1", {"image": file("astronaut.jpg", astronaut_jpeg)})
    body = response.json()
    assert response.status_code == 201 and body["status"] == "done", body
    assert body["predicted_by"] == "worker" and body["model"] == f"run {deployed_run.pk}"
    [worker] = inference_stack.running_workers()
    assert "Task emotions.predict_upload[" in worker.log_text()
    # The answer comes as the worker announces the row done, a moment before Celery logs the task's end.
    wait_for(lambda: "succeeded" in worker.log_text(), 10, "the task to be logged as succeeded")
    assert len(body["faces"]) == 1
    upload = Upload.objects.get(pk=body["id"])
    assert upload.annotated and (upload.directory / "face-0.png").is_file()


def test_a_page_upload_shows_processing_until_the_worker_is_done(visitor, deployed_run, coffee_jpeg):
    response = visitor.post("/upload/", {"images": [file("coffee.jpg", coffee_jpeg)]})
    status_url = response["Location"] + "status.json"
    done = wait_for(lambda: visitor.get(status_url).json()["status"] == "done" and visitor.get(status_url).json(),
                    60, "the worker to predict the upload")
    assert done["predicted_by"] == "worker" and done["faces"] == []
    assert "No face found in this photo." in visitor.get(response["Location"]).content.decode()
