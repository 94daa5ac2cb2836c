"""Dev tool: measured false-alarm and detection rates of the drift decision, on fixed seeds.

    python -m model_code.drift.calibration [--windows 1000]

prints the README's calibration table (tests/model_code/test_drift_calibration.py asserts the
same figures). The data: a training set of TRAIN_ROWS rows of ten features of every kind the
baseline knows: seven standard normal, one exponential (skewed), one flag with 30% ones, one
code with three values (50/30/20%). Each window is a fresh sample of `rows` rows from the same
distributions (no drift), or the same with feature f00 shifted by `shift` standard deviations.
Per window the job's own code decides (`FeatureDrift.add` then `summary`), under three rules:
- old: any feature's PSI over 0.2, whatever the window's size (the rule before calibration);
- critical: any feature's PSI over its critical value (the significance test alone);
- job: the job's rule: PSI over both 0.2 and the critical value, nothing below min_records.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from model_code.baseline import feature_baseline
from model_code.drift.stats import DEFAULT_FALSE_ALARM_RATE, DEFAULT_MIN_RECORDS, FeatureDrift

TRAIN_ROWS = 5000
FEATURES = tuple(f"f{i:02d}" for i in range(11))
CODE_WEIGHTS = 1.0 / np.arange(1, 21)
SIZES = (50, 100, 200, 500, 1000, 5000)
PSI_THRESHOLD = 0.2


def sample(rng: np.random.Generator, rows: int, shift: float = 0.0) -> np.ndarray:
    data = np.empty((rows, len(FEATURES)))
    data[:, :7] = rng.normal(size=(rows, 7))
    data[:, 0] += shift
    data[:, 7] = rng.exponential(size=rows)
    data[:, 8] = (rng.uniform(size=rows) < 0.3).astype(np.float64)
    data[:, 9] = rng.choice([0.0, 1.0, 2.0], size=rows, p=[0.5, 0.3, 0.2])
    data[:, 10] = rng.choice(20, size=rows, p=CODE_WEIGHTS / CODE_WEIGHTS.sum()).astype(np.float64)
    return data


def training_baseline(seed: int = 0) -> dict[str, dict]:
    train = sample(np.random.default_rng(seed), TRAIN_ROWS)
    return {name: feature_baseline(train[:, i]) for i, name in enumerate(FEATURES)}


@dataclass(frozen=True)
class Rates:
    rows: int
    windows: int
    old: float  # share of windows the old rule alarms on
    critical: float
    job: float


def rates(
    baseline: dict[str, dict],
    rows: int,
    windows: int,
    seed: int,
    shift: float = 0.0,
    min_records: int = DEFAULT_MIN_RECORDS,
) -> Rates:
    rng = np.random.default_rng([seed, rows])
    old = critical = job = 0
    for _ in range(windows):
        drift = FeatureDrift(baseline)
        drift.add(sample(rng, rows, shift))
        summary = drift.summary(PSI_THRESHOLD, DEFAULT_FALSE_ALARM_RATE, min_records, every_critical=True)
        old += any(s["psi"] > PSI_THRESHOLD for s in summary.values())
        critical += any(s["psi"] > s["critical_psi"] for s in summary.values())
        job += any(s["flagged"] for s in summary.values())
    return Rates(rows, windows, old / windows, critical / windows, job / windows)


def table(windows: int, seed: int = 1) -> str:
    baseline = training_baseline()
    lines = [
        "| rows per window | windows | old rule: PSI > 0.2 | critical PSI only | job's rule | "
        "job's rule, f00 shifted 0.5 sd |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rows in SIZES:
        calm = rates(baseline, rows, windows, seed)
        shifted = rates(baseline, rows, windows, seed, shift=0.5)
        job = "insufficient data" if rows < DEFAULT_MIN_RECORDS else f"{calm.job:.1%}"
        detected = "insufficient data" if rows < DEFAULT_MIN_RECORDS else f"{shifted.job:.1%}"
        lines.append(f"| {rows:,} | {windows:,} | {calm.old:.1%} | {calm.critical:.1%} | {job} | {detected} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_code.drift.calibration", description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=1000, help="windows per size (default 1000)")
    args = parser.parse_args(argv)
    print(table(args.windows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
