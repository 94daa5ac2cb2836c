"""The stratified holdout split and the data gates, as pure functions (the process-level error
text is in test_bad_training_data.py)."""

from __future__ import annotations

import numpy as np
import pytest

from model_code.data import Table
from model_code.failure import UserError
from model_code.hyperparameters import Hyperparameters
from model_code.train import prepare, run_fingerprint, stratified_split


def test_split_sizes_are_exact_and_proportional():
    labels = np.array([0] * 212 + [1] * 357)
    holdout, train = stratified_split(labels, 2, 114, seed=0)
    assert len(holdout) == 114 and len(train) == 455
    assert sorted(np.concatenate([holdout, train]).tolist()) == list(range(569))
    assert np.bincount(labels[holdout]).tolist() == [42, 72]


def test_largest_remainders_take_the_leftover_rows_ties_to_the_first_class():
    labels = np.array([0] * 10 + [1] * 10 + [2] * 10)
    # 10 holdout rows over three classes of 10: shares 3.33 each, one row left, to class 0.
    holdout, _ = stratified_split(labels, 3, 10, seed=3)
    assert np.bincount(labels[holdout], minlength=3).tolist() == [4, 3, 3]


def test_split_depends_only_on_seed_and_labels():
    labels = np.random.default_rng(5).integers(0, 3, size=300)
    first = stratified_split(labels, 3, 60, seed=11)
    again = stratified_split(labels, 3, 60, seed=11)
    other = stratified_split(labels, 3, 60, seed=12)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_a_rare_class_still_gets_its_share_where_a_random_split_could_miss_it():
    # 1 row in 20 is class 1; every seed gives it exactly 5 of 100 holdout rows.
    labels = np.array([1 if i % 20 == 0 else 0 for i in range(500)])
    for seed in range(20):
        holdout, _ = stratified_split(labels, 2, 100, seed=seed)
        assert int(labels[holdout].sum()) == 5


def _table(labels: list[str]) -> Table:
    features = np.arange(len(labels) * 2, dtype=np.float64).reshape(len(labels), 2)
    return Table(("a", "b"), "target", features, np.array(labels, dtype=str))


def test_prepare_reports_every_short_class():
    table = _table(["x"] * 100 + ["y"] * 10 + ["z"] * 10)
    with pytest.raises(UserError) as caught:
        prepare(table, Hyperparameters())
    assert str(caught.value) == (
        "label column 'target': the stratified holdout (holdout_fraction 0.2) gives these classes fewer than "
        "min_holdout_rows_per_class 5 holdout rows, or no training row (class: holdout rows of rows): "
        "'y' 2 of 10, 'z' 2 of 10; add rows of those classes, raise holdout_fraction, or lower "
        "min_holdout_rows_per_class"
    )


def test_gates_do_not_change_the_checkpoint_fingerprint():
    table = _table(["x"] * 50 + ["y"] * 50)
    assert run_fingerprint(table, Hyperparameters()) == run_fingerprint(
        table, Hyperparameters(max_classes=5, min_holdout_rows_per_class=1, checkpoint_every_epochs=4)
    )
    assert run_fingerprint(table, Hyperparameters()) != run_fingerprint(table, Hyperparameters(seed=1))
