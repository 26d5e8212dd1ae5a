"""The whole upload path (decode, detect, crop, classify) scored on a folder of labelled photos.

    result = evaluate_photos("devsets/twpfe", "ml/weights/default.pt")
    save_photo_evaluation(result)            # merged into photo_eval.json beside the checkpoint
    load_photo_evaluations("ml/weights/default.pt")   # {"twpfe": result}, for the model card and run page

A folder is `<class>/<image>` sub-folders or a `labels.csv` with a `path,label` header (other columns
ignored, paths relative to the folder; it wins when both are there). Labels are FER2013 class names in
any case. Each photo goes through `load_image` and `EmotionPredictor.analyse`, exactly as an upload does,
and the largest face found is its prediction. It is scored two ways:

- `strict`: no face found is a miss. Such a photo is predicted as an extra index (len(class_names)) that
  no metric counts as a class: it lowers its true class's recall, accuracy and F1, and is left out of
  the 7x7 `confusion_matrix`, so row i sums to support minus `no_face_per_class[i]`.
- `whole_image_fallback`: where no face was found, the whole image is classified as the face, as the
  upload page offers; its confusion matrix rows sum to the support.

A photo that cannot be read or decoded does not stop the evaluation: it is listed in `skipped` with the
reason, and the rest is scored.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ml.classes import FER_CLASSES
from ml.evaluate import compute_metrics
from ml.inference.images import MAX_BYTES, MAX_PIXELS, ImageError, load_image
from ml.inference.predictor import EmotionPredictor

LABELS_FILE = "labels.csv"
RESULT_FILE = "photo_eval.json"  # beside the checkpoint, one entry per photo set


class PhotoFolderError(ValueError):
    """A folder we cannot evaluate; `str(error)` says what to fix."""


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    name: str  # as the folder names it: relative, with forward slashes
    label: str  # a FER2013 class name, spelled as in FER_CLASSES
    # Where a labels.csv also carries raters' readings (a `vote_top` and an `agree` column): the class the
    # most raters chose, and whether the raters' majority matches the label.
    raters_label: str | None = None
    raters_agree: bool | None = None
    row: int | None = None  # its line in labels.csv (header is line 1), None for class sub-folders
    columns: tuple[tuple[str, str], ...] = ()  # every labels.csv column of its row, lower-cased names


def read_labelled_folder(folder: str | os.PathLike) -> tuple[list[LabelledPhoto], str]:
    """The photos of `folder` with their labels, and where the labels came from ("labels.csv" or "sub-folders")."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PhotoFolderError(f"{folder} is not a folder")
    csv_path = folder / LABELS_FILE
    if csv_path.is_file():
        photos, source = _read_labels_csv(folder, csv_path), LABELS_FILE
    else:
        photos, source = _read_class_folders(folder), "sub-folders"
    if not photos:
        raise PhotoFolderError(
            f"no labelled photos in {folder}: expected <class>/<image> sub-folders or a {LABELS_FILE} "
            f"with a path,label header; labels are {_valid_labels()}"
        )
    return photos, source


def _read_labels_csv(folder: Path, csv_path: Path) -> list[LabelledPhoto]:
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [name.strip().lower() for name in reader.fieldnames or []]
            if "path" not in columns or "label" not in columns:
                raise PhotoFolderError(f"{csv_path}: the header must name the columns path and label, "
                                       f"it has {', '.join(reader.fieldnames or []) or 'nothing'}")
            reader.fieldnames = columns
            photos = []
            for row in reader:
                where = f"{csv_path} row {reader.line_num}"
                name = (row.get("path") or "").strip()
                if not name:
                    raise PhotoFolderError(f"{where}: the path is empty")
                path = folder / name
                if not path.is_file():
                    raise PhotoFolderError(f"{where}: {name} is not a file in {folder}")
                raters_label = raters_agree = None
                if (row.get("vote_top") or "").strip():
                    raters_label = _class_name(row["vote_top"], f"{where}, vote_top")
                if (row.get("agree") or "").strip() in ("0", "1"):
                    raters_agree = row["agree"].strip() == "1"
                photos.append(LabelledPhoto(path, Path(name).as_posix(), _class_name(row.get("label"), where),
                                            raters_label, raters_agree, reader.line_num,
                                            tuple((key, (value or "").strip()) for key, value in row.items() if key)))
    except (UnicodeDecodeError, csv.Error) as error:
        raise PhotoFolderError(f"{csv_path} is not a readable CSV file: {error}") from None
    return photos


