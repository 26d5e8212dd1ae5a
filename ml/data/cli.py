"""`python -m ml import SOURCE --out STORE`: import FER2013 once, save the store, show what came in."""
from __future__ import annotations

import argparse
import sys

from ml.data.errors import DataImportError
from ml.data.importers import import_fer2013
from ml.data.summary import format_counts


def add_import_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "import",
        help="import FER2013 (Kaggle CSV, folder or zip) into a .npz store",
        description="Import FER2013 from Kaggle's fer2013.csv, its train/ test/ folders, or a zip of them.",
    )
    parser.add_argument("source", help="fer2013.csv, a folder with train/ and test/, or a .zip of that folder")
    parser.add_argument("--out", required=True, help="where to write the store, e.g. var/data/fer2013.npz")
    parser.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.1,
        help="share of train/ moved to validation when file names carry no split prefix (default 0.1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for that validation draw (default 0)")
    parser.add_argument(
        "--ferplus",
        metavar="VOTES_CSV",
        help="FER+ raters' votes (path,usage,row,neutral,...,NF), kept beside each face's label, matched by "
        "archive member path",
    )
    parser.set_defaults(handler=run_import)
    return parser


def run_import(args: argparse.Namespace) -> int:
    try:
        store = import_fer2013(args.source, val_fraction=args.val_fraction, seed=args.seed, ferplus=args.ferplus)
        path = store.save(args.out)
    except DataImportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. --out in a folder we may not write to
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = store.report
    print(format_counts(store))
    print(
        f"sha256 {store.source_checksum}; converted to grayscale {report['converted_to_grayscale']:,}, "
        f"resized {report['resized']:,}, skipped non-image files {report['skipped_non_image']:,}"
        + ("; validation drawn from train/" if report["val_from_train"] else "")
    )
    if "ferplus" in report:
        ferplus = report["ferplus"]
        missing = ", ".join(f"{split} {n:,}" for split, n in ferplus["faces_without_votes_per_split"].items())
        print(f"FER+ votes for {ferplus['faces_with_votes']:,} faces; without votes {ferplus['faces_without_votes']:,} "
              f"({missing}): they keep their FER2013 label only")
    print(f"saved {path}")
    return 0


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def add_import_photos_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "import-photos",
        help="a labelled photo folder as a store: faces cut as uploads are, split by group",
        description="Read a labelled photo folder (class sub-folders, or a labels.csv with path,label and other "
        "columns), cut the largest face of each photo as the upload path does, and write a store with train, "
        "validation (public_test) and held-out test (private_test) splits.",
    )
    parser.add_argument("folder", help="class sub-folders, or a labels.csv with path,label")
    parser.add_argument("--out", required=True, help="where to write the store, e.g. var/data/my_faces.npz")
    parser.add_argument("--group-column", help="a labels.csv column naming each photo's person: no person in two splits")
    parser.add_argument("--test-groups", help="comma-separated groups that form the held-out test split")
    parser.add_argument("--test-share", type=_fraction, default=0.2, help="share held out for test (default 0.2)")
    parser.add_argument("--val-share", type=_fraction, default=0.1, help="share of the rest for validation (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detector", choices=["mtcnn", "haar"], default="mtcnn")
    parser.set_defaults(handler=run_import_photos)
    return parser


def run_import_photos(args: argparse.Namespace) -> int:
    from ml.data.photos import import_photo_folder

    def progress(done: int, total: int) -> None:
        if done % 200 == 0 or done == total:
            print(f"{done:,}/{total:,} photos", file=sys.stderr, flush=True)

    test_groups = [group.strip() for group in args.test_groups.split(",") if group.strip()] if args.test_groups else None
    try:
        store = import_photo_folder(
            args.folder, group_column=args.group_column, test_groups=test_groups, test_share=args.test_share,
            val_share=args.val_share, seed=args.seed, detector=args.detector, progress=progress,
        )
        path = store.save(args.out)
    except (DataImportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_counts(store))
    print(format_photo_report(store.report))
    print(f"saved {path}")
    return 0


def format_photo_report(report: dict) -> str:
    """The import report: per class, photos imported, with no face found and with several faces."""
    lines = [f"{'class':<10} {'imported':>8} {'no face':>8} {'several':>8}"]
    for name, row in report["per_class"].items():
        lines.append(f"{name:<10} {row['imported']:>8,} {row['no_face']:>8,} {row['several_faces']:>8,}")
    lines.append(f"{report['photos']:,} photos: {report['rows']:,} faces imported, {report['no_face']:,} with no face "
                 f"found, {report['several_faces']:,} with several faces (the largest kept), "
                 f"{len(report['unreadable']):,} unreadable")
    for item in report["unreadable"]:
        where = f", row {item['row']}" if item.get("row") else ""
        lines.append(f"  skipped {item['path']}{where}: {item['reason']}")
    return "\n".join(lines)
