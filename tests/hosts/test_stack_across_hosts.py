"""The stack spread over separate hosts, as deploy/README.md sets it up, and what a user sees when one of
them goes away: a training host cut off mid-run, the CPU host gone, the broker out of the web host's
reach, the database restarting, a host whose clock is wrong.

The tests run in file order on one stack and build on each other's records (the trained run is
deployed, then served), as a day of use would."""
from __future__ import annotations

import hashlib
import io
import re
import threading
import time

import pytest
from hosts_support import SITE, Browser, celery_control, post_photo, wait_for

pytestmark = [pytest.mark.hosts, pytest.mark.timeout(1200)]

TRAINING = "/admin/emotions/trainingrun/"
EXPERIMENTS = "/admin/emotions/experiment/"
state: dict = {}  # what one test leaves for the next


# Helpers ------------------------------------------------------------------------------------------------
def tiny_config_text(**changes) -> str:
    """The cnn3 preset cut down to about a second an epoch on the noise dataset, as typed into the admin."""
    from emotions.training import configs

    config = configs.load_preset("seed002_cnn3")
    config.update(epochs=2, batch_size=32, limit=300, device="cpu", num_workers=0, deterministic=False,
                  early_stopping_patience=None)
    config.update(changes)
    return configs.to_text(configs.resolve(config))


def add_experiment(site, name: str, **changes) -> int:
    dataset_id = site.sql.one("SELECT id FROM emotions_dataset WHERE name = 'noise'")[0]
    response = site.staff.admin_form(f"{EXPERIMENTS}add/", {
        "name": name, "description": "", "dataset": str(dataset_id), "preset": "", "config": tiny_config_text(**changes),
        "_save": "Save",
    })
    assert response.status_code == 302, response.text[:3000]
    return site.sql.one("SELECT id FROM emotions_experiment WHERE name = %s", name)[0]


def launch(site, experiment_id: int) -> tuple[int, list[str]]:
    said = site.staff.admin_action(EXPERIMENTS, "launch_training", [experiment_id])
    run_id = site.sql.one("SELECT max(id) FROM emotions_trainingrun WHERE experiment_id = %s", experiment_id)[0]
    return run_id, said


RUN_COLUMNS = ("status", "worker", "epoch", "error", "stop_reason", "checkpoint", "queue_error", "sent_at",
               "heartbeat_at", "finished_at", "best_epoch", "log_file")


def run_row(site, run_id: int) -> dict:
    row = site.sql.one(f"SELECT {', '.join(RUN_COLUMNS)} FROM emotions_trainingrun WHERE id = %s", run_id)
    return dict(zip(RUN_COLUMNS, row))


def wait_for_run(site, run_id: int, condition, timeout: float, what: str) -> dict:
    seen = {}

    def check():
        seen.update(run_row(site, run_id))
        return condition(seen)

    wait_for(check, timeout, lambda: f"{what}: run {run_id} is {seen}\n{run_log(site, run_id)[-3000:]}", interval=0.3)
    return dict(seen)


def run_log(site, run_id: int) -> str:
    path = site.shared / "runs" / str(run_id) / "train.log"
    return path.read_text(errors="replace") if path.exists() else ""


def epoch_metrics(site, run_id: int) -> list[int]:
    return [row[0] for row in site.sql.rows("SELECT epoch FROM emotions_epochmetric WHERE run_id = %s ORDER BY epoch", run_id)]


def upload_row(site, upload_id: str) -> dict:
    columns = ("status", "predicted_by", "claimed_by", "model", "finished_at", "error")
    row = site.sql.one(f"SELECT {', '.join(columns)} FROM emotions_upload WHERE id = %s", upload_id)
    return dict(zip(columns, row))


def send_photo(site, photo: bytes, *, wait: bool = True, timeout: float = 90):
    return post_photo(site.client, site.web_base, SITE, photo, wait=wait, timeout=timeout)


def predicted(site, photo: bytes, timeout: float = 90) -> dict:
    status, body, seconds, text = send_photo(site, photo, timeout=timeout).result(timeout + 30)
    assert status == 201 and body["status"] == "done", (status, text)
    return body