def _read_class_folders(folder: Path) -> list[LabelledPhoto]:
    photos = []
    for class_folder in sorted(folder.iterdir()):
        if not class_folder.is_dir() or class_folder.name.startswith("."):
            continue  # loose files carry no label
        label = _class_name(class_folder.name, f"{folder}: sub-folder {class_folder.name}")
        for path in sorted(class_folder.rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts):
                photos.append(LabelledPhoto(path, path.relative_to(folder).as_posix(), label))
    return photos


def _class_name(label: str | None, where: str) -> str:
    by_lower = {name.lower(): name for name in FER_CLASSES}
    name = (label or "").strip().lower()
    if name not in by_lower:
        raise PhotoFolderError(f"{where}: unknown label {label!r}; valid labels are {_valid_labels()} (any case)")
    return by_lower[name]


def _valid_labels() -> str:
    return ", ".join(name.lower() for name in FER_CLASSES)


def evaluate_photos(
    folder: str | os.PathLike,
    checkpoint: str | os.PathLike,
    *,
    predictor: EmotionPredictor | None = None,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Score the checkpoint's upload path on a labelled folder, strictly and with the whole-image fallback.

    `predictor` (one built from `checkpoint`) saves loading it again; `progress(done, total)` is called
    after every photo. The limits default to the upload page's.
    """
    started = time.perf_counter()
    photos, labels_from = read_labelled_folder(folder)
    predictor = predictor or EmotionPredictor.from_checkpoint(checkpoint)
    class_names = list(predictor.class_names)
    no_face_index = len(class_names)  # predicted when strict scoring finds no face: never a class
    y_true, strict, fallback, skipped, scored = [], [], [], [], []
    for done, photo in enumerate(photos, start=1):
        if photo.label not in class_names:
            skipped.append({"path": photo.name, "reason": f"{photo.label} is not one of the model's classes"})
        else:
            try:
                image = load_image(photo.path.read_bytes(), max_bytes=max_bytes, max_pixels=max_pixels)
            except (OSError, ImageError) as error:
                skipped.append({"path": photo.name, "reason": str(error)})
            else:
                face = _largest_face(predictor.analyse(image))
                found = class_names.index(face.label) if face else no_face_index
                if face is None:
                    face = _largest_face(predictor.analyse(image, whole_image=True))
                y_true.append(class_names.index(photo.label))
                scored.append(photo)
                strict.append(found)
                fallback.append(class_names.index(face.label) if face else no_face_index)
        if progress:
            progress(done, len(photos))
    if not y_true:
        first = skipped[0]
        raise PhotoFolderError(f"none of the {len(photos)} photos in {folder} could be scored "
                               f"({first['path']}: {first['reason']})")
    strict_metrics = compute_metrics(y_true, strict, class_names)
    strict_metrics["no_face_per_class"] = [
        sum(1 for true, predicted in zip(y_true, strict) if true == i and predicted == no_face_index)
        for i in range(len(class_names))
    ]
    return {
        "folder": str(folder),
        "set": Path(folder).resolve().name,
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": _sha256(checkpoint),
        "model": predictor.model_name,
        "detector": predictor.detector,
        "framing": predictor.framings[predictor.detector].to_dict(),  # how faces were cut around the boxes
        "labels_from": labels_from,
        "num_photos": len(y_true),
        "skipped": skipped,
        "no_face": sum(strict_metrics["no_face_per_class"]),
        "strict": strict_metrics,
        "whole_image_fallback": compute_metrics(y_true, fallback, class_names),
        **_raters_scores(scored, strict, fallback, class_names),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _raters_scores(photos: list[LabelledPhoto], strict: list[int], fallback: list[int], class_names) -> dict:
    """Where the folder has raters' readings: the same predictions against the raters' top vote
    (`raters_top_vote`), and against the label on the photos the raters agree with (`raters_agree`)."""
    scores = {}
    with_vote = [i for i, photo in enumerate(photos) if photo.raters_label in class_names]
    if with_vote:
        truth = [class_names.index(photos[i].raters_label) for i in with_vote]
        scores["raters_top_vote"] = {
            "strict": compute_metrics(truth, [strict[i] for i in with_vote], class_names),
            "whole_image_fallback": compute_metrics(truth, [fallback[i] for i in with_vote], class_names),
        }
    agreed = [i for i, photo in enumerate(photos) if photo.raters_agree]
    if agreed:
        truth = [class_names.index(photos[i].label) for i in agreed]
        scores["raters_agree"] = {
            "strict": compute_metrics(truth, [strict[i] for i in agreed], class_names),
            "whole_image_fallback": compute_metrics(truth, [fallback[i] for i in agreed], class_names),
        }
    return scores


def _largest_face(analysis):
    return max(analysis.faces, key=lambda face: face.box.w * face.box.h, default=None)


def _sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_photo_evaluation(result: dict[str, Any]) -> Path:
    """Merge `result` into photo_eval.json beside its checkpoint, under its set name (the folder's name).

    The file is replaced atomically: the run page and the model card read it at any time.
    """
    path = Path(result["checkpoint"]).parent / RESULT_FILE
    evaluations = _read_results(path) if path.exists() else {}
    if evaluations is None:
        raise PhotoFolderError(f"{path} is not a JSON object of evaluations: fix or delete it, then save again")
    evaluations[result["set"]] = result
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide it from a web server running as another user
        with os.fdopen(fd, "w") as handle:
            json.dump(evaluations, handle, indent=2)
            handle.write("\n")
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def load_photo_evaluations(checkpoint_path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The saved evaluations of this checkpoint by set name, sorted; {} when there are none.

    Entries measured on another file (a retrained or replaced checkpoint in the same folder) are left
    out: figures of an older model must not be shown as this one's.
    """
    checkpoint_path = Path(checkpoint_path)
    path = checkpoint_path.parent / RESULT_FILE
    if not path.is_file() or not checkpoint_path.is_file():
        return {}
    evaluations = _read_results(path) or {}
    sha256 = _sha256(checkpoint_path)
    return {name: result for name, result in sorted(evaluations.items())
            if isinstance(result, dict) and result.get("checkpoint_sha256") == sha256}


def _read_results(path: Path) -> dict | None:
    try:
        evaluations = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return evaluations if isinstance(evaluations, dict) else None


def summary_rows(evaluations: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per set, the columns the model card and the run page show."""
    return [
        {
            "set": name,
            "photos": result["num_photos"],
            "skipped": len(result["skipped"]),
            "no_face": result["no_face"],
            "strict_accuracy": result["strict"]["accuracy"],
            "strict_macro_f1": result["strict"]["macro_f1"],
            "fallback_accuracy": result["whole_image_fallback"]["accuracy"],
            "fallback_macro_f1": result["whole_image_fallback"]["macro_f1"],
            # The raters' readings, where the set has them (with the whole-image fallback, as served).
            "raters_top_vote_accuracy": (result.get("raters_top_vote") or {}).get("whole_image_fallback", {}).get("accuracy"),
            "raters_agree_accuracy": (result.get("raters_agree") or {}).get("whole_image_fallback", {}).get("accuracy"),
            "raters_agree_photos": (result.get("raters_agree") or {}).get("whole_image_fallback", {}).get("num_samples"),
            "command": result.get("command", ""),
            "framing": _framing_words(result),
        }
        for name, result in evaluations.items()
    ]


_BORDER_WORDS = {
    "fit": "kept inside the photo",
    "reflect": "mirrored past the photo's edge",
    "replicate": "the edge pixels repeated past the photo's edge",
    "constant": "gray past the photo's edge",
}


def _framing_words(result: dict[str, Any]) -> str:
    """How the faces were cut, in words ("" for results saved before this was recorded)."""
    framing = result.get("framing")
    if not framing:
        return ""
    levelled = ", eyes levelled" if framing["level_eyes"] else ""
    border = _BORDER_WORDS.get(framing["border"], framing["border"])
    return (f"{result['detector']}'s box, a square of {framing['scale']:g} box sides centred "
            f"({framing['offset_x']:+g}, {framing['offset_y']:+g}) box sizes off the box's centre{levelled}, {border}")
