"""Every stack-config rule, with its exact message."""

from __future__ import annotations

import json

import pulumi
import pytest
from pulumi.runtime import config as runtime_config

from ml_platform.config import StackConfig, StackConfigError, load_stack_config, parse_stack_config

DIGEST = "sha256:" + "ab" * 32
VALID = {
    "environment": "dev",
    "owner": "ml-platform-team",
    "cost_center": "ml-1001",
    "regions": {"primary": "us-east-1"},
    "image": {"uri": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-platform/dev/model@{DIGEST}"},
    "training": {"dataset": {"prefix": "tabular/demo", "version": "v1"}},
    "serving": {"instance": {"instance_type": "ml.m5.large", "initial_instance_count": 1}},
}
TOP_KEYS = ", ".join(sorted(StackConfig.model_fields))
PROD_BACKUP = {"vault_lock": {"mode": "compliance", "changeable_for_days": 3}}


def problems(**changes) -> list[str]:
    raw = {**VALID, **changes}
    raw = {k: v for k, v in raw.items() if v is not DROP}
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw)
    return caught.value.lines


DROP = object()


def test_valid_config_parses_with_defaults():
    config = parse_stack_config(VALID)
    assert config.protect_stateful is False
    assert config.regions.by_role() == {"primary": "us-east-1"}
    assert config.default_tags() == {
        "project": "ml-platform",
        "environment": "dev",
        "owner": "ml-platform-team",
        "cost-center": "ml-1001",
        "managed-by": "pulumi",
    }


def test_scalars_arrive_as_text_like_the_cli_sends_them():
    config = parse_stack_config({**VALID, "protect_stateful": "true", "account_id": "123456789012"})
    assert config.protect_stateful is True
    assert config.account_id == "123456789012"


def test_unknown_environment():
    assert problems(environment="qa") == [
        "environment: not an allowed value (got 'qa'; expected one of 'dev', 'staging' or 'prod')"
    ]


def test_misspelt_top_level_key_is_rejected_with_a_suggestion():
    assert problems(regoins={"primary": "us-east-1"}) == [
        f'regoins: unknown key; did you mean \'regions\'? (got {{"primary": "us-east-1"}}; expected one of: {TOP_KEYS})'
    ]


def test_unknown_nested_key_is_rejected():
    assert problems(regions={"primary": "us-east-1", "tertiary": "eu-west-1"}) == [
        "regions.tertiary: unknown key (got 'eu-west-1'; expected one of: primary, secondary)"
    ]


def test_missing_keys_say_what_they_take():
    assert problems(regions=DROP, owner=DROP) == [
        "owner: required key is missing (got nothing; expected a string)",
        "regions: required key is missing (got nothing; expected a mapping with keys: primary, secondary)",
    ]


def test_unknown_region_names_close_matches():
    assert problems(regions={"primary": "us-est-1"}) == [
        "regions.primary: unknown AWS region (got 'us-est-1'; expected a region where SageMaker is "
        "offered, e.g. us-west-1, us-east-1, us-west-2)"
    ]


def test_secondary_region_must_differ_from_primary():
    assert problems(regions={"primary": "us-east-1", "secondary": "us-east-1"}) == [
        "regions.secondary: must differ from regions.primary (got 'us-east-1'; expected a region "
        "other than 'us-east-1', or no secondary)"
    ]


def test_prod_requires_protection_of_stateful_resources():
    assert problems(environment="prod", protect_stateful=False, backup=PROD_BACKUP) == [
        "protect_stateful: must be on in prod (got false; expected true)"
    ]


def test_tag_values_are_checked():
    assert problems(owner="team#1", cost_center="x" * 257) == [
        "owner: not in the required format (got 'team#1'; expected letters, digits, spaces and _ . : / = + - @)",
        f"cost_center: too long (got '{'x' * 257}'; expected at most 256)",
    ]


def test_account_id_format_and_boolean_type():
    assert problems(account_id="1234", protect_stateful="maybe") == [
        "protect_stateful: wrong type (got 'maybe'; expected true or false)",
        "account_id: not in the required format (got '1234'; expected a 12-digit AWS account id)",
    ]


def test_section_of_the_wrong_shape():
    assert problems(regions="us-east-1") == ["regions: wrong type (got 'us-east-1'; expected a mapping of keys)"]


