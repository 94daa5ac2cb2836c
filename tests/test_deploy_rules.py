"""Config rules for values AWS accepts in the stack file but rejects, or cannot finish, at run
time: traffic shifting on one instance, linear step sizes, scheduled minimums, CloudWatch's
alarm window, and rollouts longer than the provider's fixed endpoint wait. Exact messages."""

from __future__ import annotations

import pytest

from ml_platform.config import (
    ALARM_WINDOW_MAX_SECONDS,
    RolloutConfig,
    StackConfigError,
    StandbyConfig,
    alarm_window_problem,
    estimate_rollout,
    parse_stack_config,
)
from ml_platform.endpoint_timing import ENDPOINT_WAITER_SECONDS, rollout_estimate, traffic_steps
from offline.deployability import rollout_estimates
from offline.plan import load_config, plan_document, render_text

DIGEST = "sha256:" + "ab" * 32
BASE = {
    "environment": "dev",
    "owner": "ml-platform-team",
    "cost_center": "ml-1001",
    "regions": {"primary": "us-east-1", "secondary": "us-west-2"},
    "image": {"uri": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-platform/dev/model@{DIGEST}"},
    "training": {"dataset": {"prefix": "tabular/demo", "version": "v1"}},
}
TWO = {"instance_type": "ml.m5.large", "initial_instance_count": 2}
ONE = {"instance_type": "ml.m5.large", "initial_instance_count": 1}
CANARY = {"traffic_routing": "CANARY", "canary_size_percent": 25}


def problems(**changes) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config({**BASE, **changes})
    return caught.value.lines


# --------------------------------------------------------------------------------------------
# Finding: CANARY/LINEAR on a one-instance variant


def test_canary_on_one_instance_is_refused():
    assert problems(serving={"instance": ONE, "rollout": CANARY}) == [
        "serving.rollout.traffic_routing: CANARY shifts at most 50% of the variant's instances per step, so it "
        "needs at least 2 instances; serving.instance.initial_instance_count is 1 (got 'CANARY'; expected "
        "ALL_AT_ONCE, or serving.instance.initial_instance_count >= 2)"
    ]


def test_linear_on_one_instance_is_refused():
    rollout = {"traffic_routing": "LINEAR", "linear_step_percent": 50}
    assert problems(serving={"instance": ONE, "rollout": rollout}) == [
        "serving.rollout.traffic_routing: LINEAR shifts at most 50% of the variant's instances per step, so it "
        "needs at least 2 instances; serving.instance.initial_instance_count is 1 (got 'LINEAR'; expected "
        "ALL_AT_ONCE, or serving.instance.initial_instance_count >= 2)"
    ]


def test_a_standby_with_its_own_canary_on_one_instance_is_refused():
    assert problems(serving={"instance": TWO, "rollout": CANARY}, standby={"rollout": CANARY}) == [
        "standby.rollout.traffic_routing: CANARY shifts at most 50% of the variant's instances per step, so it "
        "needs at least 2 instances; standby.initial_instance_count is 1 (got 'CANARY'; expected ALL_AT_ONCE, "
        "or standby.initial_instance_count >= 2)"
    ]


def test_a_one_instance_standby_inherits_the_canary_as_all_at_once():
    primary = RolloutConfig(**CANARY, wait_interval_seconds=600, termination_wait_seconds=900)
    assert StandbyConfig(initial_instance_count=1).rollout_for(primary) == RolloutConfig(
        traffic_routing="ALL_AT_ONCE", wait_interval_seconds=600, termination_wait_seconds=900
    )
    # Two instances can take the canary; an explicit rollout is used as given.
    assert StandbyConfig(initial_instance_count=2).rollout_for(primary) == primary
    own = RolloutConfig(wait_interval_seconds=60)
    assert StandbyConfig(initial_instance_count=1, rollout=own).rollout_for(primary) == own


def test_prod_standby_endpoint_rolls_out_all_at_once(stack):
    """Prod's standby has one instance: it gets ALL_AT_ONCE with the primary's bake times."""
    prod = stack("prod")
    policies = {
        e.name: e.inputs["deploymentConfig"]["blueGreenUpdatePolicy"]
        for e in prod.of_type("aws:sagemaker/endpoint:Endpoint")
    }
    assert policies["endpoint-secondary"] == {
        "trafficRoutingConfiguration": {"type": "ALL_AT_ONCE", "waitIntervalInSeconds": 600},
        "terminationWaitInSeconds": 900,
        "maximumExecutionTimeoutInSeconds": 7200,
    }
    assert policies["endpoint-primary"]["trafficRoutingConfiguration"]["type"] == "CANARY"


# --------------------------------------------------------------------------------------------
# Finding: linear step size 10-50


def test_linear_step_below_ten_percent_is_refused():
    rollout = {"traffic_routing": "LINEAR", "linear_step_percent": 5}
    assert problems(serving={"instance": TWO, "rollout": rollout}) == [
        "serving.rollout.linear_step_percent: SageMaker takes a linear step of 10-50% of the variant's instances "
        "(got 5; expected >= 10)"
    ]


def test_linear_step_above_fifty_percent_is_refused():
    rollout = {"traffic_routing": "LINEAR", "linear_step_percent": 60}
    assert problems(serving={"instance": TWO, "rollout": rollout}) == [
        "serving.rollout.linear_step_percent: guardrail: at most half the capacity may take new traffic at once "
        "(got 60; expected <= 50)"
    ]


def test_linear_step_is_required_with_its_range():
    assert problems(serving={"instance": TWO, "rollout": {"traffic_routing": "LINEAR"}}) == [
        "serving.rollout.linear_step_percent: required with traffic_routing LINEAR (got null; expected a "
        "percentage of capacity, 10 to 50)"
    ]


# --------------------------------------------------------------------------------------------
# Finding: scheduled minimum of an instance variant


def test_a_schedule_cannot_scale_an_instance_variant_to_zero():
    night = {"name": "night", "schedule": "cron(0 20 * * ? *)", "min_capacity": 0, "max_capacity": 1}
    scaling = {"min_capacity": 1, "max_capacity": 2, "schedules": [night]}
    assert problems(serving={"instance": ONE, "autoscaling": scaling}) == [
        "serving.autoscaling.schedules[0].min_capacity: an instance variant keeps at least 1 instance "
        "(got 0; expected >= 1)"
    ]
    assert problems(serving={"instance": TWO}, standby={"autoscaling": scaling}) == [
        "standby.autoscaling.schedules[0].min_capacity: an instance variant keeps at least 1 instance "
        "(got 0; expected >= 1)"
    ]


def test_serverless_provisioned_concurrency_may_be_scheduled_to_zero():
    serverless = {"memory_size_mb": 2048, "max_concurrency": 10, "provisioned_concurrency": 2}
    night = {"name": "night", "schedule": "cron(0 20 * * ? *)", "min_capacity": 0, "max_capacity": 1}
    config = parse_stack_config(
        {
            **BASE,
            "serving": {
                "serverless": serverless,
                "network_isolation": False,
                "data_capture": {"enabled": False},
                "autoscaling": {"min_capacity": 1, "max_capacity": 2, "schedules": [night]},
            },
        }
    )
    assert config.serving.autoscaling.schedules[0].min_capacity == 0


# --------------------------------------------------------------------------------------------
# Finding: CloudWatch's alarm window


def test_alarm_window_limits_follow_put_metric_alarm():
    # Periods under an hour: one day. An hour or more: seven days.
    assert alarm_window_problem(60, 1440) is None
    assert alarm_window_problem(300, 289) == (
        "CloudWatch limits period x evaluation periods to 86400 s for a 300 s period (300 x 289 = 86700 s) "
        "(got 289; expected <= 288)"
    )
    assert alarm_window_problem(3600, 168) is None
    assert ALARM_WINDOW_MAX_SECONDS == 7 * 24 * 3600


def test_drift_alarm_window_beyond_seven_days_is_refused():
    retraining = {
        "holdout_prefix": "tabular/holdout",
        "monitoring_interval_hours": 24,
        "drift_evaluation_periods": 8,
        "drift_datapoints_to_alarm": 2,
    }
    assert problems(serving={"instance": TWO}, retraining=retraining) == [
        "retraining.drift_evaluation_periods: CloudWatch limits period x evaluation periods to 604800 s for a "
        "86400 s period (86400 x 8 = 691200 s) (got 8; expected <= 7)"
    ]


# --------------------------------------------------------------------------------------------
# Finding: rollouts the provider's fixed 60-minute endpoint wait cannot see through


def test_rollout_estimate_phases_for_prod():
    prod = load_config("prod")
    estimate = estimate_rollout(prod.serving.rollout, prod.serving.instance.initial_instance_count)
    assert estimate.lines() == [
        "provision the new fleet: 600 s",
        "2 traffic step(s) x bake 600 s (CANARY): 1200 s",
        "termination wait (old fleet kept for rollback): 900 s",
        "terminate the old fleet: 300 s",
    ]
    assert estimate.total_seconds == 3000 <= ENDPOINT_WAITER_SECONDS


def test_linear_and_rolling_steps_count_whole_instances():
    # 4 instances, 10% steps: a step is at least one instance, so 4 steps, not 10.
    assert traffic_steps("LINEAR", 4, 10) == 4
    assert traffic_steps("LINEAR", 10, 20) == 5
    rolling = rollout_estimate(
        strategy="rolling",
        traffic_routing="ALL_AT_ONCE",
        instance_count=4,
        step_percent=None,
        rolling_batch_percent=25,
        wait_interval_seconds=300,
        termination_wait_seconds=0,
    )
    assert rolling.total_seconds == 4 * (600 + 300 + 300)


def test_rollout_longer_than_the_endpoint_wait_is_refused():
    rollout = {**CANARY, "wait_interval_seconds": 1800, "termination_wait_seconds": 1200}
    assert problems(serving={"instance": TWO, "rollout": rollout}) == [
        "serving.rollout: the rollout of the endpoint can take 5700 s, longer than the provider waits for an "
        "endpoint update (3600 s, fixed; custom_timeouts does not change it); see `make plan` for the phases "
        "(got 5700; expected <= 3600 s: shorter wait_interval_seconds or termination_wait_seconds, fewer steps, "
        "or bigger batches)"
    ]


def test_standby_rollout_too_long_is_refused_at_its_own_key():
    # 3 instances, rolling 50%: a batch is 1 whole instance, so 3 batches of 600 + 900 + 300 s.
    rollout = {"strategy": "rolling", "rolling_batch_percent": 50, "wait_interval_seconds": 900}
    assert problems(serving={"instance": TWO}, standby={"initial_instance_count": 3, "rollout": rollout}) == [
        "standby.rollout: the rollout of the standby can take 5400 s, longer than the provider waits for an "
        "endpoint update (3600 s, fixed; custom_timeouts does not change it); see `make plan` for the phases "
        "(got 5400; expected <= 3600 s: shorter wait_interval_seconds or termination_wait_seconds, fewer steps, "
        "or bigger batches)"
    ]


def test_rollout_longer_than_sagemakers_own_limit_is_refused():
    rollout = {**CANARY, "wait_interval_seconds": 600, "maximum_execution_timeout_seconds": 1800}
    assert problems(serving={"instance": TWO, "rollout": rollout}) == [
        "serving.rollout.maximum_execution_timeout_seconds: SageMaker rolls back an update that runs longer; "
        "the rollout of the endpoint can take 2700 s (got 1800; expected >= 2700)"
    ]


# --------------------------------------------------------------------------------------------
# `make plan` prints the estimate and the first-deploy order


def test_plan_prints_the_rollout_estimate_and_the_first_deploy_order(stack):
    text = render_text(plan_document(load_config("prod"), stack("prod")))
    estimate = text.split("rollout-time estimate per endpoint update")[1].split("first deploy")[0]
    assert estimate.splitlines()[1:7] == [
        "  primary (us-east-1), 2 instance(s), CANARY:",
        "    provision the new fleet                                       600 s",
        "    2 traffic step(s) x bake 600 s (CANARY)                      1200 s",
        "    termination wait (old fleet kept for rollback)                900 s",
        "    terminate the old fleet                                       300 s",
        "    total                                                        3000 s  (provider waits 3600 s; "
        "SageMaker limit 7200 s)",
    ]
    assert "  secondary (us-west-2), 1 instance(s), ALL_AT_ONCE:" in estimate
    order = text.split("first deploy on a fresh account, in order\n")[1].splitlines()
    assert [line.split(". ", 1)[0].strip() for line in order[:8]] == [str(i) for i in range(1, 9)]
    assert order[0].startswith("  1. bootstrap, once per account")
    assert order[3] == (
        "  4. `python -m ops.preflight --stack prod` (no endpoint yet: passes), then `pulumi up --stack prod`: "
        "keys, buckets, registry group, model-build pipeline, alarms; no endpoint while no version is approved"
    )
    # pulumi up never trains: the first model is a pipeline execution, approved, then deployed.
    assert order[5] == (
        "  6. first training: `python -m ops.models train --stack prod` (one model-build pipeline execution; "
        "it registers version 1 in the Model Registry)"
    )
    assert order[7].startswith("  8. deploy: `python -m ops.preflight --stack prod`, `pulumi up --stack prod`")


def test_plan_json_carries_the_estimates():
    estimates = rollout_estimates(load_config("prod"))
    assert [(e["role"], e["traffic_routing"], e["total_seconds"]) for e in estimates] == [
        ("primary", "CANARY", 3000),
        ("secondary", "ALL_AT_ONCE", 2400),
    ]
    assert {e["provider_wait_seconds"] for e in estimates} == {3600}
    assert rollout_estimates(load_config("k8s")) == []


# --------------------------------------------------------------------------------------------
# After an automatic rollback the endpoint runs on the previous Model and EndpointConfiguration


def test_replaced_models_and_endpoint_configs_stay_in_aws(stack):
    """Pulumi drops a replaced resource with retain_on_delete from its state without deleting
    it (RUNBOOK.md, After an automatic rollback, deletes them once unused). The endpoint itself
    is not retained: deleting the stack must delete it."""
    for name in ("dev", "prod"):
        synthesis = stack(name)
        for type_ in ("aws:sagemaker/model:Model", "aws:sagemaker/endpointConfiguration:EndpointConfiguration"):
            found = synthesis.of_type(type_)
            assert found and all(r.retain_on_delete for r in found), (name, type_)
        assert not any(r.retain_on_delete for r in synthesis.of_type("aws:sagemaker/endpoint:Endpoint"))
