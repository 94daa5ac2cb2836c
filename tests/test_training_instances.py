"""training.instance_count: more than one instance is refused while no trainer uses them."""

from __future__ import annotations

import pytest

from ml_platform.config import StackConfigError, parse_stack_config
from tests.test_config import VALID


def training(**changes) -> dict:
    return {**VALID, "training": {**VALID["training"], **changes}}


@pytest.mark.parametrize(("hyperparameters", "trainer"), [({}, "softmax"), ({"trainer": "gbt"}, "gbt")])
def test_more_than_one_instance_is_refused_naming_the_trainer(hyperparameters: dict, trainer: str):
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(training(instance_count=4, hyperparameters=hyperparameters))
    assert caught.value.lines == [
        f"training.instance_count: trainer '{trainer}' trains on one instance; more only add cost (got 4; expected 1)"
    ]


def test_one_instance_is_the_default_and_accepted():
    assert parse_stack_config(VALID).training.instance_count == 1
    assert (
        parse_stack_config(training(instance_count=1, hyperparameters={"trainer": "gbt"})).training.instance_count == 1
    )


def test_the_range_rule_still_speaks_first_for_absurd_counts():
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(training(instance_count=0))
    assert caught.value.lines == ["training.instance_count: out of range (got 0; expected >= 1)"]
