"""`ops.outputs.read_outputs` through the real Pulumi Automation API, with a fake `pulumi` on PATH.

These machines have no Pulumi CLI, so a small script stands in for it: it answers `pulumi
version` and `pulumi stack output --json [--show-secrets] --stack NAME` the way the CLI does
(masked secrets as "[secret]", exit 255 with "no stack named ... found" for an unknown stack)
and logs every command line. The Automation API's own code runs unchanged: it starts the
process, maps the exit status to its errors and merges the masked and plaintext documents.
What this cannot prove: the real CLI's messages for a backend it cannot reach (the fake's text
is copied from the CLI's, see `BACKEND_ERROR`).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from pulumi import automation as auto

from ops.outputs import PROJECT_DIR, OutputsError, read_outputs

OUTPUTS = {
    "regions": {"value": {"primary": "us-east-1", "secondary": "us-west-2"}, "secret": False},
    "image_uri": {"value": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml@sha256:" + "a" * 64, "secret": False},
    "kubeconfig": {"value": "apiVersion: v1\nkind: Config\n", "secret": True},
}
BACKEND_ERROR = "error: failed to load checkpoint: AccessDenied: Access Denied\n\tstatus code: 403"
FAKE_CLI = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
    log.write(json.dumps([os.getcwd(), *args]) + "\\n")
if args == ["version"]:
    print(os.environ.get("FAKE_PULUMI_VERSION", "v3.272.0"))
    sys.exit(int(os.environ.get("FAKE_PULUMI_VERSION_EXIT", "0")))
stack = args[args.index("--stack") + 1]
if stack == "locked":
    print({backend_error!r}, file=sys.stderr)
    sys.exit(255)
stacks = json.loads(os.environ["FAKE_PULUMI_STACKS"])
if stack not in stacks:
    print(f"error: no stack named '{{stack}}' found", file=sys.stderr)
    sys.exit(255)
show = "--show-secrets" in args
shown = {{k: v["value"] if show or not v["secret"] else "[secret]" for k, v in stacks[stack].items()}}
print(json.dumps(shown, indent=4))
"""
NOT_ON_PATH = (
    "cannot read the outputs: the Pulumi CLI, which the Automation API runs, is not on PATH; install it "
    "(https://www.pulumi.com/docs/install/) or pass --outputs FILE (write it where the CLI is: "
    "`pulumi stack output --json --stack prod > outputs.json`)"
)


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Put the fake `pulumi` first on PATH; returns the log of its command lines."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(FAKE_CLI.format(python=sys.executable, backend_error=BACKEND_ERROR))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "pulumi.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(log))
    monkeypatch.setenv("FAKE_PULUMI_STACKS", json.dumps({"prod": OUTPUTS}))
    monkeypatch.delenv("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", raising=False)

    def calls() -> list[list[str]]:
        return [json.loads(line) for line in log.read_text().splitlines()]

    return calls


def test_outputs_are_read_without_selecting_the_stack_and_secrets_stay_masked(cli):
    outputs = read_outputs("prod")

    assert outputs == {
        "regions": {"primary": "us-east-1", "secondary": "us-west-2"},
        "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml@sha256:" + "a" * 64,
        "kubeconfig": "[secret]",
    }
    # Run in the project directory; `pulumi stack select` never runs, so the operator's
    # current stack is left alone.
    assert cli() == [
        [str(PROJECT_DIR), "version"],
        [str(PROJECT_DIR), "--non-interactive", "stack", "output", "--json", "--stack", "prod"],
        [str(PROJECT_DIR), "--non-interactive", "stack", "output", "--json", "--show-secrets", "--stack", "prod"],
    ]


def test_a_secret_output_a_command_names_is_revealed(cli):
    assert read_outputs("prod", reveal=("kubeconfig",))["kubeconfig"] == "apiVersion: v1\nkind: Config\n"


def test_an_outputs_file_is_read_without_the_cli(cli, tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"regions": {"primary": "us-east-1"}, "token": "[secret]"}))

    assert read_outputs("prod", path) == {"regions": {"primary": "us-east-1"}, "token": "[secret]"}
    assert cli() == []


def test_an_unknown_stack_names_the_stack_and_what_to_check(cli):
    with pytest.raises(OutputsError) as raised:
        read_outputs("prdo")
    assert str(raised.value) == (
        "no stack named 'prdo' in the backend the Pulumi CLI is logged in to: check the name (`pulumi stack ls`) "
        "or log in to the stack's backend (`pulumi login <backend_url of the bootstrap outputs>`; "
        "`pulumi whoami --verbose` shows the current one)"
    )


def test_any_other_cli_failure_shows_the_command_its_exit_status_and_stderr(cli):
    with pytest.raises(OutputsError) as raised:
        read_outputs("locked")
    assert str(raised.value) == (
        "`pulumi stack output --json --stack locked` (run by the Automation API) failed (exit 255): "
        "error: failed to load checkpoint: AccessDenied: Access Denied\n\tstatus code: 403"
    )


def test_a_cli_older_than_the_automation_api_supports_is_named(cli, monkeypatch):
    monkeypatch.setenv("FAKE_PULUMI_VERSION", "v3.0.0")
    with pytest.raises(OutputsError) as raised:
        read_outputs("prod")
    assert str(raised.value) == (
        "cannot read the outputs: the Pulumi CLI on PATH is unusable (Minimum version requirement failed. "
        "The minimum CLI version requirement is 3.1.0, your current CLI version is 3.0.0. "
        "Please update the Pulumi CLI.); install a current one (https://www.pulumi.com/docs/install/) "
        "or pass --outputs FILE (write it where the CLI is: `pulumi stack output --json --stack prod > outputs.json`)"
    )


def test_a_cli_that_cannot_report_its_version_is_named(cli, monkeypatch):
    monkeypatch.setenv("FAKE_PULUMI_VERSION_EXIT", "1")
    with pytest.raises(OutputsError) as raised:
        read_outputs("prod")
    assert str(raised.value) == (
        "cannot read the outputs: the Pulumi CLI on PATH is unusable (Command '['pulumi', 'version']' returned "
        "non-zero exit status 1.); install a current one (https://www.pulumi.com/docs/install/) "
        "or pass --outputs FILE (write it where the CLI is: `pulumi stack output --json --stack prod > outputs.json`)"
    )


def test_no_cli_on_path_says_how_to_install_it_or_work_offline(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(OutputsError) as raised:
        read_outputs("prod")
    assert str(raised.value) == NOT_ON_PATH


def test_an_injected_workspace_stands_in_for_the_cli():
    # What the command tests inject: any object with the Automation API's `stack_outputs`.
    class Workspace:
        def stack_outputs(self, stack: str) -> dict[str, auto.OutputValue]:
            assert stack == "dev"
            return {"environment": auto.OutputValue("dev", False), "token": auto.OutputValue("s3cr3t", True)}

    assert read_outputs("dev", workspace=Workspace) == {"environment": "dev", "token": "[secret]"}


def test_the_project_directory_is_the_one_holding_pulumi_yaml():
    assert (PROJECT_DIR / "Pulumi.yaml").is_file()
    assert Path(__file__).resolve().parent.parent == PROJECT_DIR
