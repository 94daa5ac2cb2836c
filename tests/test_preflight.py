"""`python -m ops.preflight`: the committed stack file against the live endpoints, on moto
(SageMaker and Application Auto Scaling in two regions), with botocore's Stubber for an AWS
error moto does not produce. What moto cannot prove: that UpdateEndpoint really fails (moto
does not enforce the autoscaling rule); the rule itself is AWS's, cited in ops/preflight.py."""

from __future__ import annotations

import io

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from offline.engine import ROOT
from ops.preflight import (
    EXIT_AWS,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    Declared,
    Live,
    check_region,
    preflight,
    read_policy,
)
from tests.iam_lint import findings

ENDPOINT = "ml-platform-prod"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


def clients(service: str, region: str):
    return boto3.client(service, region_name=region)


def deploy(region: str, instance_type: str, *, count: int = 2, variant: str = "primary", autoscaled: bool = True):
    sagemaker = boto3.client("sagemaker", region_name=region)
    sagemaker.create_model(
        ModelName=f"model-{region}",
        ExecutionRoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/serving",
        PrimaryContainer={"Image": f"{DEFAULT_ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/model@sha256:{'0' * 64}"},
    )
    config = f"config-{region}"
    sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": f"model-{region}",
                "InitialInstanceCount": count,
                "InstanceType": instance_type,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=config)
    if autoscaled:
        boto3.client("application-autoscaling", region_name=region).register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=f"endpoint/{ENDPOINT}/variant/{variant}",
            ScalableDimension=DIMENSION,
            MinCapacity=1,
            MaxCapacity=8,
        )


