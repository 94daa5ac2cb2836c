"""`ops.restore_drill`: S3 on moto, AWS Backup through botocore's Stubber.

moto's AWS Backup has vaults and plans but no recovery points or restore jobs, so the backup
client is stubbed: every call is scripted in order with its exact parameters, the client still
validates each request against the service model, and `assert_no_pending_responses` proves the
drill made exactly the scripted calls. AWS Backup's side effect, objects appearing in the
scratch bucket, is played by the injected `sleep` (the drill sleeps while the job runs): it
copies the source's objects as of the recovery point, optionally corrupting or dropping one.

What this cannot prove: that AWS Backup accepts the restore metadata and the role, and how
long a real restore takes. Those are what running the drill against AWS is for.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from ops.restore_drill import drill_target, main, scratch_bucket_name

REGION = "us-east-1"
SOURCE = "primary-artifacts-mock"
VAULT = "vault-primary-mock"
ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/backup-primary-role"
SCRATCH = "ml-platform-drill-prod-20261128-150000-a1b2c3"
POINT = f"arn:aws:backup:{REGION}:{DEFAULT_ACCOUNT_ID}:recovery-point:6c3b6f3e-1d5e-4f7a-9f4e-2b1c0d9e8f7a"
JOB = "A1B2C3D4-5E6F-7A8B-9C0D-E1F2A3B4C5D6"
# The recovery point's moment; the source's versions are stamped around it.
T = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
CURRENT_MODEL = "models/ml-platform-prod-aaa/output/model.tar.gz"
OLD_MODEL = "models/ml-platform-prod-000/output/model.tar.gz"
NEWER_MODEL = "models/ml-platform-prod-bbb/output/model.tar.gz"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


class World:
    """The source bucket on moto, the stubbed backup client, a clock, and AWS Backup's restore."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.key_arn = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
        self.backup = boto3.client("backup", region_name=REGION)
        self.stub = Stubber(self.backup)
        self.now = 0.0
        self.corrupt: str | None = None
        self.drop: str | None = None
        self.restored = False
        self.s3.create_bucket(Bucket=SOURCE)
        self.s3.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
        # At T: two models and a checkpoint (outside the verified prefix).
        self.put(OLD_MODEL, b"old model" * 100, T - timedelta(days=9))
        self.put(CURRENT_MODEL, b"current model" * 100, T - timedelta(hours=5))
        self.put("checkpoints/ml-platform-prod-aaa/step-100.ckpt", b"checkpoint", T - timedelta(hours=6))
        # After T: a new model, and CURRENT_MODEL overwritten; neither belongs in the recovery point.
        self.put(NEWER_MODEL, b"newer model", T + timedelta(hours=2))
        self.put(CURRENT_MODEL, b"overwritten after the backup", T + timedelta(hours=3))

    def put(self, key: str, body: bytes, when: datetime) -> None:
        """Write a version, then stamp it with `when`: moto stamps versions with the wall clock."""
        version = self.s3.put_object(Bucket=SOURCE, Key=key, Body=body)["VersionId"]
        bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[SOURCE]
        stored = next(v for v in bucket.keys.getlist(key) if v.version_id == version)
        stored.last_modified = when.astimezone(UTC).replace(tzinfo=None)

    def clients(self, service: str, region: str):
        assert region == REGION
        return {"s3": self.s3, "backup": self.backup}[service]

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Time passes while AWS Backup restores: the first wait is when the objects arrive."""
        self.now += seconds
        if not self.restored:
            self.restored = True
            self.restore_into(SCRATCH)

    def restore_into(self, scratch: str) -> None:
        versions = self.s3.list_object_versions(Bucket=SOURCE)["Versions"]
        at_t = {}
        for version in sorted(versions, key=lambda v: v["LastModified"]):
            if version["LastModified"] <= T:
                at_t[version["Key"]] = version["VersionId"]
        for key, version_id in at_t.items():
            if key == self.drop:
                continue
            body = self.s3.get_object(Bucket=SOURCE, Key=key, VersionId=version_id)["Body"].read()
            if key == self.corrupt:
                body = body[:-1] + b"X"
            self.s3.put_object(Bucket=scratch, Key=key, Body=body)

    def outputs(self, **changes) -> dict:
        outputs = {
            "regions": {"primary": REGION, "secondary": "us-west-2"},
            "buckets": {"primary": {"datasets": "primary-datasets-mock", "artifacts": SOURCE, "capture": "c"}},
            "backup_vaults": {"primary": VAULT, "secondary": "vault-secondary-mock"},
            "kms_key_arns": {"primary": self.key_arn},
            "model_data_url": f"s3://{SOURCE}/{CURRENT_MODEL}",
            "backup_role_arns": {"primary": ROLE},
        }
        outputs.update(changes)
        return outputs

    # The scripted AWS Backup calls ---------------------------------------------------------

    def recovery_points(self, points: list[dict] | None = None) -> None:
        if points is None:
            points = [
                point(POINT, T),
                point(POINT.replace("6c3b", "0000"), T - timedelta(days=1)),
                # Newer, but not usable by the drill: continuous, another vault, partial.
                point(
                    f"arn:aws:backup:{REGION}:{DEFAULT_ACCOUNT_ID}:recovery-point:continuous:s3-artifacts-1a2b",
                    T + timedelta(hours=1),
                ),
                point(POINT.replace("6c3b", "1111"), T + timedelta(hours=2), vault="vault-secondary-mock"),
                point(POINT.replace("6c3b", "2222"), T + timedelta(hours=3), status="PARTIAL"),
            ]
        self.stub.add_response(
            "list_recovery_points_by_resource",
            {"RecoveryPoints": points},
            {"ResourceArn": f"arn:aws:s3:::{SOURCE}"},
        )

    def start_job(self) -> None:
        self.stub.add_response(
            "start_restore_job",
            {"RestoreJobId": JOB},
            {
                "RecoveryPointArn": POINT,
                "Metadata": {
                    "DestinationBucketName": SCRATCH,
                    "NewBucket": "false",
                    "Encrypted": "true",
                    "EncryptionType": "SSE-KMS",
                    "KMSKey": self.key_arn,
                },
                "IamRoleArn": ROLE,
                "IdempotencyToken": SCRATCH,
                "ResourceType": "S3",
            },
        )

    def job_status(self, status: str, percent: str | None = None, **fields) -> None:
        response = {"RestoreJobId": JOB, "Status": status, **fields}
        if percent:
            response["PercentDone"] = percent
        self.stub.add_response("describe_restore_job", response, {"RestoreJobId": JOB})

    def completed(self) -> None:
        self.job_status("RUNNING", "40.0%")
        self.job_status(
            "COMPLETED",
            "100.0%",
            CreationDate=datetime(2026, 11, 28, 15, 0, 1, tzinfo=UTC),
            CompletionDate=datetime(2026, 11, 28, 15, 0, 29, tzinfo=UTC),
        )

    def drill(self, tmp_path, *args: str, outputs: dict | None = None) -> tuple[int, list[str], str]:
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps(outputs or self.outputs()))
        out, err = io.StringIO(), io.StringIO()
        with self.stub:
            code = main(
                ["--stack", "prod", "--outputs", str(path), *args],
                clients=self.clients,
                out=out,
                err=err,
                clock=self.clock,
                sleep=self.sleep,
                now=lambda: datetime(2026, 11, 28, 15, 0, 0, tzinfo=UTC),
                token=lambda: "a1b2c3",
            )
            self.stub.assert_no_pending_responses()
        return code, out.getvalue().splitlines(), err.getvalue()

    def buckets(self) -> list[str]:
        return sorted(b["Name"] for b in self.s3.list_buckets()["Buckets"])


def point(arn: str, created: datetime, vault: str = VAULT, status: str = "COMPLETED") -> dict:
    return {"RecoveryPointArn": arn, "CreationDate": created, "Status": status, "BackupVaultName": vault}


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


HEADER = [
    f"restore drill · stack prod · s3://{SOURCE} ({REGION}), vault {VAULT}",
    f"recovery point {POINT} (created 2026-11-28T03:00:00Z)",
]


def scratch_line(world: World) -> str:
    return f"scratch bucket s3://{SCRATCH} (SSE-KMS with {world.key_arn}, public access blocked)"


def test_a_good_restore_passes_and_leaves_nothing_behind(aws, tmp_path):
    world = World()
    world.recovery_points()
    world.start_job()
    world.completed()

    code, lines, err = world.drill(tmp_path)

    assert (code, err) == (0, "")
    assert lines == [
        *HEADER,
        scratch_line(world),
        f"restore job {JOB} started",
        "  [      0s] RUNNING 40.0%",
        "  [     30s] COMPLETED 100.0%",
        "restore duration: 30s measured (to within one 30 s poll); AWS Backup: 28s",
        f"verify s3://{SOURCE}/models/ as of 2026-11-28T03:00:00Z: 2 objects expected, 2 restored",
        f"  OK  {OLD_MODEL}  900 bytes, sha256 {sha(b'old model' * 100)}",
        f"  OK  {CURRENT_MODEL}  1300 bytes, sha256 {sha(b'current model' * 100)}",
        f"deployed model {CURRENT_MODEL}: OK",
        "cleanup: deleted s3://ml-platform-drill-prod-20261128-150000-a1b2c3 (3 object versions)",
        "drill: PASSED",
    ]
    assert world.buckets() == [SOURCE]


def test_the_scratch_bucket_is_encrypted_private_and_tagged(aws, tmp_path):
    world = World()
    seen = {}

    def inspect(seconds: float) -> None:
        s3 = world.s3
        seen["encryption"] = s3.get_bucket_encryption(Bucket=SCRATCH)["ServerSideEncryptionConfiguration"]["Rules"]
        seen["block"] = s3.get_public_access_block(Bucket=SCRATCH)["PublicAccessBlockConfiguration"]
        seen["ownership"] = s3.get_bucket_ownership_controls(Bucket=SCRATCH)["OwnershipControls"]["Rules"]
        seen["versioning"] = s3.get_bucket_versioning(Bucket=SCRATCH)["Status"]
        seen["tags"] = s3.get_bucket_tagging(Bucket=SCRATCH)["TagSet"]
        World.sleep(world, seconds)

    world.sleep = inspect
    world.recovery_points()
    world.start_job()
    world.completed()

    assert world.drill(tmp_path)[0] == 0
    assert seen == {
        "encryption": [
            {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": world.key_arn},
                "BucketKeyEnabled": True,
            }
        ],
        "block": {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
        "ownership": [{"ObjectOwnership": "BucketOwnerEnforced"}],
        "versioning": "Enabled",
        "tags": [
            {"Key": "purpose", "Value": "restore-drill"},
            {"Key": "project", "Value": "ml-platform"},
            {"Key": "stack", "Value": "prod"},
            {"Key": "managed-by", "Value": "ops.restore_drill"},
        ],
    }


def test_a_failed_restore_job_fails_the_drill_and_still_cleans_up(aws, tmp_path):
    world = World()
    world.recovery_points()
    world.start_job()
    world.job_status("RUNNING", "10.0%")
    world.job_status("FAILED", StatusMessage="Access denied to KMS key used to encrypt the restored objects")

    code, lines, _ = world.drill(tmp_path)

    assert code == 1
    assert lines[3:] == [
        f"restore job {JOB} started",
        "  [      0s] RUNNING 10.0%",
        "  [     30s] FAILED",
        f"FAILED: restore job {JOB} FAILED: Access denied to KMS key used to encrypt the restored objects",
        f"cleanup: deleted s3://{SCRATCH} (3 object versions)",
        "drill: FAILED",
    ]
    assert world.buckets() == [SOURCE]


def test_a_checksum_mismatch_fails_the_drill(aws, tmp_path):
    world = World()
    world.corrupt = CURRENT_MODEL
    world.recovery_points()
    world.start_job()
    world.completed()

    code, lines, _ = world.drill(tmp_path)

    corrupted = (b"current model" * 100)[:-1] + b"X"
    assert code == 1
    assert lines[7:] == [
        f"verify s3://{SOURCE}/models/ as of 2026-11-28T03:00:00Z: 2 objects expected, 2 restored",
        f"  OK        {OLD_MODEL}  900 bytes, sha256 {sha(b'old model' * 100)}",
        f"  MISMATCH  {CURRENT_MODEL}  sha256 {sha(corrupted)} restored, {sha(b'current model' * 100)} in the source",
        f"deployed model {CURRENT_MODEL}: MISMATCH",
        "FAILED: 1 of 2 objects missing, extra or different",
        f"cleanup: deleted s3://{SCRATCH} (3 object versions)",
        "drill: FAILED",
    ]
    assert world.buckets() == [SOURCE]


def test_a_missing_object_fails_the_drill(aws, tmp_path):
    world = World()
    world.drop = OLD_MODEL
    world.recovery_points()
    world.start_job()
    world.completed()

    code, lines, _ = world.drill(tmp_path)

    assert code == 1
    assert lines[7:11] == [
        f"verify s3://{SOURCE}/models/ as of 2026-11-28T03:00:00Z: 2 objects expected, 1 restored",
        f"  MISSING  {OLD_MODEL}  900 bytes in the source, not restored",
        f"  OK       {CURRENT_MODEL}  1300 bytes, sha256 {sha(b'current model' * 100)}",
        f"deployed model {CURRENT_MODEL}: OK",
    ]


def test_a_restore_that_outlasts_the_timeout_fails_and_cleans_up(aws, tmp_path):
    world = World()
    world.recovery_points()
    world.start_job()
    for percent in ("5.0%", "20.0%", "35.0%"):
        world.job_status("RUNNING", percent)

    code, lines, _ = world.drill(tmp_path, "--timeout-seconds", "60")

    assert code == 1
    assert lines[4:] == [
        "  [      0s] RUNNING 5.0%",
        "  [     30s] RUNNING 20.0%",
        "  [   1m00s] RUNNING 35.0%",
        f"FAILED: restore job {JOB} still RUNNING after 1m00s; gave up at --timeout-seconds 60 (the job keeps"
        " running in AWS Backup)",
        f"cleanup: deleted s3://{SCRATCH} (3 object versions)",
        "drill: FAILED",
    ]


def test_a_failed_cleanup_is_reported_and_fails_the_drill(aws, tmp_path):
    world = World()

    def refuse(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "DeleteBucket")

    world.s3.meta.events.register("before-call.s3.DeleteBucket", refuse)
    world.recovery_points()
    world.start_job()
    world.completed()

    code, lines, _ = world.drill(tmp_path)

    assert code == 1
    assert lines[-2:] == [
        f"cleanup FAILED: s3://{SCRATCH} is left behind: DeleteBucket: AccessDenied: Access Denied; empty it (every"
        " version) and delete it by hand, e.g. S3 console > Empty, then Delete",
        "drill: FAILED",
    ]
    assert world.buckets() == [SCRATCH, SOURCE]  # sorted by name


def test_no_usable_recovery_point_fails_before_creating_anything(aws, tmp_path):
    world = World()
    continuous = f"arn:aws:backup:{REGION}:{DEFAULT_ACCOUNT_ID}:recovery-point:continuous:s3-artifacts-1a2b"
    world.recovery_points([point(continuous, T), point(POINT, T, status="PARTIAL")])

    code, lines, _ = world.drill(tmp_path)

    assert code == 1
    assert lines == [
        HEADER[0],
        f"FAILED: no completed snapshot recovery point of arn:aws:s3:::{SOURCE} in vault {VAULT} (found:"
        f" {continuous} (COMPLETED, {VAULT}), {POINT} (PARTIAL, {VAULT})); has the daily backup run since the"
        " bucket was added to the plan?",
        "drill: FAILED",
    ]
    assert world.buckets() == [SOURCE]


def test_a_recovery_point_without_model_artifacts_verifies_nothing_and_fails(aws, tmp_path):
    world = World()
    world.recovery_points()
    world.start_job()
    world.completed()

    code, lines, _ = world.drill(tmp_path, "--prefix", "exports/")

    assert code == 1
    assert lines[7:9] == [
        f"verify s3://{SOURCE}/exports/ as of 2026-11-28T03:00:00Z: 0 objects expected, 0 restored",
        "FAILED: nothing to verify: no object under exports/ at the recovery point",
    ]


def test_the_role_comes_from_the_argument_when_the_stack_exports_none(aws, tmp_path):
    world = World()
    outputs = world.outputs()
    del outputs["backup_role_arns"]

    code, lines, err = world.drill(tmp_path, outputs=outputs)

    assert (code, lines) == (2, [])
    assert err == (
        "error: stack prod: --iam-role-arn: required: the stack exports no backup_role_arns.primary; pass the ARN"
        " of the AWS Backup role of the primary region (it carries AWSBackupServiceRolePolicyForS3Restore)\n"
    )

    world.recovery_points()
    world.start_job()
    world.completed()
    assert world.drill(tmp_path, "--iam-role-arn", ROLE, outputs=outputs)[0] == 0


def test_outputs_without_backup_exit_2_naming_the_keys(aws, tmp_path):
    world = World()
    outputs = world.outputs()
    del outputs["backup_vaults"], outputs["kms_key_arns"]

    code, _, err = world.drill(tmp_path, outputs=outputs)

    assert code == 2
    assert err.splitlines() == [
        "error: stack prod: outputs: backup_vaults: missing (backup is not configured for this stack; outputs"
        " present: backup_role_arns, buckets, model_data_url, regions)",
        "outputs: kms_key_arns: missing (the key that encrypts the scratch bucket; outputs present:"
        " backup_role_arns, buckets, model_data_url, regions)",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "error: the following arguments are required: --stack"),
        (
            ["--stack", "prod", "--timeout-seconds", "0"],
            "error: argument --timeout-seconds: must be a whole number of seconds, at least 1 (got '0')",
        ),
        (
            ["--stack", "prod", "--timeout-seconds", "ten"],
            "error: argument --timeout-seconds: must be a whole number of seconds, at least 1 (got 'ten')",
        ),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"python -m ops.restore_drill: {message}"


@pytest.mark.parametrize(
    ("stack", "name"),
    [
        ("prod", "ml-platform-drill-prod-20261128-150000-a1b2c3"),
        ("Team_Prod.EU", "ml-platform-drill-team-prod-eu-20261128-150000-a1b2c3"),
        ("x" * 80, "ml-platform-drill-" + "x" * 22 + "-20261128-150000-a1b2c3"),
    ],
)
def test_scratch_bucket_names_are_valid_bucket_names(stack, name):
    assert scratch_bucket_name(stack, datetime(2026, 11, 28, 15, 0, tzinfo=UTC), "a1b2c3") == name
    assert len(name) <= 63


def test_the_prod_programs_exports_give_the_drill_its_target(stack):
    # The outputs the drill reads are exactly what __main__.py exports (under the mock engine).
    target = drill_target(stack("prod").outputs, "prod", ROLE, "models/")
    assert (target.region, target.bucket, target.vault) == (REGION, SOURCE, VAULT)
    assert target.key_arn.startswith(f"arn:aws:kms:{REGION}:")
    assert target.model_data_url.startswith(f"s3://{SOURCE}/models/")
