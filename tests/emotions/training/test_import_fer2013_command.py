"""`manage.py import_fer2013 SOURCE`: a Dataset row and its store file, or a clear error and neither."""
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from emotions.models import Dataset

pytestmark = pytest.mark.django_db


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("emotion,pixels,Usage\n" + "".join(f"{row}\n" for row in rows))
    return path


def face(value: int = 100) -> str:
    return " ".join([str(value)] * 48 * 48)


def stored_files(settings) -> list[Path]:
    return list(Path(settings.MEDIA_ROOT).rglob("*"))


def test_importing_a_csv_records_a_dataset_with_counts_and_its_store(tmp_path, settings, capsys):
    source = write_csv(tmp_path / "fer2013.csv", [
        f"3,{face()},Training", f"0,{face(50)},Training", f"3,{face()},PublicTest", f"6,{face()},PrivateTest",
    ])
    call_command("import_fer2013", str(source), "--name", "mini")

    dataset = Dataset.objects.get()
    assert dataset.name == "mini" and dataset.source_name == "fer2013.csv"
    assert dataset.counts["train"]["Happy"] == 1 and dataset.counts["train"]["Angry"] == 1
    assert dataset.num_images() == 4 and len(dataset.source_checksum) == 64
    assert len(dataset.load_store()) == 4
    assert "Imported dataset 'mini'" in capsys.readouterr().out


def test_a_bad_row_is_a_clear_error_and_leaves_nothing_behind(tmp_path, settings):
    source = write_csv(tmp_path / "fer2013.csv", [f"3,{face()},Training", "3,1 2 3,Training"])
    with pytest.raises(CommandError, match=r"Import failed: .*fer2013.csv, row 3"):
        call_command("import_fer2013", str(source))
    assert not Dataset.objects.exists() and stored_files(settings) == []


def test_a_missing_source_is_named(tmp_path):
    with pytest.raises(CommandError, match="nowhere.zip: no such file or folder"):
        call_command("import_fer2013", str(tmp_path / "nowhere.zip"))


def test_without_a_source_or_fer2013_zip_it_asks_for_one(settings):
    settings.FER2013_ZIP = ""
    with pytest.raises(CommandError, match="Give a SOURCE"):
        call_command("import_fer2013")


def test_a_taken_name_is_refused_before_the_import(tmp_path, noise_dataset):
    source = write_csv(tmp_path / "noise.csv", [f"3,{face()},Training"])
    with pytest.raises(CommandError, match="A dataset named 'noise' exists already"):
        call_command("import_fer2013", str(source))
    assert Dataset.objects.count() == 1
