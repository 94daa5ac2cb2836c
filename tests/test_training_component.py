"""`ModelRegistry` and `DeployTrigger` built alone under the mock engine from plain Args (no stack
file, no StackConfig): children's types, `<name>-<purpose>` names and the inputs that matter.
Whole-stack wiring (the stack's group name, the trigger from `deploy_trigger`) is asserted in
tests/test_training.py.

What mocks cannot prove: that `pulumi up` matches the aliases of the renamed children with the
deployed resources (the tests see the aliases each child declares, through a transformation;
Pulumi's documented alias behaviour does the rest, see CHANGES-h-pipelines.md), and that GitHub
accepts the dispatch."""

from __future__ import annotations

import json

import pulumi

from ml_platform.components.training import (
    DeployTrigger,
    DeployTriggerArgs,
    ModelRegistry,
    ModelRegistryArgs,
    approval_event_pattern,
    dispatch_input_transformer,
    invoke_destination_policy,
)
from tests.harness import Synthesis, decoded, in_region, run_component

ACCOUNT = "123456789012"


def recording_aliases(aliases: dict[str, list[str | None]], region: str) -> pulumi.ResourceOptions:
    """Options placing a component in `region` that record each child's alias names."""

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        if args.type_.startswith("aws:"):  # the children, not the component itself
            aliases[f"{args.type_}::{args.name}"] = [getattr(a, "name", None) for a in args.opts.aliases or []]

    return pulumi.ResourceOptions.merge(in_region(region), pulumi.ResourceOptions(transformations=[record]))


def children(run: Synthesis, type_: str, name: str) -> list[tuple[str, str]]:
    component = run.one(type_, name)
    return sorted((r.type, r.name) for r in run.resources if r.parent == component.urn)


def test_the_registry_is_one_group_with_its_stable_name():
    aliases: dict[str, list[str | None]] = {}
    registry_args = ModelRegistryArgs("team-a-models", "Models of team A")
    run = run_component(lambda: ModelRegistry("models", registry_args, opts=recording_aliases(aliases, "eu-west-1")))
    assert children(run, "ml-platform:training:ModelRegistry", "models") == [
        ("aws:sagemaker/modelPackageGroup:ModelPackageGroup", "models-group")
    ]
    group = run.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup", "models-group")
    assert group.inputs == {
        "modelPackageGroupName": "team-a-models",
        "modelPackageGroupDescription": "Models of team A",
    }
    assert group.region == "eu-west-1"
    # The group was named `models` before `<name>-<purpose>`: the alias keeps its URN (and its versions).
    assert aliases == {"aws:sagemaker/modelPackageGroup:ModelPackageGroup::models-group": ["models"]}


def test_the_trigger_calls_the_repositorys_dispatch_on_approval_of_its_group():
    args = DeployTriggerArgs(
        stack="staging", group_name="team-a-models", repository="acme/models", token="ghp_x", account_id=ACCOUNT
    )
    aliases: dict[str, list[str | None]] = {}
    run = run_component(lambda: DeployTrigger("deploy", args, opts=recording_aliases(aliases, "eu-west-1")))
    assert children(run, "ml-platform:training:DeployTrigger", "deploy") == [
        ("aws:cloudwatch/eventApiDestination:EventApiDestination", "deploy-destination"),
        ("aws:cloudwatch/eventConnection:EventConnection", "deploy-connection"),
        ("aws:cloudwatch/eventRule:EventRule", "deploy-on-approval"),
        ("aws:cloudwatch/eventTarget:EventTarget", "deploy-on-approval"),
        ("aws:iam/role:Role", "deploy-invoke"),
        ("aws:iam/rolePolicy:RolePolicy", "deploy-invoke"),
    ]
    # Every child was named `deploy` before `<name>-<purpose>`: each keeps its URN by alias.
    assert aliases == {
        f"{t}::{n}": ["deploy"] for t, n in children(run, "ml-platform:training:DeployTrigger", "deploy")
    }
    connection = run.one("aws:cloudwatch/eventConnection:EventConnection", "deploy-connection")
    assert connection.inputs["authParameters"]["apiKey"] == {"key": "Authorization", "value": "Bearer ghp_x"}
    assert "authParameters" in connection.secret_inputs
    destination = run.one("aws:cloudwatch/eventApiDestination:EventApiDestination", "deploy-destination")
    assert destination.inputs == {
        "description": "deploy workflow of acme/models",
        "connectionArn": connection.outputs["arn"],
        "httpMethod": "POST",
        "invocationEndpoint": "https://api.github.com/repos/acme/models/dispatches",
        "invocationRateLimitPerSecond": 1,
    }
    role = run.one("aws:iam/role:Role", "deploy-invoke")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "events.amazonaws.com"
    }
    policy = run.one("aws:iam/rolePolicy:RolePolicy", "deploy-invoke")
    assert decoded(policy.inputs["policy"]) == invoke_destination_policy(destination.outputs["arn"])
    rule = run.one("aws:cloudwatch/eventRule:EventRule", "deploy-on-approval")
    assert json.loads(rule.inputs["eventPattern"]) == approval_event_pattern("team-a-models")
    target = run.one("aws:cloudwatch/eventTarget:EventTarget", "deploy-on-approval")
    transformer = dispatch_input_transformer("staging")
    assert target.inputs == {
        "rule": rule.outputs["name"],
        "arn": destination.outputs["arn"],
        "roleArn": role.outputs["arn"],
        "inputTransformer": {
            "inputPaths": transformer["input_paths"],
            "inputTemplate": transformer["input_template"],
        },
        "retryPolicy": {"maximumEventAgeInSeconds": 3600, "maximumRetryAttempts": 20},
    }
    assert '"stack":"staging"' in target.inputs["inputTransformer"]["inputTemplate"]
