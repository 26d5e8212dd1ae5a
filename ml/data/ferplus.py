"""FER+ (Barsoum et al., ICMI 2016): ten raters' votes for every FER2013 face, and what they make.

A store keeps each face's ten vote counts in FER+'s own column order (`VOTE_COLUMNS`), -1 where a face
has none. From them come:

- `majority_labels`: the paper's majority rule, the FER+ evaluation labels (7-class faces only);
- `vote_categories`: the same rule, keeping contempt, unknown, not-a-face and no-majority apart, for the
  disagreement view;
- `vote_distributions`: the raters' distribution over the seven FER2013 classes, the training target.

The votes file is `path,usage,row,<ten vote columns>` (../shared/data/ferplus/ferplus_votes.csv), matched
to the store by archive member path. The labels are Microsoft's, under the MIT license that travels with
them (LICENSE-FERPlus.txt).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ml.classes import FER_CLASSES, SPLIT_LABELS, SPLITS
from ml.data.errors import DataImportError

VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
# FER+ column of each FER2013 class, in FER_CLASSES order (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral).
CLASS_COLUMNS = (4, 5, 6, 1, 3, 2, 0)
EXTRA_CATEGORIES = ("contempt", "unknown", "NF", "no majority", "no votes")
# vote_categories codes: 0-6 the FER2013 classes, then EXTRA_CATEGORIES in order.
CATEGORIES = tuple(FER_CLASSES) + EXTRA_CATEGORIES
NO_LABEL = -1
_COLUMN_CATEGORY = {column: FER_CLASSES.index(name) for name, column in zip(FER_CLASSES, CLASS_COLUMNS)}
_COLUMN_CATEGORY.update({7: 7, 8: 8, 9: 9})
NO_MAJORITY, NO_VOTES = 10, 11
_SPLIT_BY_USAGE = {label: SPLITS.index(split) for split, label in SPLIT_LABELS.items()}
MAX_VOTES_PER_FACE = 50  # FER+ asked 10 raters; anything far above is not a votes file


def has_votes(votes: np.ndarray) -> np.ndarray:
    return (votes >= 0).all(axis=1) & (votes.sum(axis=1) > 0)


def _without_single_votes(votes: np.ndarray) -> np.ndarray:
    """The paper drops a label that only one rater chose: one vote is as likely a slip as a reading."""
    kept = np.where(votes == 1, 0, votes).astype(np.int64)
    # A face whose every label had one vote keeps them all rather than becoming empty.
    empty = kept.sum(axis=1) == 0
    kept[empty] = np.clip(votes[empty], 0, None)
    return kept


def vote_categories(votes: np.ndarray) -> np.ndarray:
    """Per face: the FER+ majority as a CATEGORIES code (0-6 a class, 7-9 contempt/unknown/NF),
    NO_MAJORITY when no label has more than half of the votes left, NO_VOTES without votes."""
    votes = np.asarray(votes)
    categories = np.full(len(votes), NO_VOTES, dtype=np.int64)
    voted = has_votes(votes)
    if not voted.any():
        return categories
    kept = _without_single_votes(votes[voted])
    top = kept.argmax(axis=1)
    is_majority = kept[np.arange(len(kept)), top] * 2 > kept.sum(axis=1)
    mapped = np.array([_COLUMN_CATEGORY[column] for column in range(len(VOTE_COLUMNS))])
    categories[voted] = np.where(is_majority, mapped[top], NO_MAJORITY)
    return categories


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """FER+ evaluation labels in FER_CLASSES order; NO_LABEL (-1) where there is no 7-class majority."""
    categories = vote_categories(votes)
    return np.where(categories < len(FER_CLASSES), categories, NO_LABEL)


def vote_distributions(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distributions, usable): the raters' share of each FER2013 class (float32, rows sum to 1), single
    votes, contempt, unknown and NF dropped; `usable` is False for faces without votes, those most raters
    called unknown or not a face, and those with no vote left for the seven classes."""
    votes = np.asarray(votes)
    distributions = np.zeros((len(votes), len(FER_CLASSES)), dtype=np.float32)
    usable = np.zeros(len(votes), dtype=bool)
    voted = has_votes(votes)
    if not voted.any():
        return distributions, usable
    kept = _without_single_votes(votes[voted])
    class_votes = kept[:, list(CLASS_COLUMNS)]
    unreadable = kept[:, 8] + kept[:, 9]  # unknown + NF
    ok = (class_votes.sum(axis=1) > 0) & (unreadable * 2 <= kept.sum(axis=1))
    rows = np.flatnonzero(voted)
    distributions[rows[ok]] = class_votes[ok] / class_votes[ok].sum(axis=1, keepdims=True)
    usable[rows[ok]] = True
    return distributions, usable


