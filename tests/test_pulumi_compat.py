"""The Pulumi SDK's private names, all behind `ml_platform/pulumi_compat.py`: each one still
resolves in the pinned SDK, a missing one fails naming the symbol, and no other module
reaches into the SDK's privates."""

from __future__ import annotations

import contextvars
import inspect
import re
import subprocess
from pathlib import Path

import pytest

from ml_platform import pulumi_compat
from ml_platform.pulumi_compat import PulumiSdkChangedError

ROOT = Path(__file__).resolve().parent.parent


# What each private name must be for the code that uses it: (module, path) -> check.
EXPECTED_KINDS = {
    ("pulumi.runtime.rpc", "_special_sig_key"): lambda v: isinstance(v, str) and len(v) == 32,
    ("pulumi.runtime.rpc", "_special_secret_sig"): lambda v: isinstance(v, str) and len(v) == 32,
    ("pulumi.runtime.sync_await", "_sync_await"): inspect.isfunction,
    ("pulumi.runtime.settings", "ROOT"): lambda v: isinstance(v, contextvars.ContextVar),
    ("pulumi.runtime.settings", "SETTINGS.rpc_manager"): lambda v: callable(getattr(v, "clear", None)),
    ("pulumi.runtime.settings", "SETTINGS.outputs"): lambda v: isinstance(v, set),
    ("pulumi_policy.policy", "_PolicyAnalyzerServicer"): inspect.isclass,
}


def test_every_private_name_has_an_expected_kind():
    assert set(EXPECTED_KINDS) == set(pulumi_compat.PRIVATE_NAMES)


@pytest.mark.parametrize(("module", "path"), pulumi_compat.PRIVATE_NAMES, ids=lambda v: v)
def test_every_private_name_resolves_to_what_its_user_needs(module: str, path: str):
    assert EXPECTED_KINDS[(module, path)](pulumi_compat.resolve(module, path))


def test_a_renamed_attribute_is_named_in_the_error():
    with pytest.raises(PulumiSdkChangedError) as caught:
        pulumi_compat.resolve("pulumi.runtime.settings", "SETTINGS.rpc_manager_renamed")
    assert str(caught.value) == (
        "pulumi.runtime.settings.SETTINGS.rpc_manager_renamed: not found in the installed Pulumi SDK; "
        "update ml_platform/pulumi_compat.py"
    )


def test_a_missing_module_is_named_in_the_error():
    with pytest.raises(
        PulumiSdkChangedError, match=r"^pulumi\.runtime\.gone: module not found in the installed Pulumi SDK"
    ):
        pulumi_compat.resolve("pulumi.runtime.gone", "anything")


def test_check_reports_the_first_missing_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(pulumi_compat, "PRIVATE_NAMES", (("pulumi.runtime.rpc", "_special_sig_key_v2"),))
    with pytest.raises(PulumiSdkChangedError, match=r"^pulumi\.runtime\.rpc\._special_sig_key_v2: not found"):
        pulumi_compat.check()


def test_the_secret_envelope_is_recognised_exactly():
    sig = pulumi_compat.resolve("pulumi.runtime.rpc", "_special_sig_key")
    secret = pulumi_compat.resolve("pulumi.runtime.rpc", "_special_secret_sig")
    assert pulumi_compat.is_secret_envelope({sig: secret, "value": "x"}) is True
    assert pulumi_compat.is_secret_envelope({sig: "other", "value": "x"}) is False
    assert pulumi_compat.is_secret_envelope("x") is False


def test_no_other_module_uses_a_private_sdk_name():
    """Private SDK names (`pulumi.*` and `pulumi_policy.*` attributes with a leading underscore)
    appear only in the compat module."""
    files = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    pattern = re.compile(
        r"\b(?:rpc|settings|runtime_config|sync_await|policy_proxy|proxy)\._[A-Za-z]"
        r"|from pulumi[\w.]* import _[A-Za-z]|\bSETTINGS\."
    )
    offenders = []
    for name in files.stdout.split():
        if name in ("ml_platform/pulumi_compat.py", "tests/test_pulumi_compat.py"):
            continue
        for number, line in enumerate((ROOT / name).read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == []
