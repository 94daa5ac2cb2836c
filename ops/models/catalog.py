"""`ops.models list`, `approve`, `reject`, `rollback`: the versions of the stack's model package
group, where each is deployed, and their approval status."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from ml_platform.components.model_versions import (
    APPROVED,
    LATEST_APPROVED,
    REJECTED,
    ModelVersion,
    RegistryError,
    get_version,
    list_versions,
    resolve,
    set_status,
)
from ops.models.common import EXIT_OK, ClientFactory, CommandError, Context, Stack, metric_text, render_version
from ops.outputs import Endpoint, OutputsError, endpoints


@dataclass(frozen=True)
class Serving:
    """What one endpoint's live Model serves, as DescribeEndpoint -> config -> Model report it."""

    endpoint: Endpoint
    package_arn: str | None = None
    model_data_url: str | None = None
    problem: str | None = None

    @property
    def where(self) -> str:
        return f"{self.endpoint.role} ({self.endpoint.region})"

    def serves(self, version: ModelVersion) -> bool:
        """Same package (or the same group and number in this region), or the same artifact
        (or a copy under the same key in this region's bucket)."""
        if self.package_arn:
            return self.package_arn == version.arn or _package_path(self.package_arn) == _package_path(version.arn)
        if self.model_data_url:
            return self.model_data_url == version.model_data_url or _s3_key(self.model_data_url) == _s3_key(
                version.model_data_url
            )
        return False


def _package_path(arn: str) -> str:
    return arn.split(":", 5)[-1].lower()  # model-package/<group>/<version>


def _s3_key(url: str) -> str:
    return url.removeprefix("s3://").partition("/")[2]


def live_serving(endpoint: Endpoint, clients: ClientFactory) -> Serving:
    client = clients("sagemaker", endpoint.region)
    try:
        live = client.describe_endpoint(EndpointName=endpoint.endpoint_name)
        config = client.describe_endpoint_config(EndpointConfigName=live["EndpointConfigName"])
        variants = {v["VariantName"]: v for v in config.get("ProductionVariants", [])}
        variant = variants.get(endpoint.variant_name) or next(iter(variants.values()), None)
        if variant is None:
            return Serving(endpoint, problem=f"endpoint config {live['EndpointConfigName']} has no variant")
        model = client.describe_model(ModelName=variant["ModelName"])
    except (ClientError, BotoCoreError) as exc:
        return Serving(endpoint, problem=f"cannot read what {endpoint.endpoint_name} serves: {exc}")
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    return Serving(endpoint, container.get("ModelPackageName"), container.get("ModelDataUrl"))


def version_rows(versions: list[ModelVersion], serving: list[Serving]) -> list[dict[str, Any]]:
    rows = []
    for version in reversed(versions):  # newest first
        rows.append(
            {
                "version": version.version,
                "status": version.status,
                "created": version.created.isoformat(),
                "dataset_version": version.dataset_version,
                "dataset_uri": version.dataset_uri,
                "metrics": version.metrics,
                "deployed": [s.endpoint.role for s in serving if s.serves(version)],
                "arn": version.arn,
                "model_data_url": version.model_data_url,
                "image_uri": version.image_uri,
                "baseline_url": version.baseline_url,
                "git_commit": version.customer_metadata.get("git_commit"),
                "pipeline_execution_arn": version.customer_metadata.get("pipeline_execution_arn"),
            }
        )
    return rows


