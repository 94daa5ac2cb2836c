"""`python -m offline.plan` (what `make plan` runs) enforces the policy rules: a deliberately
non-compliant program exits 1 and lists its violations; the committed stacks pass.

The non-compliant program is test-only: the committed stack config cannot produce a
violation (config validation refuses, e.g., unprotected prod stacks first), so a tmp project
holds a copy of the dev stack file and a `__main__.py` that declares one bare bucket.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "aws:s3/bucket:Bucket unencrypted"

NON_COMPLIANT_PROGRAM = """\
import pulumi
import pulumi_aws as aws

from ml_platform.config import load_stack_config

config = load_stack_config()
provider = aws.Provider(
    "aws-primary",
    region=config.regions.primary,
    default_tags=aws.ProviderDefaultTagsArgs(tags=config.default_tags()),
)
# No encryption, versioning, public-access block or lifecycle rules.
aws.s3.Bucket("unencrypted", opts=pulumi.ResourceOptions(provider=provider))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("non-compliant")
    shutil.copy(ROOT / "Pulumi.dev.yaml", root / "Pulumi.bare.yaml")
    (root / "__main__.py").write_text(NON_COMPLIANT_PROGRAM)
    return root


def plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "offline.plan", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_non_compliant_stack_exits_1_listing_each_violation(project):
    result = plan("--root", str(project), "--stack", "bare")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("policy (17 rules, environment dev): 5 mandatory, 0 advisory violation(s)")
    rule = "  mandatory  s3-buckets-hardened"
    assert lines[start + 1 : start + 5] == [
        f"{rule}: {BUCKET}: no lifecycle rules (no aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration)",
        f"{rule}: {BUCKET}: no public-access block (no aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock)",
        f"{rule}: {BUCKET}: no server-side encryption configuration with aws:kms",
        f"{rule}: {BUCKET}: versioning is not enabled (no aws:s3/bucketVersioning:BucketVersioning)",
    ]
    assert lines[start + 5] == (
        f"  mandatory  s3-access-records: {BUCKET}: no access record of who read or changed it "
        "(no aws:s3/bucketLogging:BucketLogging names it)"
    )
    assert lines[-1].startswith("2 resources in 1 region(s), planned in ")


def test_json_plan_carries_the_violations_and_exits_1(project):
    result = plan("--root", str(project), "--stack", "bare", "--json")
    assert result.returncode == 1, result.stderr
    policy = json.loads(result.stdout)["policy"]
    assert policy["environment"] == "dev"
    assert policy["advisory"] == []
    assert policy["mandatory"][2] == {
        "rule": "s3-buckets-hardened",
        "level": "mandatory",
        "resource": BUCKET,
        "message": f"{BUCKET}: no server-side encryption configuration with aws:kms",
    }
    assert [v["message"].removeprefix(f"{BUCKET}: ") for v in policy["mandatory"]] == [
        "no lifecycle rules (no aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration)",
        "no public-access block (no aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock)",
        "no server-side encryption configuration with aws:kms",
        "versioning is not enabled (no aws:s3/bucketVersioning:BucketVersioning)",
        "no access record of who read or changed it (no aws:s3/bucketLogging:BucketLogging names it)",
    ]
