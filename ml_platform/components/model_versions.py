"""Model versions: the packages of one SageMaker Model Registry group, read and selected.

A model version is a versioned model package (CreateModelPackage with ModelPackageGroupName):
SageMaker numbers the packages of a group 1, 2, 3... in creation order and never reuses a
number. What this module reads from DescribeModelPackage
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeModelPackage.html):

- `InferenceSpecification.Containers[0].Image` / `.ModelDataUrl`: what a Model built from the
  version serves (the image by digest, the artifact written once per training run);
- `InferenceSpecification.SupportedRealtimeInferenceInstanceTypes`;
- `ModelApprovalStatus` (`Approved`, `Rejected`, `PendingManualApproval`) and `CreationTime`;
- `CustomerMetadataProperties`: lineage written by the model-build pipeline (`dataset_uri`,
  `dataset_version`, `git_commit`, `pipeline_execution_arn`, ...) and the evaluation metrics as
  `metric.<name>` strings (`metric.accuracy: "0.9649"`), parsed into `ModelVersion.metrics`;
- the drift baseline's URL: `DriftCheckBaselines.ModelDataQuality.Statistics.S3Uri`, else
  `ModelMetrics.ModelDataQuality.Statistics.S3Uri`, else the `baseline_uri` metadata key.

Selectors (the `serving.model` stack setting): `latest-approved` is the highest-numbered
Approved version, the SageMaker Projects convention (rejecting it makes the previous approved
version latest again); an int N is version N, which must exist and be Approved.

Everything takes a boto3 SageMaker client for the group's region, so the Pulumi program
(preview and up), the offline plan (on moto) and `ops.models` share one reading.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

LATEST_APPROVED = "latest-approved"
APPROVED, REJECTED, PENDING = "Approved", "Rejected", "PendingManualApproval"
STATUSES = (APPROVED, REJECTED, PENDING)
METRIC_PREFIX = "metric."
BASELINE_METADATA_KEY = "baseline_uri"
DATASET_URI_KEY, DATASET_VERSION_KEY = "dataset_uri", "dataset_version"
# ApprovalDescription is at most 1024 characters (botocore's sagemaker ApprovalDescription shape).
APPROVAL_DESCRIPTION_MAX = 1024
SHOWN_VERSIONS = 10  # versions an error message lists


class RegistryError(Exception):
    """A selector or status the registry cannot satisfy; the message names the group, the
    selector and what exists."""


@dataclass(frozen=True)
class ModelVersion:
    """One package of a model package group, as DescribeModelPackage reports it."""

    version: int
    arn: str
    status: str
    created: datetime
    image_uri: str
    model_data_url: str
    metrics: dict[str, float] = field(default_factory=dict)
    dataset_uri: str | None = None
    dataset_version: str | None = None
    baseline_url: str | None = None
    customer_metadata: dict[str, str] = field(default_factory=dict)
    supported_instance_types: tuple[str, ...] = ()

    @property
    def approved(self) -> bool:
        return self.status == APPROVED


# ---------------------------------------------------------------------------------------------
# Reading


def list_versions(client: Any, group_name: str) -> list[ModelVersion]:
    """Every version of `group_name`, ascending by version; [] if the group does not exist."""
    summaries = list(_summaries(client, group_name))
    return [describe(client, summary["ModelPackageArn"]) for summary in summaries]


def resolve(client: Any, group_name: str, selector: str | int) -> ModelVersion | None:
    """The version `selector` names.

    `latest-approved` -> the newest Approved version, or None when there is none (first deploy);
    an int N (or its decimal string) -> version N; RegistryError when N does not exist or is not
    Approved, or the selector is neither.
    """
    number = _selector_number(group_name, selector)
    summaries = list(_summaries(client, group_name))
    if number is None:
        approved = [s for s in summaries if s.get("ModelApprovalStatus") == APPROVED]
        if not approved:
            return None
        return describe(client, max(approved, key=_version_of)["ModelPackageArn"])
    chosen = _numbered(summaries, group_name, number)
    if chosen.get("ModelApprovalStatus") != APPROVED:
        raise RegistryError(
            f"model package group {group_name!r}: version {number} is {chosen.get('ModelApprovalStatus')}, "
            f"not Approved; only an approved version is served (approve it with "
            f"`python -m ops.models approve --stack <stack> {number}`; versions: {_describe_existing(summaries)})"
        )
    return describe(client, chosen["ModelPackageArn"])


def get_version(client: Any, group_name: str, number: int) -> ModelVersion:
    """Version `number` whatever its status; RegistryError naming what exists if it is missing."""
    summaries = list(_summaries(client, group_name))
    return describe(client, _numbered(summaries, group_name, number)["ModelPackageArn"])


def _numbered(summaries: list[dict[str, Any]], group_name: str, number: int) -> dict[str, Any]:
    for summary in summaries:
        if _version_of(summary) == number:
            return summary
    raise RegistryError(
        f"model package group {group_name!r}: version {number} does not exist "
        f"(versions: {_describe_existing(summaries)})"
    )


def describe(client: Any, package_arn: str) -> ModelVersion:
    """One version by its package ARN."""
    return parse_description(client.describe_model_package(ModelPackageName=package_arn))


def parse_description(response: Mapping[str, Any]) -> ModelVersion:
    """A DescribeModelPackage response as a ModelVersion (pure; tested on botocore's shape)."""
    spec = response.get("InferenceSpecification") or {}
    containers = spec.get("Containers") or [{}]
    metadata = dict(response.get("CustomerMetadataProperties") or {})
    return ModelVersion(
        version=int(response["ModelPackageVersion"]),
        arn=response["ModelPackageArn"],
        status=response.get("ModelApprovalStatus", PENDING),
        created=response["CreationTime"],
        image_uri=containers[0].get("Image", ""),
        model_data_url=containers[0].get("ModelDataUrl", ""),
        metrics=parse_metrics(metadata),
        dataset_uri=metadata.get(DATASET_URI_KEY),
        dataset_version=metadata.get(DATASET_VERSION_KEY),
        baseline_url=_baseline_url(response, metadata),
        customer_metadata=metadata,
        supported_instance_types=tuple(spec.get("SupportedRealtimeInferenceInstanceTypes") or ()),
    )


def parse_metrics(metadata: Mapping[str, str]) -> dict[str, float]:
    """`metric.<name>` properties as floats; values that are not finite numbers are left out."""
    metrics = {}
    for key, raw in metadata.items():
        if not key.startswith(METRIC_PREFIX) or len(key) == len(METRIC_PREFIX):
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            metrics[key[len(METRIC_PREFIX) :]] = value
    return metrics


def _baseline_url(response: Mapping[str, Any], metadata: Mapping[str, str]) -> str | None:
    for section in ("DriftCheckBaselines", "ModelMetrics"):
        uri = (((response.get(section) or {}).get("ModelDataQuality") or {}).get("Statistics") or {}).get("S3Uri")
        if uri:
            return uri
    return metadata.get(BASELINE_METADATA_KEY)


def _summaries(client: Any, group_name: str) -> Iterator[dict[str, Any]]:
    """ListModelPackages summaries of the group, ascending by version ([] if no such group).

    ListModelPackages pages with NextToken (boto3 paginator `list_model_packages`). Without
    ModelPackageType it lists unversioned packages only, and versioned summaries carry the ARN
    but no ModelPackageName (https://github.com/boto/boto3/issues/3069), hence the explicit
    type and describing by ARN. A group that does not exist lists no packages (an empty list,
    or a "does not exist" ValidationException, read as the same thing).
    """
    paginator = client.get_paginator("list_model_packages")
    summaries = []
    try:
        for page in paginator.paginate(ModelPackageGroupName=group_name, ModelPackageType="Versioned"):
            summaries.extend(page.get("ModelPackageSummaryList", []))
    except ClientError as exc:
        if not _no_such_group(exc):
            raise
        return iter(())
    return iter(sorted((s for s in summaries if s.get("ModelPackageVersion") is not None), key=_version_of))


def _no_such_group(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") in ("ValidationException", "ResourceNotFound") and "does not exist" in str(
        error.get("Message", "")
    )


def _version_of(summary: Mapping[str, Any]) -> int:
    return int(summary["ModelPackageVersion"])


def _selector_number(group_name: str, selector: str | int) -> int | None:
    if isinstance(selector, bool):
        raise RegistryError(_bad_selector(group_name, selector))
    if isinstance(selector, int):
        if selector < 1:
            raise RegistryError(_bad_selector(group_name, selector))
        return selector
    if selector == LATEST_APPROVED:
        return None
    if isinstance(selector, str) and selector.isdigit() and int(selector) >= 1:
        return int(selector)
    raise RegistryError(_bad_selector(group_name, selector))


def _bad_selector(group_name: str, selector: Any) -> str:
    return (
        f"model package group {group_name!r}: selector {selector!r} is not a model version "
        f"(expected {LATEST_APPROVED!r} or a version number >= 1)"
    )


def _describe_existing(summaries: list[dict[str, Any]]) -> str:
    """`1 Approved, 2 Rejected`; a long history shows its newest SHOWN_VERSIONS."""
    if not summaries:
        return "none"
    shown = ", ".join(f"{_version_of(s)} {s.get('ModelApprovalStatus', '?')}" for s in summaries[-SHOWN_VERSIONS:])
    hidden = len(summaries) - SHOWN_VERSIONS
    return f"{hidden} older, then {shown}" if hidden > 0 else shown


# ---------------------------------------------------------------------------------------------
# Writing


def set_status(client: Any, arn: str, status: str, reason: str) -> None:
    """Set a version's approval status, with `reason` as its ApprovalDescription.

    UpdateModelPackage changes only the fields it is given
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html).
    The current CustomerMetadataProperties are sent back unchanged all the same: moto 5.2.5
    replaces the whole map with nothing when the field is left out, and on AWS re-sending the
    same keys and values changes nothing. A status change emits the EventBridge event
    `SageMaker Model Package State Change` (the deploy trigger listens for Approved;
    https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html).
    """
    if status not in STATUSES:
        raise RegistryError(f"status {status!r} is not a model approval status (expected one of {', '.join(STATUSES)})")
    if not reason.strip():
        raise RegistryError(f"{arn}: a reason is required to set the status to {status} (got an empty string)")
    if len(reason) > APPROVAL_DESCRIPTION_MAX:
        raise RegistryError(
            f"{arn}: the reason is {len(reason)} characters (expected at most {APPROVAL_DESCRIPTION_MAX})"
        )
    current = client.describe_model_package(ModelPackageName=arn)
    request: dict[str, Any] = {"ModelPackageArn": arn, "ModelApprovalStatus": status, "ApprovalDescription": reason}
    if current.get("CustomerMetadataProperties"):
        request["CustomerMetadataProperties"] = dict(current["CustomerMetadataProperties"])
    client.update_model_package(**request)


def approve(client: Any, version: ModelVersion, reason: str) -> None:
    set_status(client, version.arn, APPROVED, reason)


def reject(client: Any, version: ModelVersion, reason: str) -> None:
    set_status(client, version.arn, REJECTED, reason)
