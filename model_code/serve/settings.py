"""ServeSettings: every knob of the inference server, from environment variables, read once at start-up.

Each field is `ML_PLATFORM_SERVE_<FIELD>` (case-insensitive). The port and worker count also
accept SageMaker's own variables, so a SageMaker Model's `Environment` can set them either way:
`SAGEMAKER_BIND_TO_PORT` (set by SageMaker for serial inference pipelines) and
`SAGEMAKER_MODEL_SERVER_WORKERS`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_code.paths import OptMl

ENV_PREFIX = "ML_PLATFORM_SERVE_"
# SageMaker's real-time InvokeEndpoint accepts at most 6 MB, so a larger body can only come
# from somewhere else (batch transform with a bigger MaxPayloadInMB, or a local client).
DEFAULT_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# SIGTERM to exit must stay under 30 s (SageMaker, Kubernetes' default grace period): the drain
# gets at most 25 s, the rest is for closing sockets and the processes exiting.
MAX_DRAIN_TIMEOUT_SECONDS = 25

# Request heads: nginx's default buffers hold 4 x 8 KiB, gunicorn allows 100 header fields. A
# SageMaker request carries a handful of headers (custom attributes are at most 1024 characters).
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_HEADERS = 100
# Slow clients: a head must arrive within 10 s; a body within 60 s, SageMaker's own limit for a
# whole real-time invocation (a body sent slower than that could never be answered in time):
# "A customer's model containers must respond to requests within 60 seconds."
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
DEFAULT_BODY_TIMEOUT_SECONDS = 60.0

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota if one is set
    (a Kubernetes CPU limit), so a container limited to 2 CPUs on a 64-core node runs 2 workers."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_cpu_quota()
    return max(1, min(cpus, math.ceil(quota))) if quota else max(1, cpus)


def _cgroup_cpu_quota() -> float | None:
    try:  # cgroup v2: "<quota> <period>" or "max <period>"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1: quota -1 means unlimited
        quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def _default_model_dir() -> Path:
    return OptMl.from_env().model_dir


class ServeSettings(BaseSettings):
    """Read with `ServeSettings()` when the server starts; invalid values raise pydantic's
    ValidationError, which `cli.main` reports one line per variable."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    host: str = Field("0.0.0.0", description="interface to listen on (SageMaker needs 0.0.0.0)")
    port: int = Field(
        8080,
        ge=1,
        le=65535,
        validation_alias=AliasChoices(f"{ENV_PREFIX}PORT", "SAGEMAKER_BIND_TO_PORT"),
        description="TCP port (SageMaker sends traffic to 8080)",
    )
    workers: int = Field(
        default_factory=available_cpus,
        ge=1,
        le=512,
        validation_alias=AliasChoices(f"{ENV_PREFIX}WORKERS", "SAGEMAKER_MODEL_SERVER_WORKERS"),
        description="worker processes; default one per available CPU; 1 serves in the main process",
    )
    max_payload_bytes: int = Field(
        DEFAULT_MAX_PAYLOAD_BYTES, ge=1, le=1024**3, description="larger request bodies get 413"
    )
    model_dir: Path = Field(
        default_factory=_default_model_dir,
        description="directory holding model.npz; default <ML_PLATFORM_OPT_ML or /opt/ml>/model",
    )
    log_level: LogLevel = Field("info", description="minimum level of the JSON log lines")
    access_log: bool = Field(False, description="one JSON line per request (costs throughput)")
    drain_timeout_seconds: int = Field(
        20,
        ge=1,
        le=MAX_DRAIN_TIMEOUT_SECONDS,
        description="after SIGTERM, how long requests in flight may take to finish",
    )
    keep_alive_seconds: int = Field(5, ge=1, le=3600, description="idle time before a keep-alive connection is closed")
    max_header_bytes: int = Field(
        DEFAULT_MAX_HEADER_BYTES,
        ge=1024,
        le=1024**2,
        description="request line and headers larger than this get 431 and the connection is closed",
    )
    max_headers: int = Field(
        DEFAULT_MAX_HEADERS, ge=8, le=1000, description="requests with more header fields get 431 and are closed"
    )
    header_timeout_seconds: float = Field(
        DEFAULT_HEADER_TIMEOUT_SECONDS,
        gt=0,
        le=3600,
        description="time for a request's line and headers to arrive, from their first byte (or from the "
        "connection's opening); then 408 and the connection is closed",
    )
    body_timeout_seconds: float = Field(
        DEFAULT_BODY_TIMEOUT_SECONDS,
        gt=0,
        le=3600,
        description="time for a request's whole body to arrive once its headers have; then 408 and the "
        "connection is closed",
    )
    metrics: bool = Field(
        False,
        description="Prometheus metrics of /invocations on GET /metrics (the Kubernetes Deployment turns them on); "
        "with several workers they need a writable temporary directory (TMPDIR or /tmp)",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case_level(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


def describe_errors(errors: list[dict]) -> list[str]:
    """One line per invalid variable, `NAME: what is wrong (got 'value')`, from ValidationError.errors()."""
    lines = []
    for error in errors:
        lines.append(f"{_variable_names(str(error['loc'][0]))}: {error['msg']} (got {error.get('input')!r})")
    return lines


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """`ML_PLATFORM_SERVE_*` variables that are no setting (a typo would otherwise be ignored)."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in ServeSettings.model_fields}
    allowed = ", ".join(sorted(known))
    return [
        f"{name}: not a setting (got {value!r}); the settings are {allowed}"
        for name, value in sorted(environ.items())
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known
    ]


def _variable_names(location: str) -> str:
    """The environment variable(s) behind an error location (a field name, or its first alias)."""
    for name, field in ServeSettings.model_fields.items():
        aliases = field.validation_alias.choices if isinstance(field.validation_alias, AliasChoices) else []
        if location == name or location in aliases:
            return " or ".join(str(a) for a in aliases) if aliases else f"{ENV_PREFIX}{name.upper()}"
    return location
