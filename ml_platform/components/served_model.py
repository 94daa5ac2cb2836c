"""Which model version a stack serves: `serving.model` resolved against the Model Registry.

Deploy = `pulumi up` of a version. The program reads the registry (the primary region's
SageMaker API, through `ml_platform/components/model_versions.py`) at preview and at up, so a pull
request's preview shows the version that goes out, its metrics and its dataset.

Where the registry client comes from (`registry_client`):
- `use_registry(factory)` installs one (tests install moto clients; `offline.plan --registry` too);
- otherwise, under the SDK's mock engine (tests, the offline plan) there is no AWS: the
  program reads the EXAMPLE registry below, hosted on moto, so `make plan` stays offline and
  shows what a real preview shows;
- otherwise (a real `pulumi preview`/`up`) a boto3 client in the primary region, with the
  credentials the CLI runs with (the deploy role needs sagemaker:ListModelPackages and
  sagemaker:DescribeModelPackage on the group).

A registry that cannot be read fails the program (never "no version": that would remove the
endpoint); a pinned version that is missing or not Approved fails it with the registry's
message, named after the config key.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pulumi
from botocore.exceptions import BotoCoreError, ClientError

from ml_platform.components.model_versions import APPROVED, ModelVersion, RegistryError, list_versions, resolve

RegistryClientFactory = Callable[[str], Any]  # region -> a boto3 SageMaker client
_installed: contextvars.ContextVar[RegistryClientFactory | None] = contextvars.ContextVar(
    "registry_client_factory", default=None
)


@contextlib.contextmanager
def use_registry(factory: RegistryClientFactory) -> Iterator[None]:
    """Read the registry through `factory(region)` while the block runs."""
    token = _installed.set(factory)
    try:
        yield
    finally:
        _installed.reset(token)


def under_mock_engine() -> bool:
    from pulumi.runtime import mocks, settings

    return isinstance(getattr(settings.SETTINGS, "monitor", None), mocks.MockMonitor)


@contextlib.contextmanager
def registry_client(region: str, group_name: str) -> Iterator[Any]:
    """A SageMaker client for the registry in `region`, for the duration of the block."""
    factory = _installed.get()
    if factory is not None:
        yield factory(region)
    elif under_mock_engine():
        with example_registry_client(region, group_name) as client:
            yield client
    else:
        import boto3

        yield boto3.client("sagemaker", region_name=region)


@dataclass(frozen=True)
class ServedModel:
    """The resolved `serving.model`: the version served, and the approved one before it (what
    a rollback returns to; None when there is none)."""

    selector: str | int
    group_name: str
    version: ModelVersion | None
    previous: ModelVersion | None

    def describe(self) -> str:
        """One line for the preview and the plan."""
        if self.version is None:
            return (
                f"serving.model {self.selector}: no approved version in {self.group_name} yet; the endpoint is not "
                "declared (first deploy: train, approve, then `pulumi up` again)"
            )
        v = self.version
        metrics = ", ".join(f"{k}={value:g}" for k, value in sorted(v.metrics.items())) or "none recorded"
        return (
            f"serving.model {self.selector}: version {v.version} of {self.group_name} ({v.status}, created "
            f"{v.created:%Y-%m-%d %H:%M} UTC); metrics {metrics}; dataset {v.dataset_version or '?'} "
            f"({v.dataset_uri or 'unknown'}); artifact {v.model_data_url}"
        )


def resolve_served(selector: str | int, group_name: str, region: str) -> ServedModel:
    """Read the registry once; raise `pulumi.RunError` naming `serving.model` when it cannot serve."""
    try:
        with registry_client(region, group_name) as client:
            version = resolve(client, group_name, selector)
            earlier = [
                v
                for v in list_versions(client, group_name)
                if v.status == APPROVED and version is not None and v.version < version.version
            ]
    except RegistryError as exc:
        raise pulumi.RunError(f"serving.model: {exc}") from None
    except (BotoCoreError, ClientError) as exc:
        # Never read "cannot see the registry" as "no version": that would remove the endpoint.
        raise pulumi.RunError(
            f"serving.model: cannot read the Model Registry group {group_name!r} in {region}: {exc} (the deploying "
            "credentials need sagemaker:ListModelPackages and sagemaker:DescribeModelPackage)"
        ) from None
    return ServedModel(selector, group_name, version, earlier[-1] if earlier else None)


# ---------------------------------------------------------------------------------------------
# The example registry (mock engine only)

EXAMPLE_ACCOUNT = "123456789012"
EXAMPLE_DIGEST = "sha256:" + "5e" * 32
# (status, accuracy, dataset version) of versions 1, 2, 3: two approved (2 is served by
# `latest-approved`, 1 is what a rollback returns to) and one waiting for approval.
EXAMPLE_VERSIONS = (("Approved", 0.9561, "v1"), ("Approved", 0.9649, "v2"), ("PendingManualApproval", 0.9737, "v3"))


def example_artifacts_bucket() -> str:
    """The primary artifacts bucket's name under the mock engine (offline/engine.py names a bucket
    `<logical name>-mock`), so the example's artifacts live in the stack's own bucket."""
    return "primary-artifacts-mock"


@contextlib.contextmanager
def example_registry_client(region: str, group_name: str) -> Iterator[Any]:
    """A moto-hosted registry holding EXAMPLE_VERSIONS in `group_name` (moto is a development
    dependency: only the mock engine reaches this)."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client(
            "sagemaker", region_name=region, aws_access_key_id="example", aws_secret_access_key="example"
        )
        seed_example(client, region, group_name)
        yield client


def seed_example(client: Any, region: str, group_name: str) -> None:
    existing = {g["ModelPackageGroupName"] for g in client.list_model_package_groups()["ModelPackageGroupSummaryList"]}
    if group_name in existing:
        return
    client.create_model_package_group(ModelPackageGroupName=group_name)
    # The stack's repository naming: `<project>-<stack>` group, `<project>/<stack>/model` repository.
    project = pulumi.get_project()
    stack_path = group_name.replace(f"{project}-", f"{project}/", 1)
    repository = f"{EXAMPLE_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{stack_path}"
    for number, (status, accuracy, dataset) in enumerate(EXAMPLE_VERSIONS, start=1):
        run = f"s3://{example_artifacts_bucket()}/models/example-execution-{number}"
        client.create_model_package(
            ModelPackageGroupName=group_name,
            ModelPackageDescription=f"example version {number} (offline plan)",
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": f"{repository}/model@{EXAMPLE_DIGEST}",
                        "ModelDataUrl": f"{run}/pipelines-example{number}-Train/output/model.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["text/csv", "application/json"],
                "SupportedResponseMIMETypes": ["text/csv", "application/json"],
            },
            DriftCheckBaselines={
                "ModelDataQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": f"{run}/evaluation/baseline.json"}
                }
            },
            CustomerMetadataProperties={
                "dataset_uri": f"s3://primary-datasets-mock/tabular/breast-cancer/{dataset}/",
                "dataset_version": dataset,
                "git_commit": f"{number:040x}",
                "metric.accuracy": f"{accuracy:.4f}",
            },
        )
