"""Bad input ends `train` with exit 1 and one line in /opt/ml/output/failure naming the cause.

Each case runs `python -m model_code train` as a real process against a temporary /opt/ml.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from model_code.model import load_model
from tests.model_code.helpers import Job

GOOD = "a,b,target\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,10,0\n"


def missing_label(job: Job) -> str:
    path = job.write_csv("d.csv", "a,b,diagnosis\n1,2,0\n")
    return (
        f"label column 'target' not found in {path}; columns found: a, b, diagnosis "
        "(set the hyperparameter 'label' to the label column's name)"
    )


def non_numeric(job: Job) -> str:
    path = job.write_csv("d.csv", "a,b,target\n1,2,0\n3,abc,1\n")
    return (
        f"non-numeric value 'abc' in {path} line 3, column 'b'; every feature must be a finite "
        "number (empty cells, nan and inf are not allowed)"
    )


def empty_cell(job: Job) -> str:
    path = job.write_csv("d.csv", "a,b,target\n1,2,0\n,4,1\n")
    return (
        f"non-numeric value '' in {path} line 3, column 'a'; every feature must be a finite "
        "number (empty cells, nan and inf are not allowed)"
    )


def not_finite(job: Job) -> str:
    path = job.write_csv("d.csv", "a,b,target\n1,2,0\n3,nan,1\n")
    return (
        f"non-numeric value 'nan' in {path} line 3, column 'b'; every feature must be a finite "
        "number (empty cells, nan and inf are not allowed)"
    )


def ragged_row(job: Job) -> str:
    path = job.write_csv("d.csv", "a,b,target\n1,2,0\n3,4\n")
    return f"{path} line 3 has 2 fields but the header has 3"


def empty_channel(job: Job) -> str:
    job.channel.mkdir(parents=True)
    (job.channel / "README.txt").write_text("no data here")
    return f"channel directory {job.channel} has no .csv files"


def missing_channel(job: Job) -> str:
    return f"channel directory {job.channel} does not exist; put the CSV files there"


def header_only(job: Job) -> str:
    path = job.write_csv("d.csv", "a,b,target\n")
    return f"channel directory {job.channel} has no data rows (files: {path})"


def feature_count_mismatch(job: Job) -> str:
    first = job.write_csv("part-0.csv", GOOD)
    second = job.write_csv("part-1.csv", "a,b,c,target\n1,2,3,0\n")
    return f"{second} has 4 columns but {first} has 3; every file in a channel must have the same header"


def header_name_mismatch(job: Job) -> str:
    first = job.write_csv("part-0.csv", GOOD)
    second = job.write_csv("part-1.csv", "a,B,target\n1,2,0\n")
    return (
        f"header of {second} does not match {first}: column 2 is 'B' there but 'b' in {first}; "
        "every file in a channel must have the same header"
    )


def single_class(job: Job) -> str:
    job.write_csv("d.csv", "a,b,target\n1,2,1\n3,4,1.0\n5,6,1\n")
    return "label column 'target' has a single class ('1'); training needs at least 2"


def too_few_rows_for_holdout(job: Job) -> str:
    job.write_csv("d.csv", "a,b,target\n1,2,0\n3,4,1\n")
    return (
        "holdout_fraction 0.2 of 2 rows leaves 0 holdout and 2 training rows; need at least 1 and 2 "
        "(add rows or raise holdout_fraction)"
    )


def continuous_label(job: Job) -> str:
    # A measurement used as the label: 2,000 distinct values would train a 2,000-class model.
    job.write_csv("d.csv", "a,b,target\n" + "".join(f"{i},{i % 7},{i * 0.37:.2f}\n" for i in range(2000)))
    return (
        "label column 'target' has 2000 distinct values, more than max_classes 100 (first values: '0', "
        "'0.37', '0.74', '1.11', '1.48', ...); a continuous label is not a class: bin it into classes, pick "
        "the right label column, or raise the hyperparameter max_classes"
    )


def classes_above_a_lowered_limit(job: Job) -> str:
    job.write_csv("d.csv", "a,b,target\n" + "".join(f"{i},{i % 7},{'abc'[i % 3]}\n" for i in range(90)))
    job.write_hyperparameters({"max_classes": "2"})
    return (
        "label column 'target' has 3 distinct values, more than max_classes 2 (first values: 'a', 'b', 'c', ...); "
        "a continuous label is not a class: bin it into classes, pick the right label column, or raise the "
        "hyperparameter max_classes"
    )


def rare_class_in_holdout(job: Job) -> str:
    # 200 rows, 12 of class 'rare': a 0.2 stratified holdout takes 40 rows, 2 of them 'rare'
    # (12 * 40 / 200 = 2.4), below the default 5; 'common' gets 38.
    rows = "".join(f"{i},{i % 7},{'rare' if i % 50 < 3 else 'common'}\n" for i in range(200))
    job.write_csv("d.csv", "a,b,target\n" + rows)
    return (
        "label column 'target': the stratified holdout (holdout_fraction 0.2) gives these classes fewer than "
        "min_holdout_rows_per_class 5 holdout rows, or no training row (class: holdout rows of rows): "
        "'rare' 2 of 12; add rows of those classes, raise holdout_fraction, or lower min_holdout_rows_per_class"
    )


def single_row_class(job: Job) -> str:
    # One row of class '2': its share of a 20-row holdout is 0.49, below the leftover rows'
    # larger remainders (0.76 for '0' and '1'), so it gets no holdout row even with the gate at 1.
    job.write_csv("d.csv", "a,b,target\n" + "".join(f"{i},{i % 7},{i % 2}\n" for i in range(40)) + "99,1,2\n")
    job.write_hyperparameters({"min_holdout_rows_per_class": "1", "holdout_fraction": "0.5"})
    return (
        "label column 'target': the stratified holdout (holdout_fraction 0.5) gives these classes fewer than "
        "min_holdout_rows_per_class 1 holdout rows, or no training row (class: holdout rows of rows): "
        "'2' 0 of 1; add rows of those classes, raise holdout_fraction, or lower min_holdout_rows_per_class"
    )


def bad_hyperparameters(job: Job) -> str:
    job.write_csv("d.csv", GOOD)
    job.write_hyperparameters({"epochs": "-1", "batch_size": "many"})
    return (
        'bad hyperparameters: epochs: expected an integer at least 1 and at most 10000 (got "-1"); '
        'batch_size: expected an integer at least 1 and at most 1000000 (got "many")'
    )


def channel_not_configured(job: Job) -> str:
    job.write_csv("d.csv", GOOD)
    job.write_input_data_config({"training": {"ContentType": "text/csv"}})
    config = job.root / "input" / "config" / "inputdataconfig.json"
    return f"{config} has no 'train' channel (channels: training); name the training data channel 'train'"


def wrong_content_type(job: Job) -> str:
    job.write_csv("d.csv", GOOD)
    job.write_input_data_config({"train": {"ContentType": "application/x-parquet"}})
    return "channel 'train' has ContentType 'application/x-parquet'; only text/csv is supported"


CASES: dict[str, Callable[[Job], str]] = {
    f.__name__: f
    for f in (
        missing_label,
        non_numeric,
        empty_cell,
        not_finite,
        ragged_row,
        empty_channel,
        missing_channel,
        header_only,
        feature_count_mismatch,
        header_name_mismatch,
        single_class,
        too_few_rows_for_holdout,
        continuous_label,
        classes_above_a_lowered_limit,
        rare_class_in_holdout,
        single_row_class,
        bad_hyperparameters,
        channel_not_configured,
        wrong_content_type,
    )
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_with_one_line_reason(job: Job, case: str):
    expected = CASES[case](job)
    result = job.run("train")
    assert result.returncode == 1
    assert job.failure_file.read_text() == expected + "\n"
    assert result.stderr == f"error: {expected}\n"  # the reason, and no traceback
    assert not (job.model_dir / "model.npz").exists()


# The label tests use 20-40 rows: their holdout has 2-4 rows per class, so they lower the
# holdout gate (default 5 rows per class) that real training data must pass.
SMALL_DATA = {"min_holdout_rows_per_class": "1"}


def test_numeric_label_spellings_are_one_class(job: Job):
    job.write_hyperparameters(SMALL_DATA)
    job.write_csv("a.csv", "a,b,target\n" + "".join(f"{i},{i % 3},{'1.0' if i % 2 else '0'}\n" for i in range(20)))
    job.write_csv("b.csv", "a,b,target\n" + "".join(f"{i},{i % 5},{'1' if i % 2 else '0.0'}\n" for i in range(20)))
    result = job.run("train")
    assert result.returncode == 0, result.stderr
    assert load_model(job.model_dir).classes == ("0", "1")


def test_text_labels_are_classes(job: Job):
    job.write_hyperparameters(SMALL_DATA)
    job.write_csv("a.csv", "a,b,target\n" + "".join(f"{i},{i % 3},{'yes' if i % 2 else 'no'}\n" for i in range(20)))
    result = job.run("train")
    assert result.returncode == 0, result.stderr
    assert load_model(job.model_dir).classes == ("no", "yes")


def test_internal_errors_still_write_a_reason(job: Job):
    job.write_csv("d.csv", GOOD)
    # 5 rows: a 0.5 holdout gives each class one holdout row, so training reaches the model dir.
    job.write_hyperparameters({**SMALL_DATA, "holdout_fraction": "0.5"})
    job.model_dir.parent.mkdir(parents=True, exist_ok=True)
    job.model_dir.write_text("a file where the model directory should be")
    result = job.run("train")
    assert result.returncode == 1
    assert job.failure_file.read_text() == (
        f"internal error: FileExistsError: [Errno 17] File exists: '{job.model_dir}'\n"
    )
    assert "Traceback (most recent call last)" in result.stderr
