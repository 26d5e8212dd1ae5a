"""Fixtures for the dashboard tests: a dataset of noise faces, and runs with known test metrics and epochs.
(The logged-in member who looks at them, `member_client`, is tests/emotions/conftest.py's.)"""
from __future__ import annotations

import pytest
from dashboards_test_support import CONFUSION, add_epochs, make_face_store, make_run, metrics_from_confusion
from emotions_test_support import dataset_for, make_experiment


@pytest.fixture
def face_dataset(db, _media_in_tmp):
    """Noise faces, three of each class in each split (63 per split)."""
    return dataset_for(make_face_store(), "faces")


@pytest.fixture
def ferlite_experiment(face_dataset):
    return make_experiment(face_dataset, name="ferlite tiny", model={"name": "ferlite", "options": {"width": 8}},
                           limit=None, epochs=5)


@pytest.fixture
def succeeded_run(ferlite_experiment):
    """Five epochs of 10 s; PublicTest and PrivateTest scored from the known confusion matrix."""
    metrics = metrics_from_confusion(CONFUSION)
    run = make_run(ferlite_experiment, epoch=5, best_epoch=4, public_test_metrics=metrics,
                   private_test_metrics=metrics)
    add_epochs(run, 5, best=4)
    return run


@pytest.fixture
def ferplus_dataset(db, _media_in_tmp, fer2013_store):
    """Real FER2013 faces with their real FER+ votes: 300 of each split."""
    return dataset_for(fer2013_store.subsample(300, seed=0), "fer2013-ferplus")
