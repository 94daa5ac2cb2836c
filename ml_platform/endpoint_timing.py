"""How long an endpoint update takes, against how long `pulumi up` waits for it.

Pure functions of plain numbers, below both the config and the components: the config builds its
rules on them, `offline.plan` prints them.

What the provider waits for (terraform-provider-aws, which pulumi-aws bridges,
`internal/service/sagemaker/endpoint.go` and `wait.go`): after CreateEndpoint and after
UpdateEndpoint it waits for `InService` with a hard-coded timeout, `endpointInServiceTimeout
= 60 * time.Minute` (hashicorp/terraform-provider-aws PR #39090; before the SDK v2 migration
the same 60 minutes came from the SDK's EndpointInService waiter, 30 s x 120 attempts, as in
botocore's `sagemaker/2017-07-24/waiters-2.json`). `aws_sagemaker_endpoint` declares no
`Timeouts` block, so Pulumi's `custom_timeouts` does not change that wait (hashicorp/
terraform-provider-aws issue #39040: `maximum_execution_timeout_in_seconds` does not either).
When the wait ends first, `pulumi up` fails while SageMaker goes on with the rollout; the
next run then meets an endpoint that is still `Updating`.

What a blue/green update does (https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green.html
and the ALL_AT_ONCE / canary / linear pages beside it): provision the green fleet, shift
traffic in steps with a baking period (`WaitIntervalInSeconds`) after each, keep the blue fleet
`TerminationWaitInSeconds` more, then terminate it. A rolling update
(https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-rolling.html) does
provision, shift, bake per batch. AWS publishes no figure for provisioning or termination;
the allowances below are this project's, deliberately generous for CPU instances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The provider's fixed wait for InService after create and update (see the module docstring).
ENDPOINT_WAITER_SECONDS = 60 * 60
# Allowance to launch a fleet (or batch) and pass the container's /ping health check.
PROVISIONING_ALLOWANCE_SECONDS = 600
# Allowance to terminate the old fleet (or batch) once traffic has left it.
TERMINATION_ALLOWANCE_SECONDS = 300


@dataclass(frozen=True)
class RolloutEstimate:
    """The phases of one endpoint update, in order, with their seconds."""

    phases: tuple[tuple[str, int], ...]

    @property
    def total_seconds(self) -> int:
        return sum(seconds for _, seconds in self.phases)

    def lines(self) -> list[str]:
        return [f"{name}: {seconds} s" for name, seconds in self.phases]


def instances_per_step(instance_count: int, percent: int) -> int:
    """Instances one CAPACITY_PERCENT step moves: at least one."""
    return max(1, math.floor(instance_count * percent / 100))


def traffic_steps(traffic_routing: str, instance_count: int, step_percent: int | None) -> int:
    """Traffic shifts of a blue/green update: 1 (ALL_AT_ONCE), 2 (CANARY: canary, then the
    rest), or one per LINEAR step until every instance takes traffic."""
    if traffic_routing == "ALL_AT_ONCE":
        return 1
    if traffic_routing == "CANARY":
        return 2
    return math.ceil(instance_count / instances_per_step(instance_count, step_percent or 100))


def rollout_estimate(
    *,
    strategy: str,
    traffic_routing: str,
    instance_count: int,
    step_percent: int | None,
    rolling_batch_percent: int,
    wait_interval_seconds: int,
    termination_wait_seconds: int,
) -> RolloutEstimate:
    """The longest a successful update takes, phase by phase.

    A rollback ends earlier, not later: the alarms stop the current bake, traffic returns to the
    blue fleet, which is still there, and the green fleet is terminated (one termination
    allowance, already counted), so the successful path bounds both."""
    if strategy == "rolling":
        batches = math.ceil(instance_count / instances_per_step(instance_count, rolling_batch_percent))
        per_batch = PROVISIONING_ALLOWANCE_SECONDS + wait_interval_seconds + TERMINATION_ALLOWANCE_SECONDS
        return RolloutEstimate(
            (
                (
                    f"{batches} rolling batch(es) x (provisioning {PROVISIONING_ALLOWANCE_SECONDS} + bake "
                    f"{wait_interval_seconds} + termination {TERMINATION_ALLOWANCE_SECONDS})",
                    batches * per_batch,
                ),
            )
        )
    steps = traffic_steps(traffic_routing, instance_count, step_percent)
    return RolloutEstimate(
        (
            ("provision the new fleet", PROVISIONING_ALLOWANCE_SECONDS),
            (
                f"{steps} traffic step(s) x bake {wait_interval_seconds} s ({traffic_routing})",
                steps * wait_interval_seconds,
            ),
            ("termination wait (old fleet kept for rollback)", termination_wait_seconds),
            ("terminate the old fleet", TERMINATION_ALLOWANCE_SECONDS),
        )
    )
