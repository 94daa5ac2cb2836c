"""Helpers for tests that run one component under the mock engine.

The whole-program fixture lives in conftest.py; both use offline/engine.py, the same engine
`offline.plan` runs on.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from offline.engine import Registration, Synthesis, run_under_mocks

__all__ = ["Registration", "Synthesis", "decoded", "in_region", "run_component"]


def in_region(region: str, name: str = "test") -> pulumi.ResourceOptions:
    """Options placing a component in `region` through its own explicit provider."""
    return pulumi.ResourceOptions(provider=aws.Provider(f"aws-{name}-{region}", region=region))


def run_component(build, **kwargs) -> Synthesis:
    """Run `build()` (which declares one component) under fresh mock runtime state."""
    return run_under_mocks(build, **kwargs)


def decoded(value: Any) -> Any:
    """Nested provider inputs arrive as JSON text; decode for comparison."""
    return json.loads(value) if isinstance(value, str) else value
