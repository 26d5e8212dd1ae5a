"""The files of a folder-layout dataset, from a directory or straight out of a zip (nothing extracted).

Both give sorted relative POSIX paths and a way to read one; junk such as `__MACOSX/` and hidden files
is left out here so the layout rules never see it.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path, PurePosixPath

from ml.data.errors import DataImportError

# A face is a few kB; anything near this is not a face and may be a zip bomb.
MAX_ENTRY_BYTES = 32 * 1024 * 1024


def is_junk(relative_path: str) -> bool:
    return any(part == "__MACOSX" or part.startswith(".") for part in relative_path.split("/"))


class DirectoryEntries:
    format = "folder"

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.source = os.fspath(root)
        self.names = sorted(
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not is_junk(path.relative_to(self.root).as_posix())
        )

    def read(self, name: str) -> bytes:
        try:
            return (self.root / name).read_bytes()
        except OSError as error:
            raise DataImportError(
                f"cannot read file ({error.strerror})", source=self.source, location=f"entry {name}"
            ) from error

    def close(self) -> None:
        pass


class ZipEntries:
    format = "zip"

    def __init__(self, path: str | os.PathLike):
        self.source = os.fspath(path)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise DataImportError(f"not a readable zip file ({error})", source=self.source) from error
        infos = self._zip.infolist()
        for info in infos:  # every entry is checked before any is read
            _refuse_unsafe_name(info.filename, self.source)
        self._infos = {
            info.filename: info for info in infos if not info.is_dir() and not is_junk(info.filename)
        }
        self.names = sorted(self._infos)

    def read(self, name: str) -> bytes:
        info = self._infos[name]
        if info.file_size > MAX_ENTRY_BYTES:
            raise DataImportError(
                f"entry is {info.file_size:,} bytes, too large for a face image",
                source=self.source,
                location=f"entry {name}",
            )
        try:
            return self._zip.read(info)
        except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as error:
            raise DataImportError(
                f"cannot read entry ({error})", source=self.source, location=f"entry {name}"
            ) from error

    def close(self) -> None:
        self._zip.close()


def _refuse_unsafe_name(name: str, source: str) -> None:
    posix = PurePosixPath(name.replace("\\", "/"))
    drive_letter = len(name) > 1 and name[1] == ":"
    if posix.is_absolute() or drive_letter or ".." in posix.parts:
        raise DataImportError(
            "unsafe path (absolute or with '..') in zip", source=source, location=f"entry {name}"
        )


def file_sha256(path: str | os.PathLike) -> str:
    with open(path, "rb") as source_file:
        return hashlib.file_digest(source_file, "sha256").hexdigest()
