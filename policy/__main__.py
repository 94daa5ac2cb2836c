"""The ml-platform CrossGuard policy pack: `pulumi preview --policy-pack policy`.

This file only builds the pack. The rules are plain functions in `policies.py` (the offline
`make plan` runs the same ones); `crossguard.py` wraps them into policies. The pack's
environment needs only `requirements.txt`.

The CLI runs this file as a script from the pack directory, wherever the pack was installed
(a published pack lands in a directory whose name need not be a Python identifier), and the
modules import each other relatively. So the directory is loaded as one package under a fixed
name, `ml_platform_policy`, with this directory as its only search location: every module
loads once, from here, never from a checkout that happens to be on `sys.path`.
"""

import importlib
import importlib.util
import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

PACKAGE = "ml_platform_policy"


def load_pack_package(directory: Path) -> None:
    """Register `directory` as the package PACKAGE (idempotent)."""
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        PACKAGE, directory / "__init__.py", submodule_search_locations=[str(directory)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)


load_pack_package(Path(__file__).resolve().parent)
crossguard = importlib.import_module(f"{PACKAGE}.crossguard")

PolicyPack(
    name="ml-platform",
    description="ml-platform guardrails: encryption, least privilege, safe serving, backup, protection, tags.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=crossguard.pack_policies(),
)
