"""A zip of a labelled photo folder, checked before it is kept and unpacked safely by the worker.

Refused: what is not a zip, one larger than PHOTO_IMPORT_MAX_BYTES, one holding more than
PHOTO_IMPORT_MAX_FILES files or unpacking to more than PHOTO_IMPORT_MAX_UNPACKED_BYTES (counted again while
unpacking: a zip's headers may lie), and any entry that is encrypted, a link, or whose path is absolute or
climbs out with "..". Nothing is written outside the folder it is unpacked into.
"""
from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from django.conf import settings

CHUNK = 1 << 20
IGNORED_TOP = ("__MACOSX",)  # what macOS's Finder adds to the zips it makes


class ArchiveRefused(ValueError):
    """A zip we will not unpack; the message says why and names the entry."""


def _size(value: int) -> str:
    return f"{value / 2**20:,.1f} MB"


def check_zip(source) -> list[zipfile.ZipInfo]:
    """The zip's file entries, or ArchiveRefused. `source`: a path or a file object (an upload)."""
    size = _file_size(source)
    if size is not None and size > settings.PHOTO_IMPORT_MAX_BYTES:
        raise ArchiveRefused(f"the zip is {_size(size)}; the limit is {_size(settings.PHOTO_IMPORT_MAX_BYTES)}")
    try:
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ArchiveRefused(f"not a readable zip file ({error})") from None
    finally:
        if hasattr(source, "seek"):
            source.seek(0)
    files = []
    unpacked = 0
    for info in infos:
        _check_entry(info)
        if info.is_dir():
            continue
        files.append(info)
        unpacked += info.file_size
    if len(files) > settings.PHOTO_IMPORT_MAX_FILES:
        raise ArchiveRefused(f"the zip holds {len(files):,} files; the limit is {settings.PHOTO_IMPORT_MAX_FILES:,}")
    if unpacked > settings.PHOTO_IMPORT_MAX_UNPACKED_BYTES:
        raise ArchiveRefused(f"the zip unpacks to {_size(unpacked)}; the limit is "
                             f"{_size(settings.PHOTO_IMPORT_MAX_UNPACKED_BYTES)}")
    if not files:
        raise ArchiveRefused("the zip holds no files")
    return files


def _file_size(source) -> int | None:
    if isinstance(source, (str, Path)):
        return Path(source).stat().st_size
    return getattr(source, "size", None)


def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ArchiveRefused(f"entry {name}: an unsafe path (absolute, or climbing out with '..')")
    if info.flag_bits & 0x1:
        raise ArchiveRefused(f"entry {name}: encrypted")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArchiveRefused(f"entry {name}: a symbolic link")


def unpack_zip(source: Path, target: Path) -> Path:
    """Unpack the checked zip into `target` (which must exist), and return the folder holding the photos:
    `target` itself, or the one folder the zip wraps them in."""
    files = check_zip(source)
    budget = settings.PHOTO_IMPORT_MAX_UNPACKED_BYTES
    root = target.resolve()
    with zipfile.ZipFile(source) as archive:
        for info in files:
            relative = PurePosixPath(info.filename.replace("\\", "/"))
            if relative.parts[0] in IGNORED_TOP or any(part.startswith(".") for part in relative.parts):
                continue
            destination = (root / Path(*relative.parts)).resolve()
            if root not in destination.parents:
                raise ArchiveRefused(f"entry {info.filename}: an unsafe path")
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as packed, open(destination, "wb") as unpacked:
                    while chunk := packed.read(CHUNK):
                        budget -= len(chunk)
                        if budget < 0:
                            raise ArchiveRefused(f"the zip unpacks to more than "
                                                 f"{_size(settings.PHOTO_IMPORT_MAX_UNPACKED_BYTES)}, the limit")
                        unpacked.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as error:  # corrupt, or a CRC mismatch
                raise ArchiveRefused(f"entry {info.filename}: unreadable ({error})") from None
    return photo_root(target)


def photo_root(folder: Path) -> Path:
    """The folder with labels.csv or the class sub-folders: a zip made by compressing a folder wraps them in it."""
    while not (folder / "labels.csv").is_file():
        entries = [entry for entry in folder.iterdir()
                   if not entry.name.startswith(".") and entry.name not in IGNORED_TOP]
        if len(entries) != 1 or not entries[0].is_dir():
            break
        from ml.classes import FER_CLASSES

        if entries[0].name.lower() in {name.lower() for name in FER_CLASSES}:
            break  # a single class sub-folder: the photos are here
        folder = entries[0]
    return folder


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
