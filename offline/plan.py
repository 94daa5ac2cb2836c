"""Offline plan: synthesize a stack under the mock engine and print what it declares.

    python -m offline.plan [--stack dev] [--json] [--registry example|empty]

No cloud, no credentials, no Pulumi CLI. Prints the validated config, the resources as a
tree per region and component with the settings that matter, counts per type, the model
version `serving.model` resolves to (against an example Model Registry, or an empty one for a
first deploy), and how long it took, then the policy pack's rules (`policy/`) run over the resources and
every violation is listed. Exit codes: 0 planned; 1 the program failed to synthesize, or
broke a mandatory policy rule; 2 bad stack file or config (the problems are listed, one per
line, with no traceback).

The output is the same on every run (only the timing on the last line differs): the engine
records resources in the order their registrations complete, which asyncio scheduling varies,
so the plan never uses that order. Resources are listed by region (primary first), and under
each parent plain resources first, then components, each group sorted by (type, name), with
the URN breaking any remaining tie; the JSON `resources` list follows the same rule.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402 (timed from the very start, imports included)
import json  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from ml_platform.config import (  # noqa: E402
    PROJECT,
    StackConfig,
    StackConfigError,
    project_values,
    validate_stack_config,
)
from offline.deployability import first_deploy_order, render_deployability, rollout_estimates  # noqa: E402
from offline.engine import (  # noqa: E402
    ROOT,
    Registration,
    Synthesis,
    SynthesisError,
    read_stack_config,
    stack_file,
    synthesize_stack,
)
from offline.policy_check import policy_report, render_policy  # noqa: E402

EXIT_OK, EXIT_FAILED, EXIT_BAD_CONFIG = 0, 1, 2


def _json(value: Any) -> Any:
    """Providers hand nested inputs over as JSON text; decode it for display."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _provider_settings(inputs: dict) -> dict[str, Any]:
    tags = (_json(inputs.get("defaultTags")) or {}).get("tags", {})
    found = {"region": inputs.get("region"), "default_tags": ",".join(f"{k}={v}" for k, v in tags.items())}
    if inputs.get("allowedAccountIds"):
        found["allowed_accounts"] = ",".join(_json(inputs["allowedAccountIds"]))
    return found


def _key_settings(inputs: dict) -> dict[str, Any]:
    rotation = f"every {inputs.get('rotationPeriodInDays', 365):g} d" if inputs.get("enableKeyRotation") else "OFF"
    return {"rotation": rotation, "deletion_window": f"{inputs.get('deletionWindowInDays', 30):g} d"}


def _first(value: Any) -> dict:
    """Nested blocks arrive as a dict, a one-element list, or JSON text of either."""
    value = _json(value)
    if isinstance(value, list):
        value = value[0] if value else {}
    return value if isinstance(value, dict) else {}


def _lifecycle_settings(inputs: dict) -> dict[str, Any]:
    rule = _first(inputs.get("rules"))
    steps = [f"{t.get('storageClass')}@{t.get('days')}d" for t in _json(rule.get("transitions")) or []]
    expiry = _first(rule.get("expiration")).get("days")
    noncurrent = _first(rule.get("noncurrentVersionExpiration")).get("noncurrentDays")
    return {
        "tiers": " > ".join(steps) or "none",
        "expire": f"{expiry}d" if expiry else "never",
        "noncurrent_expire": f"{noncurrent}d" if noncurrent else "never",
    }


def _replication_settings(inputs: dict) -> dict[str, Any]:
    rule = _first(inputs.get("rules"))
    destination = _first(rule.get("destination"))
    return {
        "to": destination.get("bucket"),
        "replica_key": _first(destination.get("encryptionConfiguration")).get("replicaKmsKeyId"),
        "delete_markers": _first(rule.get("deleteMarkerReplication")).get("status"),
        "rtc": _first(destination.get("replicationTime")).get("status", "off"),
    }


def _endpoint_config_settings(inputs: dict) -> dict[str, Any]:
    variant = _first(inputs.get("productionVariants"))
    serverless = _first(variant.get("serverlessConfig"))
    capture = _first(inputs.get("dataCaptureConfig"))
    return {
        "variant": variant.get("variantName"),
        "capacity": f"serverless {serverless.get('memorySizeInMb')} MB x{serverless.get('maxConcurrency')}"
        if serverless
        else f"{variant.get('initialInstanceCount')}x{variant.get('instanceType')}",
        "capture": f"{capture.get('initialSamplingPercentage')}%" if capture.get("enableCapture") else "off",
        "kms": "yes" if inputs.get("kmsKeyArn") else "NO",
    }


