"""`python -m model_code.datagen`: channel CSVs from scikit-learn's bundled dataset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from model_code.datagen import breast_cancer
from tests.model_code.helpers import REPO_ROOT


def run_datagen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_code.datagen", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_writes_rows_split_over_files(tmp_path: Path):
    result = run_datagen("--out", str(tmp_path / "train"), "--rows", "1000", "--files", "3", "--seed", "4")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote 1000 rows to 3 file(s) in {tmp_path / 'train'}\n"
    files = sorted((tmp_path / "train").iterdir())
    assert [f.name for f in files] == ["part-00000.csv", "part-00001.csv", "part-00002.csv"]
    lines = [f.read_text().splitlines() for f in files]
    assert [len(f) - 1 for f in lines] == [334, 333, 333]
    header = lines[0][0].split(",")
    assert len(header) == 31 and header[0] == "mean_radius" and header[-1] == "target"
    assert all(f[0] == lines[0][0] for f in lines)


def test_the_first_569_rows_are_the_bundled_ones_and_extra_rows_are_seeded():
    small = breast_cancer(rows=569, seed=3, noise=0.05)
    large = breast_cancer(rows=800, seed=3, noise=0.05)
    assert np.array_equal(large.features[:569], small.features)
    assert not np.array_equal(large.features[569:], breast_cancer(rows=800, seed=4, noise=0.05).features[569:])
    assert np.array_equal(large.features, breast_cancer(rows=800, seed=3, noise=0.05).features)
    assert sorted(set(large.labels.tolist())) == [0, 1]


def test_more_files_than_rows_is_a_usage_error(tmp_path: Path):
    result = run_datagen("--out", str(tmp_path), "--rows", "2", "--files", "3")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "python -m model_code.datagen: error: --files 3 is more than --rows 2; each file needs a row"
    )
