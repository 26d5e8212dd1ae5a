import hashlib

import numpy as np

from ml.data import import_fer2013

FILES = {"happy": (3, 1, 1), "sad": (2, 1, 1), "angry": (1, 1, 0)}


def test_a_zip_imports_exactly_like_the_same_folder(make):
    files = make.kaggle_files(FILES)
    from_folder = import_fer2013(make.folder(files))
    from_zip = import_fer2013(make.zip(files))

    assert np.array_equal(from_zip.images, from_folder.images)
    assert np.array_equal(from_zip.labels, from_folder.labels)
    assert np.array_equal(from_zip.splits, from_folder.splits)
    assert from_zip.report["format"] == "zip"
    assert from_zip.report["counts"] == {"train": 6, "public_test": 3, "private_test": 2}


def test_one_folder_wrapping_train_and_test_is_accepted(make):
    files = {f"fer2013/{name}": data for name, data in make.kaggle_files(FILES).items()}

    store = import_fer2013(make.zip(files, directories=["fer2013/", "fer2013/train/", "fer2013/test/"]))

    assert len(store) == 11


def test_directory_entries_macosx_and_hidden_files_are_ignored(make):
    files = make.kaggle_files({"happy": (1, 0, 0)})
    files["__MACOSX/train/happy/._Training_00000.png"] = b"resource fork"
    files["train/happy/.DS_Store"] = b"finder"

    store = import_fer2013(make.zip(files, directories=["train/", "train/happy/"]))

    assert len(store) == 1
    assert store.report["skipped_non_image"] == 0


def test_an_unprefixed_zip_draws_validation_from_train(make):
    path = make.zip(make.kaggle_files({"happy": (20, 0, 2)}, prefixed=False))

    counts = import_fer2013(path).counts()

    assert (counts["train"]["Happy"], counts["public_test"]["Happy"], counts["private_test"]["Happy"]) == (18, 2, 2)


def test_the_checksum_is_the_sha256_of_the_zip_file(make):
    path = make.zip(make.kaggle_files({"fear": (1, 0, 0)}))

    assert import_fer2013(path).source_checksum == hashlib.sha256(path.read_bytes()).hexdigest()