def _endpoint_settings(inputs: dict) -> dict[str, Any]:
    deployment = _first(inputs.get("deploymentConfig"))
    blue_green = _first(deployment.get("blueGreenUpdatePolicy"))
    routing = _first(blue_green.get("trafficRoutingConfiguration")).get("type")
    alarms = _json(_first(deployment.get("autoRollbackConfiguration")).get("alarms")) or []
    return {
        "name": inputs.get("name"),
        "rollout": f"blue/green {routing}" if blue_green else "rolling",
        "rollback_alarms": len(alarms),
    }


def _deployment_settings(inputs: dict) -> dict[str, Any]:
    pod = _first(_first(_first(inputs.get("spec")).get("template")).get("spec"))
    containers = _json(pod.get("containers")) or [{}]
    server = containers[0]
    security = _first(server.get("securityContext"))
    return {
        "image": server.get("image"),
        "read_only_root": security.get("readOnlyRootFilesystem"),
        "non_root": _first(pod.get("securityContext")).get("runAsNonRoot", security.get("runAsNonRoot")),
    }


# Per resource type: the settings an operator checks first. Grows with each capability.
SETTINGS_OF: dict[str, Callable[[dict], dict[str, Any]]] = {
    "pulumi:providers:aws": _provider_settings,
    "aws:kms/key:Key": _key_settings,
    "aws:kms/alias:Alias": lambda inputs: {"name": inputs.get("name")},
    "aws:s3/bucketVersioning:BucketVersioning": lambda i: {
        "status": _first(i.get("versioningConfiguration")).get("status")
    },
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": lambda i: {
        "sse": _first(_first(i.get("rules")).get("applyServerSideEncryptionByDefault")).get("sseAlgorithm"),
        "bucket_key": _first(i.get("rules")).get("bucketKeyEnabled"),
    },
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": lambda i: {
        "blocked": "all"
        if all(i.get(k) for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
        else "PARTIAL"
    },
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _lifecycle_settings,
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": _replication_settings,
    "aws:ecr/repository:Repository": lambda i: {
        "name": i.get("name"),
        "tags": i.get("imageTagMutability"),
        "scan_on_push": _first(i.get("imageScanningConfiguration")).get("scanOnPush"),
        "encryption": _first(i.get("encryptionConfigurations")).get("encryptionType"),
    },
    "aws:s3/objectCopy:ObjectCopy": lambda i: {"copy": f"{i.get('source')} -> {i.get('bucket')}"},
    "aws:sagemaker/model:Model": lambda i: {
        "version": (i.get("tags") or {}).get("model-version"),
        "artifact": _first(i.get("primaryContainer")).get("modelDataUrl"),
    },
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": lambda i: {"name": i.get("modelPackageGroupName")},
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": _endpoint_config_settings,
    "aws:sagemaker/endpoint:Endpoint": _endpoint_settings,
    "aws:appautoscaling/target:Target": lambda i: {"capacity": f"{i.get('minCapacity')}..{i.get('maxCapacity')}"},
    "aws:appautoscaling/policy:Policy": lambda i: {
        "metric": _first(
            _first(i.get("targetTrackingScalingPolicyConfiguration")).get("predefinedMetricSpecification")
        ).get("predefinedMetricType"),
        "target": _first(i.get("targetTrackingScalingPolicyConfiguration")).get("targetValue"),
    },
    "aws:cloudwatch/metricAlarm:MetricAlarm": lambda i: {
        "alarm": i.get("name"),
        "when": f"{i.get('comparisonOperator')} {i.get('threshold')}",
        "m/n": f"{i.get('datapointsToAlarm')}/{i.get('evaluationPeriods')}",
    },
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": lambda i: {
        "mode": "COMPLIANCE" if i.get("changeableForDays") else "governance",
        "retention": f"{i.get('minRetentionDays')}..{i.get('maxRetentionDays')} d",
    },
    "aws:backup/plan:Plan": lambda i: {
        "rules": ",".join(
            f"{r.get('ruleName')}{'+copy' if r.get('copyActions') else ''}" for r in (_json(i.get("rules")) or [])
        )
    },
    "aws:sagemaker/pipeline:Pipeline": lambda i: {
        "pipeline": i.get("pipelineName"),
        "steps": ",".join(
            step.get("Name", "?") for step in (_json(i.get("pipelineDefinition")) or {}).get("Steps", [])
        ),
    },
    "aws:scheduler/schedule:Schedule": lambda i: {"when": i.get("scheduleExpression")},
    "aws:route53/record:Record": lambda i: {
        "name": i.get("name"),
        "failover": _first(i.get("failoverRoutingPolicies")).get("type"),
    },
    "aws:route53/healthCheck:HealthCheck": lambda i: {"check": i.get("type")},
    "kubernetes:apps/v1:Deployment": _deployment_settings,
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": lambda i: {
        "replicas": f"{_first(i.get('spec')).get('minReplicas')}..{_first(i.get('spec')).get('maxReplicas')}"
    },
}


