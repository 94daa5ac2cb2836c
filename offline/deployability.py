"""What `make plan` says about deploying a stack, beyond what it declares: the rollout-time
estimate of each endpoint against the provider's fixed wait, and the order of a first deploy
on a fresh account. Plain data from the validated config; `offline.plan` prints it."""

from __future__ import annotations

from typing import Any

from ml_platform.config import PROJECT, StackConfig, estimate_rollout
from ml_platform.endpoint_timing import ENDPOINT_WAITER_SECONDS


def rollout_estimates(config: StackConfig) -> list[dict[str, Any]]:
    """Per SageMaker endpoint (instance variants): the phases of one update and their total."""
    if config.serving.platform != "sagemaker":
        return []
    from ml_platform.assembly_serving import serving_by_role

    regions = config.regions.by_role()
    found = []
    for role, serving in serving_by_role(config).items():
        if serving.instance is None:
            continue
        estimate = estimate_rollout(serving.rollout, serving.instance.initial_instance_count)
        found.append(
            {
                "role": role,
                "region": regions[role],
                "instances": serving.instance.initial_instance_count,
                "traffic_routing": serving.rollout.traffic_routing
                if serving.rollout.strategy == "blue_green"
                else "rolling",
                "phases": [{"phase": name, "seconds": seconds} for name, seconds in estimate.phases],
                "total_seconds": estimate.total_seconds,
                "provider_wait_seconds": ENDPOINT_WAITER_SECONDS,
                "maximum_execution_timeout_seconds": serving.rollout.maximum_execution_timeout_seconds,
            }
        )
    return found


def first_deploy_order(stack: str) -> list[str]:
    """The commands of a first deploy on a fresh account, in order (README.md "Deploying for
    real" and "Bootstrap" explain each)."""
    return [
        "bootstrap, once per account, with administrator credentials (README.md, First deploy on a fresh "
        "account, steps 1-2): OIDC provider, CI roles, state bucket, one secrets key per stack, "
        f"the image repository {PROJECT}/{stack}/model with its replication",
        f"`pulumi stack init {stack} --secrets-provider <secrets_providers.{stack} of the bootstrap outputs>` "
        "on the bootstrap's backend (`backend_url`), and the GitHub environments and variables (steps 3-4)",
        "the deploy workflow builds `model_code/`, pushes it to the repository and plans and applies by the "
        "pushed digest (dev may build during `pulumi up` instead)",
        f"`python -m ops.preflight --stack {stack}` (no endpoint yet: passes), then `pulumi up --stack {stack}`: "
        "keys, buckets, registry group, model-build pipeline, alarms; no endpoint while no version is approved",
        "upload the dataset and holdout to the datasets bucket under `<prefix>/<version>/` "
        f"(`pulumi stack output buckets --stack {stack}`)",
        f"first training: `python -m ops.models train --stack {stack}` (one model-build pipeline execution; "
        "it registers version 1 in the Model Registry)",
        f"approval: `python -m ops.models approve --stack {stack} 1 --reason ...`; with `deploy_trigger`, "
        "it starts the deploy workflow",
        f"deploy: `python -m ops.preflight --stack {stack}`, `pulumi up --stack {stack}` (the endpoint serves "
        f"the approved version), `python -m ops.verify --stack {stack}`",
    ]


def render_deployability(estimates: list[dict[str, Any]], order: list[str]) -> list[str]:
    out: list[str] = []
    if estimates:
        out += ["", "rollout-time estimate per endpoint update (must fit the provider's fixed endpoint wait)"]
        for e in estimates:
            out.append(f"  {e['role']} ({e['region']}), {e['instances']} instance(s), {e['traffic_routing']}:")
            out += [f"    {p['phase']:<58} {p['seconds']:>6} s" for p in e["phases"]]
            out.append(
                f"    {'total':<58} {e['total_seconds']:>6} s  (provider waits {e['provider_wait_seconds']} s; "
                f"SageMaker limit {e['maximum_execution_timeout_seconds']} s)"
            )
    out += ["", "first deploy on a fresh account, in order"]
    out += [f"  {i}. {step}" for i, step in enumerate(order, 1)]
    return out
