"""The generated config reference: README tables and the stack-file JSON schema are current,
the committed stack files validate against the schema, and the schema catches what an editor
should flag."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from ml_platform.config import StackConfig
from ml_platform.config.reference import (
    COMMAND,
    README,
    SCHEMA,
    Row,
    begin_marker,
    end_marker,
    render_readme,
    render_schema,
    stack_file_schema,
    tables,
)

ROOT = Path(__file__).resolve().parent.parent
STACK_FILES = ("Pulumi.dev.yaml", "Pulumi.prod.yaml", "Pulumi.k8s.yaml")


def test_readme_tables_are_current():
    assert render_readme(README.read_text()) == README.read_text(), f"README.md is stale: run `{COMMAND}`"


def test_schema_file_is_current():
    assert SCHEMA.read_text() == render_schema(), f"{SCHEMA.name} is stale: run `{COMMAND}`"


def test_rows_come_from_the_fields():
    rows = {row.key: row for table in tables().values() for row in table}
    assert rows["serving.autoscaling.safety_factor"] == Row(
        "serving.autoscaling.safety_factor",
        "number, > 0, <= 1",
        "`0.5`",
        StackConfig.model_fields["serving"].annotation.model_fields["autoscaling"].annotation.__args__[0]
        .model_fields["safety_factor"].description,
    )  # fmt: skip
    assert rows["owner"] == Row(
        "owner", "tag value, at most 256 characters", "required", "Team that owns the stack; becomes the `owner` tag."
    )
    assert rows["monitoring.budget.monthly_limit_usd"].default == "required with `monitoring.budget`"
    assert rows["serving.autoscaling.schedules[].name"].default == "required"
    assert rows["storage.<class>.glacier_days"].default == "per class"
    assert rows["storage.<class>.standard_ia_days"].default == "`30`"
    assert rows["kubernetes.allowed_namespaces"].type == "list of string, at least 1 item"
    assert rows["serving.autoscaling.schedules[].schedule"].type == "string, matching `^(cron\\|rate\\|at)\\(.+\\)$`"
    assert rows["api.waf_rate_window_seconds"].type == "`60` \\| `120` \\| `300` \\| `600`"


def test_a_missing_marker_names_the_table_and_the_markers():
    text = README.read_text().replace(end_marker("backup"), "")
    with pytest.raises(ValueError) as caught:
        render_readme(text)
    assert str(caught.value) == (
        f"README.md needs exactly one pair of markers for config table 'backup':\n"
        f"{begin_marker('backup')}\n{end_marker('backup')}"
    )


def test_the_check_command_names_a_stale_file(monkeypatch, tmp_path, capsys):
    from ml_platform.config import reference

    stale = tmp_path / "README.md"
    stale.write_text(README.read_text().replace("| `owner` |", "| `owner` |  "))
    monkeypatch.setattr(reference, "README", stale)
    monkeypatch.setattr(reference, "ROOT", tmp_path)
    monkeypatch.setattr(reference, "SCHEMA", tmp_path / "schema" / "pulumi-stack.schema.json")
    reference.SCHEMA.parent.mkdir()
    reference.SCHEMA.write_text(render_schema())
    assert reference.main(["--check"]) == 1
    assert capsys.readouterr().err == f"README.md is stale: run `{COMMAND}`\n"
    assert reference.main([]) == 0
    assert reference.main(["--check"]) == 0


# ---------------------------------------------------------------------------------------------
# The stack-file schema


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def stack_file(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def leaf(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """Through `anyOf` (a value or `null`, a value or a secret) to the alternative that fits best."""
    while error.context:
        error = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
    return error


def problems(document: dict) -> list[tuple[str, str]]:
    found = (leaf(error) for error in validator().iter_errors(document))
    return sorted(("/".join(str(p) for p in error.absolute_path), error.message) for error in found)


@pytest.mark.parametrize("name", STACK_FILES)
def test_the_committed_stack_files_validate(name):
    assert problems(stack_file(name)) == []


def test_a_misspelt_key_fails():
    prod = stack_file("Pulumi.prod.yaml")
    prod["config"]["ml-platform:regoins"] = prod["config"].pop("ml-platform:regions")
    assert problems(prod) == [
        ("config", "'ml-platform:regions' is a required property"),
        ("config", "'ml-platform:regoins' does not match any of the regexes: '^(?!ml-platform:)[^:]+:.+$'"),
    ]


def test_a_misspelt_nested_key_and_a_wrong_value_fail():
    prod = stack_file("Pulumi.prod.yaml")
    prod["config"]["ml-platform:serving"]["instance"]["instance_typ"] = "ml.c5.xlarge"
    prod["config"]["ml-platform:serving"]["rollout"]["traffic_routing"] = "SOMETIMES"
    assert problems(prod) == [
        (
            "config/ml-platform:serving/instance",
            "Additional properties are not allowed ('instance_typ' was unexpected)",
        ),
        (
            "config/ml-platform:serving/rollout/traffic_routing",
            "'SOMETIMES' is not one of ['ALL_AT_ONCE', 'CANARY', 'LINEAR']",
        ),
    ]


def test_other_namespaces_text_scalars_and_secrets_are_accepted():
    dev = copy.deepcopy(stack_file("Pulumi.dev.yaml"))
    config = dev["config"]
    config["aws:region"] = "us-east-1"
    config["ml-platform:protect_stateful"] = "true"  # `pulumi config set` stores text
    config["ml-platform:notifications"] = {"webhooks": [{"secure": "v1:abc"}]}
    config["ml-platform:deploy_trigger"] = {"repository": "o/r", "token": {"secure": "v1:def"}}
    config["ml-platform:serving"]["instance"]["initial_instance_count"] = "2"
    assert problems(dev) == []
    config["ml-platform:protect_stateful"] = "maybe"
    config["ml-platform:deploy_trigger"]["repository"] = {"secure": "v1:ghi"}  # not a secret key
    assert [path for path, _ in problems(dev)] == [
        "config/ml-platform:deploy_trigger/repository",
        "config/ml-platform:protect_stateful",
    ]


def test_the_schema_nests_stack_config_under_the_project_namespace():
    schema = stack_file_schema(project="other-project")
    config = schema["properties"]["config"]
    assert sorted(config["properties"]) == sorted(f"other-project:{key}" for key in StackConfig.model_fields)
    assert config["patternProperties"] == {"^(?!other-project:)[^:]+:.+$": True}
    assert config["additionalProperties"] is False
