"""Hyperparameters arrive as strings from SageMaker and are typed and range-checked."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from model_code.failure import UserError
from model_code.hyperparameters import Hyperparameters, parse_hyperparameters, read_hyperparameters
from tests.model_code.helpers import REPO_ROOT


def test_missing_file_means_defaults(tmp_path: Path):
    assert read_hyperparameters(tmp_path / "absent.json") == Hyperparameters()


def test_string_values_are_typed():
    parsed = parse_hyperparameters(
        {
            "epochs": "12",
            "learning_rate": "1e-3",
            "batch_size": "128",
            "l2": "0",
            "momentum": "0.5",
            "seed": "42",
            "label": " diagnosis ",
            "holdout_fraction": "0.25",
            "checkpoint_every_epochs": "3",
            "max_classes": "10",
            "min_holdout_rows_per_class": "20",
        }
    )
    assert parsed == Hyperparameters(
        epochs=12,
        learning_rate=0.001,
        batch_size=128,
        l2=0.0,
        momentum=0.5,
        seed=42,
        label="diagnosis",
        holdout_fraction=0.25,
        checkpoint_every_epochs=3,
        max_classes=10,
        min_holdout_rows_per_class=20,
    )


def test_json_numbers_are_accepted_for_local_runs():
    assert parse_hyperparameters({"epochs": 5, "learning_rate": 0.1}) == Hyperparameters(epochs=5, learning_rate=0.1)


def test_sagemaker_keys_are_ignored():
    assert parse_hyperparameters({"sagemaker_program": "x", "_tuning_objective_metric": "y"}) == Hyperparameters()


def test_every_problem_is_reported_at_once():
    with pytest.raises(UserError) as caught:
        parse_hyperparameters({"epochs": "0", "learning_rate": "fast", "momentum": "1", "colour": "red"})
    assert str(caught.value) == (
        'bad hyperparameters: epochs: expected an integer at least 1 and at most 10000 (got "0"); '
        'learning_rate: expected a number greater than 0 and at most 10 (got "fast"); '
        'momentum: expected a number at least 0 and less than 1 (got "1"); '
        "colour: unknown hyperparameter (allowed: batch_size, checkpoint_every_epochs, epochs, "
        "gbt_checkpoint_every_rounds, gbt_gamma, gbt_learning_rate, gbt_max_bin, gbt_max_depth, "
        "gbt_min_child_weight, gbt_reg_alpha, gbt_reg_lambda, gbt_rounds, holdout_fraction, l2, label, "
        "learning_rate, max_classes, min_holdout_rows_per_class, momentum, seed, trainer)"
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("epochs", "2.5", 'epochs: expected an integer at least 1 and at most 10000 (got "2.5")'),
        ("holdout_fraction", "0", 'holdout_fraction: expected a number greater than 0 and at most 0.5 (got "0")'),
        ("learning_rate", "nan", 'learning_rate: expected a number greater than 0 and at most 10 (got "nan")'),
        ("label", "  ", 'label: expected a non-empty string (got "  ")'),
        ("batch_size", True, "batch_size: expected an integer at least 1 and at most 1000000 (got true)"),
        ("max_classes", "1", 'max_classes: expected an integer at least 2 and at most 10000 (got "1")'),
        (
            "min_holdout_rows_per_class",
            "0",
            'min_holdout_rows_per_class: expected an integer at least 1 and at most 1000000 (got "0")',
        ),
    ],
)
def test_bad_value_names_key_value_and_range(key: str, value: object, expected: str):
    with pytest.raises(UserError) as caught:
        parse_hyperparameters({key: value})
    assert str(caught.value) == f"bad hyperparameters: {expected}"


def test_file_that_is_not_an_object(tmp_path: Path):
    path = tmp_path / "hyperparameters.json"
    path.write_text('["epochs"]')
    with pytest.raises(UserError) as caught:
        read_hyperparameters(path)
    assert str(caught.value) == (f"bad hyperparameters: {path} must hold a JSON object of key/value pairs (got list)")


def test_file_that_is_not_json(tmp_path: Path):
    path = tmp_path / "hyperparameters.json"
    path.write_text("{epochs: 3}")
    with pytest.raises(UserError) as caught:
        read_hyperparameters(path)
    assert str(caught.value) == (
        f"bad hyperparameters: {path} is not valid JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
    )


def test_readme_documents_every_hyperparameter_with_its_default():
    readme = (REPO_ROOT / "model_code" / "README.md").read_text().splitlines()
    for key, default in dataclasses.asdict(Hyperparameters()).items():
        [row] = [line for line in readme if line.startswith(f"| `{key}` |")]
        shown = f"`{default}`" if isinstance(default, str) else str(default)
        assert row.endswith(f"| {shown} |"), row


def test_gbt_keys_are_typed_and_as_dict_lists_the_trainers_own():
    parsed = parse_hyperparameters(
        {
            "trainer": "gbt",
            "gbt_rounds": "250",
            "gbt_max_depth": "4",
            "gbt_learning_rate": "0.1",
            "gbt_min_child_weight": "2",
            "gbt_reg_lambda": "0.5",
            "gbt_reg_alpha": "0.25",
            "gbt_gamma": "1e-3",
            "gbt_max_bin": "64",
            "gbt_checkpoint_every_rounds": "5",
            "seed": "9",
        }
    )
    assert parsed.as_dict() == {
        "seed": 9,
        "label": "target",
        "holdout_fraction": 0.2,
        "max_classes": 100,
        "min_holdout_rows_per_class": 5,
        "trainer": "gbt",
        "gbt_rounds": 250,
        "gbt_max_depth": 4,
        "gbt_learning_rate": 0.1,
        "gbt_min_child_weight": 2.0,
        "gbt_reg_lambda": 0.5,
        "gbt_reg_alpha": 0.25,
        "gbt_gamma": 0.001,
        "gbt_max_bin": 64,
        "gbt_checkpoint_every_rounds": 5,
    }


def test_softmax_as_dict_leaves_the_gbt_keys_out():
    assert list(Hyperparameters().as_dict()) == [
        "epochs",
        "learning_rate",
        "batch_size",
        "l2",
        "momentum",
        "seed",
        "label",
        "holdout_fraction",
        "checkpoint_every_epochs",
        "max_classes",
        "min_holdout_rows_per_class",
        "trainer",
    ]


def test_unknown_trainer_names_the_allowed_ones():
    with pytest.raises(UserError) as caught:
        parse_hyperparameters({"trainer": "lightgbm", "gbt_rounds": "5"})
    assert str(caught.value) == 'bad hyperparameters: trainer: expected one of softmax, gbt (got "lightgbm")'


def test_a_key_of_the_other_trainer_is_refused_not_ignored():
    with pytest.raises(UserError) as caught:
        parse_hyperparameters({"trainer": "gbt", "epochs": "30", "gbt_rounds": "50", "batch_size": "64"})
    assert str(caught.value) == (
        "bad hyperparameters: epochs: applies to trainer softmax only, and trainer is gbt (remove it, or set "
        "trainer to softmax); batch_size: applies to trainer softmax only, and trainer is gbt (remove it, or "
        "set trainer to softmax)"
    )
    with pytest.raises(UserError) as caught:
        parse_hyperparameters({"gbt_max_depth": "3"})
    assert str(caught.value) == (
        "bad hyperparameters: gbt_max_depth: applies to trainer gbt only, and trainer is softmax (remove it, "
        "or set trainer to gbt)"
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("gbt_rounds", "0", 'gbt_rounds: expected an integer at least 1 and at most 10000 (got "0")'),
        ("gbt_max_depth", "17", 'gbt_max_depth: expected an integer at least 1 and at most 16 (got "17")'),
        ("gbt_learning_rate", "0", 'gbt_learning_rate: expected a number greater than 0 and at most 1 (got "0")'),
        ("gbt_reg_lambda", "-1", 'gbt_reg_lambda: expected a number at least 0 and at most 1000000 (got "-1")'),
        ("gbt_max_bin", "1", 'gbt_max_bin: expected an integer at least 2 and at most 65536 (got "1")'),
        (
            "gbt_checkpoint_every_rounds",
            "x",
            'gbt_checkpoint_every_rounds: expected an integer at least 1 and at most 10000 (got "x")',
        ),
    ],
)
def test_bad_gbt_value_names_key_value_and_range(key: str, value: object, expected: str):
    with pytest.raises(UserError) as caught:
        parse_hyperparameters({"trainer": "gbt", key: value})
    assert str(caught.value) == f"bad hyperparameters: {expected}"
