"""What a photo dataset's import found, per class, for its page: faces imported in each split, photos with no
face (skipped) or with several (the largest kept), and the unreadable ones with where they are."""
from __future__ import annotations

from emotions.training.models import Dataset


def photo_report(dataset: Dataset) -> dict | None:
    """None for a dataset that was not imported from photos."""
    report = dataset.report or {}
    if dataset.kind != Dataset.Kind.PHOTOS or "per_class" not in report:
        return None
    unreadable = report.get("unreadable") or []
    unreadable_per_class = {}
    for row in unreadable:
        unreadable_per_class[row.get("label")] = unreadable_per_class.get(row.get("label"), 0) + 1
    rows = []
    for name in dataset.class_names:
        found = report["per_class"].get(name, {})
        rows.append({
            "name": name,
            "splits": [dataset.counts.get(split, {}).get(name, 0) for split in ("train", "public_test", "private_test")],
            "imported": found.get("imported", 0),
            "no_face": found.get("no_face", 0),
            "several_faces": found.get("several_faces", 0),
            "unreadable": unreadable_per_class.get(name, 0),
        })
    return {
        "rows": rows,
        "photos": report.get("photos", 0),
        "imported": report.get("rows", 0),
        "no_face": report.get("no_face", 0),
        "several_faces": report.get("several_faces", 0),
        "unreadable": unreadable,
        "labels_from": report.get("labels_from", ""),
        "group_column": report.get("group_column") or "",
        "test_groups": report.get("test_groups") or [],
        "detector": report.get("detector", ""),
    }
