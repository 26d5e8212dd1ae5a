"""Resuming a run: the new run goes on from the last checkpoint of the one it continues, and its best
checkpoint is the best epoch of the whole line, whichever run saved it."""
import shutil

import pytest

import ml.train
from emotions.models import TrainingRun
from emotions.training import runner

pytestmark = pytest.mark.django_db(transaction=True)  # the heartbeat thread has a connection of its own


def test_a_resumed_run_none_of_whose_epochs_beats_the_best_before_it_keeps_that_epochs_weights(
    experiment, tiny_model_path, monkeypatch
):
    failed = TrainingRun.objects.create(experiment=experiment, config=experiment.config, status="failed", epoch=2,
                                        epochs=4, best_epoch=1)
    failed.out_dir.mkdir(parents=True)
    shutil.copy(tiny_model_path, failed.out_dir / "best.pt")  # epoch 1, the best
    shutil.copy(tiny_model_path, failed.out_dir / "last.pt")  # epoch 2
    resumed = TrainingRun.objects.create(experiment=experiment, config=experiment.config, resumed_from=failed,
                                         epoch=2, epochs=4)

    def no_better_epoch(config, store, out_dir, *, resume_from, **kwargs):
        assert resume_from == failed.last_checkpoint_path
        return ml.train.FitResult(best_checkpoint=None, last_checkpoint=out_dir / "last.pt", best_epoch=1, epochs_run=4,
                                  stop_reason="completed", history=[], device="cpu")

    monkeypatch.setattr(ml.train, "fit", no_better_epoch)
    finished = runner.execute_run(resumed.pk, worker="training@here")

    assert finished.status == "succeeded", finished.error
    assert finished.checkpoint.name == f"runs/{resumed.pk}/best.pt" and finished.best_epoch == 1
    assert (resumed.out_dir / "best.pt").read_bytes() == (failed.out_dir / "best.pt").read_bytes()
    assert finished.private_test_metrics["num_samples"] > 0
