"""`resolve_served` alone: `serving.model` read from a registry on moto, without a stack file
or the program (tests/test_served_model.py runs the whole program against the same registry).
"""

from __future__ import annotations

import boto3
import pulumi
import pytest

from ml_platform.components.served_model import resolve_served, use_registry
from tests.registry_fixtures import BUCKET, GROUP, REGION, moto_registry, register_version


@pytest.fixture
def sagemaker(monkeypatch):
    with (
        moto_registry(monkeypatch) as (client, _),
        use_registry(lambda region: boto3.client("sagemaker", region_name=region)),
    ):
        yield client


def test_latest_approved_serves_the_newest_approved_version_and_keeps_the_one_before(sagemaker):
    for number, status in ((1, "Approved"), (2, "Approved"), (3, "PendingManualApproval")):
        register_version(sagemaker, version=number, status=status, accuracy=0.9 + number / 100)
    served = resolve_served("latest-approved", GROUP, REGION)
    assert (served.selector, served.group_name, served.version.version, served.previous.version) == (
        "latest-approved",
        GROUP,
        2,
        1,
    )
    assert served.version.model_data_url == f"s3://{BUCKET}/models/exec-2/output/model.tar.gz"
    assert served.describe().startswith(f"serving.model latest-approved: version 2 of {GROUP} (Approved, created ")
    assert served.describe().endswith(
        "metrics accuracy=0.92, holdout_rows=114; dataset v2 (s3://ml-platform-prod-datasets/breast-cancer/v2/); "
        f"artifact s3://{BUCKET}/models/exec-2/output/model.tar.gz"
    )


def test_with_nothing_approved_nothing_is_served(sagemaker):
    register_version(sagemaker, version=1)
    served = resolve_served("latest-approved", GROUP, REGION)
    assert (served.version, served.previous) == (None, None)
    assert served.describe() == (
        f"serving.model latest-approved: no approved version in {GROUP} yet; the endpoint is not declared "
        "(first deploy: train, approve, then `pulumi up` again)"
    )


def test_a_pinned_version_that_is_not_approved_fails_naming_the_config_key(sagemaker):
    register_version(sagemaker, version=1, status="Approved")
    register_version(sagemaker, version=2, status="Rejected")
    with pytest.raises(pulumi.RunError) as caught:
        resolve_served(2, GROUP, REGION)
    assert str(caught.value) == (
        f"serving.model: model package group '{GROUP}': version 2 is Rejected, not Approved; only an approved "
        "version is served (approve it with `python -m ops.models approve --stack <stack> 2`; versions: "
        "1 Approved, 2 Rejected)"
    )
