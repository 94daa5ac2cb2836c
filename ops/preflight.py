"""Pre-deploy check: would `pulumi up` ask SageMaker for an endpoint update that fails in place?

    python -m ops.preflight --stack prod [--root DIR]

Reads the committed stack file (`Pulumi.<stack>.yaml`, validated like the program does) and,
per serving region, the live endpoint `ml-platform-<stack>` with boto3: DescribeEndpoint,
DescribeEndpointConfig of its current configuration, and Application Auto Scaling's
DescribeScalableTargets for its variants. It refuses what AWS documents as failing in place:

- an instance-type change (or a switch between instance and serverless) of a variant that is a
  scalable target. AWS: "If the update would change the instance type for any model that is a
  target for auto scaling, the update fails" (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html,
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html);
- removing (or renaming) a variant that is a scalable target: the same page lists "remove a
  production variant configured for auto scaling" among the updates that need the variant
  deregistered first;
- an endpoint that is not `InService`: UpdateEndpoint is refused while the endpoint is
  Creating, Updating, SystemUpdating, RollingBack or Deleting, and a `Failed` endpoint can only
  be deleted (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html,
  EndpointStatus).

One `pulumi up` cannot order "deregister, update, register again" (the scalable target
depends on the endpoint, so Pulumi updates the endpoint first), so for a refused change it
prints the two-step procedure with the stack's own names.

A missing endpoint is a first deploy: nothing to compare, exit 0. Stacks served on Kubernetes
have no endpoint: exit 0.

Exit codes: 0 the deploy can proceed; 1 refused (the reason and the procedure are printed);
2 bad arguments or stack config; 3 the live endpoint could not be read (credentials,
permissions, network: the AWS error is printed).

IAM it needs (read-only): `sagemaker:DescribeEndpoint` on
`arn:aws:sagemaker:<region>:<account>:endpoint/ml-platform-<stack>`,
`sagemaker:DescribeEndpointConfig` on `arn:aws:sagemaker:<region>:<account>:endpoint-config/*`,
and `application-autoscaling:DescribeScalableTargets` on `*` (it has no resource-level
permissions: https://docs.aws.amazon.com/service-authorization/latest/reference/list_applicationautoscaling.html).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ml_platform.config import PROJECT, StackConfig, StackConfigError
from offline.engine import ROOT, SynthesisError, stack_file

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_AWS = 0, 1, 2, 3
INSTANCE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SERVERLESS = "serverless"
READ_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "total_max_attempts": 3})

ClientFactory = Callable[[str, str], Any]  # (service name, region) -> boto3 client


def read_policy(*, partition: str, account_id: str, regions: list[str], stack: str) -> dict[str, Any]:
    """The IAM reads this command needs, for the CI preview and deploy roles of `stack`.
    DescribeScalableTargets has no resource-level permissions; it is pinned to the regions."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PreflightReadsTheEndpoint",
                "Effect": "Allow",
                "Action": ["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig"],
                "Resource": [
                    arn
                    for region in sorted(regions)
                    for arn in (
                        f"arn:{partition}:sagemaker:{region}:{account_id}:endpoint/{PROJECT}-{stack}",
                        f"arn:{partition}:sagemaker:{region}:{account_id}:endpoint-config/*",
                    )
                ],
            },
            {
                "Sid": "PreflightReadsScalableTargets",
                "Effect": "Allow",
                "Action": "application-autoscaling:DescribeScalableTargets",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": sorted(regions)}},
            },
        ],
    }


def default_clients(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region, config=READ_CONFIG)


@dataclass(frozen=True)
class Declared:
    """What the stack file declares for one region's endpoint."""

    role: str
    region: str
    section: str  # config section holding its capacity: `serving` or `standby`
    variant_name: str
    kind: str  # instance type, or "serverless"
    autoscaled: bool
    initial_instance_count: int | None


@dataclass(frozen=True)
class Live:
    """What the endpoint runs now."""

    status: str
    config_name: str
    kinds: dict[str, str]  # variant -> instance type or "serverless"
    counts: dict[str, int | None]  # variant -> CurrentInstanceCount
    scalable: frozenset[str]  # variants registered as scalable targets