def _whole(value: Any) -> Any:
    """The engine carries every number as a float; show 30, not 30.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    if isinstance(value, str) and value[:1] in "{[":
        decoded = _json(value)
        return _whole(decoded) if decoded is not value else value
    return value


def settings_of(resource: Registration) -> dict[str, Any]:
    found = SETTINGS_OF.get(resource.type, lambda _: {})(_whole(resource.inputs))
    if resource.protect:
        found["protect"] = True
    if resource.retain_on_delete:
        found["retain_on_delete"] = True
    return {k: v for k, v in found.items() if v not in (None, "", {})}


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(f"{prefix}.{key}" if prefix else key, inner))
        return out
    return {prefix: value}


def load_config(stack: str, root: Path = ROOT) -> StackConfig:
    config, secret_keys = read_stack_config(stack_file(stack, root))
    return validate_stack_config(project_values(config), secret_keys, stack=stack)


def _by_type_and_name(resource: Registration) -> tuple[str, str, str]:
    """The plan's order: (type, name), the URN breaking ties; never the registration order."""
    return resource.type, resource.name, resource.urn


def plan_document(config: StackConfig, synthesis: Synthesis) -> dict[str, Any]:
    roles = {region: role for role, region in config.regions.by_role().items()}
    resources = []
    for r in sorted(synthesis.resources, key=_by_type_and_name):
        component = synthesis.component_of(r)
        resources.append(
            {
                "type": r.type,
                "name": r.name,
                "region": r.region,
                "role": roles.get(r.region),
                "component": f"{component.type}::{component.name}" if component else None,
                "custom": r.custom,
                "settings": settings_of(r),
            }
        )
    return {
        "stack": synthesis.stack,
        "config": flatten("", config.model_dump(mode="json")),
        "regions": config.regions.by_role(),
        "resources": resources,
        "counts": dict(sorted(synthesis.type_counts().items())),
        "outputs": synthesis.outputs,
        "resource_count": len(synthesis.resources),
        "policy": policy_report(config.environment, synthesis),
        "rollout_estimates": rollout_estimates(config),
        "first_deploy_order": first_deploy_order(synthesis.stack),
        "seconds": round(time.perf_counter() - STARTED, 3),
    }


def _line(resource: dict, indent: str) -> str:
    settings = "  ".join(f"{k}={'yes' if v is True else v}" for k, v in resource["settings"].items())
    head = f"{indent}{resource['type']}  {resource['name']}"
    return f"{head:<72} {settings}".rstrip()


def _tree(resources: list[dict], component: str | None, indent: str) -> list[str]:
    """Providers and plain resources first, then each component with its members nested;
    `resources` come in (type, name) order (`plan_document`), so siblings print in that order."""
    members = [r for r in resources if r["component"] == component]
    lines = [_line(r, indent) for r in members if r["custom"]]
    for r in members:
        if not r["custom"]:
            lines.append(f"{indent}{r['type']}  {r['name']}")
            lines += _tree(resources, f"{r['type']}::{r['name']}", indent + "  ")
    return lines


def render_model_version(served: dict | None) -> list[str]:
    """The model version `serving.model` resolved to: what this deploy serves."""
    if not served:
        return []
    lines = ["", "model version (serving.model)"]
    if served.get("version") is None:
        return [
            *lines,
            f"  {served['selector']}: NO APPROVED VERSION in {served['group']} yet: no endpoint is declared",
            "  first deploy: train (python -m ops.models train), approve, then deploy again",
        ]
    metrics = ", ".join(f"{k}={_whole(v)}" for k, v in sorted((served.get("metrics") or {}).items()))
    previous = served.get("previous_version")
    return [
        *lines,
        f"  {served['selector']}: version {_whole(served['version'])} of {served['group']}",
        f"  metrics    {metrics or 'none recorded'}",
        f"  dataset    {served.get('dataset_version') or '?'} ({served.get('dataset_uri') or 'unknown'})",
        f"  artifact   {served['model_data_url']}",
        f"  image      {served['image_uri']}",
        f"  rollback   {f'version {_whole(previous)}' if previous is not None else 'no earlier approved version'}",
    ]


