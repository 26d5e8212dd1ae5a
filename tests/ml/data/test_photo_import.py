"""`import-photos`: a labelled photo folder becomes a store of faces cut as uploads are cut, split so that
no person is in two splits, with a report of what could not be used."""
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as sample_images

from ml.classes import FER_CLASSES, SPLITS
from ml.cli import main
from ml.data import DataImportError, FerStore
from ml.data.photos import import_photo_folder

PEOPLE = [f"p{i}" for i in range(10)]
CLASSES = ["happy", "sad", "angry"]


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def face_crop(seed: int) -> bytes:
    """A 64x64 picture: small enough that the upload path takes it as a face already (no detector)."""
    return png(Image.fromarray(np.random.default_rng(seed).integers(0, 256, (64, 64), dtype=np.uint8)))


def csv_folder(root: Path, rows: list[tuple[str, str, str]], extra: dict | None = None) -> Path:
    """rows: (path, label, person); each path gets a small face crop unless `extra` gives its bytes."""
    extra = extra or {}
    lines = ["path,label,person,session"]
    for index, (path, label, person) in enumerate(rows):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(extra.get(path, face_crop(index)))
        lines.append(f"{path},{label},{person},s1")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def people_rows(per_person: int = 3) -> list[tuple[str, str, str]]:
    return [(f"{person}/{CLASSES[i % 3]}_{i}.png", CLASSES[i % 3], person)
            for person in PEOPLE for i in range(per_person)]


def test_class_sub_folders_are_imported_with_their_paths(tmp_path):
    for label in CLASSES:
        for i in range(10):
            (tmp_path / label).mkdir(exist_ok=True)
            (tmp_path / label / f"{i}.png").write_bytes(face_crop(i + 100 * len(label)))
    store = import_photo_folder(tmp_path, test_share=0.2, val_share=0.25, seed=0)
    assert len(store) == 30 and store.groups is None
    assert sorted(store.paths) == sorted(f"{label}/{i}.png" for label in CLASSES for i in range(10))
    for code in range(3):  # drawn per class: each split holds every class
        assert set(store.labels[store.splits == code]) == {FER_CLASSES.index(c.capitalize()) for c in CLASSES}
    assert store.images.shape == (30, 48, 48) and store.images.dtype == np.uint8


def test_group_splits_never_share_a_person(tmp_path):
    store = import_photo_folder(csv_folder(tmp_path, people_rows()), group_column="person", test_share=0.3,
                                val_share=0.2, seed=3)
    people = {SPLITS[code]: set(store.groups[store.splits == code]) for code in range(3)}
    assert all(people.values())
    assert not people["train"] & people["public_test"] and not people["train"] & people["private_test"]
    assert not people["public_test"] & people["private_test"]
    assert set(store.groups) == set(PEOPLE)


def test_listed_test_groups_are_the_held_out_split(tmp_path):
    store = import_photo_folder(csv_folder(tmp_path, people_rows()), group_column="Person", test_groups=["p7", "p8", "p9"],
                                val_share=0.2)
    assert set(store.groups[store.splits == SPLITS.index("private_test")]) == {"p7", "p8", "p9"}
    assert not {"p7", "p8", "p9"} & set(store.groups[store.splits != SPLITS.index("private_test")])
    with pytest.raises(DataImportError, match="test groups not in column 'person': p42"):
        import_photo_folder(tmp_path, group_column="person", test_groups=["p1", "p42"])


def test_the_report_counts_no_face_several_faces_and_unreadable_photos_per_class(tmp_path):
    astronaut = Image.fromarray(sample_images.astronaut())
    two_faces = Image.new("RGB", (1024, 512))
    two_faces.paste(astronaut, (0, 0))
    two_faces.paste(astronaut.resize((400, 400)), (580, 50))
    rows = people_rows(2) + [("x/blank.png", "sad", "p1"), ("x/broken.png", "happy", "p2"),
                             ("x/two.png", "happy", "p3")]
    extra = {"x/blank.png": png(Image.new("RGB", (400, 300), (128, 128, 128))), "x/broken.png": b"not an image",
             "x/two.png": png(two_faces)}
    store = import_photo_folder(csv_folder(tmp_path, rows, extra), group_column="person", seed=0)
    report = store.report
    assert report["per_class"]["Sad"]["no_face"] == 1 and report["no_face"] == 1
    assert report["per_class"]["Happy"]["several_faces"] == 1 and report["several_faces"] == 1
    assert [(item["path"], item["row"]) for item in report["unreadable"]] == [("x/broken.png", 23)]
    assert len(store) == 21 and report["photos"] == 23
    assert "x/two.png" in set(store.paths) and "x/broken.png" not in set(store.paths)
    # The largest of the two faces is kept: the crop matches the big astronaut, cut as an upload is.
    from ml.inference.predictor import cut_faces

    cut = cut_faces(two_faces)
    largest = max(range(len(cut.boxes)), key=lambda i: cut.boxes[i].w * cut.boxes[i].h)
    assert np.array_equal(store.images[list(store.paths).index("x/two.png")], cut.crops[largest])


def test_a_bad_label_is_named_by_file_and_row(tmp_path):
    rows = people_rows(1)
    rows[4] = (rows[4][0], "happyish", rows[4][2])
    with pytest.raises(DataImportError, match=r"labels.csv row 6: unknown label 'happyish'"):
        import_photo_folder(csv_folder(tmp_path, rows))


def test_the_command_line_writes_the_store_and_prints_the_report(tmp_path, capsys):
    folder = csv_folder(tmp_path / "faces", people_rows())
    out = tmp_path / "faces.npz"
    assert main(["import-photos", str(folder), "--out", str(out), "--group-column", "person",
                 "--test-groups", "p0,p1", "--val-share", "0.2"]) == 0
    printed = capsys.readouterr().out
    assert "30 photos: 30 faces imported, 0 with no face found" in printed
    store = FerStore.load(out)
    assert set(store.groups[store.splits == 2]) == {"p0", "p1"} and store.paths is not None
    assert main(["import-photos", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "missing is not a folder" in capsys.readouterr().err


def test_a_photo_that_cannot_be_read_from_disk_is_skipped_and_listed(tmp_path, monkeypatch):
    folder = csv_folder(tmp_path, people_rows(2))
    read_bytes = Path.read_bytes

    def refused(path):  # as a file the importing user may not read (root reads any file, so it is staged)
        if path.name == "happy_0.png" and path.parent.name == "p0":
            raise PermissionError(13, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refused)
    store = import_photo_folder(folder, group_column="person", seed=0)
    assert [(item["path"], item["row"]) for item in store.report["unreadable"]] == [("p0/happy_0.png", 2)]
    assert "Permission denied" in store.report["unreadable"][0]["reason"]
    assert len(store) == len(PEOPLE) * 2 - 1
