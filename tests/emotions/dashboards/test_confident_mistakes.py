"""The most confident mistakes on PrivateTest: the faces the run was scored on, worked out once."""
import math

import numpy as np
import pytest
from dashboards_test_support import make_run, save_checkpoint_for

from emotions.dashboards import mistakes as mistakes_module
from emotions.dashboards.faces import load_store
from emotions.dashboards.mistakes import MistakesUnavailable, confident_mistakes, evaluated_rows
from emotions.models import TrainingRun
from ml.classes import FER_CLASSES

pytestmark = pytest.mark.django_db

ANGRY_CONFIDENCE = math.exp(4) / (math.exp(4) + 6)  # softmax of a logit 4 above six zeros


@pytest.fixture
def always_angry(succeeded_run):
    save_checkpoint_for(succeeded_run, FER_CLASSES, answer=0)
    return succeeded_run


def test_a_model_that_always_says_angry_is_wrong_on_every_other_private_test_face(always_angry, face_dataset):
    found = confident_mistakes(always_angry)
    store = load_store(face_dataset)
    private = np.flatnonzero(store.splits == 2)
    assert (found.evaluated, found.total, len(found.items)) == (21, 18, 18)
    assert {m.index for m in found.items} == {int(i) for i in private if store.labels[i] != 0}
    for mistake in found.items:
        assert mistake.predicted == "Angry"
        assert mistake.true == FER_CLASSES[store.labels[mistake.index]]
        assert mistake.confidence == pytest.approx(ANGRY_CONFIDENCE, abs=1e-4)


def test_mistakes_are_kept_beside_the_checkpoint_and_read_from_there_next_time(always_angry, monkeypatch):
    first = confident_mistakes(always_angry)
    assert (always_angry.out_dir / "mistakes.json").is_file()
    monkeypatch.setattr(mistakes_module, "find_mistakes", lambda *args: pytest.fail("worked out again"))
    assert confident_mistakes(always_angry) == first


def test_a_new_checkpoint_is_worked_out_afresh(always_angry):
    assert confident_mistakes(always_angry).items[0].predicted == "Angry"
    save_checkpoint_for(always_angry, FER_CLASSES, answer=3)
    assert confident_mistakes(always_angry).items[0].predicted == "Happy"


def test_a_model_of_some_classes_is_judged_on_those_classes_only(succeeded_run):
    save_checkpoint_for(succeeded_run, ["Happy", "Sad"], answer=0)
    found = confident_mistakes(succeeded_run)
    assert (found.evaluated, found.total) == (6, 3)
    assert {(m.true, m.predicted) for m in found.items} == {("Sad", "Happy")}


@pytest.mark.parametrize("changes", [{"limit": 7, "seed": 3}, {"limit": 5, "seed": 1, "classes": ["Sad", "Happy"]}])
def test_a_quick_run_is_judged_on_the_sample_it_was_scored_on(ferlite_experiment, face_dataset, changes):
    from ml.train import TrainConfig, prepare_store

    store = load_store(face_dataset)
    config = {**ferlite_experiment.config, **changes}
    scored_on = prepare_store(TrainConfig.from_dict(config), store)
    rows, labels = evaluated_rows(store, config, scored_on.class_names)
    sample_images, sample_labels = scored_on.split("private_test")
    assert len(rows) == len(sample_labels) > 0
    assert np.array_equal(store.images[rows], sample_images) and np.array_equal(labels, sample_labels)


def test_the_mistakes_agree_with_the_runs_private_test_accuracy(ferlite_experiment, face_dataset):
    """Scored as emotions.training.runner scores a run: ml's evaluate_checkpoint on prepare_store's sample."""
    from ml.evaluate import evaluate_checkpoint
    from ml.train import TrainConfig, prepare_store

    config = {**ferlite_experiment.config, "limit": 14, "seed": 5}
    run = make_run(ferlite_experiment, config=config)
    path = save_checkpoint_for(run, FER_CLASSES)
    scored_on = prepare_store(TrainConfig.from_dict(config), load_store(face_dataset))
    scored = evaluate_checkpoint(path, scored_on, split="private_test", device="cpu")
    found = confident_mistakes(run)
    assert found.evaluated == scored["num_samples"]
    assert found.total == round(scored["num_samples"] * (1 - scored["accuracy"]))
    assert [m.confidence for m in found.items] == sorted((m.confidence for m in found.items), reverse=True)


def test_only_a_succeeded_run_with_its_checkpoint_has_mistakes(ferlite_experiment, succeeded_run):
    running = make_run(ferlite_experiment, status=TrainingRun.Status.RUNNING)
    with pytest.raises(MistakesUnavailable, match="succeeded run with a checkpoint"):
        confident_mistakes(running)
    with pytest.raises(MistakesUnavailable, match="succeeded run with a checkpoint"):
        confident_mistakes(succeeded_run)
    succeeded_run.checkpoint = f"{succeeded_run.out_dir_name}/best.pt"
    with pytest.raises(MistakesUnavailable, match="checkpoint file is gone"):
        confident_mistakes(succeeded_run)


def test_the_run_page_grid_shows_each_face_with_its_true_and_predicted_class(member_client, always_angry, face_dataset):
    page = member_client.get(f"/runs/{always_angry.pk}/").content.decode()
    assert f'data-fragment-url="/runs/{always_angry.pk}/mistakes/"' in page
    grid = member_client.get(f"/runs/{always_angry.pk}/mistakes/").content.decode()
    assert "The 18 most confident of 18 mistakes among 21 PrivateTest faces." in grid
    first = confident_mistakes(always_angry).items[0]
    assert f'<img src="/datasets/{face_dataset.pk}/faces/{first.index}.png"' in grid
    assert f"true <b>{first.true}</b>" in grid and "predicted <b>Angry</b> 90%" in grid


def test_the_grid_says_why_it_is_empty(member_client, succeeded_run):
    grid = member_client.get(f"/runs/{succeeded_run.pk}/mistakes/").content.decode()
    assert "Only a succeeded run with a checkpoint has test mistakes to show." in grid
