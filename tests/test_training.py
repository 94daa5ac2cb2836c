"""Training config rules, the Model Registry group, and the approval trigger: training never
runs inside `pulumi up` (it is the model-build pipeline's job), and approving a version starts
the deploy workflow through GitHub's repository_dispatch."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from moto.iam.policy_validation import IAMPolicyDocumentValidator

from ml_platform.components.training import (
    approval_event_pattern,
    dispatch_input_transformer,
    dispatch_url,
    hyperparameter_strings,
    invoke_destination_policy,
)
from offline.engine import ROOT, synthesize_stack
from tests.test_config import problems


def test_hyperparameters_reach_the_code_as_strings():
    assert hyperparameter_strings({"epochs": 30, "shuffle": True, "lr": 0.05}) == {
        "epochs": "30",
        "lr": "0.05",
        "shuffle": "true",
    }


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_no_training_job_is_declared_in_any_stack(stack, name):
    """`pulumi up` never trains: the provider would wait for the job (45 min default) and a
    failed job's deterministic name would block the next update. Training is a pipeline run."""
    types = stack(name).type_counts()
    assert "aws:sagemaker/trainingJob:TrainingJob" not in types
    assert types["aws:sagemaker/pipeline:Pipeline"] == 2


def test_spot_wait_must_cover_runtime():
    assert problems(
        training={"dataset": {"prefix": "d", "version": "v1"}, "max_runtime_seconds": 7200, "max_wait_seconds": 3600}
    ) == [
        "training.max_wait_seconds: spot max wait must cover the max runtime (got 3600; expected "
        ">= max_runtime_seconds (7200))"
    ]


def test_training_instance_type_comes_from_botocore_with_close_matches():
    assert problems(training={"dataset": {"prefix": "d", "version": "v1"}, "instance_type": "ml.m5.xlarg"}) == [
        "training.instance_type: unknown instance type (got 'ml.m5.xlarg'; expected a SageMaker "
        "TrainingInstanceType, e.g. ml.m5.xlarge, ml.m5.4xlarge, ml.m5.2xlarge)"
    ]
    assert problems(training={"dataset": {"prefix": "d", "version": "v1"}, "instance_type": "t2.micro"}) == [
        "training.instance_type: unknown instance type (got 't2.micro'; expected a SageMaker "
        "TrainingInstanceType such as ml.m4.xlarge)"
    ]


def test_dataset_is_required_and_checked():
    assert problems(training={"dataset": {"prefix": "/abs", "version": ""}}) == [
        "training.dataset.prefix: not in the required format (got '/abs'; expected a relative S3 key prefix: "
        "lowercase letters, digits and . _ / -, no leading or trailing /)",
        "training.dataset.version: not in the required format (got ''; expected letters, digits and . _ - "
        "(a single path segment))",
    ]


def test_model_registry_group_per_environment(stack):
    for name in ("dev", "prod"):
        group = stack(name).one("aws:sagemaker/modelPackageGroup:ModelPackageGroup", "model-registry-group")
        assert group.inputs == {
            "modelPackageGroupName": f"ml-platform-{name}",
            "modelPackageGroupDescription": f"Models of ml-platform {name}",
        }


# ---------------------------------------------------------------------------------------------
# Approval starts a deploy

