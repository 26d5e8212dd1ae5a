"""Small builders for import tests: real PNG/JPEG bytes, Kaggle CSVs, folder trees and zips in tmp_path."""
import io
import zipfile

import pytest
from PIL import Image


class SourceBuilder:
    def __init__(self, root):
        self.root = root

    def image(self, value=100, *, size=(48, 48), mode="L", format="PNG") -> bytes:
        """A flat image of one grey `value` (colour images get a grey-equivalent RGB)."""
        colour = value if mode == "L" else (value, value, value)
        buffer = io.BytesIO()
        Image.new(mode, size, colour).save(buffer, format=format)
        return buffer.getvalue()

    def pixels(self, value=100, count=48 * 48) -> str:
        return " ".join([str(value)] * count)

    def csv(self, rows, *, header="emotion,pixels,Usage", name="fer2013.csv"):
        """`rows` are already-joined lines, or (emotion, pixels, usage) tuples in header order."""
        lines = [header] + [row if isinstance(row, str) else ",".join(map(str, row)) for row in rows]
        path = self.root / name
        path.write_text("\n".join(lines) + "\n")
        return path

    def folder(self, files: dict, *, name="fer2013"):
        root = self.root / name
        for relative, data in files.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_bytes(data)
        root.mkdir(exist_ok=True)
        return root

    def zip(self, files: dict, *, name="fer2013.zip", directories=()):
        path = self.root / name
        with zipfile.ZipFile(path, "w") as archive:
            for directory in directories:
                archive.writestr(directory.rstrip("/") + "/", b"")
            for relative, data in files.items():
                archive.writestr(relative, data)
        return path

    def kaggle_files(self, per_class: dict, *, prefixed=True) -> dict:
        """{class folder: (n_train, n_public, n_private)} -> Kaggle-named files, each face a distinct grey.

        Un-prefixed, the public and private counts both land in test/ with plain names.
        """
        files, value = {}, 0
        for folder, (n_train, n_public, n_private) in per_class.items():
            groups = [("train", "Training", n_train), ("test", "PublicTest", n_public)]
            for top, prefix, count in [*groups, ("test", "PrivateTest", n_private)]:
                for i in range(count):
                    stem = f"{prefix}_{value:05d}" if prefixed else f"{prefix.lower()}{value:05d}"
                    files[f"{top}/{folder}/{stem}.png"] = self.image(value % 256)
                    value += 1
        return files


@pytest.fixture
def make(tmp_path):
    return SourceBuilder(tmp_path)
