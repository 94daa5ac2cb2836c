"""What the bootstrap tests share: the bootstrap program run under the mock engine with its
modules importable (`access`, `grants`, as the bootstrap's own directory imports them), the
stacks it is configured for, and readers of the roles' policies."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

from offline.engine import run_under_mocks
from tests.harness import decoded

BOOTSTRAP = Path(__file__).resolve().parent.parent / "bootstrap"
sys.path.insert(0, str(BOOTSTRAP))
import access  # noqa: E402, F401 (re-exported for the tests)
import grants  # noqa: E402, F401

STACKS = {
    "dev": {"regions": ["us-east-1"]},
    "prod": {"regions": ["us-east-1", "us-west-2"]},
    "k8s": {"regions": ["us-east-1"], "eks_cluster": "ml"},
}
CONFIG = {
    "ml-platform-bootstrap:github_owner": "acme",
    "ml-platform-bootstrap:github_repo": "ml-platform",
    "ml-platform-bootstrap:region": "us-east-1",
    "ml-platform-bootstrap:stacks": json.dumps(STACKS),
    "ml-platform-bootstrap:owner": "ml-platform-team",
    "ml-platform-bootstrap:cost_center": "ml-1001",
}
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
OIDC = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
KEY = "aws:kms/key:Key"
BUCKET = "arn:aws:s3:::state-mock"


def run_bootstrap(config=CONFIG):
    def program():
        sys.path.insert(0, str(BOOTSTRAP))
        try:
            runpy.run_path(str(BOOTSTRAP / "__main__.py"), run_name="__main__")
        finally:
            sys.path.remove(str(BOOTSTRAP))

    return run_under_mocks(program, stack="ci", config=config)


def role_policies(bootstrap, kind, stack) -> dict[str, dict]:
    """Managed policies attached to a role, by suffix."""
    found = {}
    for attachment in bootstrap.of_type(ATTACHMENT):
        if attachment.inputs["role"] != f"ml-platform-ci-{kind}-{stack}":
            continue
        (policy,) = [p for p in bootstrap.of_type(POLICY) if p.outputs["arn"] == attachment.inputs["policyArn"]]
        found[policy.inputs["name"].removeprefix(f"ml-platform-ci-{kind}-{stack}-")] = decoded(policy.inputs["policy"])
    return found


def statements(bootstrap, kind, stack) -> dict[str, dict]:
    return {s["Sid"]: s for p in role_policies(bootstrap, kind, stack).values() for s in p["Statement"]}


def key_arn(bootstrap, name):
    return bootstrap.one(KEY, name).outputs["arn"]
