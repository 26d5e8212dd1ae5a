"""Every succeeded run scored on real photos: a photo dataset marked an evaluation set (in the admin, or at its
import) has every succeeded run with a checkpoint, the shipped model's recorded run included, scored on its
held-out split by a task, as does every run that succeeds later. One RunEvaluation per pair; the task takes
ids and does nothing the second time."""
from datetime import timedelta

import pytest
from django.db.models.functions import Now
from django.utils import timezone
from emotions_test_support import dataset_for, make_experiment, make_noise_store, save_tiny_checkpoint, succeeded_run

from emotions.models import Dataset, RunEvaluation, TrainingRun
from emotions.photo_sets import evaluations
from emotions.photo_sets.tasks import evaluate_run_on_set, sweep_photo_sets
from emotions.training import imports
from ml.evaluate import evaluate_checkpoint

pytestmark = pytest.mark.django_db

TASK = "emotions.evaluate_run_on_set"


@pytest.fixture
def photo_set(db, _media_in_tmp) -> Dataset:
    store = make_noise_store(per_split=14, seed=3)
    dataset = dataset_for(store, "office photos")
    Dataset.objects.filter(pk=dataset.pk).update(kind="photos")
    return Dataset.objects.get(pk=dataset.pk)


@pytest.fixture
def checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("weights") / "tiny.pt")


@pytest.fixture
def runs(noise_dataset, checkpoint):
    experiment = make_experiment(noise_dataset)
    return {
        "first": succeeded_run(experiment, checkpoint),
        "second": succeeded_run(experiment, checkpoint),
        "failed": TrainingRun.objects.create(experiment=experiment, config=experiment.config, status="failed"),
        "no weights": TrainingRun.objects.create(experiment=experiment, config=experiment.config, status="succeeded"),
    }


