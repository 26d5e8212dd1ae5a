"""Fixtures for the ml tests: a small synthetic FER store whose classes are learnable."""
import numpy as np
import pytest
from PIL import Image

from ml.classes import FER_CLASSES, SPLITS
from ml.data import FerStore


def make_pattern_faces(count_per_class: int, seed: int, num_classes: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """48x48 noise with a bright block whose position encodes the class: easy to learn, cheap to make."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in range(num_classes):
        for _ in range(count_per_class):
            image = rng.integers(0, 90, size=(48, 48), dtype=np.uint8)
            row, col = divmod(label, 3)
            image[4 + row * 14 : 14 + row * 14, 4 + col * 14 : 14 + col * 14] = 230
            images.append(image)
            labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


def make_synthetic_store(train_per_class=24, val_per_class=8, test_per_class=8, seed=0) -> FerStore:
    parts = [make_pattern_faces(n, seed + i) for i, n in enumerate((train_per_class, val_per_class, test_per_class))]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    splits = np.concatenate([np.full(len(p[1]), code, dtype=np.uint8) for code, p in enumerate(parts)])
    return FerStore(
        images=images,
        labels=labels,
        splits=splits,
        class_names=FER_CLASSES,
        source_checksum="synthetic",
        report={"source": "synthetic", "format": "synthetic"},
    )


@pytest.fixture
def synthetic_store() -> FerStore:
    # Small on purpose: the loop tests check behaviour, and convolutions on a 2-core CPU are slow.
    return make_synthetic_store(train_per_class=8, val_per_class=4, test_per_class=4)


@pytest.fixture
def synthetic_zip(tmp_path):
    """The synthetic faces written as a Kaggle-layout zip, for command-line tests."""
    import zipfile

    path = tmp_path / "faces.zip"
    folder_names = [name.lower() for name in FER_CLASSES]
    prefixes = {"train": "Training", "public_test": "PublicTest", "private_test": "PrivateTest"}
    with zipfile.ZipFile(path, "w") as archive:
        for code, split in enumerate(SPLITS):
            images, labels = make_pattern_faces(12 if split == "train" else 4, seed=code)
            top = "train" if split == "train" else "test"
            for i, (image, label) in enumerate(zip(images, labels)):
                name = f"{top}/{folder_names[label]}/{prefixes[split]}_{i:05d}.png"
                with archive.open(name, "w") as entry:
                    Image.fromarray(image).save(entry, format="PNG")
    return path
