"""Every kind of bad input raises DataImportError saying which file and which row or entry."""
import zipfile

import pytest

from ml.data import DataImportError, import_fer2013

VALID_PIXELS = " ".join(["0"] * 2304)
ONE_SHORT = " ".join(["0"] * 2303)


def import_error(source) -> DataImportError:
    with pytest.raises(DataImportError) as caught:
        import_fer2013(source)
    return caught.value


@pytest.mark.parametrize(
    "bad_row, expected",
    [
        (f"0,{ONE_SHORT},Training", "pixel string has 2303 values, expected 2304"),
        (f"0,256 {ONE_SHORT},Training", "pixel value 256 is out of range 0..255"),
        (f"0,-1 {ONE_SHORT},Training", "must be space-separated integers 0..255"),
        (f"0,x {ONE_SHORT},Training", "must be space-separated integers 0..255"),
        ("0,,Training", "must be space-separated integers 0..255"),
        (f"7,{VALID_PIXELS},Training", "unknown label '7', expected an integer 0..6"),
        (f"happy,{VALID_PIXELS},Training", "unknown label 'happy'"),
        (
            f"0,{VALID_PIXELS},Validation",
            "unknown Usage 'Validation', expected one of Training, PublicTest, PrivateTest",
        ),
        (f"0,{VALID_PIXELS}", "has 2 columns, expected 3"),
    ],
    ids=["short", "too-bright", "negative", "word", "empty", "label-7", "label-word", "usage", "columns"],
)
def test_a_bad_csv_row_is_reported_by_file_and_line(make, bad_row, expected):
    good_row = f"0,{VALID_PIXELS},Training"
    path = make.csv([good_row, good_row, bad_row])

    error = import_error(path)

    assert str(error).startswith(f"{path}, row 4: ") and expected in str(error)
    assert (error.source, error.location) == (str(path), "row 4")


def test_a_missing_column_names_the_columns_found_and_expected(make):
    path = make.csv([f"0,{make.pixels()}"], header="emotion,pixels")

    message = str(import_error(path))

    assert "fer2013.csv" in message and "missing column(s) Usage" in message
    assert "found columns emotion, pixels" in message and "expected emotion, pixels, Usage" in message


def test_an_empty_csv_is_refused(make):
    path = make.root / "empty.csv"
    path.write_text("")

    assert "empty.csv: file is empty" in str(import_error(path))


def test_a_csv_with_only_a_header_is_refused(make):
    assert "no data rows" in str(import_error(make.csv([])))


def test_an_unknown_class_folder_is_named(make):
    folder = make.folder({"train/happy/Training_1.png": make.image(), "train/contempt/Training_2.png": make.image()})

    message = str(import_error(folder))

    assert "entry train/contempt/Training_2.png" in message and "unknown class folder 'contempt'" in message


def test_an_image_outside_the_layout_is_named(make):
    folder = make.folder({"train/happy/Training_1.png": make.image(), "validation/happy/x.png": make.image()})

    assert "entry validation/happy/x.png: image outside the expected layout" in str(import_error(folder))


def test_an_unreadable_image_in_a_folder_is_named(make):
    folder = make.folder({"train/happy/Training_1.png": make.image(), "train/sad/Training_2.png": b"not a png"})

    error = import_error(folder)

    assert error.location == "entry train/sad/Training_2.png" and "unreadable image" in str(error)


def test_an_unreadable_image_in_a_zip_is_named_with_the_zip(make):
    path = make.zip({"train/happy/Training_1.jpg": make.image(format="JPEG")[:40]})

    assert str(import_error(path)).startswith(f"{path}, entry train/happy/Training_1.jpg: unreadable image")


@pytest.mark.parametrize(
    "unsafe_name", ["../train/happy/Training_1.png", "/etc/train/happy/x.png", "train/../../x.png"]
)
def test_a_zip_entry_escaping_the_archive_is_refused_before_anything_is_read(make, unsafe_name):
    path = make.root / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        # A corrupt image too: the unsafe name, not this, must be what gets reported.
        archive.writestr("train/angry/Training_0.png", b"corrupt")
        archive.writestr(zipfile.ZipInfo(unsafe_name), make.image())

    error = import_error(path)

    assert error.location == f"entry {unsafe_name}" and "unsafe path" in str(error)


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_a_source_with_no_images_is_refused(make, kind):
    files = {"train/happy/notes.txt": b"no faces here"}
    source = make.folder(files) if kind == "folder" else make.zip(files, directories=["train/", "train/happy/"])

    assert "no images found" in str(import_error(source))


def test_a_file_that_is_not_a_zip_is_refused(make):
    path = make.root / "fer2013.zip"
    path.write_bytes(b"PK but not really")

    assert "not a readable zip file" in str(import_error(path))


def test_an_unsupported_source_is_refused(make):
    path = make.root / "fer2013.tar"
    path.write_bytes(b"")

    assert "unsupported source" in str(import_error(path))


def test_a_missing_source_is_refused(make):
    assert "no such file or directory" in str(import_error(make.root / "nowhere.csv"))
