"""`ml_platform.components.model_versions` on moto's SageMaker Model Registry, and its parsing of
DescribeModelPackage on botocore's own response shape (Stubber).

What moto cannot prove: moto numbers versions and keeps every field it is given, like AWS, but
it does not validate image or artifact existence, does not emit the EventBridge state-change
event, and (moto 5.2.5) wipes CustomerMetadataProperties on an UpdateModelPackage that leaves
them out, which `set_status` guards against (tested below).
"""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ml_platform.components.model_versions import (
    LATEST_APPROVED,
    ModelVersion,
    RegistryError,
    get_version,
    list_versions,
    parse_description,
    resolve,
    set_status,
)
from tests.registry_fixtures import BUCKET, GROUP, IMAGE, INSTANCE_TYPES, REGION, create_group, register_version


@pytest.fixture
def sagemaker(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("sagemaker", region_name=REGION)
        create_group(client)
        yield client


def test_list_versions_reads_every_field_the_pipeline_registers(sagemaker):
    arn = register_version(sagemaker, version=1, status="Approved", accuracy=0.9649)
    [version] = list_versions(sagemaker, GROUP)
    assert version.version == 1
    assert version.arn == arn
    assert version.status == "Approved"
    assert isinstance(version.created, datetime)
    assert version.image_uri == IMAGE
    assert version.model_data_url == f"s3://{BUCKET}/models/exec-1/output/model.tar.gz"
    assert version.metrics == {"accuracy": 0.9649, "holdout_rows": 114.0}
    assert version.dataset_uri == "s3://ml-platform-prod-datasets/breast-cancer/v1/"
    assert version.dataset_version == "v1"
    assert version.baseline_url == f"s3://{BUCKET}/models/exec-1/baseline.json"
    assert version.customer_metadata["git_commit"] == f"{1:040x}"
    assert version.supported_instance_types == tuple(INSTANCE_TYPES)


def test_list_versions_is_ascending_and_pages(sagemaker):
    for number in range(1, 14):
        register_version(sagemaker, version=number)
    # moto pages ListModelPackages; force small pages to prove every page is read.
    paginate = sagemaker.get_paginator("list_model_packages").paginate

    class SmallPages:
        def paginate(self, **kwargs):
            return paginate(**kwargs, PaginationConfig={"PageSize": 5})

    sagemaker.get_paginator = lambda name: SmallPages()
    assert [v.version for v in list_versions(sagemaker, GROUP)] == list(range(1, 14))


def test_list_versions_of_a_missing_group_is_empty(sagemaker):
    assert list_versions(sagemaker, "no-such-group") == []
    assert resolve(sagemaker, "no-such-group", LATEST_APPROVED) is None


def test_latest_approved_is_the_highest_approved_version(sagemaker):
    register_version(sagemaker, version=1, status="Approved")
    register_version(sagemaker, version=2, status="Approved")
    register_version(sagemaker, version=3, status="Rejected")
    register_version(sagemaker, version=4, status="PendingManualApproval")
    assert resolve(sagemaker, GROUP, LATEST_APPROVED).version == 2


def test_latest_approved_with_nothing_approved_is_none(sagemaker):
    register_version(sagemaker, version=1, status="PendingManualApproval")
    assert resolve(sagemaker, GROUP, LATEST_APPROVED) is None


def test_pinned_version_resolves_by_number_and_by_digit_string(sagemaker):
    register_version(sagemaker, version=1, status="Approved")
    register_version(sagemaker, version=2, status="Approved")
    assert resolve(sagemaker, GROUP, 1).model_data_url.endswith("/exec-1/output/model.tar.gz")
    assert resolve(sagemaker, GROUP, "1").version == 1


def test_pinned_version_that_does_not_exist(sagemaker):
    register_version(sagemaker, version=1, status="Approved")
    register_version(sagemaker, version=2, status="Rejected")
    with pytest.raises(RegistryError) as error:
        resolve(sagemaker, GROUP, 7)
    assert str(error.value) == (
        f"model package group '{GROUP}': version 7 does not exist (versions: 1 Approved, 2 Rejected)"
    )


def test_pinned_version_in_an_empty_group(sagemaker):
    with pytest.raises(RegistryError, match=r"version 1 does not exist \(versions: none\)"):
        resolve(sagemaker, GROUP, 1)


def test_pinned_version_that_is_not_approved(sagemaker):
    register_version(sagemaker, version=1, status="Approved")
    register_version(sagemaker, version=2, status="PendingManualApproval")
    with pytest.raises(RegistryError) as error:
        resolve(sagemaker, GROUP, 2)
    assert str(error.value) == (
        f"model package group '{GROUP}': version 2 is PendingManualApproval, not Approved; only an approved "
        "version is served (approve it with `python -m ops.models approve --stack <stack> 2`; "
        "versions: 1 Approved, 2 PendingManualApproval)"
    )


@pytest.mark.parametrize("selector", ["latest", 0, -1, "v2", True, "", "1.5"])
def test_bad_selectors(sagemaker, selector):
    with pytest.raises(RegistryError) as error:
        resolve(sagemaker, GROUP, selector)
    assert str(error.value) == (
        f"model package group '{GROUP}': selector {selector!r} is not a model version "
        "(expected 'latest-approved' or a version number >= 1)"
    )


def test_set_status_changes_status_and_keeps_metadata(sagemaker):
    arn = register_version(sagemaker, version=1)
    set_status(sagemaker, arn, "Approved", "holdout accuracy 0.95; reviewed")
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "holdout accuracy 0.95; reviewed"
    [version] = list_versions(sagemaker, GROUP)
    assert version.metrics == {"accuracy": 0.95, "holdout_rows": 114.0}
    assert version.dataset_version == "v1"


def test_reject_then_latest_approved_is_the_previous_one(sagemaker):
    register_version(sagemaker, version=1, status="Approved")
    second = register_version(sagemaker, version=2, status="Approved")
    set_status(sagemaker, second, "Rejected", "errors after deploy")
    assert resolve(sagemaker, GROUP, LATEST_APPROVED).version == 1


def test_set_status_refuses_bad_input(sagemaker):
    arn = register_version(sagemaker, version=1)
    with pytest.raises(RegistryError) as error:
        set_status(sagemaker, arn, "Deployed", "x")
    assert str(error.value) == (
        "status 'Deployed' is not a model approval status (expected one of Approved, Rejected, PendingManualApproval)"
    )
    with pytest.raises(RegistryError, match="a reason is required to set the status to Rejected"):
        set_status(sagemaker, arn, "Rejected", "  ")
    with pytest.raises(RegistryError, match=r"the reason is 1025 characters \(expected at most 1024\)"):
        set_status(sagemaker, arn, "Rejected", "x" * 1025)


# ---------------------------------------------------------------------------------------------
# Parsing on botocore's response shape: the Stubber validates the canned response against the
# service model, so these are responses AWS could send.

PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{GROUP}/3"


def _stubbed_describe(response):
    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("describe_model_package", response, {"ModelPackageName": PACKAGE_ARN})
        return parse_description(client.describe_model_package(ModelPackageName=PACKAGE_ARN))


def _response(**extra):
    return {
        "ModelPackageName": GROUP,
        "ModelPackageGroupName": GROUP,
        "ModelPackageVersion": 3,
        "ModelPackageArn": PACKAGE_ARN,
        "CreationTime": datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://b/models/x/output/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.c5.xlarge"],
        },
        **extra,
    }


