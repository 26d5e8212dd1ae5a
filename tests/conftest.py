"""Session-wide fixtures: the real FER2013 archive, imported once and cached between runs."""
import os
from pathlib import Path

import pytest

from ml.data import DataImportError, FerStore, import_fer2013
from ml.data.entry_sources import file_sha256

TEST_CACHE = Path(__file__).resolve().parent.parent / "var" / "test-cache"


def pytest_addoption(parser):
    parser.addoption(
        "--database", choices=["sqlite", "postgresql"], default="sqlite",
        help="the test database: a SQLite file (default), or a PostgreSQL server the run starts itself "
             "(`make test` runs the tests marked `database` on both)",
    )


@pytest.fixture(scope="session")
def fer2013_zip() -> Path:
    """The real archive named by FER2013_ZIP (CI sets it); tests needing it skip only when it is unset."""
    path = os.environ.get("FER2013_ZIP")
    if not path:
        pytest.skip("FER2013_ZIP is not set")
    return Path(path)


@pytest.fixture(scope="session")
def ferplus_votes() -> Path:
    """The FER+ votes file named by FERPLUS_VOTES (the Makefile and CI set it beside FER2013_ZIP)."""
    path = os.environ.get("FERPLUS_VOTES")
    if not path:
        pytest.skip("FERPLUS_VOTES is not set")
    return Path(path)


@pytest.fixture(scope="session")
def fer2013_store(fer2013_zip) -> FerStore:
    """The real archive, with its FER+ votes where FERPLUS_VOTES names them."""
    votes = os.environ.get("FERPLUS_VOTES") or None
    # Keyed by the archive's (and votes') hash, so a different archive never reuses a stale import.
    key = file_sha256(fer2013_zip)[:16] + (f"-ferplus-{file_sha256(votes)[:12]}" if votes else "")
    cached = TEST_CACHE / f"fer2013-{key}.npz"
    if cached.exists():
        try:
            store = FerStore.load(cached)
            if store.paths is not None:
                return store
        except DataImportError:
            pass  # written by an older store format: import again
    import_fer2013(fer2013_zip, ferplus=votes).save(cached)
    return FerStore.load(cached)


@pytest.fixture(scope="session")
def fer2013_small_store(fer2013_store) -> FerStore:
    return fer2013_store.subsample(max_per_split=700, seed=0)
