"""An experiment trains on several datasets by weight (its own validates and scores), from scratch or from a
succeeded run's model; an ensemble to start from is fine-tuned member by member. Chosen in the admin, frozen
on the run at launch, run by emotions.training.runner as the `training` worker runs it."""

import numpy as np
import pytest
import torch
from emotions_test_support import dataset_for, make_experiment, make_noise_store, save_tiny_checkpoint, succeeded_run

from emotions.models import Correction, Dataset, ExperimentDataset, TrainingRun
from emotions.photo_sets import corrections
from emotions.training import runner, services
from ml.classes import FER_CLASSES
from ml.train.checkpoint import ensemble_payload, load_checkpoint, save_checkpoint

# The heartbeat thread has its own database connection: rows must be committed for it to see them.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def photos_dataset(db, _media_in_tmp) -> Dataset:
    store = make_noise_store(per_split=14, seed=7)
    store.source_checksum = "my-photos"
    dataset = dataset_for(store, "my photos")
    Dataset.objects.filter(pk=dataset.pk).update(kind="photos")
    return Dataset.objects.get(pk=dataset.pk)


def launch(experiment) -> TrainingRun:
    return services.launch_training(experiment, send=False)


def test_a_run_trains_on_each_dataset_by_weight_and_is_scored_on_the_first(noise_dataset, photos_dataset):
    experiment = make_experiment(noise_dataset, name="two datasets", epochs=1, limit=None, samples_per_epoch=64)
    experiment.dataset_weight = 1
    experiment.save()
    ExperimentDataset.objects.create(experiment=experiment, dataset=photos_dataset, weight=3)

    run = launch(experiment)
    assert run.training_data == [{"dataset": noise_dataset.pk, "weight": 1.0}, {"dataset": photos_dataset.pk, "weight": 3.0}]
    assert run.config["data_weights"] == [1.0, 3.0]
    ExperimentDataset.objects.all().delete()  # what runs is what was launched
    finished = runner.execute_run(run.pk, worker="training@here")

    assert finished.status == "succeeded", finished.error
    checkpoint = load_checkpoint(finished.checkpoint.path)
    assert checkpoint["data_checksums"] == [noise_dataset.source_checksum, "my-photos"]
    assert finished.private_test_metrics["num_samples"] == 14  # the first dataset's PrivateTest
    assert f"dataset 'my photos': 42 faces, weight 3" in finished.log_tail()


def test_a_run_starts_from_a_succeeded_runs_model(noise_dataset, tmp_path):
    start = succeeded_run(make_experiment(noise_dataset, name="trained before"),
                               save_tiny_checkpoint(tmp_path / "before.pt"))
    experiment = make_experiment(noise_dataset, name="fine-tuned", epochs=1)
    experiment.start_from = start
    experiment.save()

    run = launch(experiment)
    assert run.start_from == start and run.config["init_from"] == f"runs/{start.pk}/best.pt"
    finished = runner.execute_run(run.pk, worker="training@here")

    assert finished.status == "succeeded", finished.error
    assert f"starting from {start.out_dir / 'best.pt'}" in finished.log_tail()
    assert load_checkpoint(finished.checkpoint.path)["model"]["name"] == "ferlite"  # the start's architecture


def test_an_ensemble_to_start_from_is_fine_tuned_member_by_member_and_rebuilt(noise_dataset, tmp_path):
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append(load_checkpoint(save_tiny_checkpoint(tmp_path / f"member{seed}.pt")))
    ensemble = save_checkpoint(ensemble_payload(members, config={"name": "tiny ensemble"}), tmp_path / "ensemble.pt")
    start = succeeded_run(make_experiment(noise_dataset, name="ensemble"), ensemble)
    experiment = make_experiment(noise_dataset, name="ensemble fine-tuned", epochs=1)
    experiment.start_from = start
    experiment.save()

    finished = runner.execute_run(launch(experiment).pk, worker="training@here")
    assert finished.status == "succeeded", finished.error
    rebuilt = load_checkpoint(finished.checkpoint.path)
    assert rebuilt["model"]["name"] == "ensemble" and len(rebuilt["members"]) == 2
    assert finished.checkpoint.name == f"runs/{finished.pk}/best.pt"
    assert "member 2 of 2" in finished.log_tail()
    assert finished.private_test_metrics["num_samples"] == 14
    # The run page's curves: every member's epochs, numbered on.
    assert list(finished.epoch_metrics.order_by("epoch").values_list("epoch", flat=True)) == [1, 2]
    assert (finished.epoch, finished.epochs) == (2, 2)


def test_a_cancelled_ensemble_fine_tune_resumes_member_by_member(noise_dataset, tmp_path, monkeypatch):
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append(load_checkpoint(save_tiny_checkpoint(tmp_path / f"member{seed}.pt")))
    ensemble = save_checkpoint(ensemble_payload(members, config={"name": "tiny ensemble"}), tmp_path / "ensemble.pt")
    experiment = make_experiment(noise_dataset, name="ensemble fine-tuned", epochs=2)
    experiment.start_from = succeeded_run(make_experiment(noise_dataset, name="ensemble"), ensemble)
    experiment.save()
    record_epoch = TrainingRun.record_epoch

    def cancel_at_the_second_members_first_epoch(self, result):
        if result.epoch == 3:
            TrainingRun.objects.get(pk=self.pk).mark_cancelled()  # staff click 'Cancel'
        return record_epoch(self, result)

    monkeypatch.setattr(TrainingRun, "record_epoch", cancel_at_the_second_members_first_epoch)
    cancelled = runner.execute_run(launch(experiment).pk, worker="training@here")
    assert cancelled.status == "cancelled" and not cancelled.checkpoint
    assert cancelled.can_resume  # no last.pt of its own: its members' folders

    resumed = runner.execute_run(services.resume_run(cancelled).pk, worker="training@here")
    assert resumed.status == "succeeded", resumed.error
    log = resumed.log_tail()
    assert "member 1 of 2: finished before, kept (2 epochs)" in log
    assert f"member 2 of 2, resumed from {cancelled.out_dir / 'member1' / 'last.pt'}" in log
    rebuilt = load_checkpoint(resumed.checkpoint.path)
    assert rebuilt["model"]["name"] == "ensemble" and len(rebuilt["members"]) == 2
    assert list(resumed.epoch_metrics.values_list("epoch", flat=True)) == [4]  # only the epoch it trained
    assert (resumed.epoch, resumed.epochs) == (4, 4)