# AWS's sample "SageMaker Model Package State Change" event, with the fields the rule reads
# (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html#eventbridge-model-package).
SAMPLE_EVENT = {
    "version": "0",
    "id": "844e2571-85d4-695f-b930-0153b71dcb42",
    "detail-type": "SageMaker Model Package State Change",
    "source": "aws.sagemaker",
    "account": "123456789012",
    "time": "2021-02-24T17:00:14Z",
    "region": "us-east-2",
    "resources": ["arn:aws:sagemaker:us-east-2:123456789012:model-package/versionedmp-p-idy6c3e1fiqj/2"],
    "detail": {
        "ModelPackageGroupName": "versionedmp-p-idy6c3e1fiqj",
        "ModelPackageVersion": 2,
        "ModelPackageArn": "arn:aws:sagemaker:us-east-2:123456789012:model-package/versionedmp-p-idy6c3e1fiqj/2",
        "CreationTime": "2021-02-24T17:00:14Z",
        "ModelPackageStatus": "Completed",
        "ModelApprovalStatus": "Approved",
    },
}


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge's matching for the pattern forms used here: a mapping matches field by field
    (every pattern field must be present); a list of values matches when the event's value (or
    one of its values, for an array) is among them.
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html"""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(k in event and matches(v, event[k]) for k, v in pattern.items())
    values = event if isinstance(event, list) else [event]
    return any(v in pattern for v in values)


def sample(status: str, group: str = "versionedmp-p-idy6c3e1fiqj") -> dict[str, Any]:
    event = copy.deepcopy(SAMPLE_EVENT)
    event["detail"].update(ModelApprovalStatus=status, ModelPackageGroupName=group)
    return event


def test_the_rule_matches_an_approval_of_this_group_only():
    pattern = approval_event_pattern("versionedmp-p-idy6c3e1fiqj")
    assert pattern == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["versionedmp-p-idy6c3e1fiqj"], "ModelApprovalStatus": ["Approved"]},
    }
    assert matches(pattern, sample("Approved"))
    assert not matches(pattern, sample("Rejected"))
    assert not matches(pattern, sample("PendingManualApproval"))
    assert not matches(pattern, sample("Approved", group="another-group"))
    assert not matches(pattern, {**sample("Approved"), "detail-type": "SageMaker Model State Change"})


def render(transformer: dict[str, Any], event: dict[str, Any]) -> Any:
    """What EventBridge sends: each <name> replaced by the JSON value at its path."""
    body = transformer["input_template"]
    for name, path in transformer["input_paths"].items():
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        body = body.replace(f"<{name}>", value if isinstance(value, str) else json.dumps(value))
    return json.loads(body)


def test_the_dispatch_is_githubs_repository_dispatch_with_the_version():
    assert dispatch_url("acme/ml-platform") == "https://api.github.com/repos/acme/ml-platform/dispatches"
    assert render(dispatch_input_transformer("prod"), sample("Approved")) == {
        "event_type": "model-approved",
        "client_payload": {
            "stack": "prod",
            "version": 2,
            "model_package_arn": "arn:aws:sagemaker:us-east-2:123456789012:model-package/versionedmp-p-idy6c3e1fiqj/2",
        },
    }


def test_events_may_invoke_only_the_deploy_destination():
    arn = "arn:aws:events:us-east-1:123456789012:api-destination/deploy/abc"
    policy = invoke_destination_policy(arn)
    assert policy["Statement"] == [
        {
            "Sid": "InvokeDeployDestination",
            "Effect": "Allow",
            "Action": ["events:InvokeApiDestination"],
            "Resource": arn,
        }
    ]
    IAMPolicyDocumentValidator(json.dumps(policy)).validate()


TRIGGER = {"repository": "acme/ml-platform", "token": {"secure": "v1:abc"}}


@pytest.fixture(scope="module")
def triggered(tmp_path_factory):
    """prod with a deploy trigger whose token is a secure value, as `pulumi config set --secret` writes it."""
    root = tmp_path_factory.mktemp("project")
    for entry in ROOT.iterdir():
        if entry.name != "Pulumi.prod.yaml" and not entry.name.startswith("."):
            (root / entry.name).symlink_to(entry)
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    document["config"]["ml-platform:deploy_trigger"] = TRIGGER
    (root / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    return synthesize_stack("prod", root=root)


def test_deploy_trigger_resources(triggered):
    connection = triggered.one("aws:cloudwatch/eventConnection:EventConnection", "deploy-trigger-connection")
    assert connection.region == "us-east-1"
    assert connection.inputs["authorizationType"] == "API_KEY"
    assert connection.inputs["authParameters"] == {
        "apiKey": {"key": "Authorization", "value": "Bearer mock-secret-for-ml-platform:deploy_trigger.token"},
        "invocationHttpParameters": {
            "headers": [
                {"key": "Accept", "value": "application/vnd.github+json", "isValueSecret": False},
                {"key": "X-GitHub-Api-Version", "value": "2022-11-28", "isValueSecret": False},
            ]
        },
    }
    # The token is a secret in the engine (encrypted in state), not only in the stack file.
    assert "authParameters" in connection.secret_inputs
    destination = triggered.one("aws:cloudwatch/eventApiDestination:EventApiDestination", "deploy-trigger-destination")
    assert destination.inputs["invocationEndpoint"] == "https://api.github.com/repos/acme/ml-platform/dispatches"
    assert destination.inputs["httpMethod"] == "POST"
    rule = triggered.one("aws:cloudwatch/eventRule:EventRule", "deploy-trigger-on-approval")
    assert json.loads(rule.inputs["eventPattern"]) == approval_event_pattern("ml-platform-prod")
    target = triggered.one("aws:cloudwatch/eventTarget:EventTarget", "deploy-trigger-on-approval")
    assert target.inputs["arn"] == destination.outputs["arn"]
    assert target.inputs["inputTransformer"]["inputTemplate"] == (
        '{"event_type":"model-approved","client_payload":{"stack":"prod","version":<version>,'
        '"model_package_arn":"<arn>"}}'
    )
    assert target.inputs["retryPolicy"] == {"maximumEventAgeInSeconds": 3600, "maximumRetryAttempts": 20}


def test_without_deploy_trigger_nothing_calls_github(stack):
    assert stack("prod").of_type("aws:cloudwatch/eventApiDestination:EventApiDestination") == []
    assert stack("prod").of_type("aws:cloudwatch/eventConnection:EventConnection") == []


def test_deploy_trigger_config_rules():
    assert problems(deploy_trigger={"repository": "not a repo", "token": "t"}) == [
        "deploy_trigger.repository: not in the required format (got 'not a repo'; expected "
        "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$)"
    ]
    from ml_platform.config import StackConfigError, validate_stack_config
    from tests.test_config import VALID

    with pytest.raises(StackConfigError) as caught:
        validate_stack_config({**VALID, "deploy_trigger": {"repository": "acme/ml", "token": "ghp_x"}}, [])
    assert caught.value.lines == [
        "deploy_trigger.token: must be stored as a secret (got plain text; expected "
        "`pulumi config set --secret --path deploy_trigger.token <github token>`)"
    ]


def test_the_trigger_is_made_of_valid_eventbridge_requests(triggered):
    """The declared inputs as the EventBridge API requests the provider sends (names mapped by
    hand where pulumi-aws renames them), validated against botocore's service model."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("events")

    def valid(operation: str, request: dict) -> None:
        report = ParamValidator().validate(request, model.operation_model(operation).input_shape)
        assert not report.has_errors(), report.generate_report()

    connection = triggered.one("aws:cloudwatch/eventConnection:EventConnection", "deploy-trigger-connection").inputs
    auth = connection["authParameters"]
    valid(
        "CreateConnection",
        {
            "Name": "deploy-trigger-connection",
            "AuthorizationType": connection["authorizationType"],
            "AuthParameters": {
                "ApiKeyAuthParameters": {"ApiKeyName": auth["apiKey"]["key"], "ApiKeyValue": auth["apiKey"]["value"]},
                "InvocationHttpParameters": {
                    "HeaderParameters": [
                        {"Key": h["key"], "Value": h["value"], "IsValueSecret": h["isValueSecret"]}
                        for h in auth["invocationHttpParameters"]["headers"]
                    ]
                },
            },
        },
    )
    destination = triggered.one(
        "aws:cloudwatch/eventApiDestination:EventApiDestination", "deploy-trigger-destination"
    ).inputs
    valid(
        "CreateApiDestination",
        {
            "Name": "deploy-trigger-destination",
            "ConnectionArn": destination["connectionArn"],
            "InvocationEndpoint": destination["invocationEndpoint"],
            "HttpMethod": destination["httpMethod"],
            "InvocationRateLimitPerSecond": int(destination["invocationRateLimitPerSecond"]),
        },
    )
    target = triggered.one("aws:cloudwatch/eventTarget:EventTarget", "deploy-trigger-on-approval").inputs
    valid(
        "PutTargets",
        {
            "Rule": target["rule"],
            "Targets": [
                {
                    "Id": "deploy-trigger-on-approval",
                    "Arn": target["arn"],
                    "RoleArn": target["roleArn"],
                    "InputTransformer": {
                        "InputPathsMap": target["inputTransformer"]["inputPaths"],
                        "InputTemplate": target["inputTransformer"]["inputTemplate"],
                    },
                    "RetryPolicy": {
                        "MaximumRetryAttempts": int(target["retryPolicy"]["maximumRetryAttempts"]),
                        "MaximumEventAgeInSeconds": int(target["retryPolicy"]["maximumEventAgeInSeconds"]),
                    },
                }
            ],
        },
    )
