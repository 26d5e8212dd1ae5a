"""The one exception the import raises for bad input, worded so a user can find the bad row or file."""
from __future__ import annotations


class DataImportError(ValueError):
    """Bad input: str(err) reads "fer2013.csv, row 17: pixel string has 2303 values, expected 2304".

    `source` is the file (or folder) being read; `location` is where inside it: "row 17" for a CSV
    (1-based line number, header included) or "entry train/angry/x.png" for a folder or zip.
    """

    def __init__(self, message: str, *, source: str | None = None, location: str | None = None):
        self.message = message
        self.source = source
        self.location = location
        where = ", ".join(part for part in (source, location) if part)
        super().__init__(f"{where}: {message}" if where else message)
