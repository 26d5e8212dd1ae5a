"""The stack spread over separate hosts, as deploy/README.md sets it up, and what a user sees when one of
them goes away: a training host cut off mid-run, the CPU host gone, the broker out of the web host's
reach, the database restarting, a host whose clock is wrong.

The tests run in file order on one stack and build on each other's records (the trained run is
deployed, then served), as a day of use would."""
from __future__ import annotations

import hashlib
import io
import os
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
    """The cnn3 recipe on a ferlite of width 8 and 96 faces a split: about a second an epoch, as typed into
    the admin."""
    from emotions.training import configs

    config = configs.load_preset("seed002_cnn3")
    config.update(epochs=2, batch_size=32, limit=96, device="cpu", num_workers=0, deterministic=False,
                  early_stopping_patience=None, model={"name": "ferlite", "options": {"width": 8}})
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
    return post_photo(site.client, site.web_base, photo, wait=wait, timeout=timeout)


def predicted(site, photo: bytes, timeout: float = 120) -> dict:
    status, body, seconds, text = send_photo(site, photo, timeout=timeout).result(timeout + 30)
    assert status == 201 and body["status"] == "done", (status, text)
    return body


def pin_training_to(site, host: str) -> str:
    """Only `host`'s training worker takes runs from the queue: the other (returned) stops consuming it."""
    other = "gpu2" if host == "gpu1" else "gpu1"
    celery_control(site.client, site.redis.url(), "cancel_consumer", queue="training",
                   destination=[f"training-gpu0@{other}"])
    return other


def unpin_training(site, other: str) -> None:
    celery_control(site.client, site.redis.url(), "add_consumer", queue="training",
                   destination=[f"training-gpu0@{other}"])


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
    experiment = add_experiment(site, "tiny on the hosts", epochs=10)
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
    assert epoch_metrics(site, run_id) == list(range(1, 11))

    download = site.staff.get(f"/runs/{run_id}/checkpoint.pt")
    assert download.status_code == 200
    stored = (site.shared / row["checkpoint"]).read_bytes()
    assert hashlib.sha256(download.content).digest() == hashlib.sha256(stored).digest()
    import torch

    checkpoint = torch.load(io.BytesIO(download.content), weights_only=True)
    assert checkpoint["model"]["name"] == "ferlite"
    state["trained_run"] = run_id


def test_deploying_the_run_makes_the_cpu_hosts_worker_serve_it(site, photo):
    run_id = state["trained_run"]
    said = site.staff.admin_action(TRAINING, "deploy_model", [run_id])
    assert said == [f"Run #{run_id} is now the deployed model."]
    body = predicted(site, photo)
    assert body["predicted_by"] == "worker" and body["model"] == f"run {run_id}"
    assert upload_row(site, body["id"])["claimed_by"] == "inference@cpu"


# Faults ------------------------------------------------------------------------------------------------
def run_files(site, run_id: int) -> dict[str, tuple[float, int]]:
    folder = site.shared / "runs" / str(run_id)
    return {path.name: (path.stat().st_mtime, path.stat().st_size) for path in folder.iterdir() if path.is_file()}


def epochs_lasting(site, seconds: float) -> int:
    """About `seconds` of training, by the epochs this machine trained last (a busy machine is 10x slower)."""
    measured = site.sql.one("SELECT avg(seconds) FROM emotions_epochmetric")[0] or 1.0
    return int(min(40, max(6, seconds / measured)))


