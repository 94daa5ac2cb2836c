"""The GitHub Actions workflows: actionlint and zizmor find nothing, and the shape the
delivery depends on holds (pinned actions, least permissions, fork handling, the deploy chain).

The workflows cannot run here; these checks read them. The linters are the pinned binaries
of requirements-dev.txt, run exactly as `make lint` runs them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent

# Every third-party action, by the commit its release tag points at (verified against each
# action's repository tags when pinned; bump tag and SHA together).
PINNED = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "aws-actions/configure-aws-credentials": ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
}
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S+))?\s*$")


def load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the `on:` key as True.
    document["on"] = document.pop(True)
    return document


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_actionlint_finds_nothing():
    result = run(str(BIN / "actionlint"), f"-shellcheck={BIN / 'shellcheck'}", "-pyflakes=")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_zizmor_finds_nothing_even_pedantic():
    result = run(str(BIN / "zizmor"), "--offline", "--persona=pedantic", "--no-progress", ".github/workflows")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_linters_catch_a_broken_workflow(tmp_path):
    """The two linters do run on what they are given: a workflow injecting a PR title into a
    shell and using an unpinned action fails both."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request_target\n"
        "permissions: {}\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    actionlint = subprocess.run(
        [str(BIN / "actionlint"), "-shellcheck=", "-pyflakes=", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert actionlint.returncode == 1
    assert "github.event.pull_request.title" in actionlint.stdout
    zizmor = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", str(bad.parent)], capture_output=True, text=True, timeout=60
    )
    assert zizmor.returncode != 0
    assert "template-injection" in zizmor.stdout and "unpinned-uses" in zizmor.stdout


@pytest.mark.parametrize("name", ["ci.yml", "preview.yml", "deploy.yml"])
def test_every_action_is_pinned_to_its_release_commit(name):
    found = [USES.match(line) for line in (WORKFLOWS / name).read_text().splitlines() if "uses:" in line]
    assert found and all(found)
    for match in found:
        assert PINNED[match["action"]] == (match["ref"], match["comment"]), match.group(0)


@pytest.mark.parametrize("name", ["ci.yml", "preview.yml", "deploy.yml"])
def test_every_job_has_a_timeout_and_checkout_keeps_no_credentials(name):
    for job in load(name)["jobs"].values():
        assert job["timeout-minutes"] <= 90
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_ci_runs_tests_lint_and_plans_every_stack_without_secrets():
    ci = load("ci.yml")
    assert ci["on"] == {"pull_request": None, "push": {"branches": ["main"]}}
    assert ci["permissions"] == {"contents": "read"}
    runs = {name: [s.get("run", "") for s in job["steps"]] for name, job in ci["jobs"].items()}
    assert "make test" in runs["test"] and "make lint" in runs["lint"]
    assert 'make plan STACK="${stack}" || status=1' in runs["plan"][-1]
    assert "for file in Pulumi.*.yaml; do" in runs["plan"][-1]
    assert "secrets." not in (WORKFLOWS / "ci.yml").read_text()


def test_preview_per_pull_request_and_stack_skipping_forks_with_a_note():
    preview = load("preview.yml")
    assert preview["on"] == {"pull_request": None}
    assert preview["permissions"] == {}
    job = preview["jobs"]["preview"]
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    assert job["concurrency"]["group"] == "preview-${{ github.event.pull_request.number }}-${{ matrix.stack }}"
    assert [m["stack"] for m in job["strategy"]["matrix"]["include"]] == ["dev", "prod"]
    pulumi = next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"] | {} == {
        "command": "preview",
        "stack-name": "${{ matrix.stack }}",
        "pulumi-version": "3.272.0",
        "cloud-url": "${{ vars.PULUMI_BACKEND_URL }}",
        "secrets-provider": "${{ vars.PULUMI_SECRETS_PROVIDER }}",
        "policyPacks": "policy",
        "comment-on-pr": True,
        "diff": True,
    }
    venvs = next(s["run"] for s in job["steps"] if "python -m venv .venv" in s.get("run", ""))
    assert "-r requirements.txt" in venvs and "-r policy/requirements.txt" in venvs
    note = preview["jobs"]["fork-note"]
    assert note["if"] == "github.event.pull_request.head.repo.full_name != github.repository"
    assert "GITHUB_STEP_SUMMARY" in note["steps"][0]["run"]
    assert "permissions" not in note  # inherits `{}`


def test_deploy_chain_dev_then_reviewed_prod_each_verified():
    deploy = load("deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    assert deploy["permissions"] == {}
    assert deploy["concurrency"] == {"group": "deploy", "cancel-in-progress": False}
    dev, prod = deploy["jobs"]["dev"], deploy["jobs"]["prod"]
    assert (dev["environment"], prod["environment"], prod["needs"]) == ("dev", "prod", "dev")
    for stack, job in (("dev", dev), ("prod", prod)):
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        steps = job["steps"]
        up = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("pulumi/actions@"))
        assert steps[up]["with"]["command"] == "up" and steps[up]["with"]["stack-name"] == stack
        assert steps[up]["with"]["policyPacks"] == "policy"
        assert steps[up + 1]["run"] == f".venv/bin/python -m ops.verify --stack {stack}"
        credentials = next(s for s in steps if s.get("uses", "").startswith("aws-actions/"))
        assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
