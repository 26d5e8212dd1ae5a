"""`import_fer2013`: one entry point for every FER2013 download (Kaggle CSV, folder, or that folder zipped)."""
from __future__ import annotations

import os
from pathlib import Path

from ml.classes import FER_CLASSES, SPLITS
from ml.data.csv_source import read_kaggle_csv
from ml.data.entry_sources import DirectoryEntries, ZipEntries, file_sha256
from ml.data.errors import DataImportError
from ml.data.ferplus import read_votes
from ml.data.folder_source import read_folder_layout
from ml.data.store import FerStore


def import_fer2013(source: str | os.PathLike, *, val_fraction: float = 0.1, seed: int = 0,
                   ferplus: str | os.PathLike | None = None) -> FerStore:
    """Read `source` into a FerStore; bad input raises DataImportError before anything is written.

    With `ferplus` (a FER+ votes file, ml/data/ferplus.py), each face also keeps its ten raters' votes,
    matched by archive member path."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    path = Path(source)
    name = os.fspath(source)
    if not path.exists():
        raise DataImportError("no such file or directory", source=name)

    if path.is_dir():
        entries = DirectoryEntries(path)
        rows, checksum = read_folder_layout(entries, val_fraction=val_fraction, seed=seed)
        source_format = "folder"
    elif path.suffix.lower() == ".csv":
        rows, checksum = read_kaggle_csv(path), file_sha256(path)
        source_format = "csv"
    elif path.suffix.lower() == ".zip":
        entries = ZipEntries(path)
        try:
            rows, _ = read_folder_layout(entries, val_fraction=val_fraction, seed=seed)
        finally:
            entries.close()
        checksum, source_format = file_sha256(path), "zip"
    else:
        raise DataImportError(
            "unsupported source: expected a .csv file, a .zip file or a directory", source=name
        )

    store = FerStore(
        images=rows.images,
        labels=rows.labels,
        splits=rows.splits,
        class_names=FER_CLASSES,
        source_checksum=checksum,
        paths=rows.paths,
    )
    ferplus_report = None
    if ferplus is not None:
        if rows.paths is None:
            raise DataImportError(
                "FER+ votes are matched by archive member path, which a CSV does not have; "
                "import the FER2013 folder or zip instead", source=os.fspath(ferplus))
        store.votes, ferplus_report = read_votes(ferplus, rows.paths, rows.splits)
    store.report = {
        "source": os.path.abspath(name),
        "format": source_format,
        "rows": len(store),
        "counts": {split: int((store.splits == code).sum()) for code, split in enumerate(SPLITS)},
        **rows.report,
    }
    if ferplus_report is not None:
        store.report["ferplus"] = ferplus_report
    return store
