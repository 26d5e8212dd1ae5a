"""Tiny labelled photo folders and zips for the photo dataset tests, built in the test: 64x64 pictures, which
the upload path (and so the import) takes for face crops without running a detector.

(A module of its own, imported by name like emotions_test_support: tests/ has no packages.)"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ml.classes import FER_CLASSES


def face_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, size=(64, 64), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def class_folders(root: Path, per_class: int = 10, classes=FER_CLASSES) -> Path:
    """<root>/<class>/<n>.png: `per_class` photos of each class."""
    for c, name in enumerate(classes):
        folder = root / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            (folder / f"{n}.png").write_bytes(face_png(c * 1000 + n))
    return root


def labels_csv_folder(root: Path, rows: list[tuple[str, str, str]]) -> Path:
    """<root>/photos/<name> and labels.csv (path,label,person) for each (name, label, person)."""
    (root / "photos").mkdir(parents=True, exist_ok=True)
    lines = ["path,label,person"]
    for n, (name, label, person) in enumerate(rows):
        (root / "photos" / name).write_bytes(face_png(n))
        lines.append(f"photos/{name},{label},{person}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def people_rows(people: int = 5, per_person: int = 7) -> list[tuple[str, str, str]]:
    return [(f"p{p}-{n}.png", FER_CLASSES[n % 7], f"person{p}") for p in range(people) for n in range(per_person)]


def zip_of(folder: Path, wrap: str | None = "my_faces") -> bytes:
    """The folder zipped as a file manager zips it: inside a folder of its name (or at the top with wrap=None)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                relative = path.relative_to(folder).as_posix()
                archive.write(path, f"{wrap}/{relative}" if wrap else relative)
    return buffer.getvalue()


def zip_with(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()