def render_table(rows: list[dict[str, Any]], serving: list[Serving], regions: Mapping[str, str]) -> str:
    header = ("version", "status", "created (UTC)", "dataset", "accuracy", "other metrics", "deployed")
    table = [header]
    for row in rows:
        metrics = dict(row["metrics"])
        accuracy = metrics.pop("accuracy", None)
        table.append(
            (
                str(row["version"]),
                row["status"],
                _minute(row["created"]),
                row["dataset_version"] or "-",
                f"{accuracy:.4f}" if accuracy is not None else "-",
                " ".join(f"{k}={metric_text(v)}" for k, v in sorted(metrics.items())) or "-",
                ", ".join(f"{role} ({regions.get(role, '?')})" for role in row["deployed"]) or "-",
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table]
    for live in serving:
        if live.problem:
            lines.append(f"note: {live.where}: {live.problem}")
        elif not any(live.endpoint.role in row["deployed"] for row in rows):
            shown = live.package_arn or live.model_data_url or "nothing readable"
            lines.append(f"note: {live.where} serves {shown}, which is no version of this group")
    return "\n".join(lines)


def _minute(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")


def command_list(args: argparse.Namespace, stack: Stack, ctx: Context) -> int:
    clients, out = ctx.clients, ctx.out
    versions = list_versions(clients("sagemaker", stack.region), stack.group)
    try:
        targets = endpoints(stack.outputs)
    except OutputsError:
        targets = []  # first deploy: no endpoint declared yet
    serving = [live_serving(endpoint, clients) for endpoint in targets]
    rows = version_rows(versions, serving)
    if args.json:
        document = {
            "stack": stack.name,
            "region": stack.region,
            "model_package_group": stack.group,
            "versions": rows,
            "endpoints": [
                {
                    "role": s.endpoint.role,
                    "region": s.endpoint.region,
                    "endpoint_name": s.endpoint.endpoint_name,
                    "package_arn": s.package_arn,
                    "model_data_url": s.model_data_url,
                    "version": next((v.version for v in versions if s.serves(v)), None),
                    "problem": s.problem,
                }
                for s in serving
            ],
        }
        print(json.dumps(document, indent=2), file=out)
        return EXIT_OK
    print(f"ops models · stack {stack.name} · group {stack.group} ({stack.region})\n", file=out)
    if not versions:
        print(f"no model versions yet; train the first with: python -m ops.models train --stack {stack.name}", file=out)
        return EXIT_OK
    regions = {s.endpoint.role: s.endpoint.region for s in serving}
    print(render_table(rows, serving, regions), file=out)
    if not targets:
        print("note: the stack declares no endpoint yet (nothing deployed)", file=out)
    return EXIT_OK


def command_approve(args: argparse.Namespace, stack: Stack, ctx: Context) -> int:
    clients, out = ctx.clients, ctx.out
    client = clients("sagemaker", stack.region)
    version = get_version(client, stack.group, args.version)
    if version.status == APPROVED:
        print(f"version {version.version} is already Approved; nothing changed", file=out)
        return EXIT_OK
    set_status(client, version.arn, APPROVED, args.reason or f"approved by {ctx.user()} with python -m ops.models")
    print(f"version {version.version}: {version.status} -> Approved\n{render_version(version)}", file=out)
    print(
        "the approval starts the deploy workflow; stacks on serving.model: latest-approved serve it after "
        f"their next `pulumi up --stack {stack.name}`",
        file=out,
    )
    return EXIT_OK


def command_reject(args: argparse.Namespace, stack: Stack, ctx: Context) -> int:
    clients, out = ctx.clients, ctx.out
    client = clients("sagemaker", stack.region)
    version = get_version(client, stack.group, args.version)
    was_latest = (
        latest := resolve(client, stack.group, LATEST_APPROVED)
    ) is not None and latest.version == version.version
    set_status(client, version.arn, REJECTED, args.reason)
    print(f"version {version.version}: {version.status} -> Rejected ({args.reason})", file=out)
    if was_latest:
        now = resolve(client, stack.group, LATEST_APPROVED)
        print(
            f"it was latest-approved; latest-approved is now {now.version if now else 'none'}: "
            f"run `pulumi up --stack {stack.name}` to deploy that",
            file=out,
        )
    return EXIT_OK


def command_rollback(args: argparse.Namespace, stack: Stack, ctx: Context) -> int:
    clients, out = ctx.clients, ctx.out
    client = clients("sagemaker", stack.region)
    if args.to is not None:
        return _pin(client, stack, args.to, out)
    versions = list_versions(client, stack.group)
    approved = [v for v in versions if v.status == APPROVED]
    if not approved:
        raise CommandError(
            f"model package group {stack.group!r} has no approved version to roll back from "
            f"(versions: {_summary(versions)})"
        )
    current, earlier = approved[-1], approved[:-1]
    if not earlier:
        raise CommandError(
            f"version {current.version} is the only approved version of {stack.group!r}; rejecting it would "
            f"leave nothing to serve. Approve an earlier version first, or pin one with --to N "
            f"(versions: {_summary(versions)})"
        )
    previous = earlier[-1]
    reason = args.reason or f"rolled back by {ctx.user()} with python -m ops.models rollback"
    set_status(client, current.arn, REJECTED, reason)
    now = resolve(client, stack.group, LATEST_APPROVED)
    if now is None or now.version != previous.version:
        raise CommandError(
            f"rejected version {current.version}, but latest-approved is now "
            f"{now.version if now else 'none'}, not {previous.version}: the registry changed meanwhile; "
            f"check with `python -m ops.models list --stack {stack.name}`"
        )
    print(f"rejected version {current.version} ({reason})", file=out)
    print(f"latest-approved is now version {now.version}:\n{render_version(now)}", file=out)
    print(
        f"\ndeploy it (stacks on serving.model: latest-approved):\n    pulumi up --stack {stack.name}\n"
        f"a stack that pins serving.model to a number keeps that number; pin {now.version} there with\n"
        f"    python -m ops.models rollback --stack {stack.name} --to {now.version}",
        file=out,
    )
    return EXIT_OK


def _pin(client: Any, stack: Stack, number: int, out: TextIO) -> int:
    try:
        version = resolve(client, stack.group, number)
    except RegistryError as exc:
        raise CommandError(f"cannot pin version {number}: {exc}") from None
    print(f"version {version.version} is approved:\n{render_version(version)}", file=out)
    print(
        f"\npin it and deploy (commit the changed Pulumi.{stack.name}.yaml):\n"
        f"    pulumi config set --path serving.model {version.version} --stack {stack.name}\n"
        f"    pulumi up --stack {stack.name}\n"
        f"back to following approvals later:\n"
        f"    pulumi config set --path serving.model {LATEST_APPROVED} --stack {stack.name}",
        file=out,
    )
    return EXIT_OK


def _summary(versions: list[ModelVersion]) -> str:
    return ", ".join(f"{v.version} {v.status}" for v in versions) or "none"
