"""Learning the user's own faces: the shipped model fine-tuned on some people of a labelled photo set,
scored on people it never saw, with FER2013 PrivateTest as the check that it forgot nothing, in one run.

    python bench/adapt.py var/devsets/twpfe --group-column actor --test-groups 22,23,24,25,26,27,28,29,30 \\
        --data var/fer2013.npz

1. The folder becomes a store through the served path (`python -m ml import-photos`): the listed people
   are the held-out test split, a tenth of the others (by person) validates, the rest trains. A store it
   wrote before (`var/adapt/photos.npz`) can be given instead of the folder to skip the import; its
   held-out people must be the ones listed.
2. The baseline: the shipped model on the held-out people's faces, and on FER2013 PrivateTest.
3. `configs/finetune.yaml` (half the faces drawn from the photo set, half from FER2013; every member of
   the ensemble fine-tuned, the ensemble rebuilt, its prior correction from these draws, and calibrated
   for int8), timed.
4. The same two figures for the fine-tuned model.

Where the folder's labels.csv carries raters' readings (`vote_top`, `agree`, as twpfe's does), it also
prints how often the raters' majority reads the held-out faces as posed (the labels' own ceiling for a
model that reads faces as people do) and each model's accuracy on the faces where the raters agree.

This is the one place a development set is trained on, and only on people it is then not scored on.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.data import FerStore  # noqa: E402
from ml.data.photos import import_photo_folder  # noqa: E402
from ml.evaluate import compute_metrics, evaluate_checkpoint  # noqa: E402
from ml.inference.photo_eval import PhotoFolderError, read_labelled_folder  # noqa: E402
from ml.train import TrainConfig  # noqa: E402
from ml.train.finetune import fine_tune  # noqa: E402
from report import cpu_name, save_json  # noqa: E402


def scores(checkpoint, photos: FerStore, fer2013: FerStore, raters_agreed: FerStore | None) -> dict:
    held_out = evaluate_checkpoint(checkpoint, photos, "private_test", device="cpu")
    private = evaluate_checkpoint(checkpoint, fer2013, "private_test", device="cpu")
    agreed = evaluate_checkpoint(checkpoint, raters_agreed, "private_test", device="cpu") if raters_agreed else {}
    return {
        "held_out": held_out["accuracy"], "held_out_f1": held_out["macro_f1"], "held_out_faces": held_out["num_samples"],
        "held_out_raters_agree": agreed.get("accuracy"),
        "private": private["accuracy"], "private_f1": private["macro_f1"],
        "private_ferplus": (private.get("ferplus") or {}).get("accuracy"),
    }


def raters_reference(photos: FerStore, folder: Path | None) -> dict | None:
    """The raters' majority against the labels on the held-out faces, and the held-out faces it agrees
    with as a store, where the photo folder's labels.csv has raters' readings; else None."""
    if folder is None or not folder.is_dir() or photos.paths is None:
        return None
    try:
        readings = {photo.name: photo for photo in read_labelled_folder(folder)[0]}
    except PhotoFolderError:
        return None
    held_out = np.flatnonzero(photos.split_rows("private_test"))
    rated = [row for row in held_out if getattr(readings.get(photos.paths[row]), "raters_label", None)]
    if not rated:
        return None
    class_names = list(photos.class_names)
    raters = compute_metrics(photos.labels[rated], [class_names.index(readings[photos.paths[row]].raters_label)
                                                    for row in rated], class_names)
    agreed = [row for row in rated if readings[photos.paths[row]].raters_agree]
    return {"accuracy": raters["accuracy"], "macro_f1": raters["macro_f1"], "faces": len(rated),
            "agreed_faces": len(agreed), "agreed": photos.subset(agreed) if agreed else None}


def held_out_store(path: Path, test_groups: list[str]) -> FerStore:
    """A store imported before, checked to hold out exactly the people listed."""
    photos = FerStore.load(path)
    if photos.groups is None:
        raise SystemExit(f"{path}: this store has no groups; import the folder with --group-column")
    held_out = set(photos.groups[photos.split_rows("private_test")].tolist())
    if held_out != set(test_groups):
        raise SystemExit(f"{path}: its held-out people are {','.join(sorted(held_out))}, not {','.join(test_groups)}")
    return photos


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a labelled photo folder with a labels.csv naming each person, "
                        "or a store imported from one (.npz)")
    parser.add_argument("--group-column", required=True)
    parser.add_argument("--test-groups", required=True, help="comma-separated people held out for the test")
    parser.add_argument("--data", required=True, help="the FER2013 store (imported with --ferplus for both label sets)")
    parser.add_argument("--checkpoint", default="ml/weights/default.pt", help="the model to adapt (default: the shipped one)")
    parser.add_argument("--config", default="configs/finetune.yaml")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "var" / "adapt")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)

    test_groups = [group.strip() for group in args.test_groups.split(",")]
    started = time.perf_counter()
    if args.folder.suffix == ".npz":
        photos = held_out_store(args.folder, test_groups)
    else:
        photos = import_photo_folder(args.folder, group_column=args.group_column, test_groups=test_groups,
                                     val_share=0.1, seed=0)
        photos.save(args.out / "photos.npz")
    import_seconds = time.perf_counter() - started
    fer2013 = FerStore.load(args.data)
    counts = {split: int((photos.splits == code).sum()) for code, split in enumerate(("train", "validation", "test"))}
    print(f"{args.folder.name}: {counts['train']} training faces, {counts['validation']} validating, "
          f"{counts['test']} held out ({args.test_groups}); imported in {import_seconds:.0f} s", flush=True)

    raters = raters_reference(photos, args.folder if args.folder.is_dir() else Path(photos.report.get("source", "")))
    raters_agreed = raters and raters.pop("agreed")
    baseline = scores(args.checkpoint, photos, fer2013, raters_agreed)
    config = TrainConfig.from_yaml(args.config).replace(init_from=str(args.checkpoint))
    started = time.perf_counter()
    tuned = fine_tune(config, [photos, fer2013], args.out / "run", log=lambda line: print(line, flush=True))
    tune_seconds = time.perf_counter() - started
    adapted = scores(tuned.checkpoint, photos, fer2013, raters_agreed)

    print(f"\n# {args.folder.name}, held-out {args.group_column}s {args.test_groups}; {cpu_name()}, "
          f"{torch.get_num_threads()} threads; {config.name}: {tune_seconds / 60:.1f} min")
    agreed_header = f" where the raters agree ({raters['agreed_faces']} faces) |" if raters_agreed else ""
    print(f"| model | held-out people, accuracy (macro-F1) |{agreed_header} FER2013 PrivateTest "
          "| PrivateTest vs FER+ majority |")
    print("| --- | ---: |" + (" ---: |" if raters_agreed else "") + " ---: | ---: |")
    if raters:
        print(f"| the raters' majority ({raters['faces']} faces rated) | {raters['accuracy']:.1%} "
              f"({raters['macro_f1']:.3f}) |" + (" 100% |" if raters_agreed else "") + " — | — |")
    for name, row in (("shipped", baseline), (f"fine-tuned ({config.name})", adapted)):
        ferplus = f"{row['private_ferplus']:.1%}" if row["private_ferplus"] is not None else "—"
        agreed = f" {row['held_out_raters_agree']:.1%} |" if raters_agreed else ""
        print(f"| {name} | {row['held_out']:.1%} ({row['held_out_f1']:.3f}) |{agreed} {row['private']:.1%} "
              f"({row['private_f1']:.3f}) | {ferplus} |")
    save_json(args.json, {"machine": cpu_name(), "folder": str(args.folder), "test_groups": args.test_groups,
                          "fine_tune_seconds": tune_seconds, "raters": raters, "baseline": baseline,
                          "adapted": adapted})
    return 0


if __name__ == "__main__":
    sys.exit(main())