def test_all_problems_are_reported_together():
    lines = problems(
        environment="qa",
        owner="",
        regions={"primary": "mars-1", "secondary": "us-west-2"},
        extra=1,
    )
    assert lines == [
        "environment: not an allowed value (got 'qa'; expected one of 'dev', 'staging' or 'prod')",
        "owner: not in the required format (got ''; expected letters, digits, spaces and _ . : / = + - @)",
        "regions.primary: unknown AWS region (got 'mars-1'; expected a region where SageMaker is offered, "
        "e.g. us-east-1)",
        f"extra: unknown key (got 1; expected one of: {TOP_KEYS})",
    ]


def test_load_stack_config_raises_run_error_listing_every_problem():
    runtime_config.set_all_config(
        {
            "ml-platform:image": json.dumps(VALID["image"]),
            "ml-platform:training": json.dumps(VALID["training"]),
            "ml-platform:serving": json.dumps(VALID["serving"]),
            "ml-platform:environment": "qa",
            "ml-platform:owner": "team",
            "ml-platform:cost_center": "c",
            "ml-platform:regions": '{"primary": "us-east-1", "secondary": "us-east-1"}',
            "aws:region": "us-east-1",  # other namespaces are not ours to check
        }
    )
    try:
        with pytest.raises(pulumi.RunError) as caught:
            load_stack_config()
    finally:
        runtime_config.set_all_config({})
    assert str(caught.value) == (
        "stack config has 2 problem(s):\n"
        "  - environment: not an allowed value (got 'qa'; expected one of 'dev', 'staging' or 'prod')\n"
        "  - regions.secondary: must differ from regions.primary (got 'us-east-1'; expected a region "
        "other than 'us-east-1', or no secondary)"
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_load_stack_config_reads_structured_config():
    runtime_config.set_all_config(
        {
            "ml-platform:image": json.dumps(VALID["image"]),
            "ml-platform:training": json.dumps(VALID["training"]),
            "ml-platform:serving": json.dumps(VALID["serving"]),
            "ml-platform:environment": "prod",
            "ml-platform:backup": json.dumps(PROD_BACKUP),
            "ml-platform:owner": "team",
            "ml-platform:cost_center": "c",
            "ml-platform:protect_stateful": "true",
            "ml-platform:regions": '{"primary": "eu-west-1", "secondary": "eu-central-1"}',
        }
    )
    try:
        config = load_stack_config()
    finally:
        runtime_config.set_all_config({})
    assert config.regions.by_role() == {"primary": "eu-west-1", "secondary": "eu-central-1"}
    assert config.protect_stateful is True


def test_cross_field_rules_still_run_when_other_fields_are_invalid():
    assert problems(
        environment="prod",
        backup=PROD_BACKUP,
        owner=DROP,
        regions={"primary": "us-east-1", "secondary": "us-east-1"},
        protect_stateful="false",
    ) == [
        "owner: required key is missing (got nothing; expected a string)",
        "regions.secondary: must differ from regions.primary (got 'us-east-1'; expected a region "
        "other than 'us-east-1', or no secondary)",
        "protect_stateful: must be on in prod (got false; expected true)",
    ]


def test_protection_defaults_to_off_and_is_checked_when_left_out_in_prod():
    assert problems(environment="prod", protect_stateful=DROP, backup=PROD_BACKUP) == [
        "protect_stateful: must be on in prod (got false; expected true)"
    ]


def test_the_project_name_comes_from_the_pulumi_runtime(monkeypatch):
    from pulumi.runtime import settings

    from ml_platform.config import PROJECT, project_name

    # No engine (the offline plan, tests, ops tools): the SDK would answer its placeholder.
    monkeypatch.setattr(settings, "get_monitor", lambda: None)
    assert project_name() == PROJECT == "ml-platform"
    # Under an engine the namespace is the project's own name (`name:` in Pulumi.yaml).
    monkeypatch.setattr(settings, "get_monitor", lambda: object())
    monkeypatch.setattr(pulumi, "get_project", lambda: "ml-platform-fork")
    assert project_name() == "ml-platform-fork"
    runtime_config.set_all_config(
        {
            **{f"ml-platform-fork:{key}": json.dumps(VALID[key]) for key in ("image", "training", "serving")},
            "ml-platform-fork:environment": "dev",
            "ml-platform-fork:owner": "team",
            "ml-platform-fork:cost_center": "c",
            "ml-platform-fork:regions": '{"primary": "eu-west-1"}',
            "ml-platform:environment": "qa",  # another project's keys are not read
        }
    )
    try:
        config = load_stack_config()
    finally:
        runtime_config.set_all_config({})
    assert (config.environment, config.owner, config.regions.primary) == ("dev", "team", "eu-west-1")
