"""Read Kaggle's fer2013.csv (columns emotion, pixels, Usage) into arrays, row order kept."""
from __future__ import annotations

import csv
import os

import numpy as np

from ml.classes import FER_CLASSES, SPLIT_LABELS, SPLITS
from ml.data.errors import DataImportError
from ml.data.imported_rows import ImportedRows

REQUIRED_COLUMNS = ("emotion", "pixels", "Usage")
PIXELS_PER_FACE = 48 * 48
_DIGITS_AND_SPACE = b"0123456789 "
_SPLIT_BY_USAGE = {label: SPLITS.index(split) for split, label in SPLIT_LABELS.items()}


def read_kaggle_csv(path: str | os.PathLike) -> ImportedRows:
    source = os.fspath(path)
    images, labels, splits = [], [], []
    reader = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as csv_file:
            reader = csv.reader(csv_file)
            header = next(reader, None)
            if header is None:
                raise DataImportError("file is empty", source=source)
            emotion_at, pixels_at, usage_at = _column_positions(header, source)
            width = len(header)
            for row in reader:
                where = f"row {reader.line_num}"
                if not any(cell.strip() for cell in row):
                    continue  # blank lines, e.g. a trailing one, carry no face
                if len(row) != width:
                    raise DataImportError(
                        f"has {len(row)} columns, expected {width}", source=source, location=where
                    )
                labels.append(_parse_label(row[emotion_at], source, where))
                images.append(_parse_pixels(row[pixels_at], source, where))
                splits.append(_parse_usage(row[usage_at], source, where))
    except UnicodeDecodeError as error:
        raise DataImportError(f"not a UTF-8 text CSV ({error.reason})", source=source) from error
    except csv.Error as error:
        where = f"row {reader.line_num}" if reader is not None else None
        raise DataImportError(f"malformed CSV ({error})", source=source, location=where) from error
    if not labels:
        raise DataImportError("no data rows after the header", source=source)
    return ImportedRows(
        images=np.stack(images).reshape(-1, 48, 48),
        labels=np.array(labels, dtype=np.int64),
        splits=np.array(splits, dtype=np.uint8),
        report={"converted_to_grayscale": 0, "resized": 0, "skipped_non_image": 0, "val_from_train": False},
    )


def _column_positions(header: list[str], source: str) -> tuple[int, int, int]:
    # Whitespace around names is tolerated: one FER2013 variant ships "emotion, Usage, pixels".
    names = [name.strip() for name in header]
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        raise DataImportError(
            f"missing column(s) {', '.join(missing)}; found columns {', '.join(names) or '(none)'}, "
            f"expected {', '.join(REQUIRED_COLUMNS)}",
            source=source,
            location="row 1",
        )
    return tuple(names.index(column) for column in REQUIRED_COLUMNS)


def _parse_label(text: str, source: str, where: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or int(text) >= len(FER_CLASSES):
        raise DataImportError(
            f"unknown label {text!r}, expected an integer 0..{len(FER_CLASSES) - 1}", source=source, location=where
        )
    return int(text)


def _parse_pixels(text: str, source: str, where: str) -> np.ndarray:
    text = text.strip()
    # Only ASCII digits and spaces get past here, so the fast parser below cannot misread anything.
    if not text or not text.isascii() or text.encode("ascii").translate(None, _DIGITS_AND_SPACE):
        raise DataImportError(
            "pixel string must be space-separated integers 0..255", source=source, location=where
        )
    values = np.fromstring(text, dtype=np.int64, sep=" ")
    if values.size != PIXELS_PER_FACE:
        raise DataImportError(
            f"pixel string has {values.size} values, expected {PIXELS_PER_FACE}", source=source, location=where
        )
    if values.max() > 255:
        raise DataImportError(
            f"pixel value {values.max()} is out of range 0..255", source=source, location=where
        )
    return values.astype(np.uint8)


def _parse_usage(text: str, source: str, where: str) -> int:
    text = text.strip()
    if text not in _SPLIT_BY_USAGE:
        raise DataImportError(
            f"unknown Usage {text!r}, expected one of {', '.join(_SPLIT_BY_USAGE)}", source=source, location=where
        )
    return _SPLIT_BY_USAGE[text]