def run(stack: str = "prod", factory=clients, root=ROOT) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = preflight(stack, root, factory, out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_first_deploy_has_nothing_to_compare(aws):
    assert run() == (
        EXIT_OK,
        "OK       primary   us-east-1      no endpoint yet: first deploy, nothing to compare\n"
        "OK       secondary us-west-2      no endpoint yet: first deploy, nothing to compare\n",
        "",
    )


def test_unchanged_instance_types_pass(aws):
    deploy("us-east-1", "ml.c5.xlarge")
    deploy("us-west-2", "ml.c5.xlarge", count=1)
    assert run() == (
        EXIT_OK,
        "OK       primary   us-east-1      InService on config-us-east-1; autoscaled variants: primary; "
        "no change that fails in place\n"
        "OK       secondary us-west-2      InService on config-us-west-2; autoscaled variants: primary; "
        "no change that fails in place\n",
        "",
    )


def test_an_instance_type_change_on_an_autoscaled_variant_is_refused_with_the_procedure(aws):
    # Prod declares ml.c5.xlarge; the primary runs ml.c5.2xlarge and is a scalable target.
    deploy("us-east-1", "ml.c5.2xlarge", count=3)
    deploy("us-west-2", "ml.c5.xlarge", count=1)
    code, out, err = run()
    assert (code, err) == (EXIT_REFUSED, "")
    assert out == (
        "REFUSED  primary   us-east-1      variant 'primary' is a scalable target and its instance type would change "
        'from ml.c5.2xlarge to ml.c5.xlarge: AWS fails such an update ("If the update would change the instance '
        'type for any model that is a target for auto scaling, the update fails")\n'
        "OK       secondary us-west-2      InService on config-us-west-2; autoscaled variants: primary; "
        "no change that fails in place\n"
        "\n"
        "primary (us-east-1):\n"
        "  This needs two steps (ml.c5.2xlarge -> ml.c5.xlarge on an autoscaled variant); one `pulumi up` cannot "
        "order them:\n"
        "  1. Deregister the variant as a scalable target (this also deletes its scaling policies and\n"
        "     scheduled actions), and drop them from the stack's state:\n"
        "       aws application-autoscaling deregister-scalable-target --region us-east-1 \\\n"
        "         --service-namespace sagemaker --resource-id endpoint/ml-platform-prod/variant/primary \\\n"
        "         --scalable-dimension sagemaker:variant:DesiredInstanceCount\n"
        "       pulumi refresh --stack prod --yes\n"
        "     Autoscaling is off until step 2 ends: the variant keeps its 3 instance(s), and the new configuration "
        "starts at serving.instance.initial_instance_count (2); raise it first if the load needs more.\n"
        "  2. Deploy the change: `pulumi up` updates the endpoint, then registers the scalable target,\n"
        "     its policies and schedules again (in CI: re-run the deploy workflow, or merge the change now):\n"
        "       pulumi up --stack prod\n"
        "\n"
        "preflight refused 1 endpoint update(s); `pulumi up` would fail on them\n"
    )


def test_an_instance_type_change_without_autoscaling_is_allowed(aws):
    deploy("us-east-1", "ml.c5.2xlarge", autoscaled=False)
    deploy("us-west-2", "ml.c5.xlarge", count=1, autoscaled=False)
    code, out, _ = run()
    assert code == EXIT_OK
    assert "OK       primary   us-east-1      InService on config-us-east-1; autoscaled variants: none;" in out


def test_removing_an_autoscaled_variant_is_refused(aws):
    deploy("us-east-1", "ml.c5.xlarge", variant="blue")
    deploy("us-west-2", "ml.c5.xlarge", count=1)
    code, out, _ = run()
    assert code == EXIT_REFUSED
    assert out.splitlines()[0] == (
        "REFUSED  primary   us-east-1      variant 'blue' is a scalable target and the stack no longer declares it "
        "(it declares 'primary'): the update would fail"
    )
    assert "--resource-id endpoint/ml-platform-prod/variant/blue" in out


DECLARED = Declared("primary", "us-east-1", "serving", "primary", "ml.c5.xlarge", True, 2)


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"])
def test_an_endpoint_in_progress_is_refused_until_in_service(status):
    live = Live(status, "config-a", {"primary": "ml.c5.xlarge"}, {"primary": 2}, frozenset({"primary"}))
    _, refusal = check_region("prod", DECLARED, ENDPOINT, live)
    assert refusal.reason == f"endpoint ml-platform-prod is {status}; SageMaker refuses an update until it is InService"
    assert refusal.procedure == (
        "Wait until it is InService (aws sagemaker wait endpoint-in-service --region us-east-1 "
        "--endpoint-name ml-platform-prod), then run this check again.",
    )


def test_a_failed_endpoint_is_refused_with_how_to_recover():
    live = Live("Failed", "config-a", {"primary": "ml.c5.xlarge"}, {"primary": 0}, frozenset())
    _, refusal = check_region("prod", DECLARED, ENDPOINT, live)
    assert refusal.procedure[0].startswith("A Failed endpoint can only be deleted: read its FailureReason")
    assert "`pulumi refresh --stack prod --yes`" in refusal.procedure[0]


def test_an_aws_error_exits_3_with_the_error():
    sagemaker = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(sagemaker)
    stub.add_client_error(
        "describe_endpoint",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: sagemaker:DescribeEndpoint",
        expected_params={"EndpointName": ENDPOINT},
    )
    with stub:
        code, out, err = run(factory=lambda service, region: sagemaker)
    assert (code, out) == (EXIT_AWS, "")
    assert err == (
        "error: primary (us-east-1): could not read endpoint ml-platform-prod: An error occurred "
        "(AccessDeniedException) when calling the DescribeEndpoint operation: not authorized to perform: "
        "sagemaker:DescribeEndpoint\n"
    )


def test_bad_stack_exits_2(tmp_path):
    (tmp_path / "Pulumi.bad.yaml").write_text("config:\n  ml-platform:environment: qa\n")
    code, out, err = run("bad", root=tmp_path)
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith("error: Pulumi.bad.yaml has ")
    assert "  - environment: not an allowed value (got 'qa'; expected one of 'dev', 'staging' or 'prod')\n" in err


def test_a_kubernetes_stack_has_no_endpoint_to_check():
    def no_aws(service, region):
        raise AssertionError("no AWS call expected")

    assert run("k8s", factory=no_aws) == (
        EXIT_OK,
        "stack k8s: serving.platform kubernetes has no SageMaker endpoint; nothing to check\n",
        "",
    )


def test_the_reads_it_needs_lint_clean_against_aws_tables():
    policy = read_policy(partition="aws", account_id="123456789012", regions=["us-west-2", "us-east-1"], stack="prod")
    assert policy["Statement"][0]["Resource"] == [
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint/ml-platform-prod",
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/*",
        "arn:aws:sagemaker:us-west-2:123456789012:endpoint/ml-platform-prod",
        "arn:aws:sagemaker:us-west-2:123456789012:endpoint-config/*",
    ]
    assert findings(policy) == []
