"""Drift statistics against known values: PSI by hand, JS distance against scipy, binning against
`baseline.bin_counts`, and the accumulators on identical, shifted, out-of-range and missing data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from model_code.baseline import bin_counts, discrete_counts, feature_baseline
from model_code.drift.stats import PSI_FLOOR, FeatureDrift, PredictionDrift, js_distance, psi

UNIFORM = np.array([0.25, 0.25, 0.25, 0.25])


def test_psi_worked_by_hand():
    # sum (q - p) ln(q / p) for p = a quarter each, q = 0.1, 0.2, 0.3, 0.4
    by_hand = (
        (0.1 - 0.25) * math.log(0.1 / 0.25)
        + (0.2 - 0.25) * math.log(0.2 / 0.25)
        + (0.3 - 0.25) * math.log(0.3 / 0.25)
        + (0.4 - 0.25) * math.log(0.4 / 0.25)
    )
    assert psi(UNIFORM, np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.228217, abs=1e-6)


def test_psi_floors_empty_bins_instead_of_dividing_by_zero():
    value = psi(np.array([0.5, 0.5]), np.array([1.0, 0.0]))
    by_hand = (1.0 - 0.5) * math.log(1.0 / 0.5) + (PSI_FLOOR - 0.5) * math.log(PSI_FLOOR / 0.5)
    assert value == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize(
    ("p", "q"),
    [
        ([0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]),
        ([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]),
        ([0.9, 0.1], [0.1, 0.9]),
        ([1.0, 0.0], [0.0, 1.0]),
        ([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]),
    ],
)
def test_js_distance_matches_scipy_base_2(p: list[float], q: list[float]):
    assert js_distance(np.array(p), np.array(q)) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)


def test_js_distance_of_disjoint_distributions_is_one():
    assert js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0, abs=1e-12)


def baseline_of(train: np.ndarray) -> dict[str, dict]:
    return {f"f{i}": feature_baseline(train[:, i]) for i in range(train.shape[1])}


def test_binning_is_the_baselines_own_binning():
    rng = np.random.default_rng(3)
    train = rng.normal(size=(2000, 3))
    live = np.vstack([rng.normal(1.0, 2.0, size=(997, 3)), train[:3]])  # includes values equal to edges
    live[5, 1] = np.nan
    drift = FeatureDrift(baseline_of(train))
    drift.add(live[:500])
    drift.add(live[500:])
    for index, (name, stats) in enumerate(baseline_of(train).items()):
        present = live[:, index][~np.isnan(live[:, index])]
        assert drift.counts[index].tolist() == bin_counts(present, np.array(stats["bin_edges"])).tolist(), name
    edge = baseline_of(train)["f0"]["bin_edges"][3]
    one = FeatureDrift(baseline_of(train))
    one.add(np.array([[edge, 0.0, 0.0]]))
    assert (
        one.counts[0].tolist() == bin_counts(np.array([edge]), np.array(baseline_of(train)["f0"]["bin_edges"])).tolist()
    )


def test_identical_distribution_has_no_drift():
    rng = np.random.default_rng(4)
    train = rng.normal(size=(5000, 2))
    drift = FeatureDrift(baseline_of(train))
    drift.add(train)
    summary = drift.summary(psi_threshold=0.2)
    for stats in summary.values():
        assert abs(stats["psi"]) < 1e-12
        assert stats["js_distance"] < 1e-6
        assert (stats["missing_rate"], stats["out_of_range_rate"], stats["flagged"]) == (0.0, 0.0, False)


def test_a_shifted_feature_is_flagged_and_the_other_is_not():
    rng = np.random.default_rng(5)
    train = rng.normal(size=(5000, 2))
    live = rng.normal(size=(5000, 2))
    live[:, 1] += 1.0
    drift = FeatureDrift(baseline_of(train))
    drift.add(live)
    summary = drift.summary(psi_threshold=0.2)
    assert summary["f0"]["psi"] < 0.02 and not summary["f0"]["flagged"]
    assert summary["f1"]["psi"] > 0.5 and summary["f1"]["flagged"]
    assert summary["f1"]["js_distance"] > summary["f0"]["js_distance"]


def test_out_of_range_and_missing_rates():
    train = np.linspace(0.0, 4.0, 101)[:, None]  # continuous: more than 20 distinct values
    drift = FeatureDrift(baseline_of(train))
    drift.add(np.array([[-1.0], [0.0], [4.0], [4.5], [np.nan], [100.0], [2.0], [np.nan]]))
    stats = drift.summary(psi_threshold=0.2)["f0"]
    assert (stats["missing"], stats["out_of_range"]) == (2, 3)
    assert (stats["missing_rate"], stats["out_of_range_rate"]) == (2 / 8, 3 / 8)
    # Out-of-range values still land in the open-ended outer bins; missing ones in none.
    assert sum(stats["counts"]) == 6
    assert stats["counts"][0] == 2 and stats["counts"][-1] == 3


def test_a_feature_with_only_missing_values_has_no_psi():
    train = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]])
    drift = FeatureDrift(baseline_of(train))
    drift.add(np.array([[np.nan, 1.5], [np.nan, 2.5]]))
    stats = drift.summary(psi_threshold=0.2)
    assert (stats["f0"]["psi"], stats["f0"]["js_distance"], stats["f0"]["missing_rate"]) == (None, None, 1.0)
    assert stats["f0"]["flagged"] is False
    # The other feature is measured as usual: its two live values against its baseline bins.
    # Three training values make it discrete, and 1.5 and 2.5 are neither: both are "other".
    f1 = baseline_of(train)["f1"]
    assert stats["f1"]["counts"] == discrete_counts(np.array([1.5, 2.5]), np.array(f1["values"])).tolist()
    assert stats["f1"]["counts"] == [0, 0, 0, 2]
    assert stats["f1"]["psi"] == pytest.approx(psi(np.array(f1["proportions"]), np.array([0, 0, 0, 1.0])), rel=1e-12)


def test_no_rows_means_no_figures():
    drift = FeatureDrift(baseline_of(np.arange(10.0).reshape(5, 2)))
    assert drift.summary(psi_threshold=0.2) == {}


def test_prediction_drift_compares_predicted_classes_and_probabilities():
    baseline = {
        "classes": ["0", "1"],
        "predicted_proportions": [0.5, 0.5],
        "probability_bin_edges": [i / 10 for i in range(11)],
        "probability_counts": {"0": [0, 0, 0, 0, 5, 5, 0, 0, 0, 0], "1": [0, 0, 0, 0, 5, 5, 0, 0, 0, 0]},
    }
    drift = PredictionDrift(baseline)
    drift.add(np.array([1, 1, 1, 0]), np.array([[0.05, 0.95], [0.05, 0.95], [0.45, 0.55]]))
    summary = drift.summary()
    assert summary["class_counts"] == [1, 3]
    assert summary["psi"] == pytest.approx(psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])), rel=1e-12)
    assert summary["probability"]["1"]["counts"] == [0, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert summary["probability"]["0"]["counts"] == [2, 0, 0, 0, 1, 0, 0, 0, 0, 0]


# ---------------------------------------------------------------------------------------------
# Discrete features: one bin per training value, and an "other" bin


def test_a_binary_feature_gets_a_bin_per_value_and_its_shift_is_flagged():
    # 30% ones in training; quantile bins would merge 0 and 1 into one bin and score a shift to
    # 90% ones PSI 0.0.
    train = np.array([1.0] * 300 + [0.0] * 700)[:, None]
    stats = feature_baseline(train[:, 0])
    assert (stats["kind"], stats["values"], stats["counts"]) == ("discrete", [0.0, 1.0], [700, 300, 0])
    assert stats["proportions"] == [0.7, 0.3, 0.0]
    drift = FeatureDrift({"flag": stats})
    drift.add(np.array([1.0] * 900 + [0.0] * 100)[:, None])
    summary = drift.summary(psi_threshold=0.2)["flag"]
    assert summary["counts"] == [100, 900, 0]
    # (0.1 - 0.7) ln(0.1/0.7) + (0.9 - 0.3) ln(0.9/0.3) + (1e-4 - 1e-4) ln 1 = 0.6 ln 7 + 0.6 ln 3
    assert summary["psi"] == pytest.approx(0.6 * np.log(7) + 0.6 * np.log(3), rel=1e-12)
    assert summary["psi"] == pytest.approx(1.8267, abs=1e-4)
    assert summary["flagged"] is True


def test_a_three_valued_feature_gets_three_bins_and_unseen_values_go_to_other():
    train = np.array([0.0] * 50 + [1.0] * 30 + [2.0] * 20)
    stats = feature_baseline(train)
    assert (stats["values"], stats["counts"], stats["proportions"]) == (
        [0.0, 1.0, 2.0],
        [50, 30, 20, 0],
        [0.5, 0.3, 0.2, 0.0],
    )
    drift = FeatureDrift({"code": stats})
    drift.add(np.array([[0.0], [1.0], [2.0], [3.0], [0.5], [-1.0], [np.nan], [2.0]]))
    summary = drift.summary(psi_threshold=0.2)["code"]
    assert summary["counts"] == [1, 1, 2, 3]
    assert (summary["missing"], summary["out_of_range"]) == (1, 2)  # 3.0 and -1.0; 0.5 is inside


def test_a_constant_training_feature_is_discrete_with_one_value():
    stats = feature_baseline(np.full(20, 4.0))
    assert (stats["kind"], stats["values"], stats["counts"], stats["proportions"]) == (
        "discrete", [4.0], [20, 0], [1.0, 0.0]
    )  # fmt: skip


def test_twenty_values_are_discrete_and_twenty_one_continuous():
    assert feature_baseline(np.arange(20.0))["kind"] == "discrete"
    assert feature_baseline(np.arange(21.0))["kind"] == "continuous"


def test_a_version_1_baseline_without_kinds_is_binned_by_its_edges():
    old = {"rows": 4, "bin_edges": [0.0, 1.0, 2.0], "counts": [2, 2], "proportions": [0.5, 0.5], "min": 0.0, "max": 2.0}
    drift = FeatureDrift({"f": old})
    drift.add(np.array([[0.5], [1.5], [1.7], [9.0]]))
    assert drift.summary(psi_threshold=0.2)["f"]["counts"] == [1, 3]


def test_partial_accumulators_merge_to_the_whole():
    rng = np.random.default_rng(8)
    train = np.column_stack([rng.normal(size=3000), rng.integers(0, 3, size=3000)])
    live = np.column_stack([rng.normal(0.3, 1.0, size=2000), rng.integers(0, 4, size=2000)])
    live[::7, 0] = np.nan
    baseline = baseline_of(train)
    whole = FeatureDrift(baseline)
    whole.add(live)
    parts = [FeatureDrift(baseline) for _ in range(3)]
    for part, rows in zip(parts, np.array_split(live, 3), strict=True):
        part.add(rows)
    merged = FeatureDrift(baseline)
    for part in parts:
        restored = FeatureDrift(baseline)
        restored.load(json.loads(json.dumps(part.state())))
        merged.merge(restored)
    assert merged.summary(psi_threshold=0.2) == whole.summary(psi_threshold=0.2)
