"""`python -m offline.plan` as a real subprocess: what operators and CI run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_config import TOP_KEYS

ROOT = Path(__file__).resolve().parent.parent


def plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "offline.plan", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def prod_text() -> str:
    result = plan("--stack", "prod")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def prod_json() -> dict:
    result = plan("--stack", "prod", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_prod_plan_shows_both_regions_with_their_keys(prod_text, prod_json):
    lines = prod_text.splitlines()
    per_region = {
        region: sum(r["region"] == region for r in prod_json["resources"]) for region in ("us-east-1", "us-west-2")
    }
    assert lines[0] == "ml-platform · stack prod · offline plan (mock engine; nothing was deployed)"
    assert ["regions.secondary", "us-west-2"] in [line.split() for line in lines]
    primary = lines.index(f"region us-east-1 (primary): {per_region['us-east-1']} resources")
    secondary = lines.index(f"region us-west-2 (secondary): {per_region['us-west-2']} resources")
    assert primary < secondary
    block = lines[primary:secondary]
    assert "  ml-platform:keys:RegionKey  key-primary" in block
    key_line = next(line for line in block if line.strip().startswith("aws:kms/key:Key  key-primary"))
    assert key_line.split()[2:] == [
        "rotation=every",
        "365",
        "d",
        "deletion_window=30",
        "d",
        "protect=yes",
        "retain_on_delete=yes",
    ]
    assert ["aws:kms/key:Key", "2"] in [line.split() for line in lines]
    assert lines[-1].startswith(f"{prod_json['resource_count']} resources in 2 region(s), planned in ")


def test_json_plan_matches_the_text_plan(prod_json):
    doc = prod_json
    assert doc["regions"] == {"primary": "us-east-1", "secondary": "us-west-2"}
    counts = doc["counts"]
    assert {
        t: counts[t] for t in counts if t.startswith(("aws:kms", "aws:s3/bucket:", "aws:sagemaker", "pulumi:"))
    } == {
        "aws:kms/alias:Alias": 2,
        "aws:kms/key:Key": 2,
        "aws:s3/bucket:Bucket": 8,  # three data buckets and an access log bucket per region
        "aws:sagemaker/endpoint:Endpoint": 2,
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration": 2,
        "aws:sagemaker/model:Model": 2,
        "aws:sagemaker/modelPackageGroup:ModelPackageGroup": 1,
        "aws:sagemaker/pipeline:Pipeline": 2,
        "pulumi:providers:aws": 2,
    }
    assert sum(counts.values()) == doc["resource_count"] == len(doc["resources"])
    key = next(r for r in doc["resources"] if r["name"] == "key-secondary" and r["type"] == "aws:kms/key:Key")
    assert key == {
        "type": "aws:kms/key:Key",
        "name": "key-secondary",
        "region": "us-west-2",
        "role": "secondary",
        "component": "ml-platform:keys:RegionKey::key-secondary",
        "custom": True,
        "settings": {
            "rotation": "every 365 d",
            "deletion_window": "30 d",
            "protect": True,
            "retain_on_delete": True,
        },
    }
    assert doc["seconds"] > 0


def test_dev_is_the_default_stack():
    result = plan()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("ml-platform · stack dev ·")
    assert "region us-west-2" not in result.stdout


BROKEN = """\
config:
  ml-platform:environment: prod
  ml-platform:owner: team
  ml-platform:cost_center: ml-1001
  ml-platform:protect_stateful: false
  ml-platform:regoins:
    primary: us-east-1
  ml-platform:image:
    build: true
  ml-platform:training:
    dataset: {prefix: demo, version: v1}
  ml-platform:serving:
    instance: {instance_type: ml.m5.large, initial_instance_count: 1}
  ml-platform:backup:
    vault_lock: {mode: compliance, changeable_for_days: 3}
