"""baseline.json, the drift job's reference: exact structure and self-consistent numbers."""

from __future__ import annotations

import json

import numpy as np

from model_code.baseline import bin_counts, quantile_bin_edges
from tests.model_code.helpers import Job

FEATURE_KEYS = [
    "rows",
    "kind",
    "bin_edges",
    "counts",
    "proportions",
    "quantiles",
    "min",
    "max",
    "mean",
    "std",
    "missing_rate",
]


def test_baseline_structure(bundled_run: Job):
    baseline = json.loads((bundled_run.model_dir / "baseline.json").read_text())
    assert list(baseline) == ["format_version", "features", "label", "prediction"]
    assert baseline["format_version"] == 2
    assert len(baseline["features"]) == 30
    assert list(baseline["features"])[:2] == ["mean_radius", "mean_texture"]
    for name, stats in baseline["features"].items():
        assert list(stats) == FEATURE_KEYS, name
        assert list(stats["quantiles"]) == ["p01", "p05", "p25", "p50", "p75", "p95", "p99"], name
        assert stats["rows"] == 455 and sum(stats["counts"]) == 455, name
        assert len(stats["bin_edges"]) == len(stats["counts"]) + 1 <= 11, name
        assert stats["bin_edges"][0] == stats["min"] and stats["bin_edges"][-1] == stats["max"], name
        assert abs(sum(stats["proportions"]) - 1.0) < 1e-12, name
        assert stats["missing_rate"] == 0.0, name
    assert list(baseline["label"]) == ["name", "rows", "classes", "counts", "proportions"]
    assert baseline["label"]["name"] == "target"
    assert baseline["label"]["classes"] == ["0", "1"]
    assert sum(baseline["label"]["counts"]) == baseline["label"]["rows"] == 455
    prediction = baseline["prediction"]
    assert list(prediction) == [
        "rows",
        "classes",
        "predicted_counts",
        "predicted_proportions",
        "probability_bin_edges",
        "probability_counts",
    ]
    assert prediction["rows"] == 114 and sum(prediction["predicted_counts"]) == 114
    assert prediction["probability_bin_edges"] == [i / 10 for i in range(11)]
    assert list(prediction["probability_counts"]) == ["0", "1"]
    assert [sum(c) for c in prediction["probability_counts"].values()] == [114, 114]


def test_quantile_bins_hold_about_a_tenth_each():
    values = np.arange(1000, dtype=float)
    edges = quantile_bin_edges(values)
    # Quantile interpolation rounds in the last bit (299.70000000000005), hence the tolerance.
    np.testing.assert_allclose(
        edges, [0.0, 99.9, 199.8, 299.7, 399.6, 499.5, 599.4, 699.3, 799.2, 899.1, 999.0], atol=1e-9
    )
    assert bin_counts(values, edges).tolist() == [100] * 10


def test_outer_bins_are_open_ended():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    assert bin_counts(np.array([-50.0, 0.5, 1.0, 2.5, 3.0, 99.0]), edges).tolist() == [2, 1, 3]
