"""The GitHub Actions workflows: actionlint and zizmor find nothing, and the shape the
delivery depends on holds: pinned actions, least permissions, fork handling, previews that
build nothing and are commented whether they pass or fail, a deploy that tests, builds once,
plans the merged commit and applies exactly that plan per environment, and the ops tools with
what they need.

The workflows cannot run here; these checks read them (and run the dispatch validation script
in bash). The linters are the pinned binaries of requirements-dev.txt, run as `make lint` does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
NAMES = ["ci.yml", "preview.yml", "deploy.yml", "pulumi.yml"]

# Every third-party action, by the commit its release tag points at (verified against each
# action's repository tags when pinned; bump tag and SHA together).
PINNED = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/cache": ("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "aws-actions/configure-aws-credentials": ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
}
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S+))?\s*$")
# The roles' maximum session lengths (bootstrap/__main__.py): deploy 4 hours, preview 1 hour.
DEPLOY_ROLE_MAX_SECONDS, PREVIEW_ROLE_MAX_SECONDS = 4 * 3600, 3600


def load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the `on:` key as True.
    document["on"] = document.pop(True)
    return document


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def steps_of(job: dict) -> list[dict]:
    return job.get("steps", [])


def step(job: dict, name_or_action: str) -> dict:
    (found,) = [
        s for s in steps_of(job) if s.get("name") == name_or_action or s.get("uses", "").startswith(name_or_action)
    ]
    return found


def index(job: dict, predicate) -> int:
    return next(i for i, s in enumerate(steps_of(job)) if predicate(s))


PULUMI = load("pulumi.yml")["jobs"]["pulumi"]


def test_actionlint_finds_nothing():
    result = run(str(BIN / "actionlint"), f"-shellcheck={BIN / 'shellcheck'}", "-pyflakes=")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_zizmor_finds_nothing_even_pedantic():
    result = run(str(BIN / "zizmor"), "--offline", "--persona=pedantic", "--no-progress", ".github/workflows")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout
    # The only ignores are the local reusable-workflow references (see preview.yml).
    ignores = [
        line for name in NAMES for line in (WORKFLOWS / name).read_text().splitlines() if "zizmor: ignore" in line
    ]
    assert ignores and all(
        "uses: ./.github/workflows/pulumi.yml # zizmor: ignore[self-repository]" in i for i in ignores
    )


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


@pytest.mark.parametrize("name", NAMES)
def test_every_action_is_pinned_to_its_release_commit(name):
    lines = [line for line in (WORKFLOWS / name).read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    found = [USES.match(line) for line in lines if "./.github/workflows/" not in line]
    assert found and all(found)
    for match in found:
        assert PINNED[match["action"]] == (match["ref"], match["comment"]), match.group(0)


@pytest.mark.parametrize("name", NAMES)
def test_every_job_has_a_timeout_least_permissions_and_checkout_keeps_no_credentials(name):
    workflow = load(name)
    if name != "ci.yml":
        assert workflow["permissions"] == {}
    for job in workflow["jobs"].values():
        if "uses" in job:  # a call of pulumi.yml: its timeout is an input
            assert 5 <= job["with"]["timeout-minutes"] <= 240
            assert job["permissions"] == {"contents": "read", "id-token": "write"}
            continue
        timeout = job["timeout-minutes"]
        assert (isinstance(timeout, int) and timeout <= 30) or timeout == "${{ inputs.timeout-minutes }}"
        for found in steps_of(job):
            if found.get("uses", "").startswith("actions/checkout@"):
                assert found["with"]["persist-credentials"] is False


def test_python_setups_cache_pip_and_pulumi_plugins_are_cached():
    for name in NAMES:
        for job in load(name)["jobs"].values():
            for found in steps_of(job):
                if found.get("uses", "").startswith("actions/setup-python@"):
                    assert found["with"]["cache"] == "pip", name
                    assert "requirements.txt" in found["with"]["cache-dependency-path"].split()
    cache = step(PULUMI, "Pulumi plugin cache")
    assert cache["with"] == {
        "path": "~/.pulumi/plugins",
        "key": "pulumi-plugins-${{ runner.os }}-${{ hashFiles('requirements.txt', 'policy/requirements.txt') }}",
    }
    assert index(PULUMI, lambda s: s.get("name") == "Pulumi plugin cache") < index(
        PULUMI, lambda s: s.get("name") == "Pulumi CLI"
    )


def test_ci_runs_tests_lint_and_plans_every_stack_without_secrets():
    ci = load("ci.yml")
    assert ci["on"] == {"pull_request": None, "push": {"branches": ["main"]}}
    assert ci["permissions"] == {"contents": "read"}
    runs = {name: [s.get("run", "") for s in job["steps"]] for name, job in ci["jobs"].items()}
    assert "make test" in runs["test"] and "make lint" in runs["lint"]
    assert 'make plan STACK="${stack}" || status=1' in runs["plan"][-1]
    assert "for file in Pulumi.*.yaml; do" in runs["plan"][-1]
    assert "secrets." not in (WORKFLOWS / "ci.yml").read_text()


# ---------------------------------------------------------------------------------------------
# pulumi.yml: the one job every preview, plan and up runs


def test_each_operation_runs_in_its_own_environment_with_its_role_and_session():
    assert PULUMI["environment"] == {
        "name": "${{ inputs.operation == 'up' && inputs.stack || format('{0}-{1}', inputs.stack, inputs.operation) }}"
    }
    assert PULUMI["permissions"] == {"contents": "read", "id-token": "write"}
    assert PULUMI["timeout-minutes"] == "${{ inputs.timeout-minutes }}"
    credentials = step(PULUMI, "aws-actions/configure-aws-credentials@")
    assert credentials["with"] == {
        "role-to-assume": "${{ vars.AWS_ROLE_ARN }}",
        "role-session-name": "${{ inputs.operation }}-${{ inputs.stack }}-${{ github.run_id }}",
        "role-duration-seconds": "${{ inputs.session-seconds }}",
        "aws-region": "${{ vars.AWS_REGION }}",
    }
    assert PULUMI["defaults"] == {"run": {"shell": "bash"}}  # -eo pipefail: `cmd | tee` fails when cmd does


def test_the_ops_tools_get_boto3_at_the_pinned_version():
    venvs = step(PULUMI, "Program, ops tools and policy pack environments from the pinned requirements")["run"]
    assert "-r requirements.txt boto3 s3transfer" in venvs
    assert "-c <(grep -E '^[A-Za-z0-9_.-]+==' requirements-dev.txt)" in venvs
    pins = (ROOT / "requirements-dev.txt").read_text() + (ROOT / "requirements.txt").read_text()
    assert re.search(r"^boto3==\d", pins, re.M) and re.search(r"^s3transfer==\d", pins, re.M)
    assert "-r policy/requirements.txt" in venvs


def test_order_pin_image_then_preflight_then_pulumi_then_verify():
    names = [s.get("name", s.get("uses", "")) for s in steps_of(PULUMI)]
    order = [
        "Pin the image by digest (no build, no ECR login)",
        "Push the image (tag release-<commit>-<run>-<attempt>), keeping its digest",
        "ops preflight",
        "pulumi preview --refresh",
        "pulumi up of the saved plan",
        "ops verify",
    ]
    assert [n for n in names if n in order] == order
    assert (
        step(PULUMI, "ops preflight")["run"]
        == '.venv/bin/python -m ops.preflight --stack "${STACK}" 2>&1 | tee -a "${REPORT}"'
    )
    assert step(PULUMI, "ops verify") == {
        "name": "ops verify",
        "if": "inputs.operation == 'up'",
        "run": '.venv/bin/python -m ops.verify --stack "${STACK}" 2>&1 | tee -a "${REPORT}"',
    }


def test_preview_and_plan_refresh_with_the_policy_pack_and_plan_saves_the_plan():
    preview = step(PULUMI, "pulumi preview --refresh")
    assert preview["if"] == "inputs.operation != 'up'"
    assert 'if [ "${OPERATION}" = plan ]; then plan=(--save-plan "plan.json"); fi' in preview["run"]
    assert 'pulumi preview --stack "${STACK}" --refresh --diff --policy-pack policy --non-interactive' in preview["run"]
    saved = step(PULUMI, "Keep the plan for the approved up")
    assert saved["if"] == "inputs.operation == 'plan'"
    assert saved["with"]["name"] == "plan-${{ inputs.stack }}" and saved["with"]["path"] == "plan.json"
    up = step(PULUMI, "pulumi up of the saved plan")
    assert 'pulumi up --stack "${STACK}" --plan plan.json --yes --policy-pack policy' in up["run"]
    assert step(PULUMI, "Saved plan of the merged commit")["with"] == {"name": "plan-${{ inputs.stack }}"}


def test_only_up_touches_the_registry_previews_never_build_or_log_in():
    """A preview role has no ecr:GetAuthorizationToken (17.3): only the push step of `up` logs in."""
    for found in steps_of(PULUMI):
        text = found.get("run", "")
        assert "docker build" not in text
        if "get-login-password" in text or "skopeo copy" in text:
            assert found["if"] == "inputs.operation == 'up' && inputs.push"
    pin = step(PULUMI, "Pin the image by digest (no build, no ECR login)")["run"]
    assert 'pulumi config set --path image.uri "${uri}" --stack "${STACK}"' in pin
    assert "pulumi config rm --path image.build" in pin
    push = step(PULUMI, "Push the image (tag release-<commit>-<run>-<attempt>), keeping its digest")
    # The prefix ECR's lifecycle never expires; unique per attempt, since tags are immutable.
    assert push["env"]["TAG"] == "release-${{ github.sha }}-${{ github.run_id }}-${{ github.run_attempt }}"
    assert 'skopeo copy --preserve-digests "dir:model-image" "docker://${repository}:${TAG}"' in push["run"]
    assert "describe-image-replication-status" in push["run"]


def test_the_report_reaches_the_summary_and_the_comment_even_on_failure():
    summary = step(PULUMI, "Report to the job summary")
    kept = step(PULUMI, "Keep the report (the pull request comment reads it)")
    assert summary["if"] == kept["if"] == "always()"
    assert kept["with"]["name"] == "report-${{ inputs.operation }}-${{ inputs.stack }}"


def test_kubeconfig_comes_from_the_roles_eks_access_entry():
    cluster = step(PULUMI, "Cluster access (EKS access entry of the environment's role)")
    assert cluster["if"] == "vars.EKS_CLUSTER_NAME != ''"
    assert cluster["run"] == 'aws eks update-kubeconfig --name "${CLUSTER}" --region "${AWS_REGION}"'


# ---------------------------------------------------------------------------------------------
# preview.yml


def test_preview_per_pull_request_and_stack_commented_pass_or_fail_skipping_forks():
    preview = load("preview.yml")
    assert preview["on"] == {"pull_request": None}
    assert preview["permissions"] == {}
    job = preview["jobs"]["preview"]
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert job["strategy"]["matrix"]["stack"] == ["dev", "prod", "k8s"]
    assert job["uses"] == "./.github/workflows/pulumi.yml"
    assert job["with"] == {
        "stack": "${{ matrix.stack }}",
        "operation": "preview",
        "timeout-minutes": 30,
        "session-seconds": PREVIEW_ROLE_MAX_SECONDS,
    }
    comment = preview["jobs"]["comment"]
    assert comment["if"] == "always() && github.event.pull_request.head.repo.full_name == github.repository"
    assert comment["needs"] == "preview"
    assert comment["permissions"] == {"pull-requests": "write"}
    assert 'gh pr comment "${PR}" --body-file comment.md' in step(comment, "Comment")["run"]
    assert step(comment, "actions/download-artifact@")["with"]["pattern"] == "report-preview-*"
    note = preview["jobs"]["fork-note"]
    assert note["if"] == "github.event.pull_request.head.repo.full_name != github.repository"
    assert "GITHUB_STEP_SUMMARY" in note["steps"][0]["run"]
    assert "permissions" not in note  # inherits `{}`


# ---------------------------------------------------------------------------------------------
# deploy.yml


DEPLOY = load("deploy.yml")


def test_deploy_triggers_push_and_the_model_approved_dispatch():
    assert DEPLOY["on"] == {"push": {"branches": ["main"]}, "repository_dispatch": {"types": ["model-approved"]}}
    assert "concurrency" not in DEPLOY  # per environment, on the jobs


def test_chain_test_image_plan_up_per_environment():
    jobs = DEPLOY["jobs"]
    needs = {name: job.get("needs") for name, job in jobs.items()}
    assert needs == {
        "target": None,
        "test": None,
        "image": ["target", "test"],
        "plan-dev": ["target", "test", "image"],
        "up-dev": ["target", "image", "plan-dev"],
        "plan-prod": ["target", "test", "image", "up-dev"],
        "up-prod": ["target", "image", "plan-prod"],
    }
    assert jobs["test"]["steps"][-1]["run"] == "make test"
    # Red tests never deploy, and prod waits for dev when both deploy.
    assert "needs.test.result == 'success'" in jobs["plan-dev"]["if"]
    assert "(needs.target.outputs.dev != 'true' || needs.up-dev.result == 'success')" in jobs["plan-prod"]["if"]
    for stack in ("dev", "prod"):
        plan, up = jobs[f"plan-{stack}"], jobs[f"up-{stack}"]
        assert plan["with"]["operation"] == "plan" and up["with"]["operation"] == "up"
        assert plan["with"]["image-digest"] == "${{ needs.image.outputs.digest }}"
        assert up["with"]["image-uri"] == f"${{{{ needs.plan-{stack}.outputs.image-uri }}}}"
        assert up["if"] == f"${{{{ !cancelled() && needs.plan-{stack}.result == 'success' }}}}"
        # One group per environment: a prod approval waiting does not hold back dev.
        assert plan["concurrency"] == up["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}


@pytest.mark.parametrize("job", ["plan-dev", "up-dev", "plan-prod", "up-prod"])
def test_sessions_cover_the_job_and_fit_the_role(job):
    found = DEPLOY["jobs"][job]["with"]
    limit = DEPLOY_ROLE_MAX_SECONDS if found["operation"] == "up" else PREVIEW_ROLE_MAX_SECONDS
    assert found["timeout-minutes"] * 60 <= found["session-seconds"] <= limit
    if job == "up-prod":
        assert (found["timeout-minutes"], found["session-seconds"]) == (240, 14400)


def test_image_is_built_once_as_one_manifest_with_a_known_digest():
    build = step(DEPLOY["jobs"]["image"], "docker build model_code/, saved with its registry digest")["run"]
    assert "docker build --platform linux/amd64 --provenance=false --sbom=false" in build
    assert "skopeo copy --format v2s2 --dest-compress docker-daemon:ml-platform-model:build dir:model-image" in build
    assert 'echo "digest=$(skopeo manifest-digest model-image/manifest.json)" >> "${GITHUB_OUTPUT}"' in build


def target_script() -> str:
    return step(DEPLOY["jobs"]["target"], "Validate the event")["run"]


def run_target(tmp_path, **env) -> tuple[int, str, str]:
    output = tmp_path / "output"
    output.write_text("")
    summary = tmp_path / "summary"
    result = subprocess.run(
        ["bash", "-e", "-c", target_script()],
        env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode, output.read_text(), result.stdout + result.stderr


PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/ml-platform-prod/7"


def test_dispatch_payload_is_validated_and_read_only_through_the_environment(tmp_path):
    target = DEPLOY["jobs"]["target"]
    assert "${{" not in target_script()
    assert step(target, "Validate the event")["env"]["STACK"] == "${{ github.event.client_payload.stack }}"
    assert run_target(tmp_path, EVENT="push")[:2] == (0, "dev=true\nprod=true\nbuild=true\n")
    ok = run_target(tmp_path, EVENT="repository_dispatch", STACK="prod", VERSION="7", PACKAGE=PACKAGE)
    assert ok[:2] == (0, "dev=false\nprod=true\nbuild=false\n")
    code, _, text = run_target(
        tmp_path, EVENT="repository_dispatch", STACK="prod; rm -rf /", VERSION="7", PACKAGE=PACKAGE
    )
    assert code == 1 and "client_payload.stack must be dev or prod (got a value of 14 characters)" in text
    code, _, text = run_target(tmp_path, EVENT="repository_dispatch", STACK="dev", VERSION="7a", PACKAGE=PACKAGE)
    assert code == 1 and "client_payload.version must be a positive integer" in text
    code, _, text = run_target(tmp_path, EVENT="repository_dispatch", STACK="dev", VERSION="8", PACKAGE=PACKAGE)
    assert code == 1 and "client_payload.version does not match the model package ARN" in text
    code, _, text = run_target(tmp_path, EVENT="repository_dispatch", STACK="dev", VERSION="7", PACKAGE="arn:x")
    assert code == 1 and "client_payload.model_package_arn is not a SageMaker model package ARN" in text


def test_prod_up_runs_in_the_reviewed_environment_after_its_plan():
    """`up` of prod runs in environment `prod` (required reviewers) and applies the artifact
    `plan-prod` the `plan (prod)` job saved in environment `prod-plan`."""
    up = DEPLOY["jobs"]["up-prod"]
    assert (up["with"]["stack"], up["with"]["operation"]) == ("prod", "up")
    assert up["with"]["push"] == "${{ needs.target.outputs.build == 'true' }}"