@dataclass(frozen=True)
class Refusal:
    role: str
    region: str
    reason: str
    procedure: tuple[str, ...]


def declared_endpoints(config: StackConfig) -> list[Declared]:
    """Per serving region, the variant the program declares (see platform.serving_by_role)."""
    if config.serving.platform != "sagemaker":
        return []
    from ml_platform.assembly_serving import serving_by_role

    regions = config.regions.by_role()
    found = []
    for role, serving in serving_by_role(config).items():
        found.append(
            Declared(
                role=role,
                region=regions[role],
                section="serving" if role == "primary" else "standby",
                variant_name=serving.variant_name,
                kind=serving.instance.instance_type if serving.instance else SERVERLESS,
                autoscaled=serving.autoscaling is not None,
                initial_instance_count=serving.instance.initial_instance_count if serving.instance else None,
            )
        )
    return found


def read_live(clients: ClientFactory, region: str, endpoint_name: str) -> Live | None:
    """The endpoint as it runs, or None when it does not exist (a first deploy)."""
    sagemaker = clients("sagemaker", region)
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as exc:
        if "Could not find endpoint" in str(exc):
            return None
        raise
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    kinds = {
        v["VariantName"]: SERVERLESS if v.get("ServerlessConfig") else v.get("InstanceType", "?")
        for v in config["ProductionVariants"]
    }
    counts = {v["VariantName"]: v.get("CurrentInstanceCount") for v in endpoint.get("ProductionVariants", [])}
    ids = {f"endpoint/{endpoint_name}/variant/{variant}": variant for variant in kinds}
    targets = clients("application-autoscaling", region).describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=sorted(ids)
    )["ScalableTargets"]
    scalable = frozenset(ids[t["ResourceId"]] for t in targets if t["ResourceId"] in ids)
    return Live(endpoint["EndpointStatus"], endpoint["EndpointConfigName"], kinds, counts, scalable)


def deregister_procedure(
    stack: str, declared: Declared, endpoint_name: str, variant: str, live: Live, change: str
) -> tuple[str, ...]:
    """The two steps, with this stack's names. Deregistering a scalable target also deletes its
    scaling policies and scheduled actions (API_DeregisterScalableTarget); `pulumi refresh`
    then drops them from the state, and the next `pulumi up` updates the endpoint first and
    registers the target, policies and schedules again after it (they depend on the endpoint)."""
    resource_id = f"endpoint/{endpoint_name}/variant/{variant}"
    current = live.counts.get(variant)
    keep = (
        f"   Autoscaling is off until step 2 ends: the variant keeps its {current} instance(s), and the new "
        f"configuration starts at {declared.section}.instance.initial_instance_count "
        f"({declared.initial_instance_count}); raise it first if the load needs more."
        if current is not None and declared.initial_instance_count is not None
        else "   Autoscaling is off until step 2 ends."
    )
    return (
        f"This needs two steps ({change}); one `pulumi up` cannot order them:",
        "1. Deregister the variant as a scalable target (this also deletes its scaling policies and",
        "   scheduled actions), and drop them from the stack's state:",
        f"     aws application-autoscaling deregister-scalable-target --region {declared.region} \\",
        f"       --service-namespace sagemaker --resource-id {resource_id} \\",
        f"       --scalable-dimension {INSTANCE_DIMENSION}",
        f"     pulumi refresh --stack {stack} --yes",
        keep,
        "2. Deploy the change: `pulumi up` updates the endpoint, then registers the scalable target,",
        "   its policies and schedules again (in CI: re-run the deploy workflow, or merge the change now):",
        f"     pulumi up --stack {stack}",
    )


