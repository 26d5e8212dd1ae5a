"""manage.py import_photos NAME FOLDER: a labelled photo folder recorded as a Dataset, as import_fer2013
records FER2013; bad input stops with the file and row and leaves nothing behind."""
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from photo_sets_test_support import class_folders, labels_csv_folder, people_rows

from emotions.models import Dataset
from ml.classes import FER_CLASSES

pytestmark = pytest.mark.django_db


def store_files() -> list[Path]:
    return sorted((Path(settings.MEDIA_ROOT) / "datasets").glob("*.npz"))


def test_a_folder_of_class_sub_folders_becomes_a_photo_dataset(tmp_path):
    out = StringIO()
    call_command("import_photos", "my faces", str(class_folders(tmp_path / "faces", per_class=10)), stdout=out)

    dataset = Dataset.objects.get(name="my faces")
    assert dataset.kind == "photos" and not dataset.is_evaluation_set and dataset.source_name == "faces"
    assert dataset.class_names == list(FER_CLASSES)
    assert dataset.num_images() == 70
    assert dataset.num_images("private_test") == 14 and dataset.num_images("public_test") == 7  # 20%, then 10% of the rest
    assert dataset.report["per_class"]["Happy"] == {"imported": 10, "no_face": 0, "several_faces": 0}
    store = dataset.load_store()
    assert len(store) == 70 and store.images.shape[1:] == (48, 48)
    assert store_files() == [dataset.store_path]
    assert "70 photos: 70 faces imported" in out.getvalue() and "Imported dataset 'my faces'" in out.getvalue()


def test_groups_keep_each_person_in_one_split_and_test_groups_are_held_out(tmp_path):
    folder = labels_csv_folder(tmp_path / "people", people_rows(people=5, per_person=7))
    call_command("import_photos", "people", str(folder), "--group-column", "person", "--test-groups", "person3",
                 "--val-share", "0.2", "--seed", "1", "--evaluation-set", stdout=StringIO())
    dataset = Dataset.objects.get(name="people")
    store = dataset.load_store()
    test_people = set(store.groups[store.split_rows("private_test")].tolist())
    assert test_people == {"person3"} and dataset.is_evaluation_set
    for split in ("train", "public_test"):
        assert "person3" not in set(store.groups[store.split_rows(split)].tolist())
    assert dataset.report["group_column"] == "person" and dataset.report["test_groups"] == ["person3"]


def test_a_bad_label_names_the_file_and_row_and_leaves_nothing(tmp_path):
    rows = people_rows(people=2, per_person=3)
    rows[4] = (rows[4][0], "Bored", rows[4][2])
    folder = labels_csv_folder(tmp_path / "bad", rows)
    with pytest.raises(CommandError, match=r"labels.csv row 6: unknown label 'Bored'"):
        call_command("import_photos", "bad", str(folder), stdout=StringIO())
    assert not Dataset.objects.exists() and store_files() == []


def test_a_taken_name_or_a_missing_folder_is_refused(tmp_path, noise_dataset):
    with pytest.raises(CommandError, match="A dataset named 'noise' exists already"):
        call_command("import_photos", "noise", str(class_folders(tmp_path / "faces", per_class=2)), stdout=StringIO())
    with pytest.raises(CommandError, match="no such folder"):
        call_command("import_photos", "other", str(tmp_path / "nowhere"), stdout=StringIO())
    assert list(Dataset.objects.values_list("name", flat=True)) == ["noise"]
    assert store_files() == [noise_dataset.store_path]


def test_unreadable_photos_are_skipped_and_reported(tmp_path):
    folder = class_folders(tmp_path / "faces", per_class=3)
    (folder / "happy" / "broken.png").write_bytes(b"not a picture")
    out = StringIO()
    call_command("import_photos", "with a broken one", str(folder), stdout=out)
    report = Dataset.objects.get().report
    assert [row["path"] for row in report["unreadable"]] == ["happy/broken.png"]
    assert "unreadable: happy/broken.png:" in out.getvalue()
