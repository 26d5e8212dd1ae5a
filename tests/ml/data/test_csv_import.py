import hashlib

import numpy as np

from ml.classes import SPLITS
from ml.data import import_fer2013


def test_it_reads_faces_labels_and_splits_in_file_order(make):
    path = make.csv([
        (3, make.pixels(10), "Training"),
        (0, make.pixels(20), "PublicTest"),
        (6, make.pixels(30), "PrivateTest"),
        (1, make.pixels(40), "Training"),
    ])

    store = import_fer2013(path)

    assert store.images.shape == (4, 48, 48) and store.images.dtype == np.uint8
    assert [int(image[0, 0]) for image in store.images] == [10, 20, 30, 40]
    assert store.labels.tolist() == [3, 0, 6, 1] and store.labels.dtype == np.int64
    assert [SPLITS[code] for code in store.splits] == ["train", "public_test", "private_test", "train"]
    assert store.report["format"] == "csv"
    assert store.report["counts"] == {"train": 2, "public_test": 1, "private_test": 1}
    assert store.report["val_from_train"] is False


def test_it_keeps_every_pixel_in_row_major_order(make):
    gradient = [i % 256 for i in range(48 * 48)]
    path = make.csv([(2, " ".join(map(str, gradient)), "Training")])

    store = import_fer2013(path)

    assert store.images[0].ravel().tolist() == gradient


def test_columns_may_come_in_any_order_with_spaces_around_names(make):
    path = make.csv([f"Training,5,{make.pixels(7)}"], header="Usage, emotion, pixels")

    store = import_fer2013(path)

    assert store.labels.tolist() == [5]
    assert store.images[0, 0, 0] == 7


def test_the_checksum_is_the_sha256_of_the_file(make):
    path = make.csv([(0, make.pixels(), "Training")])

    assert import_fer2013(path).source_checksum == hashlib.sha256(path.read_bytes()).hexdigest()


def test_blank_lines_carry_no_face(make):
    path = make.csv([(0, make.pixels(), "Training"), "", (1, make.pixels(), "PublicTest")])

    assert import_fer2013(path).labels.tolist() == [0, 1]
