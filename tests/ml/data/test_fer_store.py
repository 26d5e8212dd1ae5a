import os

import numpy as np
import pytest

from ml.classes import FER_CLASSES, SPLITS
from ml.data import DataImportError, FerStore, format_counts


def make_store(rows_per_split_and_class: dict) -> FerStore:
    """{(split, class name): n} -> a store whose every face holds its own row number (mod 256)."""
    labels, splits = [], []
    for (split, name), count in rows_per_split_and_class.items():
        labels += [FER_CLASSES.index(name)] * count
        splits += [SPLITS.index(split)] * count
    images = (np.arange(len(labels)) % 256).astype(np.uint8)[:, None, None] * np.ones((1, 48, 48), np.uint8)
    return FerStore(
        images=images,
        labels=np.array(labels, dtype=np.int64),
        splits=np.array(splits, dtype=np.uint8),
        source_checksum="abc123",
        report={"format": "test", "rows": len(labels)},
    )


@pytest.fixture
def store():
    return make_store({
        ("train", "Happy"): 60, ("train", "Sad"): 30, ("train", "Disgust"): 3,
        ("public_test", "Happy"): 6, ("public_test", "Sad"): 4,
        ("private_test", "Angry"): 5,
    })


def test_split_returns_only_that_splits_images_and_labels(store):
    images, labels = store.split("public_test")

    assert images.shape == (10, 48, 48)
    assert sorted(labels.tolist()) == [FER_CLASSES.index("Happy")] * 6 + [FER_CLASSES.index("Sad")] * 4


def test_an_unknown_split_name_lists_the_valid_ones(store):
    with pytest.raises(ValueError, match="unknown split 'val'; valid splits: train, public_test, private_test"):
        store.split("val")


def test_counts_cover_every_split_and_class_including_zeros(store):
    counts = store.counts()

    assert list(counts) == list(SPLITS)
    assert all(list(per_class) == list(FER_CLASSES) for per_class in counts.values())
    assert counts["train"] == {"Angry": 0, "Disgust": 3, "Fear": 0, "Happy": 60, "Sad": 30, "Surprise": 0, "Neutral": 0}
    assert counts["private_test"]["Angry"] == 5


def test_select_classes_keeps_those_rows_relabelled_in_the_order_given(store):
    selected = store.select_classes(["sad", "HAPPY"])

    assert selected.class_names == ("Sad", "Happy")
    assert len(selected) == 30 + 60 + 4 + 6
    original_names = [FER_CLASSES[label] for label in store.labels if FER_CLASSES[label] in ("Sad", "Happy")]
    assert [selected.class_names[label] for label in selected.labels] == original_names
    assert selected.counts()["train"] == {"Sad": 30, "Happy": 60}
    # Images travel with their labels.
    kept = np.isin(store.labels, [FER_CLASSES.index("Sad"), FER_CLASSES.index("Happy")])
    assert np.array_equal(selected.images, store.images[kept])


def test_select_classes_names_an_unknown_class_and_lists_the_valid_ones(store):
    with pytest.raises(ValueError, match="unknown class 'Contempt'; valid classes: Angry, Disgust, Fear, Happy"):
        store.select_classes(["Happy", "Contempt"])


def test_subsample_is_the_same_for_the_same_seed_and_differs_for_another(store):
    first, again, other = store.subsample(20, seed=1), store.subsample(20, seed=1), store.subsample(20, seed=2)

    assert np.array_equal(first.images, again.images) and np.array_equal(first.labels, again.labels)
    assert not np.array_equal(first.images, other.images)


def test_subsample_keeps_class_proportions_and_every_present_class(store):
    small = store.subsample(20, seed=0).counts()

    # Train has 60 Happy, 30 Sad, 3 Disgust: 20 rows split proportionally, Disgust kept at least once.
    assert small["train"]["Happy"] + small["train"]["Sad"] + small["train"]["Disgust"] == 20
    assert (small["train"]["Happy"], small["train"]["Sad"], small["train"]["Disgust"]) == (13, 6, 1)
    # Splits already under the limit are kept whole.
    assert small["public_test"] == store.counts()["public_test"]
    assert small["private_test"] == store.counts()["private_test"]


def test_subsample_keeps_rows_in_their_original_order(store):
    small = store.subsample(20, seed=0)

    row_numbers = small.images[:, 0, 0].astype(int)
    assert list(row_numbers) == sorted(row_numbers)


def test_save_and_load_round_trip_every_field(store, tmp_path):
    path = store.save(tmp_path / "stores" / "fer.npz")

    loaded = FerStore.load(path)

    assert np.array_equal(loaded.images, store.images) and loaded.images.dtype == np.uint8
    assert np.array_equal(loaded.labels, store.labels) and loaded.labels.dtype == np.int64
    assert np.array_equal(loaded.splits, store.splits) and loaded.splits.dtype == np.uint8
    assert loaded.class_names == store.class_names
    assert loaded.source_checksum == "abc123"
    assert loaded.report == store.report


def test_a_selected_store_round_trips_its_class_names(store, tmp_path):
    selected = store.select_classes(["Sad", "Happy"])

    assert FerStore.load(selected.save(tmp_path / "two.npz")).class_names == ("Sad", "Happy")


def test_a_failed_save_leaves_the_old_store_and_no_temp_file(store, tmp_path, monkeypatch):
    path = store.save(tmp_path / "fer.npz")
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.subsample(5).save(path)

    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["fer.npz"]


def test_a_successful_save_leaves_no_temp_file_and_a_file_others_may_read(store, tmp_path):
    path = store.save(tmp_path / "fer.npz")

    assert os.listdir(tmp_path) == ["fer.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_loading_a_missing_store_names_the_path(tmp_path):
    with pytest.raises(DataImportError, match="nowhere.npz: no store file here"):
        FerStore.load(tmp_path / "nowhere.npz")


@pytest.mark.parametrize("content", [b"not a store at all", b""])
def test_loading_something_that_is_not_a_store_names_the_path(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)

    with pytest.raises(DataImportError, match="junk.npz: not a FER store"):
        FerStore.load(path)


def test_loading_an_npz_without_store_arrays_names_what_is_missing(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.zeros(3))

    with pytest.raises(DataImportError, match="other.npz: not a FER store \\(missing images, labels"):
        FerStore.load(path)


def test_format_counts_is_a_table_of_classes_by_split_with_thousands_separators():
    store = make_store({("train", "Happy"): 1234, ("public_test", "Happy"): 5, ("private_test", "Sad"): 7})

    table = format_counts(store)
    lines = table.splitlines()

    assert lines[0].split() == ["Class", "Training", "PublicTest", "PrivateTest", "Total"]
    assert [line.split()[0] for line in lines[2:9]] == list(FER_CLASSES)
    assert lines[2 + FER_CLASSES.index("Happy")].split() == ["Happy", "1,234", "5", "0", "1,239"]
    assert lines[-1].split() == ["Total", "1,234", "5", "7", "1,246"]


def test_subsample_refuses_a_limit_below_the_number_of_present_classes(store):
    with pytest.raises(ValueError, match="cannot keep at least one of each of 3 classes in 2 rows"):
        store.subsample(2)