"""


def test_broken_stack_file_exits_2_naming_every_key_without_a_traceback(tmp_path):
    (tmp_path / "Pulumi.broken.yaml").write_text(BROKEN)
    result = plan("--root", str(tmp_path), "--stack", "broken")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: Pulumi.broken.yaml has 3 config problem(s):",
        "  - regions: required key is missing (got nothing; expected a mapping with keys: primary, secondary)",
        "  - protect_stateful: must be on in prod (got false; expected true)",
        '  - regoins: unknown key; did you mean \'regions\'? (got {"primary": "us-east-1"}; expected one of: '
        f"{TOP_KEYS})",
    ]
    assert "Traceback" not in result.stderr


def test_unparseable_stack_file_and_unknown_stack_exit_2(tmp_path):
    (tmp_path / "Pulumi.bad.yaml").write_text("config: [unclosed\n")
    result = plan("--root", str(tmp_path), "--stack", "bad")
    assert result.returncode == 2
    assert result.stderr.startswith("error: Pulumi.bad.yaml: not valid YAML: ")
    assert "Traceback" not in result.stderr

    result = plan("--root", str(tmp_path), "--stack", "qa")
    assert (result.returncode, result.stderr) == (
        2,
        "error: no stack file Pulumi.qa.yaml (stacks here: bad)\n",
    )


def test_plan_shows_the_settings_that_matter_for_serving_and_resilience(prod_json):
    settings = {(r["type"], r["name"]): r["settings"] for r in prod_json["resources"]}
    assert settings[("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "endpoint-primary-v2")] == {
        "variant": "primary",
        "capacity": "2xml.c5.xlarge",
        "capture": "20%",
        "kms": "yes",
        # Kept in AWS when replaced: a rolled-back endpoint runs on it again (RUNBOOK.md).
        "retain_on_delete": True,
    }
    # The one-instance standby cannot split its fleet for a canary (ml_platform/config/).
    assert settings[("aws:sagemaker/endpoint:Endpoint", "endpoint-secondary")] == {
        "name": "ml-platform-prod",
        "rollout": "blue/green ALL_AT_ONCE",
        "rollback_alarms": 2,
    }
    assert settings[("aws:backup/vaultLockConfiguration:VaultLockConfiguration", "vault-primary")] == {
        "mode": "COMPLIANCE",
        "retention": "7..400 d",
        "protect": True,
        "retain_on_delete": True,
    }
    assert settings[("aws:sagemaker/pipeline:Pipeline", "retraining-monitoring")] == {
        "pipeline": "ml-platform-prod-monitoring",
        "steps": "Drift,Quality",
    }
    assert settings[("aws:route53/record:Record", "failover-secondary")] == {
        "name": "api.ml.example.com",
        "failover": "SECONDARY",
    }


def test_prod_plan_prints_rto_and_rpo(prod_text):
    lines = prod_text.splitlines()
    start = lines.index("recovery objectives (region failover)")
    assert lines[start + 1 : start + 4] == [
        "  detection  180 s (slower of alarm and /ping health check)",
        "  RTO        240 s (detection + DNS TTL)",
        "  RPO        900 s for models and datasets (guaranteed by S3 Replication Time Control)",
    ]


def test_k8s_plan_groups_the_cluster_objects_and_shows_their_hardening():
    result = plan("--stack", "k8s", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    settings = {(r["type"], r["name"]): r["settings"] for r in doc["resources"]}
    deployment = settings[("kubernetes:apps/v1:Deployment", "model-server-deployment")]
    # The served model version's image, by digest.
    assert deployment["image"].endswith(doc["outputs"]["model_version"]["image_uri"].rpartition("@")[2])
    assert (deployment["read_only_root"], deployment["non_root"]) == (True, True)
    text = plan("--stack", "k8s").stdout.splitlines()
    assert "cluster (Kubernetes provider): 11 resources" in text  # + the Certificate and the PodMonitor


def test_prod_plan_names_the_served_model_version_its_metrics_and_dataset(prod_text, prod_json):
    lines = prod_text.splitlines()
    start = lines.index("model version (serving.model)")
    assert lines[start + 1 : start + 7] == [
        "  latest-approved: version 2 of ml-platform-prod",
        "  metrics    accuracy=0.9649",
        "  dataset    v2 (s3://primary-datasets-mock/tabular/breast-cancer/v2/)",
        "  artifact   s3://primary-artifacts-mock/models/example-execution-2/pipelines-example2-Train/output/model.tar.gz",
        "  image      123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-platform/prod/model@sha256:" + "5e" * 32,
        "  rollback   version 1",
    ]
    settings = {(r["type"], r["name"]): r["settings"] for r in prod_json["resources"]}
    assert settings[("aws:s3/objectCopy:ObjectCopy", "model-secondary-v2")] == {
        "copy": "primary-artifacts-mock/models/example-execution-2/pipelines-example2-Train/output/model.tar.gz "
        "-> secondary-artifacts-mock",
        "retain_on_delete": True,
    }
    assert settings[("aws:sagemaker/model:Model", "endpoint-secondary-v2")]["version"] == "2"


def test_a_first_deploy_plan_says_there_is_no_version_and_declares_no_endpoint():
    result = plan("--stack", "prod", "--registry", "empty", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["outputs"]["model_version"] == {
        "selector": "latest-approved",
        "group": "ml-platform-prod",
        "metrics": {},
    }
    assert not [r for r in doc["resources"] if r["type"].startswith("aws:sagemaker/endpoint")]
    assert doc["counts"]["aws:sagemaker/pipeline:Pipeline"] == 1
    text = plan("--stack", "prod", "--registry", "empty").stdout.splitlines()
    start = text.index("model version (serving.model)")
    assert text[start + 1 : start + 3] == [
        "  latest-approved: NO APPROVED VERSION in ml-platform-prod yet: no endpoint is declared",
        "  first deploy: train (python -m ops.models train), approve, then deploy again",
    ]


def test_two_prod_plans_print_the_same_text_apart_from_the_timing_line(prod_text):
    again = plan("--stack", "prod")
    assert again.returncode == 0, again.stderr
    first, second = prod_text.splitlines(), again.stdout.splitlines()
    assert first[:-1] == second[:-1]
    assert first[-1].rsplit(" in ", 1)[0] == second[-1].rsplit(" in ", 1)[0]


def test_the_tree_lists_siblings_by_type_and_name_whatever_the_registration_order(stack):
    # The engine records resources as their registrations complete, which asyncio scheduling
    # varies from run to run; the plan must print the same text for any such order.
    from offline.engine import Synthesis
    from offline.plan import load_config, plan_document, render_text

    synthesis = stack("prod")
    config = load_config("prod")
    reordered = Synthesis(stack="prod", resources=list(reversed(synthesis.resources)), outputs=synthesis.outputs)
    text, text_reordered = (render_text(plan_document(config, s)).splitlines()[:-1] for s in (synthesis, reordered))
    assert text == text_reordered
    start = text.index("    ml-platform:storage:DataBucket  primary-datasets")
    assert [line.split()[0] for line in text[start + 1 : start + 8]] == [
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
    ]
    assert not text[start + 8].startswith("      ")