def pin_training_to(site, host: str) -> None:
    """Only `host`'s training worker takes runs from the queue (the other stops consuming it for now)."""
    other = "gpu2" if host == "gpu1" else "gpu1"
    celery_control(site.client, site.redis.url(), "cancel_consumer", queue="training",
                   destination=[f"training-gpu0@{other}"])


def unpin_training(site) -> None:
    for host in ("gpu1", "gpu2"):
        celery_control(site.client, site.redis.url(), "add_consumer", queue="training",
                       destination=[f"training-gpu0@{host}"])


# Photos ------------------------------------------------------------------------------------------------
def test_a_photo_uploaded_to_web_is_predicted_by_the_cpu_hosts_worker(site, photo):
    body = predicted(site, photo)
    assert body["predicted_by"] == "worker" and body["model"] == "shipped" and len(body["faces"]) == 1
    assert upload_row(site, body["id"])["claimed_by"] == "inference@cpu"
    again = Browser(site.client, site.network.address("web"), SITE).get(f"/api/predictions/{body['id']}/")
    assert again.status_code == 200 and again.json()["status"] == "done"

    visitor = Browser(site.client, site.network.address("web"), SITE)
    form = visitor.get("/upload/")
    assert form.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
    response = visitor.post("/upload/", data={"csrfmiddlewaretoken": token},
                            files={"images": ("portrait.jpg", photo, "image/jpeg")})
    assert response.status_code == 302, response.text[:2000]
    page = response.headers["Location"]
    status = wait_for(lambda: (s := visitor.get(page + "status.json").json())["status"] == "done" and s, 90,
                      "the page's upload to be predicted")
    assert status["predicted_by"] == "worker"
    assert upload_row(site, status["id"])["claimed_by"] == "inference@cpu"
    shown = visitor.get(page)
    assert shown.status_code == 200 and "face-1" in shown.text
    assert visitor.get(page + "annotated.jpg").status_code == 200


# Training ------------------------------------------------------------------------------------------------
def test_a_run_launched_from_the_admin_trains_on_a_gpu_host_and_shows_on_web(site):
    experiment = add_experiment(site, "tiny on the hosts", epochs=6)
    run_id, said = launch(site, experiment)
    assert said == [f"Run #{run_id} of tiny on the hosts is queued for training."]

    # Its curves on web while a GPU host trains it.
    def curves_while_running():
        row = run_row(site, run_id)
        if row["status"] != "running":
            return False
        rows = site.staff.get(f"/runs/{run_id}/epochs.csv").text.strip().splitlines()[1:]
        return len(rows) >= 1 and row["status"] == "running" and rows

    wait_for(curves_while_running, 120, lambda: f"an epoch on the run's page while it trains ({run_row(site, run_id)})",
             interval=0.2)
    curves = site.staff.get(f"/runs/{run_id}/curves.json")
    assert curves.status_code == 200 and curves.json()
    assert site.staff.get(f"/runs/{run_id}/").status_code == 200

    row = wait_for_run(site, run_id, lambda r: r["status"] not in ("queued", "running"), 180, "the run to finish")
    assert row["status"] == "succeeded", row
    assert row["worker"] in ("training-gpu0@gpu1", "training-gpu0@gpu2")
    assert row["checkpoint"] == f"runs/{run_id}/best.pt"  # relative to MEDIA_ROOT, wherever a host mounts it
    assert epoch_metrics(site, run_id) == [1, 2, 3, 4, 5, 6]

    download = site.staff.get(f"/runs/{run_id}/checkpoint.pt")
    assert download.status_code == 200
    stored = (site.shared / row["checkpoint"]).read_bytes()
    assert hashlib.sha256(download.content).digest() == hashlib.sha256(stored).digest()
    import torch

    checkpoint = torch.load(io.BytesIO(download.content), weights_only=True)
    assert checkpoint["model"]["name"] == "cnn3"
    state["trained_run"] = run_id


def test_deploying_the_run_makes_the_cpu_hosts_worker_serve_it(site, photo):
    run_id = state["trained_run"]
    said = site.staff.admin_action(TRAINING, "deploy_model", [run_id])
    assert said == [f"Run #{run_id} is now the deployed model."]
    body = predicted(site, photo)
    assert body["predicted_by"] == "worker" and body["model"] == f"run {run_id}"
    assert upload_row(site, body["id"])["claimed_by"] == "inference@cpu"