def test_a_training_host_cut_off_mid_run_loses_it_to_the_sweep_and_the_run_resumes_on_the_other(site):
    epochs = epochs_lasting(site, 8)
    experiment = add_experiment(site, "long on the hosts", epochs=epochs)
    other = pin_training_to(site, "gpu1")
    try:
        run_id, _ = launch(site, experiment)
        wait_for_run(site, run_id, lambda r: r["status"] == "running" and r["epoch"] >= 1, 120, "gpu1 to train an epoch")
        site.network.cut("gpu1")  # its worker goes on running, unaware
        cut_at = time.time()
    finally:
        unpin_training(site, other)  # gpu2 takes runs again
    assert run_row(site, run_id)["worker"] == "training-gpu0@gpu1"
    lost = wait_for_run(site, run_id, lambda r: r["status"] != "running", 60, "the sweep to notice gpu1 went silent")
    assert lost["status"] == "failed", lost
    assert "training-gpu0@gpu1 stopped sending heartbeats" in lost["error"], lost["error"]
    assert "can be resumed from its last checkpoint" in lost["error"], lost["error"]
    assert time.time() - cut_at < 40  # TRAINING_STALE_AFTER_SECONDS (12 here) and a sweep
    files_when_lost = run_files(site, run_id)
    metrics_when_lost = epoch_metrics(site, run_id)

    said = site.staff.admin_action(TRAINING, "resume_runs", [run_id])
    resumed = site.sql.one("SELECT id FROM emotions_trainingrun WHERE resumed_from_id = %s", run_id)[0]
    assert said == [f"Run #{resumed} resumes run #{run_id}."]
    wait_for_run(site, resumed, lambda r: r["status"] == "running" and r["epoch"] > lost["epoch"], 120,
                 "the resumed run to train on gpu2")
    assert run_row(site, resumed)["worker"] == "training-gpu0@gpu2"

    site.network.reconnect("gpu1")  # while gpu2 trains the run on
    done = wait_for_run(site, resumed, lambda r: r["status"] not in ("queued", "running"), 240, "the resumed run to finish")
    assert done["status"] == "succeeded", done
    # From gpu1's last checkpoint, which may be an epoch ahead of the row: gpu1 saved it, then could not
    # record the epoch before its lease ran out.
    resuming = re.search(r"resuming from (\S+)/runs/\d+/last.pt at epoch (\d+)", run_log(site, resumed))
    assert resuming[1] == str(site.hosts["gpu2"].media)  # gpu2's own mount of the shared folder
    resumed_at = int(resuming[2])
    assert resumed_at in (lost["epoch"] + 1, lost["epoch"] + 2)
    assert epoch_metrics(site, resumed) == list(range(resumed_at, epochs + 1))
    # gpu1's worker, back on the network, has let the run go without another word to it.
    gpu1 = site.service("gpu1 training")
    assert f"run {run_id} let go: no heartbeat reached the database" in gpu1.log_text()
    task_id = site.sql.one("SELECT task_id FROM emotions_trainingrun WHERE id = %s", run_id)[0]
    wait_for(lambda: re.search(rf"Task emotions.train_run\[{task_id}\] (succeeded|raised)", gpu1.log_text()), 120,
             lambda: f"gpu1's worker to end the task it lost:\n{gpu1.last_output()}")
    assert run_row(site, run_id) == lost
    assert epoch_metrics(site, run_id) == metrics_when_lost
    assert run_files(site, run_id) == files_when_lost
    assert "training-gpu0@gpu1" not in run_log(site, resumed)


def upload_files(site, upload_id: str) -> dict[str, float]:
    folder = site.shared / "uploads" / upload_id
    return {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}


def inference_queue_drained(site) -> bool:
    def lengths():
        import redis

        client = redis.Redis.from_url(site.redis.url(), socket_timeout=5)
        try:
            return client.llen("inference"), client.zcard("unacked_index")
        finally:
            client.close()

    return site.client.run(lengths) == (0, 0)


def test_uploads_are_answered_while_the_cpu_host_is_away_and_none_is_lost_or_predicted_twice(site, photo):
    site.network.cut("cpu")
    try:
        waited = [send_photo(site, photo) for _ in range(3)]
        left = [send_photo(site, photo, wait=False) for _ in range(2)]  # sent, and nobody looks
        answered = [future.result(150) for future in waited]
        for status, body, seconds, text in answered:
            assert status == 201 and body["status"] == "done", text
            assert body["predicted_by"] == "web"  # no heartbeat from cpu reached the broker: web answered
        queued = [future.result(150) for future in left]
        assert all(status == 202 and body["status"] == "pending" for status, body, _, _ in queued), queued
    finally:
        site.network.reconnect("cpu")
    files = {body["id"]: upload_files(site, body["id"]) for _, body, _, _ in answered}
    rows = {body["id"]: upload_row(site, body["id"]) for _, body, _, _ in answered}

    # The two nobody waited for are still in the queue, and cpu's worker predicts them once it is back.
    for _, body, _, _ in queued:
        wait_for(lambda: upload_row(site, body["id"])["status"] == "done", 120,
                 lambda: f"upload {body['id']} to be predicted once cpu is back: {upload_row(site, body['id'])}")
        assert upload_row(site, body["id"])["predicted_by"] == "worker"
    # The messages of the three web answered are delivered too, and do nothing.
    wait_for(lambda: inference_queue_drained(site), 60, "cpu's worker to empty the inference queue")
    for upload_id in rows:
        assert upload_row(site, upload_id) == rows[upload_id]
        assert upload_files(site, upload_id) == files[upload_id]
    assert predicted(site, photo)["predicted_by"] == "worker"


