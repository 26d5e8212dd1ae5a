"""`format_counts`: a store's faces per class and split as a plain-text table for terminals and logs."""
from __future__ import annotations

from ml.classes import SPLIT_LABELS, SPLITS
from ml.data.store import FerStore


def format_counts(store: FerStore) -> str:
    counts = store.counts()
    header = ["Class", *(SPLIT_LABELS[split] for split in SPLITS), "Total"]
    body = [
        [name, *(counts[split][name] for split in SPLITS), sum(counts[split][name] for split in SPLITS)]
        for name in store.class_names
    ]
    totals = ["Total", *(sum(counts[split].values()) for split in SPLITS), len(store)]
    cells = [header] + [[row[0], *(f"{n:,}" for n in row[1:])] for row in [*body, totals]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]

    def line(row):
        return "  ".join([row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:]))])

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *(line(row) for row in cells[1:-1]), rule, line(cells[-1])])
