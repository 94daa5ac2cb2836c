"""`standby`, `api` and `failover`: the warm standby in the secondary region, the regional API
front doors, and Route 53 failover between them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ml_platform.config.rules import Section, check_instance_type
from ml_platform.config.serving import SHIFTING_MIN_INSTANCES, AutoscalingConfig, RolloutConfig


class StandbyConfig(Section):
    """The warm-standby endpoint in the secondary region: same image and model, own capacity."""

    instance_type: str | None = Field(
        default=None, description="Instance type; default: serving.instance.instance_type."
    )
    initial_instance_count: int = Field(default=1, ge=1, le=100, description="Instances kept warm.")
    autoscaling: AutoscalingConfig | None = Field(
        default=None, description="Autoscaling of the standby (it grows when traffic fails over)."
    )
    rollout: RolloutConfig | None = Field(
        default=None,
        description=(
            "The standby's own rollout, same keys and rules as `serving.rollout`. Left out, the standby uses "
            "`serving.rollout`, with ALL_AT_ONCE traffic routing when it has fewer than 2 instances (prod's "
            "one-instance standby); CANARY and LINEAR need `standby.initial_instance_count >= 2`."
        ),
    )

    @field_validator("instance_type")
    @classmethod
    def _known_instance_type(cls, value: str | None) -> str | None:
        return value if value is None else check_instance_type(value, "ProductionVariantInstanceType")

    def rollout_for(self, serving_rollout: RolloutConfig) -> RolloutConfig:
        """The standby's own rollout, else the primary's; CANARY and LINEAR fall back to
        ALL_AT_ONCE (same bake and termination wait) on fewer than 2 instances, where
        SageMaker cannot split the fleet."""
        if self.rollout is not None:
            return self.rollout
        if (
            serving_rollout.traffic_routing in ("CANARY", "LINEAR")
            and self.initial_instance_count < SHIFTING_MIN_INSTANCES
        ):
            return serving_rollout.model_copy(
                update={"traffic_routing": "ALL_AT_ONCE", "canary_size_percent": None, "linear_step_percent": None}
            )
        return serving_rollout


# API access logs are the record of who called the model: a year in prod, a month elsewhere.
PROD_MIN_ACCESS_LOG_RETENTION_DAYS = 365
DEFAULT_ACCESS_LOG_RETENTION_DAYS = {"prod": PROD_MIN_ACCESS_LOG_RETENTION_DAYS}
NON_PROD_ACCESS_LOG_RETENTION_DAYS = 30


class ApiConfig(Section):
    """The regional API Gateway front door of each region's endpoint."""

    stage_name: str = Field(
        default="v1", pattern=r"^[A-Za-z0-9_]{1,128}$", description="Stage name (path prefix on the execute-api URL)."
    )
    throttle_rate_limit: float = Field(default=100, gt=0, description="Steady requests per second across the stage.")
    throttle_burst_limit: int = Field(default=200, ge=1, description="Burst of requests across the stage.")
    access_log_retention_days: (
        Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]
        | None
    ) = Field(
        default=None,
        description="Days the access log keeps entries; default 365 in prod, else 30; prod refuses less than 365.",
    )
    waf_rate_limit_per_ip: int = Field(
        default=2000,
        ge=10,
        le=2_000_000_000,
        description=(
            "Requests one IP may send in `waf_rate_window_seconds` before the stage's WAF web ACL blocks it "
            "(rate-based rule)."
        ),
    )
    waf_rate_window_seconds: Literal[60, 120, 300, 600] = Field(
        default=300, description="Window over which WAF counts each IP's requests."
    )
    waf_common_rule_set: bool = Field(
        default=True,
        description="Add AWS's managed common rule set (its 8 KB body-size rule only counts: payloads may be larger).",
    )


class FailoverConfig(Section):
    """Route 53 failover between the regions' front doors."""

    hosted_zone_id: str = Field(
        pattern=r"^Z[A-Z0-9]{1,32}$", description="Route 53 public hosted zone holding the domain."
    )
    domain_name: str = Field(
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        description="Name clients call, e.g. `api.ml.example.com`.",
    )
    dns_ttl_seconds: int = Field(
        default=60,
        ge=10,
        le=300,
        description="TTL of the failover records (applies to the alias target's resolution by resolvers).",
    )
    health_check_interval_seconds: Literal[10, 30] = Field(
        default=30, description="Route 53 HTTPS health-check interval on each region's /ping."
    )
    health_check_failure_threshold: int = Field(
        default=3, ge=1, le=10, description="Consecutive failed checks before a region is unhealthy."
    )
    unhealthy_5xx_per_minute: int = Field(
        default=10, ge=1, description="Endpoint 5XX responses per minute that mark a region unhealthy."
    )
    unhealthy_average_latency_ms: float = Field(
        default=250,
        gt=0,
        description=(
            "Average ModelLatency (ms) over a minute that marks a region unhealthy; must be below "
            "`alarms.model_latency_p99_ms` (Route 53 cannot follow a percentile)."
        ),
    )
    unhealthy_api_5xx_per_minute: int = Field(
        default=10, ge=1, description="API stage 5XX responses per minute (`5XXError`) that mark a region unhealthy."
    )
    unhealthy_api_integration_latency_ms: float = Field(
        default=5000,
        gt=0,
        le=29000,
        description="Average stage `IntegrationLatency` (ms) over a minute that marks a region unhealthy.",
    )
