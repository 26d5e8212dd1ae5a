"""The real FER2013 archive (FER2013_ZIP) imports with Kaggle's published counts."""
import pytest

from ml.data import import_fer2013

pytestmark = pytest.mark.fer2013


@pytest.fixture(scope="module")
def fresh_import(fer2013_zip):
    # Imported here rather than taken from the cached store, so a broken importer cannot hide behind the cache.
    return import_fer2013(fer2013_zip)


def test_the_splits_have_kaggles_sizes(fresh_import):
    assert fresh_import.report["counts"] == {"train": 28_709, "public_test": 3_589, "private_test": 3_589}
    assert fresh_import.images.shape == (35_887, 48, 48)


def test_the_training_classes_have_kaggles_sizes(fresh_import):
    train = fresh_import.counts()["train"]

    assert train == {
        "Angry": 3_995, "Disgust": 436, "Fear": 4_097, "Happy": 7_215,
        "Sad": 4_830, "Surprise": 3_171, "Neutral": 4_965,
    }


def test_the_faces_are_already_48px_grayscale_so_nothing_is_converted(fresh_import):
    report = fresh_import.report
    assert (report["converted_to_grayscale"], report["resized"], report["val_from_train"]) == (0, 0, False)


def test_the_cached_session_store_matches_a_fresh_import(fresh_import, fer2013_store):
    assert fer2013_store.source_checksum == fresh_import.source_checksum
    assert fer2013_store.counts() == fresh_import.counts()
    assert (fer2013_store.images == fresh_import.images).all()


def test_the_small_store_keeps_at_most_700_per_split_with_every_class(fer2013_small_store):
    counts = fer2013_small_store.counts()

    assert all(sum(per_class.values()) == 700 for per_class in counts.values())
    assert all(n >= 1 for per_class in counts.values() for n in per_class.values())
