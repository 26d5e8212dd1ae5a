"""Parties racing on the same rows, on a real database with real concurrent connections (one per thread):
exactly one of them wins every claim, and the one-deployed-run rule holds. `make test` runs these on
SQLite and on PostgreSQL (marked `database`)."""
import threading

import pytest
from django.db import IntegrityError, close_old_connections, connection

from emotions.models import TrainingRun, Upload

pytestmark = [pytest.mark.database, pytest.mark.django_db(transaction=True)]

RACERS = 6


def race(*contenders) -> list:
    """Run the contenders at once, each in its own thread with its own connection; their results."""
    barrier = threading.Barrier(len(contenders))
    results = [None] * len(contenders)

    def run(index, contender):
        try:
            barrier.wait()
            results[index] = contender()
        except Exception as error:  # a result, for the test to look at
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    close_old_connections()
    return results


def new_upload() -> Upload:
    return Upload.objects.create(image="uploads/racing/original", content_type="image/jpeg")


def succeeded_run(experiment, number: int) -> TrainingRun:
    return TrainingRun.objects.create(experiment=experiment, config=experiment.config, status="succeeded",
                                      checkpoint=f"runs/{number}/best.pt")


def test_the_worker_and_the_web_fallback_racing_for_an_upload_claim_it_once():
    upload = new_upload()

    def claim(predicted_by, claimant):
        return lambda: Upload.objects.get(pk=upload.pk).claim(predicted_by, claimant)

    results = race(*[claim("worker", f"inference@{i}") if i % 2 else claim("web", "web") for i in range(RACERS)])
    assert results.count(True) == 1 and results.count(False) == RACERS - 1, results
    upload.refresh_from_db()
    assert upload.status == "processing" and upload.claimed_by in {"web", *(f"inference@{i}" for i in range(RACERS))}


def test_racing_finishers_of_one_claim_finish_it_once():
    upload = new_upload()
    upload.claim("worker", "inference@a")

    def finish(model):
        claimed = Upload.objects.get(pk=upload.pk)
        return lambda: claimed.mark_done(model=model, faces=[], annotated="", width=1, height=1, whole_image=False)

    results = race(*[finish(f"model {i}") for i in range(RACERS)])
    assert results.count(True) == 1, results


def test_workers_racing_for_a_queued_run_claim_it_once(experiment):
    run = TrainingRun.objects.create(experiment=experiment, config=experiment.config, epochs=2)
    results = race(*[lambda i=i: TrainingRun.objects.get(pk=run.pk).mark_running(worker=f"training@{i}")
                     for i in range(RACERS)])
    assert results.count(True) == 1 and results.count(False) == RACERS - 1, results


def test_a_cancel_racing_a_claim_never_leaves_a_cancelled_run_running(experiment):
    for _ in range(5):
        run = TrainingRun.objects.create(experiment=experiment, config=experiment.config, epochs=2)
        race(lambda: TrainingRun.objects.get(pk=run.pk).mark_running(worker="training@a"),
             lambda: TrainingRun.objects.get(pk=run.pk).mark_cancelled())
        run.refresh_from_db()
        assert run.status == "cancelled"  # whoever came first, the cancel stands


def test_the_database_itself_refuses_a_second_deployed_run(experiment):
    first, second = succeeded_run(experiment, 1), succeeded_run(experiment, 2)
    first.deploy()
    with pytest.raises(IntegrityError):
        TrainingRun.objects.filter(pk=second.pk).update(is_deployed=True)


def test_racing_deployments_leave_exactly_one_run_deployed(experiment):
    runs = [succeeded_run(experiment, number) for number in range(RACERS)]
    results = race(*[lambda run=run: run.deploy() for run in runs])
    assert results == [None] * RACERS  # nobody got an error
    assert TrainingRun.objects.filter(is_deployed=True).count() == 1


def test_on_sqlite_a_writer_waits_for_another_instead_of_failing():
    """WAL and a busy timeout: the web process and the workers write the same file."""
    import time

    from django.db import transaction

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's own locking")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 10_000
    upload = new_upload()

    def slow_writer():
        with transaction.atomic():  # IMMEDIATE: takes the write lock at once
            Upload.objects.filter(pk=upload.pk).update(original_name="slow")
            time.sleep(1.0)
        return "slow"

    def quick_writer():
        time.sleep(0.2)  # arrives while the slow one holds the lock
        with transaction.atomic():
            Upload.objects.filter(pk=upload.pk).update(original_name="quick")
        return "quick"

    assert race(slow_writer, quick_writer) == ["slow", "quick"]
    upload.refresh_from_db()
    assert upload.original_name == "quick"
