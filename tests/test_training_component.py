"""`ModelRegistry` and `DeployTrigger` built alone under the mock engine from plain Args (no stack
file, no StackConfig): children's types, `<name>-<purpose>` names and the inputs that matter.
Whole-stack wiring (the stack's group name, the trigger from `deploy_trigger`) is asserted in
tests/test_training.py.

What mocks cannot prove: that the aliases on the renamed children keep the deployed resources
(the engine records no aliases; Pulumi's documented alias behaviour is relied on, see
CHANGES-h-pipelines.md), and that GitHub accepts the dispatch."""

from __future__ import annotations

import json

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


def children(run: Synthesis, type_: str, name: str) -> list[tuple[str, str]]:
    component = run.one(type_, name)
    return sorted((r.type, r.name) for r in run.resources if r.parent == component.urn)


def test_the_registry_is_one_group_with_its_stable_name():
    run = run_component(
        lambda: ModelRegistry(
            "models", ModelRegistryArgs("team-a-models", "Models of team A"), opts=in_region("eu-west-1")
        )
    )
    assert children(run, "ml-platform:training:ModelRegistry", "models") == [
        ("aws:sagemaker/modelPackageGroup:ModelPackageGroup", "models-group")
    ]
    group = run.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup", "models-group")
    assert group.inputs == {
        "modelPackageGroupName": "team-a-models",
        "modelPackageGroupDescription": "Models of team A",
    }
    assert group.region == "eu-west-1"


def test_the_trigger_calls_the_repositorys_dispatch_on_approval_of_its_group():
    args = DeployTriggerArgs(
        stack="staging", group_name="team-a-models", repository="acme/models", token="ghp_x", account_id=ACCOUNT
    )
    run = run_component(lambda: DeployTrigger("deploy", args, opts=in_region("eu-west-1")))
    assert children(run, "ml-platform:training:DeployTrigger", "deploy") == [
        ("aws:cloudwatch/eventApiDestination:EventApiDestination", "deploy-destination"),
        ("aws:cloudwatch/eventConnection:EventConnection", "deploy-connection"),
        ("aws:cloudwatch/eventRule:EventRule", "deploy-on-approval"),
        ("aws:cloudwatch/eventTarget:EventTarget", "deploy-on-approval"),
        ("aws:iam/role:Role", "deploy-invoke"),
        ("aws:iam/rolePolicy:RolePolicy", "deploy-invoke"),
    ]
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