def test_parse_with_metrics_baseline_from_model_metrics_and_bad_metric_values():
    version = _stubbed_describe(
        _response(
            ModelApprovalStatus="Rejected",
            CustomerMetadataProperties={
                "metric.accuracy": "0.91",
                "metric.f1": "not a number",
                "metric.loss": "nan",
                "metric.": "1",
                "git_commit": "abc",
            },
            ModelMetrics={"ModelDataQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/m"}}},
        )
    )
    assert version == ModelVersion(
        version=3,
        arn=PACKAGE_ARN,
        status="Rejected",
        created=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        image_uri=IMAGE,
        model_data_url="s3://b/models/x/output/model.tar.gz",
        metrics={"accuracy": 0.91},
        dataset_uri=None,
        dataset_version=None,
        baseline_url="s3://b/m",
        customer_metadata={
            "metric.accuracy": "0.91",
            "metric.f1": "not a number",
            "metric.loss": "nan",
            "metric.": "1",
            "git_commit": "abc",
        },
        supported_instance_types=("ml.c5.xlarge",),
    )


def test_parse_prefers_drift_check_baselines_then_metadata():
    both = _stubbed_describe(
        _response(
            ModelApprovalStatus="Approved",
            DriftCheckBaselines={
                "ModelDataQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/d"}}
            },
            ModelMetrics={"ModelDataQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/m"}}},
        )
    )
    assert both.baseline_url == "s3://b/d"
    metadata_only = _stubbed_describe(_response(CustomerMetadataProperties={"baseline_uri": "s3://b/baseline.json"}))
    assert metadata_only.baseline_url == "s3://b/baseline.json"
    # No ModelApprovalStatus in the response (AWS leaves it out for unversioned packages).
    assert metadata_only.status == "PendingManualApproval"


def test_get_version_returns_any_status_and_names_what_exists(sagemaker):
    register_version(sagemaker, version=1, status="Rejected")
    assert get_version(sagemaker, GROUP, 1).status == "Rejected"
    with pytest.raises(RegistryError) as error:
        get_version(sagemaker, GROUP, 2)
    assert str(error.value) == f"model package group '{GROUP}': version 2 does not exist (versions: 1 Rejected)"


def test_an_error_lists_only_the_newest_versions_of_a_long_history(sagemaker):
    for number in range(1, 13):
        register_version(sagemaker, version=number, status="Rejected")
    with pytest.raises(RegistryError) as error:
        resolve(sagemaker, GROUP, 40)
    shown = ", ".join(f"{n} Rejected" for n in range(3, 13))
    assert (
        str(error.value)
        == f"model package group '{GROUP}': version 40 does not exist (versions: 2 older, then {shown})"
    )