def read_votes(path: str | os.PathLike, member_paths: np.ndarray, splits: np.ndarray) -> tuple[np.ndarray, dict]:
    """The votes file matched onto a store's faces by archive member path: (votes (N, 10) int16, -1 where a
    face has none; a report). A file that does not fit the store raises DataImportError naming the row."""
    source = os.fspath(path)
    if not Path(path).is_file():
        raise DataImportError("no such votes file", source=source)
    if len(member_paths) == 0 or not any(member_paths):
        raise DataImportError(
            "the store keeps no archive paths to match votes by; import the FER2013 folder or zip", source=source
        )
    # Votes name members relative to the archive root; a wrapper folder (fer2013/train/...) is allowed.
    index = {}
    for row, name in enumerate(member_paths):
        index[_relative_member(str(name))] = row
    votes = np.full((len(member_paths), len(VOTE_COLUMNS)), -1, dtype=np.int16)
    seen_rows = 0
    blank = 0
    try:
        handle = open(path, newline="", encoding="utf-8")
    except OSError as error:
        raise DataImportError(f"cannot read votes file ({error.strerror})", source=source) from error
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [column for column in ("path", "usage", *VOTE_COLUMNS) if column not in header]
        if missing:
            raise DataImportError(f"the header lacks {', '.join(missing)}", source=source, location="row 1")
        for line_number, record in enumerate(reader, start=2):
            where = f"row {line_number}"
            member = _relative_member(record["path"] or "")
            if member not in index:
                raise DataImportError(f"path {record['path']!r} is not in the archive", source=source, location=where)
            face = index[member]
            usage = record["usage"]
            if usage not in _SPLIT_BY_USAGE:
                raise DataImportError(f"unknown usage {usage!r}; expected Training, PublicTest or PrivateTest",
                                      source=source, location=where)
            if _SPLIT_BY_USAGE[usage] != int(splits[face]):
                raise DataImportError(
                    f"usage {usage} disagrees with the archive, where {record['path']} is in "
                    f"{SPLIT_LABELS[SPLITS[int(splits[face])]]}", source=source, location=where)
            if votes[face, 0] != -1:
                raise DataImportError(f"path {record['path']!r} is listed twice", source=source, location=where)
            seen_rows += 1
            cells = [(record[column] or "").strip() for column in VOTE_COLUMNS]
            if all(cell == "" for cell in cells):
                blank += 1  # FER+ has no row for this face: it keeps its FER2013 label only
                votes[face] = -2  # marked seen; reset to -1 below
                continue
            counts = []
            for column, cell in zip(VOTE_COLUMNS, cells):
                if not cell.isdigit():
                    raise DataImportError(f"{column} must be a whole number of votes, got {cell!r}",
                                          source=source, location=where)
                counts.append(int(cell))
            if sum(counts) > MAX_VOTES_PER_FACE:
                raise DataImportError(f"{sum(counts)} votes for one face; FER+ has ten", source=source, location=where)
            votes[face] = counts
    votes[votes[:, 0] == -2] = -1
    with_votes = has_votes(votes)
    report = {
        "source": os.path.abspath(source),
        "rows": seen_rows,
        "faces_with_votes": int(with_votes.sum()),
        "faces_without_votes": int((~with_votes).sum()),
        "faces_without_votes_per_split": {
            split: int((~with_votes & (splits == code)).sum()) for code, split in enumerate(SPLITS)
        },
        "blank_vote_rows": blank,
    }
    return votes, report


def _relative_member(name: str) -> str:
    """`train/happy/x.png` from `fer2013/train/happy/x.png` too: the part from train/ or test/ on."""
    parts = name.replace("\\", "/").split("/")
    for start, part in enumerate(parts):
        if part.lower() in ("train", "test") and len(parts) - start == 3:
            return "/".join(parts[start:])
    return "/".join(parts)


def agreement_table(labels: np.ndarray, votes: np.ndarray) -> dict:
    """FER2013 label x FER+ majority category counts (rows FER_CLASSES, columns CATEGORIES), and per class
    the share of faces with votes whose raters' majority is the label."""
    categories = vote_categories(votes)
    table = np.zeros((len(FER_CLASSES), len(CATEGORIES)), dtype=np.int64)
    np.add.at(table, (np.asarray(labels), categories), 1)
    agreement = {}
    for code, name in enumerate(FER_CLASSES):
        voted = table[code, :NO_VOTES].sum()
        agreement[name] = float(table[code, code] / voted) if voted else None
    return {"rows": list(FER_CLASSES), "columns": list(CATEGORIES), "counts": table.tolist(), "agreement": agreement}
