"""Write a training channel of CSV files from scikit-learn's bundled breast-cancer dataset.

    python -m model_code.datagen --out DIR [--rows N] [--files K] [--seed S] [--noise F]

The dataset (569 rows, 30 numeric features, label 0 = malignant / 1 = benign) ships inside
the scikit-learn wheel, so nothing is downloaded. The original rows come first in a seeded
order; rows beyond 569 are seeded resamples with Gaussian noise of `noise` x each feature's
standard deviation, so larger, slower-to-train datasets keep the same structure.

This is a development tool: scikit-learn is needed here only (requirements-dev.txt), not in
the container image.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_code.exit_codes import EXIT_OK, EXIT_USAGE

LABEL = "target"


@dataclass(frozen=True)
class Dataset:
    feature_names: tuple[str, ...]
    features: np.ndarray
    labels: np.ndarray


def breast_cancer(rows: int, seed: int, noise: float) -> Dataset:
    # Imported here: scikit-learn is a dev-only dependency, absent from the image.
    from sklearn.datasets import load_breast_cancer

    bundled = load_breast_cancer()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(bundled.target))
    features, labels = bundled.data[order], bundled.target[order]
    extra = rows - len(labels)
    if extra > 0:
        picks = rng.integers(0, len(labels), size=extra)
        jitter = rng.normal(size=(extra, features.shape[1])) * features.std(axis=0) * noise
        features = np.vstack([features, features[picks] + jitter])
        labels = np.concatenate([labels, labels[picks]])
    names = tuple(name.replace(" ", "_") for name in bundled.feature_names)
    return Dataset(names, features[:rows], labels[:rows])


def write_channel(dataset: Dataset, out: Path, files: int) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    header = ",".join((*dataset.feature_names, LABEL))
    written = []
    chunks = np.array_split(np.arange(len(dataset.labels)), files)
    for number, rows in enumerate(chunks):
        path = out / f"part-{number:05d}.csv"
        table = np.column_stack([dataset.features[rows], dataset.labels[rows]])
        fmt = ["%.10g"] * len(dataset.feature_names) + ["%d"]
        np.savetxt(path, table, fmt=fmt, delimiter=",", header=header, comments="")
        written.append(path)
    return written


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 1 (got {text})")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model_code.datagen", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="channel directory to write")
    parser.add_argument("--rows", type=positive_int, default=569, help="rows in total (default 569)")
    parser.add_argument("--files", type=positive_int, default=1, help="CSV files to split into")
    parser.add_argument("--seed", type=int, default=0, help="seed for order, resampling, noise")
    parser.add_argument(
        "--noise", type=float, default=0.05, help="noise on resampled rows, in feature standard deviations"
    )
    args = parser.parse_args(argv)
    if args.files > args.rows:
        parser.error(f"--files {args.files} is more than --rows {args.rows}; each file needs a row")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    paths = write_channel(breast_cancer(args.rows, args.seed, args.noise), args.out, args.files)
    print(f"wrote {args.rows} rows to {len(paths)} file(s) in {args.out}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
