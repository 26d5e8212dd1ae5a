"""Where FER2013's one rater and the ten FER+ raters disagree: the label x majority table of a dataset with
votes, and sample faces from any cell of it with their votes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLES_PER_CELL = 16


@dataclass
class Cell:
    label: int  # FER2013 class index (table row)
    category: int  # ml.data.ferplus.CATEGORIES index (table column)
    count: int
    share: float  # of the row's faces
    category_name: str = ""

    @property
    def shade(self) -> str:
        """The share as CSS reads it (never a localised decimal comma)."""
        return f"{self.share:.3f}"


def disagreement_table(store) -> dict | None:
    """Rows per FER2013 class: its cells (counts and row shares) and the share of its voted faces whose
    raters' majority is the label; None for a store without votes."""
    from ml.data.ferplus import CATEGORIES, agreement_table

    if store.votes is None or len(store.class_names) != 7:
        return None
    table = agreement_table(store.labels, store.votes)
    rows = []
    for label, (name, counts) in enumerate(zip(table["rows"], table["counts"])):
        total = sum(counts)
        rows.append({
            "name": name,
            "total": total,
            "agreement": table["agreement"][name],
            "cells": [Cell(label, category, count, count / total if total else 0.0, CATEGORIES[category])
                      for category, count in enumerate(counts)],
        })
    return {"columns": list(CATEGORIES), "rows": rows}


def cell_faces(store, label: int, category: int, count: int = SAMPLES_PER_CELL, seed: int = 0) -> list[dict]:
    """Up to `count` faces of one table cell (a fixed random pick), each with its non-zero votes."""
    from ml.data.ferplus import VOTE_COLUMNS, vote_categories

    rows = np.flatnonzero((store.labels == label) & (vote_categories(store.votes) == category))
    if len(rows) > count:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=count, replace=False))
    faces = []
    for row in rows:
        votes = store.votes[row]
        faces.append({
            "index": int(row),
            "votes": [(name, int(n)) for name, n in zip(VOTE_COLUMNS, votes) if n > 0],
        })
    return faces


def parse_cell(query, num_columns: int) -> tuple[int, int] | None:
    label, category = query.get("label", ""), query.get("raters", "")
    if label.isdigit() and category.isdigit() and int(label) < 7 and int(category) < num_columns:
        return int(label), int(category)
    return None