def render_recovery(objectives: dict | None) -> list[str]:
    """RTO and RPO implied by the failover and replication settings."""
    if not objectives:
        return []
    guarantee = "guaranteed by S3 Replication Time Control" if objectives["rpo_guaranteed"] else "typical, no SLA"
    return [
        "",
        "recovery objectives (region failover)",
        f"  detection  {objectives['detection_seconds']:g} s (slower of alarm and /ping health check)",
        f"  RTO        {objectives['rto_seconds']:g} s (detection + DNS TTL)",
        f"  RPO        {objectives['rpo_seconds']:g} s for models and datasets ({guarantee})",
    ]


def render_text(doc: dict[str, Any]) -> str:
    out = [f"{PROJECT} · stack {doc['stack']} · offline plan (mock engine; nothing was deployed)", ""]
    out.append("config")
    width = max(len(k) for k in doc["config"])
    out += [
        f"  {k:<{width}}  {json.dumps(v) if not isinstance(v, str) else v}"
        for k, v in doc["config"].items()
        if v is not None
    ]
    # Already in this order when `doc` comes from plan_document; sorted again (stable) for any other doc.
    resources = sorted(doc["resources"], key=lambda r: (r["type"], r["name"]))
    for role, region in doc["regions"].items():
        here = [r for r in resources if r["region"] == region]
        out += ["", f"region {region} ({role}): {len(here)} resources"]
        out += _tree(here, None, "  ")
    elsewhere = [r for r in resources if r["region"] not in doc["regions"].values()]
    cluster = [r for r in elsewhere if r["type"].startswith(("kubernetes:", "pulumi:providers:kubernetes"))]
    if cluster:
        out += ["", f"cluster (Kubernetes provider): {len(cluster)} resources"] + [_line(r, "  ") for r in cluster]
    rest = [r for r in elsewhere if r not in cluster]
    if rest:
        out += ["", "no region (global or default provider)"] + [_line(r, "  ") for r in rest]
    out += ["", "counts"]
    width = max(len(t) for t in doc["counts"])
    out += [f"  {t:<{width}}  {n}" for t, n in doc["counts"].items()]
    out += render_model_version(doc["outputs"].get("model_version"))
    out += render_recovery(doc["outputs"].get("recovery_objectives"))
    out += render_policy(doc["policy"])
    out += render_deployability(doc["rollout_estimates"], doc["first_deploy_order"])
    out += [
        "",
        f"{doc['resource_count']} resources in {len(doc['regions'])} region(s), planned in {doc['seconds']:.2f} s",
    ]
    return "\n".join(out)


def _synthesize(stack: str, root: Path, registry: str) -> Synthesis:
    """Under the mock engine the program reads the example registry by itself; `empty` hands
    it a moto-hosted registry with no versions instead."""
    if registry == "example":
        return synthesize_stack(stack, root=root)
    import boto3
    from moto import mock_aws

    from ml_platform.components.served_model import use_registry

    def client(region: str):
        return boto3.client("sagemaker", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")

    with mock_aws(), use_registry(client):
        return synthesize_stack(stack, root=root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="stack file Pulumi.<stack>.yaml to plan (default: dev)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("--root", type=Path, default=ROOT, help="project directory (default: this one)")
    parser.add_argument(
        "--registry",
        choices=("example", "empty"),
        default="example",
        help="the Model Registry the offline plan reads: `example` (versions 1 and 2 approved, 3 pending; "
        "see ml_platform/components/served_model.py) or `empty` (a first deploy: no version yet). Default: example",
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()

    try:
        config = load_config(args.stack, root)
    except SynthesisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except StackConfigError as exc:
        print(
            f"error: {stack_file(args.stack, root).name} has {len(exc.lines)} config problem(s):",
            file=sys.stderr,
        )
        for line in exc.lines:
            print(f"  - {line}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        synthesis = _synthesize(args.stack, root, args.registry)
    except Exception as exc:  # noqa: BLE001 (reported as one line; the plan has nothing to show)
        print(f"error: stack {args.stack!r} failed to synthesize: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED

    doc = plan_document(config, synthesis)
    print(json.dumps(doc, indent=2, default=str) if args.json else render_text(doc))
    return EXIT_FAILED if doc["policy"]["mandatory"] else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