def test_uploads_are_answered_while_the_broker_is_out_of_webs_reach_and_a_run_launched_meanwhile_is_sent(site, photo):
    experiment = add_experiment(site, "launched in a partition", epochs=2)
    site.network.partition("web", "broker")
    started = time.monotonic()
    try:
        waited = [send_photo(site, photo) for _ in range(2)]
        run_id, said = launch(site, experiment)
        answered = [future.result(150) for future in waited]
        # Answered without the broker: before the network heals (after 10 s, or once all have answered).
        time.sleep(max(0.0, 10 - (time.monotonic() - started)))
    finally:
        site.network.heal("web", "broker")
    assert said == [f"Run #{run_id} of launched in a partition is saved, but the queue is unreachable (is Redis "
                    "running?). It will be sent when the queue is back; 'Send again' on the runs list retries now."]
    # Answered by web itself, or by cpu's worker: the sweep there reaches the broker and sends it again.
    for status, body, seconds, text in answered:
        assert status == 201 and body["status"] == "done", text
    row = wait_for_run(site, run_id, lambda r: r["status"] not in ("queued", "running"), 180, "the run to be sent and trained")
    assert row["status"] == "succeeded" and row["sent_at"] is not None and row["queue_error"] == "", row
    assert predicted(site, photo)["predicted_by"] == "worker"


def test_a_database_restart_under_a_stream_of_uploads_answers_503_and_loses_nothing(site, photo):
    uploads, pages, stop = [], [], threading.Event()

    def upload_stream():
        while not stop.is_set():
            uploads.append(send_photo(site, photo, timeout=60).result(120))

    def page_stream():
        browser = Browser(site.client, site.network.address("web"), SITE)
        while not stop.is_set():
            response = browser.get("/upload/", timeout=30)
            pages.append((response.status_code, response.headers.get("Content-Type", ""), response.text))
            time.sleep(0.3)

    streams = [threading.Thread(target=upload_stream), threading.Thread(target=page_stream)]
    for thread in streams:
        thread.start()
    try:
        time.sleep(3)
        site.db.stop()
        stopped = len(uploads), len(pages)
        time.sleep(6)
        during = len(uploads), len(pages)
        site.db.start()
        site.watchdog.track(site.db.child.pid)
        site.db.wait_until_ready()
        time.sleep(6)
    finally:
        stop.set()
        for thread in streams:
            thread.join(150)

    statuses = sorted({status for status, _, _, _ in uploads} | {status for status, _, _ in pages})
    assert set(statuses) <= {200, 201, 202, 503}, [text for status, _, _, text in uploads if status not in (201, 202, 503)]
    refused = [body for status, body, _, _ in uploads if status == 503]
    pages_refused = [(kind, text) for status, kind, text in pages if status == 503]
    assert refused or pages_refused, f"nothing reached web while the database was down: {stopped} {during}"
    for body in refused:
        assert body and "database" in body["error"], body
    for kind, text in pages_refused:
        assert kind.startswith("text/html") and "Traceback" not in text and "database" in text, text[:500]
    accepted = [body["id"] for status, body, _, _ in uploads if status in (201, 202)]
    assert accepted
    for upload_id in accepted:
        wait_for(lambda: upload_row(site, upload_id)["status"] == "done", 120,
                 lambda: f"upload {upload_id} accepted around the restart to be predicted: {upload_row(site, upload_id)}")
    # The workers found the database again by themselves.
    assert predicted(site, photo)["predicted_by"] == "worker"


def test_a_host_whose_clock_is_minutes_off_is_judged_by_the_databases_clock(site):
    if not site.clock_skewed:
        message = "needs faketime (Debian's faketime package; `make test` installs it) to put gpu2's clock off"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    experiment = add_experiment(site, "on the host with the wrong clock", epochs=epochs_lasting(site, 8))
    other = pin_training_to(site, "gpu2")
    try:
        run_id, _ = launch(site, experiment)
        wait_for_run(site, run_id, lambda r: r["status"] == "running" and r["epoch"] >= 1, 120, "gpu2 to train an epoch")
    finally:
        unpin_training(site, other)
    assert run_row(site, run_id)["worker"] == "training-gpu0@gpu2"

    # gpu2 stamps its own log with its own clock, five minutes behind the database's.
    started_at = site.sql.one("SELECT started_at FROM emotions_trainingrun WHERE id = %s", run_id)[0]
    logged = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ", run_log(site, run_id))[1]
    from datetime import datetime, timezone

    behind = (started_at - datetime.strptime(logged, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)).total_seconds()
    assert 240 < behind < 360, behind
    # Its heartbeats carry the database's time, so the sweep (every second, on cpu) sees them fresh.
    for _ in range(4):
        age, status = site.sql.one(
            "SELECT extract(epoch FROM now() - heartbeat_at), status FROM emotions_trainingrun WHERE id = %s", run_id)
        if status != "running":
            break
        assert age < 6, f"gpu2's heartbeat is {age:.0f}s old by the database's clock"
        time.sleep(1)
    row = wait_for_run(site, run_id, lambda r: r["status"] not in ("queued", "running"), 180, "the run to finish")
    assert row["status"] == "succeeded", row
