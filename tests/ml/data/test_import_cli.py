"""`python -m ml import` run as a user would: a real subprocess in the repository root."""
import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from ml.data import FerStore
from ml.data.cli import add_import_parser

REPO_ROOT = Path(__file__).resolve().parents[3]


def run_ml(*args):
    return subprocess.run(
        [sys.executable, "-m", "ml", *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )


def test_importing_a_zip_saves_a_store_and_prints_its_counts(make, tmp_path):
    source = make.zip(make.kaggle_files({"happy": (3, 1, 2), "sad": (2, 1, 0)}))
    out = tmp_path / "store.npz"

    result = run_ml("import", source, "--out", out)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Class", "Training", "PublicTest", "PrivateTest", "Total"]
    assert "Happy 3 1 2 6" in [" ".join(line.split()) for line in lines]
    assert "Total 5 2 2 9" in [" ".join(line.split()) for line in lines]
    assert f"sha256 {FerStore.load(out).source_checksum}" in result.stdout
    assert len(FerStore.load(out)) == 9


def test_val_fraction_and_seed_reach_the_import(make, tmp_path, capsys):
    # In-process through the same parser: a subprocess per option would only re-test the wiring above.
    parser = argparse.ArgumentParser()
    add_import_parser(parser.add_subparsers(dest="command"))
    source = make.zip(make.kaggle_files({"happy": (20, 0, 1)}, prefixed=False))
    out = tmp_path / "store.npz"
    args = parser.parse_args(["import", str(source), "--out", str(out), "--val-fraction", "0.25", "--seed", "5"])

    assert args.handler(args) == 0
    assert FerStore.load(out).counts()["public_test"]["Happy"] == 5
    assert FerStore.load(out).report["val_seed"] == 5
    assert "validation drawn from train/" in capsys.readouterr().out


def test_a_val_fraction_outside_0_to_1_is_a_usage_error(make, capsys):
    parser = argparse.ArgumentParser()
    add_import_parser(parser.add_subparsers(dest="command"))

    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["import", "fer2013.zip", "--out", "x.npz", "--val-fraction", "1.5"])

    assert exit_.value.code == 2
    assert "must be at least 0 and below 1" in capsys.readouterr().err


def test_a_bad_csv_exits_2_with_the_row_and_no_traceback(make, tmp_path):
    source = make.csv(["0," + " ".join(["0"] * 2303) + ",Training"])
    out = tmp_path / "store.npz"

    result = run_ml("import", source, "--out", out)

    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {source}, row 2: pixel string has 2303 values")
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists()
