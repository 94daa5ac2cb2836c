"""Every name this project takes from the Pulumi SDK's internals, in one place.

The SDK has no public API for running a program under its mock engine and recording what it
declared (`offline/engine.py`), so that engine reaches a few private names; the policy pack's
test drives the pack's analyzer servicer in-process, which the Policy SDK does not export. They are resolved
here and nowhere else; `tests/test_pulumi_compat.py` resolves each one, so an SDK upgrade that
renames or drops one fails that test, naming the symbol, instead of breaking a run somewhere
far away. Config reading (`ml_platform/config/`) and the policy pack use only public names.

Pinned SDK: pulumi 3.272.0 (requirements.txt).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

# (module, attribute path) of every private name used. The test resolves each one.
PRIVATE_NAMES: tuple[tuple[str, str], ...] = (
    ("pulumi.runtime.rpc", "_special_sig_key"),
    ("pulumi.runtime.rpc", "_special_secret_sig"),
    ("pulumi.runtime.sync_await", "_sync_await"),
    ("pulumi.runtime.settings", "ROOT"),
    ("pulumi.runtime.settings", "SETTINGS.rpc_manager"),
    ("pulumi.runtime.settings", "SETTINGS.outputs"),
    # The policy pack's gRPC servicer, which tests/test_policy_pack.py drives in-process.
    ("pulumi_policy.policy", "_PolicyAnalyzerServicer"),
)


class PulumiSdkChangedError(RuntimeError):
    """A private SDK name this project relies on is gone or moved."""


def resolve(module: str, path: str) -> Any:
    """The object at `module`.`path`, or PulumiSdkChangedError naming exactly what is missing."""
    try:
        value: Any = importlib.import_module(module)
    except ImportError as exc:
        raise PulumiSdkChangedError(f"{module}: module not found in the installed Pulumi SDK ({exc})") from None
    walked = module
    for part in path.split("."):
        walked = f"{walked}.{part}"
        if not hasattr(value, part):
            raise PulumiSdkChangedError(
                f"{walked}: not found in the installed Pulumi SDK; update ml_platform/pulumi_compat.py"
            )
        value = getattr(value, part)
    return value


def check() -> None:
    """Resolve every private name; raises PulumiSdkChangedError for the first one missing."""
    for module, path in PRIVATE_NAMES:
        resolve(module, path)


@functools.cache
def _secret_signature() -> tuple[str, str]:
    """(key, value) marking a secret in deserialized properties: two string constants, resolved
    once (the engine tests every property value it records against them)."""
    return resolve("pulumi.runtime.rpc", "_special_sig_key"), resolve("pulumi.runtime.rpc", "_special_secret_sig")


def is_secret_envelope(value: Any) -> bool:
    """Whether a deserialized property value is the SDK's secret wrapper `{sig: secret, value: ...}`."""
    if not isinstance(value, dict):
        return False
    key, secret = _secret_signature()
    return value.get(key) == secret


def sync_await(awaitable: Awaitable[T]) -> T:
    """Run a coroutine to completion on the SDK's own event loop (the one its mocks use)."""
    return resolve("pulumi.runtime.sync_await", "_sync_await")(awaitable)


def reset_root_stack() -> None:
    """Forget the root stack resource, so the next program run registers a fresh one."""
    resolve("pulumi.runtime.settings", "ROOT").set(None)


def clear_pending_work() -> None:
    """Drop RPCs and outputs the SDK still tracks from an earlier run in this process."""
    resolve("pulumi.runtime.settings", "SETTINGS.rpc_manager").clear()
    resolve("pulumi.runtime.settings", "SETTINGS.outputs").clear()


def policy_analyzer_servicer() -> type:
    """The Policy SDK's analyzer servicer class (what `pulumi preview` talks to over gRPC)."""
    return resolve("pulumi_policy.policy", "_PolicyAnalyzerServicer")