def check_region(stack: str, declared: Declared, endpoint_name: str, live: Live | None) -> tuple[str, Refusal | None]:
    """(what was found, the refusal if the update would fail)."""
    if live is None:
        return "no endpoint yet: first deploy, nothing to compare", None
    if live.status != "InService":
        fix = (
            (
                (
                    "A Failed endpoint can only be deleted: read its FailureReason (aws sagemaker describe-endpoint "
                    f"--region {declared.region} --endpoint-name {endpoint_name}), fix the cause, then delete it "
                    f"(aws sagemaker delete-endpoint ...), `pulumi refresh --stack {stack} --yes`, and deploy again."
                ),
            )
            if live.status == "Failed"
            else (
                f"Wait until it is InService (aws sagemaker wait endpoint-in-service --region {declared.region} "
                f"--endpoint-name {endpoint_name}), then run this check again.",
            )
        )
        return "", Refusal(
            declared.role,
            declared.region,
            f"endpoint {endpoint_name} is {live.status}; SageMaker refuses an update until it is InService",
            fix,
        )
    for variant in sorted(live.scalable):
        if variant != declared.variant_name:
            return "", Refusal(
                declared.role,
                declared.region,
                f"variant {variant!r} is a scalable target and the stack no longer declares it "
                f"(it declares {declared.variant_name!r}): the update would fail",
                deregister_procedure(stack, declared, endpoint_name, variant, live, "remove an autoscaled variant"),
            )
        if live.kinds.get(variant) != declared.kind:
            return "", Refusal(
                declared.role,
                declared.region,
                f"variant {variant!r} is a scalable target and its instance type would change from "
                f'{live.kinds.get(variant)} to {declared.kind}: AWS fails such an update ("If the update would '
                'change the instance type for any model that is a target for auto scaling, the update fails")',
                deregister_procedure(
                    stack,
                    declared,
                    endpoint_name,
                    variant,
                    live,
                    f"{live.kinds.get(variant)} -> {declared.kind} on an autoscaled variant",
                ),
            )
    scaled = ", ".join(sorted(live.scalable)) or "none"
    return f"InService on {live.config_name}; autoscaled variants: {scaled}; no change that fails in place", None


def load_config(stack: str, root: Path) -> StackConfig:
    from offline.plan import load_config as load

    return load(stack, root)


def preflight(stack: str, root: Path, clients: ClientFactory, out: TextIO, err: TextIO) -> int:
    try:
        config = load_config(stack, root)
    except SynthesisError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    except StackConfigError as exc:
        print(f"error: {stack_file(stack, root).name} has {len(exc.lines)} config problem(s):", file=err)
        for line in exc.lines:
            print(f"  - {line}", file=err)
        return EXIT_USAGE
    endpoint_name = f"{PROJECT}-{stack}"
    declared = declared_endpoints(config)
    if not declared:
        print(
            f"stack {stack}: serving.platform {config.serving.platform} has no SageMaker endpoint; nothing to check",
            file=out,
        )
        return EXIT_OK
    refusals = []
    for endpoint in declared:
        try:
            live = read_live(clients, endpoint.region, endpoint_name)
        except (ClientError, BotoCoreError) as exc:
            print(
                f"error: {endpoint.role} ({endpoint.region}): could not read endpoint {endpoint_name}: {exc}", file=err
            )
            return EXIT_AWS
        found, refusal = check_region(stack, endpoint, endpoint_name, live)
        if refusal is None:
            print(f"OK       {endpoint.role:<9} {endpoint.region:<14} {found}", file=out)
        else:
            print(f"REFUSED  {endpoint.role:<9} {endpoint.region:<14} {refusal.reason}", file=out)
            refusals.append(refusal)
    for refusal in refusals:
        print("", file=out)
        print(f"{refusal.role} ({refusal.region}):", file=out)
        for line in refusal.procedure:
            print(f"  {line}", file=out)
    if refusals:
        print(f"\npreflight refused {len(refusals)} endpoint update(s); `pulumi up` would fail on them", file=out)
        return EXIT_REFUSED
    return EXIT_OK


def main(argv: list[str] | None = None, clients: ClientFactory = default_clients) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="stack whose Pulumi.<stack>.yaml is about to be deployed")
    parser.add_argument("--root", type=Path, default=ROOT, help="project directory (default: this one)")
    args = parser.parse_args(argv)
    return preflight(args.stack, args.root.resolve(), clients, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