def test_the_corrections_train_like_any_other_dataset(noise_dataset, visitor_corrections):
    experiment = make_experiment(noise_dataset, name="with corrections", epochs=1, limit=None)
    ExperimentDataset.objects.create(experiment=experiment, dataset=corrections.corrections_dataset(), weight=1)
    finished = runner.execute_run(launch(experiment).pk, worker="training@here")
    assert finished.status == "succeeded", finished.error
    assert "dataset 'Corrections from uploads': 20 faces, weight 1" in finished.log_tail()


@pytest.fixture
def visitor_corrections(db):
    """Twenty corrections of purged uploads: faces and labels, nothing else."""
    rng = np.random.default_rng(0)
    corrections.corrections_dataset()
    Correction.objects.bulk_create(
        Correction(face_index=0, label=FER_CLASSES[i % 7], face=rng.integers(0, 255, (48, 48), dtype=np.uint8).tobytes())
        for i in range(20)
    )
    return Correction.objects.all()


def test_a_deleted_dataset_fails_the_run_with_its_reason(noise_dataset, photos_dataset):
    experiment = make_experiment(noise_dataset, name="gone", epochs=1)
    ExperimentDataset.objects.create(experiment=experiment, dataset=photos_dataset, weight=1)
    run = launch(experiment)
    ExperimentDataset.objects.all().delete()
    gone = photos_dataset.pk
    photos_dataset.delete()
    finished = runner.execute_run(run.pk, worker="training@here")
    assert finished.status == "failed" and f"#{gone} this run trains on were deleted" in finished.error


# The admin ----------------------------------------------------------------------------------------
def test_staff_choose_the_datasets_weights_and_start_in_the_admin(staff_client, noise_dataset, photos_dataset, tmp_path):
    start = succeeded_run(make_experiment(noise_dataset, name="trained before"),
                               save_tiny_checkpoint(tmp_path / "before.pt"))
    failed = TrainingRun.objects.create(experiment=start.experiment, config=start.config, status="failed")
    page = staff_client.get("/admin/emotions/experiment/add/").content.decode()
    assert f'<option value="{start.pk}">#{start.pk} trained before</option>' in page
    assert f'#{failed.pk} trained before</option>' not in page
    assert "More training data" in page

    response = staff_client.post("/admin/emotions/experiment/add/", {
        "name": "mine", "description": "", "dataset": photos_dataset.pk, "dataset_weight": "3",
        "start_from": start.pk, "preset": "finetune", "config": "",
        "runs-TOTAL_FORMS": "0", "runs-INITIAL_FORMS": "0",
        "extra_datasets-TOTAL_FORMS": "1", "extra_datasets-INITIAL_FORMS": "0",
        "extra_datasets-0-dataset": noise_dataset.pk, "extra_datasets-0-weight": "1", "extra_datasets-0-position": "0",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    experiment = photos_dataset.experiments.get(name="mine")
    assert experiment.training_data() == [{"dataset": photos_dataset.pk, "weight": 3.0},
                                          {"dataset": noise_dataset.pk, "weight": 1.0}]
    run = launch(experiment)
    assert run.config["data_weights"] == [3.0, 1.0] and run.config["init_from"] == f"runs/{start.pk}/best.pt"


def test_a_run_that_cannot_be_started_from_is_refused(staff_client, noise_dataset):
    failed = TrainingRun.objects.create(experiment=make_experiment(noise_dataset, name="failed"), config={},
                                        status="failed")
    response = staff_client.post("/admin/emotions/experiment/add/", {
        "name": "from a failure", "description": "", "dataset": noise_dataset.pk, "start_from": failed.pk,
        "preset": "seed002_cnn3", "config": "", "runs-TOTAL_FORMS": "0", "runs-INITIAL_FORMS": "0",
        "extra_datasets-TOTAL_FORMS": "0", "extra_datasets-INITIAL_FORMS": "0",
    })
    assert response.status_code == 200
    assert "start_from" in response.context["adminform"].form.errors


def test_the_experiments_own_dataset_is_not_added_twice(staff_client, noise_dataset):
    response = staff_client.post("/admin/emotions/experiment/add/", {
        "name": "twice", "description": "", "dataset": noise_dataset.pk, "preset": "seed002_cnn3", "config": "",
        "runs-TOTAL_FORMS": "0", "runs-INITIAL_FORMS": "0",
        "extra_datasets-TOTAL_FORMS": "1", "extra_datasets-INITIAL_FORMS": "0",
        "extra_datasets-0-dataset": noise_dataset.pk, "extra_datasets-0-weight": "1", "extra_datasets-0-position": "0",
    })
    assert response.status_code == 200
    assert "The experiment&#x27;s own dataset trains already" in response.content.decode()