def test_marking_a_set_in_the_admin_queues_every_succeeded_run_with_a_checkpoint(
    staff_client, photo_set, runs, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/emotions/dataset/{photo_set.pk}/change/", {"is_evaluation_set": "on"})
    assert response.status_code == 302
    assert Dataset.objects.get(pk=photo_set.pk).is_evaluation_set
    assert sorted(sent.of(TASK)) == [[runs["first"].pk, photo_set.pk], [runs["second"].pk, photo_set.pk]]
    assert RunEvaluation.objects.filter(status="queued", sent_at__isnull=False).count() == 2


def test_the_task_scores_the_run_on_the_sets_held_out_split(photo_set, runs, checkpoint):
    evaluations.set_evaluation_set(photo_set, True)
    run = runs["first"]
    evaluate_run_on_set(run.pk, photo_set.pk)

    evaluation = RunEvaluation.objects.get(run=run, dataset=photo_set)
    assert evaluation.status == "done" and evaluation.finished_at
    expected = evaluate_checkpoint(checkpoint, photo_set.load_store(), "private_test", device="cpu")
    assert evaluation.metrics["split"] == "private_test" and evaluation.metrics["num_samples"] == 14
    assert evaluation.metrics["accuracy"] == expected["accuracy"]
    assert evaluation.metrics["confusion_matrix"] == expected["confusion_matrix"]


def test_the_task_is_idempotent_and_ignores_what_it_cannot_score(photo_set, runs, noise_dataset, monkeypatch):
    evaluations.set_evaluation_set(photo_set, True)
    evaluate_run_on_set(runs["first"].pk, photo_set.pk)
    scored = RunEvaluation.objects.get(run=runs["first"]).finished_at
    monkeypatch.setattr("ml.evaluate.evaluate_checkpoint", lambda *a, **k: pytest.fail("scored twice"))
    evaluate_run_on_set(runs["first"].pk, photo_set.pk)  # a duplicate delivery
    assert RunEvaluation.objects.get(run=runs["first"]).finished_at == scored
    evaluate_run_on_set(runs["failed"].pk, photo_set.pk)
    evaluate_run_on_set(runs["first"].pk, noise_dataset.pk)  # not an evaluation set
    evaluate_run_on_set(123456, photo_set.pk)
    assert RunEvaluation.objects.count() == 2  # the two queued at marking, one of them scored


def test_a_run_that_cannot_be_scored_on_the_set_records_why(photo_set, noise_dataset, monkeypatch):
    experiment = make_experiment(noise_dataset)
    run = TrainingRun.objects.create(experiment=experiment, config=experiment.config, status="succeeded",
                                     checkpoint="runs/missing/best.pt")
    evaluations.set_evaluation_set(photo_set, True)
    evaluate_run_on_set(run.pk, photo_set.pk)
    evaluation = RunEvaluation.objects.get()
    assert evaluation.status == "failed" and "checkpoint not found" in evaluation.error


def test_only_a_photo_dataset_can_be_an_evaluation_set(staff_client, noise_dataset):
    response = staff_client.post(f"/admin/emotions/dataset/{noise_dataset.pk}/change/", {"is_evaluation_set": "on"})
    assert response.status_code == 200
    assert "Only a photo dataset can be an evaluation set." in response.content.decode()
    response = staff_client.post("/admin/emotions/dataset/", {"action": "mark_evaluation_sets",
                                                             "_selected_action": [noise_dataset.pk]})
    assert [str(m) for m in response.wsgi_request._messages] == [
        "noise is not a photo dataset: only photo datasets can be evaluation sets."]
    assert not Dataset.objects.get(pk=noise_dataset.pk).is_evaluation_set


def test_the_admin_action_marks_and_unmarks_sets(staff_client, photo_set, runs, sent,
                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post("/admin/emotions/dataset/", {"action": "mark_evaluation_sets",
                                                      "_selected_action": [photo_set.pk]})
    assert Dataset.objects.get(pk=photo_set.pk).is_evaluation_set and len(sent.of(TASK)) == 2
    staff_client.post("/admin/emotions/dataset/", {"action": "unmark_evaluation_sets",
                                                  "_selected_action": [photo_set.pk]})
    assert not Dataset.objects.get(pk=photo_set.pk).is_evaluation_set


def test_a_run_that_succeeds_later_is_queued_for_every_set(photo_set, noise_dataset, checkpoint, sent,
                                                           django_capture_on_commit_callbacks):
    evaluations.set_evaluation_set(photo_set, True)
    run = succeeded_run(make_experiment(noise_dataset, name="later"), checkpoint)
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluations.evaluate_run_later(run) == 1
    assert sent.of(TASK) == [[run.pk, photo_set.pk]]
    assert evaluations.evaluate_run_later(run) == 0  # queued already


def test_the_shipped_models_recorded_run_is_scored_too(photo_set, noise_dataset, checkpoint, sent, tmp_path,
                                                       django_capture_on_commit_callbacks):
    from ml.train.checkpoint import load_checkpoint, save_checkpoint

    shipped = save_checkpoint({**load_checkpoint(checkpoint), "config": {"name": "tiny shipped", "epochs": 0}},
                              tmp_path / "default.pt")
    evaluations.set_evaluation_set(photo_set, True)
    with django_capture_on_commit_callbacks(execute=True):
        [(recorded, created)] = imports.record_source(shipped, noise_dataset)
    assert created and sent.of(TASK) == [[recorded.pk, photo_set.pk]]
    evaluate_run_on_set(recorded.pk, photo_set.pk)
    assert RunEvaluation.objects.get(run=recorded).status == "done"


def test_the_sweep_queues_pairs_nobody_asked_for_and_sends_lost_ones_again(photo_set, runs, sent):
    Dataset.objects.filter(pk=photo_set.pk).update(is_evaluation_set=True)  # marked without queueing
    result = sweep_photo_sets()
    assert result["evaluations_queued"] == 2
    RunEvaluation.objects.update(sent_at=None, created_at=timezone.now() - timedelta(minutes=5))
    sent.clear()
    assert sweep_photo_sets()["evaluations_sent_again"] == 2 and len(sent.of(TASK)) == 2
    assert RunEvaluation.objects.count() == 2


def test_a_running_score_is_left_alone_by_a_sweeping_host_whose_clock_is_ahead(photo_set, runs, sent, monkeypatch):
    Dataset.objects.filter(pk=photo_set.pk).update(is_evaluation_set=True)
    sweep_photo_sets()
    evaluation = RunEvaluation.objects.first()
    RunEvaluation.objects.filter(pk=evaluation.pk).update(status="running", started_at=Now(), sent_at=Now())
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(seconds=evaluations.RESEND_AFTER_SECONDS + 60))
    sent.clear()
    sweep_photo_sets()  # started and sent by the database's clock, which the sweep reads too
    evaluation.refresh_from_db()
    assert evaluation.status == "running" and [evaluation.run_id, evaluation.dataset_id] not in sent.of(TASK)


def test_a_set_imported_as_an_evaluation_set_queues_every_run(tmp_path, runs, sent, django_capture_on_commit_callbacks):
    from io import StringIO

    from django.core.management import call_command
    from photo_sets_test_support import class_folders

    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_photos", "eval photos", str(class_folders(tmp_path / "faces", per_class=3)),
                     "--evaluation-set", stdout=StringIO())
    dataset = Dataset.objects.get(name="eval photos")
    assert sorted(sent.of(TASK)) == [[runs["first"].pk, dataset.pk], [runs["second"].pk, dataset.pk]]
