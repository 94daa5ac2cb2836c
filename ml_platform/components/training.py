"""The Model Registry group, and the trigger that turns an approval into a deploy.

Training does not run inside `pulumi up`: the model-build pipeline (ml_platform/components/pipelines.py,
declared by ml_platform/components/retraining.py) trains on managed spot capacity, one execution per model
version, and registers each version that passes its gates as a package of this group. A
version is what the stack serves (`serving.model`, ml_platform/components/served_model.py).

Approval starts a deploy: an EventBridge rule on `SageMaker Model Package State Change` for
this group with `ModelApprovalStatus: Approved` calls GitHub's `repository_dispatch` through an
EventBridge API destination (the token lives in the EventBridge connection, that is in a
Secrets Manager secret EventBridge manages), and the deploy workflow runs `pulumi up` of
`latest-approved` through the environment's approvals:

    POST https://api.github.com/repos/<owner>/<repo>/dispatches
    {"event_type": "model-approved",
     "client_payload": {"stack": "<stack>", "version": <N>, "model_package_arn": "<arn>"}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ml_platform.components.iam import allow, document, trust_json

MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
DISPATCH_EVENT_TYPE = "model-approved"
GITHUB_API = "https://api.github.com"
# GitHub's REST API asks for these headers (https://docs.github.com/en/rest/repos/repos#create-a-repository-dispatch-event).
GITHUB_HEADERS = (("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28"))

# ---------------------------------------------------------------------------------------------
# Pure builders


def hyperparameter_strings(hyperparameters: dict[str, Any]) -> dict[str, str]:
    """SageMaker passes hyperparameters as strings; booleans in the form the code parses."""
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in sorted(hyperparameters.items())
    }


def approval_event_pattern(group_name: str) -> dict[str, Any]:
    """A version of this group became (or was registered as) Approved. Field names as in AWS's
    sample event "SageMaker model package state change":
    https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html#eventbridge-model-package
    The event also fires when an Approved package is updated otherwise (metadata); the deploy is
    idempotent (`pulumi up` of latest-approved changes nothing then)."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [MODEL_PACKAGE_STATE_CHANGE],
        "detail": {"ModelPackageGroupName": [group_name], "ModelApprovalStatus": ["Approved"]},
    }


def dispatch_url(repository: str) -> str:
    return f"{GITHUB_API}/repos/{repository}/dispatches"


def dispatch_input_transformer(stack: str) -> dict[str, Any]:
    """The repository_dispatch body built from the event (EventTarget.input_transformer)."""
    template = {
        "event_type": DISPATCH_EVENT_TYPE,
        "client_payload": {"stack": stack, "version": "<version>", "model_package_arn": "<arn>"},
    }
    # `version` is a number in the event; the placeholder goes in unquoted so it stays one.
    return {
        "input_paths": {"version": "$.detail.ModelPackageVersion", "arn": "$.detail.ModelPackageArn"},
        "input_template": json.dumps(template, separators=(",", ":")).replace('"<version>"', "<version>"),
    }


def invoke_destination_policy(destination_arn: str) -> dict[str, Any]:
    return document(allow("InvokeDeployDestination", ["events:InvokeApiDestination"], destination_arn))


# ---------------------------------------------------------------------------------------------
# Components


@dataclass(frozen=True)
class ModelRegistryArgs:
    """Inputs of `ModelRegistry`.

    group_name: the Model Package Group's name; pipelines and operators address the group by
        it, so it is a stable physical name (unique per account and region).
    description: the group's description.
    """

    group_name: str
    description: str


class ModelRegistry(pulumi.ComponentResource):
    """The environment's SageMaker Model Registry group (child `<name>-group`)."""

    def __init__(self, name: str, args: ModelRegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:training:ModelRegistry", name, None, opts)
        # The group holds every registered version, and the alias keeps its state under the new
        # child name. Without it `pulumi up` would plan a replacement that cannot work: Pulumi
        # creates the new group first, and SageMaker names are unique per account and region, so
        # CreateModelPackageGroup refuses the fixed name while the old group exists; and the
        # delete (DeleteModelPackageGroup, which can fail with ConflictException,
        # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteModelPackageGroup.html)
        # would take the version history with it. tests/test_training_component.py checks the alias.
        # Pulumi aliases: https://www.pulumi.com/docs/iac/concepts/options/aliases/
        self.group = aws.sagemaker.ModelPackageGroup(
            f"{name}-group",
            model_package_group_name=args.group_name,
            model_package_group_description=args.description,
            opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=name)]),
        )
        self.arn = self.group.arn
        self.register_outputs({"arn": self.arn})


@dataclass(frozen=True)
class DeployTriggerArgs:
    """Inputs of `DeployTrigger` (declared in the registry's region).

    stack: the stack the dispatch names (`client_payload.stack`).
    group_name: the Model Registry group whose approvals deploy.
    repository: GitHub `owner/name` receiving the dispatch. token: a GitHub token allowed to
        create repository dispatch events (kept secret; stored in the EventBridge connection).
    account_id: for the events role's trust policy.
    """

    stack: str
    group_name: pulumi.Input[str]
    repository: str
    token: pulumi.Input[str]
    account_id: pulumi.Input[str]


class DeployTrigger(pulumi.ComponentResource):
    """EventBridge rule (approval) -> API destination (GitHub repository_dispatch). Children:
    `<name>-connection`, `<name>-destination`, `<name>-invoke` (the role EventBridge assumes, and
    its policy) and `<name>-on-approval` (the rule and its target)."""

    def __init__(self, name: str, args: DeployTriggerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:training:DeployTrigger", name, None, opts)
        # Children were named `<name>` before the `<name>-<purpose>` scheme: the alias keeps them.
        child = pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=name)])
        connection = aws.cloudwatch.EventConnection(
            f"{name}-connection",
            description=f"GitHub repository_dispatch for {args.repository}",
            authorization_type="API_KEY",
            auth_parameters={
                "api_key": {
                    "key": "Authorization",
                    "value": pulumi.Output.secret(pulumi.Output.concat("Bearer ", args.token)),
                },
                "invocation_http_parameters": {
                    "headers": [{"key": key, "value": value, "is_value_secret": False} for key, value in GITHUB_HEADERS]
                },
            },
            opts=child,
        )
        self.destination = aws.cloudwatch.EventApiDestination(
            f"{name}-destination",
            description=f"deploy workflow of {args.repository}",
            connection_arn=connection.arn,
            http_method="POST",
            invocation_endpoint=dispatch_url(args.repository),
            invocation_rate_limit_per_second=1,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-invoke",
            description="EventBridge: call the deploy workflow's API destination",
            assume_role_policy=trust_json("events.amazonaws.com", args.account_id),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-invoke",
            role=role.id,
            policy=self.destination.arn.apply(lambda arn: json.dumps(invoke_destination_policy(arn))),
            opts=child,
        )
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-on-approval",
            description="a model version was approved: start the deploy workflow",
            event_pattern=pulumi.Output.from_input(args.group_name).apply(
                lambda group: json.dumps(approval_event_pattern(group))
            ),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-on-approval",
            rule=self.rule.name,
            arn=self.destination.arn,
            role_arn=role.arn,
            input_transformer=dispatch_input_transformer(args.stack),
            # GitHub briefly unavailable: EventBridge retries for up to an hour.
            retry_policy={"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 20},
            opts=child,
        )
        self.register_outputs({"rule": self.rule.name, "destination": self.destination.arn})
