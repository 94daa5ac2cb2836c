"""The import rules of ARCHITECTURE.md, read from the source with `ast`: each package imports
only the packages its row allows, and no module grows past 600 lines."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 600
FIRST_PARTY = ("ml_platform", "offline", "ops", "failover_client", "policy", "model_code", "bootstrap", "benchmarks")

# package (a path prefix) -> first-party packages (module prefixes) it may import, itself included.
ALLOWED: dict[str, tuple[str, ...]] = {
    "ml_platform/config/": ("ml_platform.config", "ml_platform.endpoint_timing"),
    "ml_platform/components/": ("ml_platform.components",),
    "ml_platform/pulumi_compat.py": (),
    "ml_platform/endpoint_timing.py": (),
    "ml_platform/": ("ml_platform",),
    "offline/": ("offline", "ml_platform", "policy", "failover_client"),
    "ops/": ("ops", "ml_platform", "offline", "failover_client"),
    "failover_client/": ("failover_client",),
    "policy/": ("policy",),
    "model_code/": ("model_code",),
    "bootstrap/": ("bootstrap",),
    "benchmarks/": ("benchmarks", "model_code"),
}


def tracked_python() -> list[str]:
    listing = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [name for name in listing.stdout.split() if (ROOT / name).is_file()]


def first_party_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.split(".")[0] in FIRST_PARTY]
    return found


def rule_for(name: str) -> tuple[str, ...] | None:
    for prefix in sorted(ALLOWED, key=len, reverse=True):
        if name == prefix or name.startswith(prefix):
            return ALLOWED[prefix]
    return None


def test_every_package_imports_only_what_architecture_md_allows():
    breaches = []
    for name in tracked_python():
        allowed = rule_for(name)
        if allowed is None:
            continue
        for line, module in first_party_imports(ROOT / name):
            if not any(module == ok or module.startswith(ok + ".") for ok in allowed):
                breaches.append(f"{name}:{line} imports {module}")
    assert breaches == []


@pytest.mark.parametrize("prefix", ["ml_platform/config/", "ml_platform/components/"])
def test_config_and_components_do_not_import_each_other(prefix: str):
    other = "ml_platform.components" if prefix.endswith("config/") else "ml_platform.config"
    hits = [
        f"{name}:{line}"
        for name in tracked_python()
        if name.startswith(prefix)
        for line, module in first_party_imports(ROOT / name)
        if module == other or module.startswith(other + ".")
    ]
    assert hits == []


def test_no_module_is_longer_than_600_lines():
    long = {}
    for name in tracked_python():
        lines = len((ROOT / name).read_text().splitlines())
        if lines > MAX_LINES:
            long[name] = lines
    assert long == {}
