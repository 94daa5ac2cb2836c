"""The stack's name becomes part of SageMaker names (`<project>-<stack>`: the endpoint, the Model
Registry group, the pipelines), so a name SageMaker would refuse mid-`pulumi up` is refused first."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_platform.config import StackConfigError, check_stack_name, validate_stack_config
from offline.plan import load_config


@pytest.mark.parametrize("stack", ["dev", "prod", "k8s", "team-a-prod", "x" * 51])
def test_names_sagemaker_accepts_pass(stack: str):
    check_stack_name("ml-platform", stack)


@pytest.mark.parametrize("stack", ["dev_eu", "prod.v2", "prod-", "x" * 52])
def test_names_sagemaker_refuses_are_reported_with_the_limit(stack: str):
    with pytest.raises(StackConfigError) as caught:
        check_stack_name("ml-platform", stack)
    assert caught.value.lines == [
        f"stack name: not usable in SageMaker names (got {stack!r}; expected letters, digits and hyphens, "
        "at most 51 characters, so that `ml-platform-<stack>` is a SageMaker endpoint name (1-63 characters))"
    ]


def test_the_stack_name_is_checked_before_the_values():
    with pytest.raises(StackConfigError) as caught:
        validate_stack_config({}, [], stack="dev_eu")
    assert caught.value.lines[0].startswith("stack name: not usable in SageMaker names (got 'dev_eu';")


def test_the_offline_plan_checks_the_stack_name(tmp_path):
    assert load_config("prod").environment == "prod"
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "Pulumi.dev_eu.yaml").write_text((root / "Pulumi.dev.yaml").read_text())
    with pytest.raises(StackConfigError) as caught:
        load_config("dev_eu", tmp_path)
    assert caught.value.lines[0].startswith("stack name: not usable in SageMaker names (got 'dev_eu';")


def test_the_offline_default_project_is_the_name_in_pulumi_yaml():
    """The program reads its project from `pulumi.get_project()`; the mock engine and the offline
    plan, which have no CLI to ask, use `PROJECT`, which must be the name Pulumi.yaml declares."""
    from pathlib import Path

    import yaml

    from ml_platform.config import PROJECT

    declared = yaml.safe_load((Path(__file__).resolve().parent.parent / "Pulumi.yaml").read_text())["name"]
    assert declared == PROJECT == "ml-platform"
