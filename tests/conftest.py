"""Shared fixtures: the whole program, synthesized per committed stack file."""

from __future__ import annotations

import pytest

from offline.engine import Synthesis, synthesize_stack


@pytest.fixture(scope="session")
def stack():
    """`stack("prod")` -> the whole program run under mocks for Pulumi.prod.yaml.

    Each stack is synthesized once per session (runtime state is reset before every run);
    tests must treat the result as read-only.
    """
    cache: dict[str, Synthesis] = {}

    def get(name: str) -> Synthesis:
        if name not in cache:
            cache[name] = synthesize_stack(name)
        return cache[name]

    return get
