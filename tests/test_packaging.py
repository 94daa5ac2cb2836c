"""The library as another program installs it: pyproject's build backend, dependencies and package
discovery, the metadata setuptools builds from them (offline), and the lazy public exports.

Building the wheel itself is left to CI's `pip wheel`: this environment's setuptools has no
`bdist_wheel` without the `wheel` package, so the test stops at the metadata (`egg_info`), which
reads the same configuration.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from email.parser import Parser
from pathlib import Path

import setuptools

from offline.engine import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirement_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def test_the_build_backend_is_setuptools_pinned_exactly():
    assert PYPROJECT["build-system"] == {
        "requires": ["setuptools==84.2.1"],
        "build-backend": "setuptools.build_meta",
    }


def test_dependencies_carry_the_programs_own_pins():
    pins = requirement_pins(ROOT / "requirements.txt")
    project = PYPROJECT["project"]
    declared = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    for requirement in declared:
        name, _, version = requirement.partition("==")
        assert pins.get(name.lower()) == version, requirement
    assert [d.partition("==")[0] for d in project["dependencies"]] == [
        "pulumi",
        "pulumi-aws",
        "pydantic",
        "botocore",
        "boto3",
        "awscrt",
    ]
    assert project["optional-dependencies"] == {
        "kubernetes": ["pulumi-kubernetes==4.34.2"],
        "build": ["pulumi-docker-build==0.0.22"],
    }


def test_only_the_library_and_the_failover_client_are_packaged():
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    assert find == {"include": ["ml_platform*", "failover_client*"]}
    packages = setuptools.find_packages(str(ROOT), include=find["include"])
    assert sorted(packages) == ["failover_client", "ml_platform", "ml_platform.components", "ml_platform.config"]


def test_setuptools_builds_the_metadata_offline(tmp_path: Path):
    built = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "egg_info", "--egg-base", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    info = tmp_path / "ml_platform.egg-info"
    metadata = Parser().parsestr((info / "PKG-INFO").read_text())
    assert (metadata["Name"], metadata["Version"], metadata["Requires-Python"]) == ("ml-platform", "0.3.0", ">=3.11")
    # egg_info writes the requirements to requires.txt: the plain ones, then one [section] per extra.
    requires = (info / "requires.txt").read_text().split("\n\n")
    assert requires[0].split() == PYPROJECT["project"]["dependencies"]
    assert sorted(section.split() for section in requires[1:] if section.strip()) == [
        ["[build]", "pulumi-docker-build==0.0.22"],
        ["[kubernetes]", "pulumi-kubernetes==4.34.2"],
    ]
    assert sorted((info / "top_level.txt").read_text().split()) == ["failover_client", "ml_platform"]
    sources = (info / "SOURCES.txt").read_text().split()
    assert "ml_platform/components/frontdoor.py" in sources
    assert not [s for s in sources if s.startswith(("tests/", "ops/", "offline/", "model_code/", "components/"))]


def test_the_public_components_resolve_lazily():
    script = (
        "import sys, ml_platform.components as c\n"
        "assert 'pulumi_kubernetes' not in sys.modules and 'ml_platform.components.frontdoor' not in sys.modules\n"
        "from ml_platform.components import RegionalApi, RegionalApiArgs\n"
        "print(RegionalApi.__module__, RegionalApiArgs.__module__, 'pulumi_kubernetes' in sys.modules)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False)
    assert loaded.stdout == "ml_platform.components.frontdoor ml_platform.components.frontdoor False\n", loaded.stderr
    import ml_platform.components as components

    for name in components.__all__:
        value = getattr(components, name)
        assert value.__name__ == name and value.__module__.startswith("ml_platform.components."), name
    assert {"RegionalApi", "RegionalApiArgs", "KubernetesModelServer", "KubernetesModelServerArgs"} <= set(
        components.__all__
    )
