import numpy as np

from ml.classes import FER_CLASSES, SPLITS
from ml.data import import_fer2013


def splits_of(store):
    return [SPLITS[code] for code in store.splits]


def test_the_split_comes_from_the_file_name_prefix(make):
    folder = make.folder({
        "train/happy/Training_1.png": make.image(),
        "test/happy/PublicTest_2.png": make.image(),
        "test/sad/PrivateTest_3.png": make.image(),
        # The prefix wins even where the folder disagrees.
        "train/sad/PublicTest_4.png": make.image(),
    })

    store = import_fer2013(folder)

    # Rows follow the sorted paths: test/happy, test/sad, train/happy, train/sad.
    assert splits_of(store) == ["public_test", "private_test", "train", "public_test"]
    assert [FER_CLASSES[label] for label in store.labels] == ["Happy", "Sad", "Happy", "Sad"]
    assert store.report["val_from_train"] is False
    assert store.report["format"] == "folder"


def test_class_folders_match_whatever_their_case(make):
    folder = make.folder({
        "train/HAPPY/Training_1.png": make.image(),
        "train/Neutral/Training_2.png": make.image(),
        "test/disgust/PrivateTest_3.png": make.image(),
    })

    store = import_fer2013(folder)

    assert sorted(FER_CLASSES[label] for label in store.labels) == ["Disgust", "Happy", "Neutral"]


def test_colour_and_odd_sized_images_are_converted_and_counted(make):
    folder = make.folder({
        "train/angry/Training_1.png": make.image(50),
        "train/angry/Training_2.jpg": make.image(120, mode="RGB", format="JPEG"),
        "train/fear/Training_3.png": make.image(200, size=(64, 64)),
        "train/fear/Training_4.bmp": make.image(90, size=(64, 64), mode="RGB", format="BMP"),
    })

    store = import_fer2013(folder)

    assert store.images.shape == (4, 48, 48)
    assert store.report["converted_to_grayscale"] == 2
    assert store.report["resized"] == 2
    # Flat inputs stay flat at their grey level (JPEG may be off by one or two).
    assert [np.unique(store.images[i]).tolist() for i in (0, 2, 3)] == [[50], [200], [90]]
    assert abs(float(store.images[1].mean()) - 120) <= 2


def test_unprefixed_names_draw_a_stratified_tenth_of_train_for_validation(make):
    folder = make.folder(make.kaggle_files({"happy": (40, 3, 2), "sad": (20, 1, 1)}, prefixed=False))

    store = import_fer2013(folder)

    counts = store.counts()
    assert counts["public_test"]["Happy"] == 4 and counts["public_test"]["Sad"] == 2
    assert counts["train"]["Happy"] == 36 and counts["train"]["Sad"] == 18
    # Everything under test/ is the held-out test split.
    assert counts["private_test"]["Happy"] == 5 and counts["private_test"]["Sad"] == 2
    assert store.report["val_from_train"] is True


def test_the_same_seed_draws_the_same_validation_split_and_another_seed_another(make):
    folder = make.folder(make.kaggle_files({"happy": (40, 0, 1), "sad": (40, 0, 1)}, prefixed=False))

    first = import_fer2013(folder, seed=3)
    again = import_fer2013(folder, seed=3)
    other = import_fer2013(folder, seed=4)

    assert np.array_equal(first.splits, again.splits)
    assert not np.array_equal(first.splits, other.splits)


def test_val_fraction_sets_the_validation_share(make):
    folder = make.folder(make.kaggle_files({"happy": (40, 0, 1)}, prefixed=False))

    store = import_fer2013(folder, val_fraction=0.25)

    assert store.counts()["public_test"]["Happy"] == 10


def test_rows_follow_sorted_paths_whatever_order_files_were_written(make):
    names = ["train/sad/Training_b.png", "train/angry/Training_z.png", "train/sad/Training_a.png"]
    folder = make.folder({name: make.image(value) for name, value in zip(names, (1, 2, 3))})

    store = import_fer2013(folder)

    assert [int(image[0, 0]) for image in store.images] == [2, 3, 1]


def test_the_checksum_covers_paths_and_bytes(make):
    folder = make.folder({"train/sad/Training_1.png": make.image(1), "train/sad/Training_2.png": make.image(2)})
    original = import_fer2013(folder).source_checksum
    assert import_fer2013(folder).source_checksum == original

    (folder / "train/sad/Training_2.png").write_bytes(make.image(3))
    assert import_fer2013(folder).source_checksum != original

    (folder / "train/sad/Training_2.png").write_bytes(make.image(2))
    (folder / "train/sad/Training_2.png").rename(folder / "train/sad/Training_3.png")
    assert import_fer2013(folder).source_checksum != original


def test_hidden_files_and_non_images_are_left_out(make):
    folder = make.folder({
        "train/happy/Training_1.png": make.image(),
        "train/happy/.DS_Store": b"junk",
        "__MACOSX/train/happy/._Training_1.png": b"junk",
        "README.txt": b"FER2013",
    })

    store = import_fer2013(folder)

    assert len(store) == 1
    assert store.report["skipped_non_image"] == 1
