"""The drift decision's false-alarm and detection rates, measured on fixed seeds with the job's own
code (model_code/drift/calibration.py: eleven features of every kind, among them a 20-valued
code; no-drift windows drawn fresh from the training distributions). The README's table shows
the same figures at every size; `python -m model_code.drift.calibration` prints it."""

from __future__ import annotations

import numpy as np
import pytest

from model_code.drift import calibration
from model_code.drift import stats as stats_module
from model_code.drift.stats import FeatureDrift, critical_psi

WINDOWS = 1000
# The README's table, rows 100, 200 and 500 (1,000 windows each, seed 1).
OLD_100, OLD_200 = 0.864, 0.086
JOB_200 = 0.001
DETECTED_500 = 0.883


@pytest.fixture(scope="module")
def baseline() -> dict[str, dict]:
    return calibration.training_baseline()


def test_the_baseline_has_every_kind_of_feature(baseline: dict[str, dict]):
    kinds = {name: (stats["kind"], len(stats["proportions"])) for name, stats in baseline.items()}
    assert kinds == {
        **{f"f{i:02d}": ("continuous", 10) for i in range(8)},
        "f08": ("discrete", 3), "f09": ("discrete", 4), "f10": ("discrete", 21),
    }  # fmt: skip


@pytest.mark.parametrize(("rows", "old", "job"), [(200, OLD_200, JOB_200), (500, 0.0, 0.0)])
def test_no_drift_false_alarms_are_at_most_one_percent_from_the_minimum_window_up(
    baseline: dict[str, dict], rows: int, old: float, job: float
):
    measured = calibration.rates(baseline, rows, WINDOWS, seed=1)
    # The old rule (max PSI > 0.2, no minimum) cried wolf on small windows; the job's rule does not.
    assert (measured.old, measured.job) == (old, job)
    assert measured.job <= 0.01


def test_windows_under_the_minimum_are_insufficient_data_and_never_flag(baseline: dict[str, dict]):
    # At 100 rows the old rule alarmed on most no-drift windows (the 21-bin code's noise alone
    # scores about 0.2); below min_records (200) the job flags nothing.
    measured = calibration.rates(baseline, 100, WINDOWS, seed=1)
    assert (measured.old, measured.job) == (OLD_100, 0.0)


def test_a_half_sd_shift_in_one_feature_is_detected_at_500_rows(baseline: dict[str, dict]):
    measured = calibration.rates(baseline, 500, WINDOWS, seed=1, shift=0.5)
    # The shift's true PSI on ten decile bins is 0.238, just over the 0.2 effect size that
    # counts, so about nine windows in ten see it over 0.2 (the drift alarm, 2 of 3 runs, then
    # fires with probability about 0.97).
    assert measured.job == DETECTED_500


def test_the_critical_value_grows_with_bins_and_shrinks_with_rows(baseline: dict[str, dict]):
    alpha = 0.01 / len(baseline)
    ten_bins = [critical_psi(np.array(baseline["f00"]["proportions"]), 5000, rows, alpha) for rows in (200, 1000)]
    code = [critical_psi(np.array(baseline["f10"]["proportions"]), 5000, rows, alpha) for rows in (200, 1000)]
    assert ten_bins[0] > ten_bins[1] and code[0] > code[1]
    # At 200 rows the 21-bin code's noise alone can exceed the 0.2 threshold: only its critical
    # value keeps it from alarming.
    assert code[0] > 0.2 > ten_bins[0]


def test_the_critical_value_is_reproducible(baseline: dict[str, dict]):
    proportions = np.array(baseline["f09"]["proportions"])
    first = critical_psi(proportions, 5000, 321, 0.001)
    stats_module._critical_psi.cache_clear()  # computed again, not read from the cache
    assert critical_psi(proportions.copy(), 5000, 321, 0.001) == first


def test_a_real_shift_in_a_flag_is_flagged_at_the_minimum_window(baseline: dict[str, dict]):
    rng = np.random.default_rng(3)
    rows = calibration.sample(rng, 200)
    rows[:, 8] = (rng.uniform(size=200) < 0.9).astype(np.float64)  # 30% ones -> 90% ones
    drift = FeatureDrift(baseline)
    drift.add(rows)
    summary = drift.summary(0.2)
    assert [name for name, stats in summary.items() if stats["flagged"]] == ["f08"]
