"""Restore drill: prove the artifacts bucket's backups restore, and measure how long it takes.

    python -m ops.restore_drill --stack prod [--outputs FILE] [--timeout-seconds 3600]
                                [--iam-role-arn ARN] [--prefix models/]

Against real AWS, in the primary region:

1. finds the latest snapshot recovery point of the artifacts bucket in the stack's vault
   (`list_recovery_points_by_resource`). Continuous (point-in-time) recovery points are passed
   over: a snapshot fixes the moment T whose contents the restore must reproduce;
2. creates a scratch bucket (SSE-KMS with the stack's region key, all public access blocked,
   ACLs disabled, versioning on, tagged `purpose=restore-drill`) and restores the recovery
   point into it (`start_restore_job`, whole bucket), printing progress at every poll of
   `describe_restore_job`;
3. verifies the model artifacts (every object under `--prefix`): the keys restored must be
   exactly the keys the source held at T, each with the same bytes. The source side is read
   from the bucket's version history (the version current at T), so models trained since the
   backup are not mistaken for losses. Bytes are compared by SHA-256 of the content, streamed
   from both buckets: ETags cannot be compared across buckets (with SSE-KMS and multipart
   uploads an ETag is not a digest of the content), and S3's stored ChecksumSHA256 exists only
   when the uploader asked for it and, for multipart objects, depends on the part size;
4. reports the measured restore duration (start to the poll that saw COMPLETED, so within one
   poll interval) and AWS's own (job creation to completion);
5. deletes the scratch bucket, every version in it, whatever happened before (try/finally),
   and says so if that cleanup itself failed.

Exit codes: 0 restored and verified; 1 no recovery point, the restore job failed or timed out,
any object missing, extra or different, or cleanup failed; 2 bad arguments or outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ml_platform.config import PROJECT
from ops.outputs import OutputsError, Workspace, add_stack_arguments, read_outputs, section

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_TIMEOUT_SECONDS = 3600
POLL_SECONDS = 30.0
DEFAULT_PREFIX = "models/"
CONTINUOUS_MARK = ":recovery-point:continuous:"
CHUNK_BYTES = 1024 * 1024
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})

ClientFactory = Callable[[str, str], Any]  # (service name, region) -> boto3 client


class DrillError(Exception):
    """A step of the drill failed; the message says which and why."""


@dataclass(frozen=True)
class DrillTarget:
    """What to restore, where, and as whom; read from the stack's outputs."""

    stack: str
    region: str
    bucket: str
    vault: str
    key_arn: str
    iam_role_arn: str
    prefix: str
    model_data_url: str | None = None

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"


@dataclass(frozen=True)
class SourceObject:
    key: str
    size: int
    version_id: str | None


def default_clients(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region, config=CLIENT_CONFIG)


# ---------------------------------------------------------------------------------------------
# 1. The recovery point


def latest_recovery_point(backup: Any, target: DrillTarget) -> dict[str, Any]:
    points = []
    for page in backup.get_paginator("list_recovery_points_by_resource").paginate(ResourceArn=target.bucket_arn):
        points.extend(page.get("RecoveryPoints", []))
    usable = [
        point
        for point in points
        if point.get("Status") == "COMPLETED"
        and point.get("BackupVaultName") == target.vault
        and CONTINUOUS_MARK not in point["RecoveryPointArn"]
    ]
    if not usable:
        seen = ", ".join(f"{p['RecoveryPointArn']} ({p.get('Status')}, {p.get('BackupVaultName')})" for p in points)
        raise DrillError(
            f"no completed snapshot recovery point of {target.bucket_arn} in vault {target.vault}"
            f" (found: {seen or 'none'}); has the daily backup run since the bucket was added to the plan?"
        )
    return max(usable, key=lambda point: point["CreationDate"])


# ---------------------------------------------------------------------------------------------
# 2. The scratch bucket and the restore job


def scratch_bucket_name(stack: str, now: datetime, token: str) -> str:
    """`ml-platform-drill-<stack>-<utc time>-<token>`, a valid bucket name of at most 63 characters."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    safe_stack = re.sub(r"[^a-z0-9-]+", "-", stack.lower()).strip("-") or "stack"
    fixed = len(f"{PROJECT}-drill--{stamp}-{token}")
    return f"{PROJECT}-drill-{safe_stack[: 63 - fixed]}-{stamp}-{token}"


def create_scratch_bucket(s3: Any, name: str, target: DrillTarget) -> None:
    location = (
        {} if target.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": target.region}}
    )
    s3.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerEnforced", **location)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": target.key_arn},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(
        Bucket=name,
        Tagging={
            "TagSet": [
                {"Key": "purpose", "Value": "restore-drill"},
                {"Key": "project", "Value": PROJECT},
                {"Key": "stack", "Value": target.stack},
                {"Key": "managed-by", "Value": "ops.restore_drill"},
            ]
        },
    )


def restore_metadata(scratch: str, key_arn: str) -> dict[str, str]:
    """Whole-bucket restore into an existing bucket, objects encrypted with the stack's key."""
    return {
        "DestinationBucketName": scratch,
        "NewBucket": "false",
        "Encrypted": "true",
        "EncryptionType": "SSE-KMS",
        "KMSKey": key_arn,
    }


def start_restore(backup: Any, point: dict[str, Any], scratch: str, target: DrillTarget) -> str:
    response = backup.start_restore_job(
        RecoveryPointArn=point["RecoveryPointArn"],
        Metadata=restore_metadata(scratch, target.key_arn),
        IamRoleArn=target.iam_role_arn,
        IdempotencyToken=scratch,
        ResourceType="S3",
    )
    return response["RestoreJobId"]


def wait_for_restore(
    backup: Any,
    job_id: str,
    *,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    out: TextIO,
) -> tuple[dict[str, Any], float]:
    """Poll until the job ends; returns its last description and the seconds measured."""
    started = clock()
    while True:
        job = backup.describe_restore_job(RestoreJobId=job_id)
        elapsed = clock() - started
        status = job.get("Status", "UNKNOWN")
        percent = f" {job['PercentDone']}" if job.get("PercentDone") else ""
        print(f"  [{_duration(elapsed):>8}] {status}{percent}", file=out)
        if status == "COMPLETED":
            return job, elapsed
        if status in ("FAILED", "ABORTED"):
            raise DrillError(f"restore job {job_id} {status}: {job.get('StatusMessage') or 'no status message'}")
        if elapsed + poll_seconds > timeout_seconds:
            raise DrillError(
                f"restore job {job_id} still {status} after {_duration(elapsed)}; gave up at --timeout-seconds"
                f" {timeout_seconds:g} (the job keeps running in AWS Backup)"
            )
        sleep(poll_seconds)


# ---------------------------------------------------------------------------------------------
# 3. Verification


def source_state_at(s3: Any, bucket: str, prefix: str, moment: datetime) -> dict[str, SourceObject]:
    """The objects under `prefix` as they were at `moment`: per key, the newest version or delete
    marker written at or before it (a delete marker means the key did not exist then)."""
    entries: dict[str, list[tuple[datetime, SourceObject | None]]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            found = SourceObject(version["Key"], version["Size"], version.get("VersionId"))
            entries.setdefault(version["Key"], []).append((version["LastModified"], found))
        for marker in page.get("DeleteMarkers", []):
            entries.setdefault(marker["Key"], []).append((marker["LastModified"], None))
    state = {}
    for key, history in entries.items():
        before = [entry for entry in history if entry[0] <= moment]
        if before:
            newest = max(before, key=lambda entry: entry[0])[1]
            if newest is not None:
                state[key] = newest
    return state


def current_objects(s3: Any, bucket: str, prefix: str) -> dict[str, SourceObject]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = SourceObject(item["Key"], item["Size"], None)
    return found


def sha256_of(s3: Any, bucket: str, key: str, version_id: str | None = None) -> str:
    extra = {"VersionId": version_id} if version_id else {}
    body = s3.get_object(Bucket=bucket, Key=key, **extra)["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(CHUNK_BYTES), b""):
        digest.update(chunk)
    return digest.hexdigest()


def compare(
    s3: Any, source_bucket: str, expected: dict[str, SourceObject], scratch: str, restored: dict[str, SourceObject]
) -> list[tuple[str, str, str]]:
    """(result, key, detail) per key: OK, MISMATCH, MISSING or EXTRA."""
    rows = []
    for key in sorted(expected.keys() | restored.keys()):
        want, got = expected.get(key), restored.get(key)
        if got is None:
            rows.append(("MISSING", key, f"{want.size} bytes in the source, not restored"))
        elif want is None:
            rows.append(("EXTRA", key, f"{got.size} bytes restored, not in the source at the recovery point"))
        elif want.size != got.size:
            rows.append(("MISMATCH", key, f"size {got.size} restored, {want.size} in the source"))
        else:
            source_sha = sha256_of(s3, source_bucket, key, want.version_id)
            restored_sha = sha256_of(s3, scratch, key)
            if source_sha == restored_sha:
                rows.append(("OK", key, f"{want.size} bytes, sha256 {source_sha[:16]}"))
            else:
                rows.append(("MISMATCH", key, f"sha256 {restored_sha[:16]} restored, {source_sha[:16]} in the source"))
    return rows


# ---------------------------------------------------------------------------------------------
# 5. Cleanup


def delete_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker, then the bucket; returns versions deleted."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        for batch in _batches(doomed, 1000):
            response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            if response.get("Errors"):
                first = response["Errors"][0]
                raise DrillError(f"could not delete {first['Key']}: {first.get('Code')}: {first.get('Message')}")
            deleted += len(batch)
    s3.delete_bucket(Bucket=bucket)
    return deleted


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------------------------------------
# The drill


def run_drill(
    target: DrillTarget,
    clients: ClientFactory = default_clients,
    *,
    out: TextIO,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    poll_seconds: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    token: Callable[[], str] = lambda: secrets.token_hex(3),
) -> bool:
    """The whole drill; prints as it goes and returns whether it passed."""
    s3, backup = clients("s3", target.region), clients("backup", target.region)
    print(
        f"restore drill · stack {target.stack} · s3://{target.bucket} ({target.region}), vault {target.vault}", file=out
    )
    try:
        point = latest_recovery_point(backup, target)
    except (DrillError, ClientError, BotoCoreError) as exc:
        print(f"FAILED: {_reason(exc)}", file=out)
        print("drill: FAILED", file=out)
        return False
    print(f"recovery point {point['RecoveryPointArn']} (created {_iso(point['CreationDate'])})", file=out)

    scratch = scratch_bucket_name(target.stack, now(), token())
    passed = False
    try:
        create_scratch_bucket(s3, scratch, target)
        print(f"scratch bucket s3://{scratch} (SSE-KMS with {target.key_arn}, public access blocked)", file=out)
        passed = _restore_and_verify(
            s3, backup, point, scratch, target, out, timeout_seconds, poll_seconds, clock, sleep
        )
    except (DrillError, ClientError, BotoCoreError) as exc:
        print(f"FAILED: {_reason(exc)}", file=out)
    finally:
        passed = _cleanup(s3, scratch, out) and passed
    print(f"drill: {'PASSED' if passed else 'FAILED'}", file=out)
    return passed


def _restore_and_verify(
    s3: Any,
    backup: Any,
    point: dict[str, Any],
    scratch: str,
    target: DrillTarget,
    out: TextIO,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> bool:
    job_id = start_restore(backup, point, scratch, target)
    print(f"restore job {job_id} started", file=out)
    job, measured = wait_for_restore(
        backup, job_id, timeout_seconds=timeout_seconds, poll_seconds=poll_seconds, clock=clock, sleep=sleep, out=out
    )
    aws_seconds = ""
    if job.get("CreationDate") and job.get("CompletionDate"):
        aws_seconds = f"; AWS Backup: {_duration((job['CompletionDate'] - job['CreationDate']).total_seconds())}"
    print(
        f"restore duration: {_duration(measured)} measured (to within one {poll_seconds:g} s poll){aws_seconds}",
        file=out,
    )

    expected = source_state_at(s3, target.bucket, target.prefix, point["CreationDate"])
    restored = current_objects(s3, scratch, target.prefix)
    rows = compare(s3, target.bucket, expected, scratch, restored)
    print(
        f"verify s3://{target.bucket}/{target.prefix} as of {_iso(point['CreationDate'])}:"
        f" {len(expected)} objects expected, {len(restored)} restored",
        file=out,
    )
    width = max((len(result) for result, _, _ in rows), default=0)
    for result, key, detail in rows:
        print(f"  {result.ljust(width)}  {key}  {detail}", file=out)
    _report_deployed_model(target, expected, rows, out)
    if not expected:
        print(f"FAILED: nothing to verify: no object under {target.prefix} at the recovery point", file=out)
        return False
    bad = [row for row in rows if row[0] != "OK"]
    if bad:
        print(f"FAILED: {len(bad)} of {len(rows)} objects missing, extra or different", file=out)
    return not bad


def _report_deployed_model(
    target: DrillTarget, expected: dict[str, SourceObject], rows: list[tuple[str, str, str]], out: TextIO
) -> None:
    prefix = f"s3://{target.bucket}/"
    if not target.model_data_url or not target.model_data_url.startswith(prefix):
        return
    key = target.model_data_url[len(prefix) :]
    if not key.startswith(target.prefix):
        return
    result = next((r for r, k, _ in rows if k == key), None)
    if key not in expected:
        print(f"deployed model {key}: written after the recovery point, so not in it", file=out)
    else:
        print(f"deployed model {key}: {result}", file=out)


def _cleanup(s3: Any, scratch: str, out: TextIO) -> bool:
    try:
        deleted = delete_bucket(s3, scratch)
    except (DrillError, ClientError, BotoCoreError) as exc:
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            print(f"cleanup: s3://{scratch} was never created", file=out)
            return True
        print(
            f"cleanup FAILED: s3://{scratch} is left behind: {_reason(exc)}; empty it (every version) and delete it"
            " by hand, e.g. S3 console > Empty, then Delete",
            file=out,
        )
        return False
    print(f"cleanup: deleted s3://{scratch} ({deleted} object versions)", file=out)
    return True


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{exc.operation_name}: {error.get('Code')}: {error.get('Message')}"
    return str(exc)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# Command line


def drill_target(outputs: dict[str, Any], stack: str, iam_role_arn: str | None, prefix: str) -> DrillTarget:
    """The primary region's artifacts bucket, vault and key from the outputs; raises OutputsError."""
    problems, found = [], {}
    needs = {
        "regions": (dict[str, str], "the stack's regions"),
        "buckets": (dict[str, dict[str, str]], "the artifacts bucket to restore"),
        "backup_vaults": (dict[str, str], "backup is not configured for this stack"),
        "kms_key_arns": (dict[str, str], "the key that encrypts the scratch bucket"),
    }
    for key, (shape, why) in needs.items():
        try:
            found[key] = section(outputs, key, shape, why)
        except OutputsError as exc:
            problems.append(str(exc))
    if problems:
        raise OutputsError("\n".join(problems))
    try:
        region, bucket = found["regions"]["primary"], found["buckets"]["primary"]["artifacts"]
        vault, key_arn = found["backup_vaults"]["primary"], found["kms_key_arns"]["primary"]
    except KeyError as exc:
        raise OutputsError(
            f"outputs: no primary entry for {exc} in regions, buckets, backup_vaults or kms_key_arns"
        ) from None
    role = iam_role_arn or (outputs.get("backup_role_arns") or {}).get("primary")
    if not role:
        raise OutputsError(
            "--iam-role-arn: required: the stack exports no backup_role_arns.primary; pass the ARN of the AWS Backup"
            " role of the primary region (it carries AWSBackupServiceRolePolicyForS3Restore)"
        )
    model_data_url = outputs.get("model_data_url") if isinstance(outputs.get("model_data_url"), str) else None
    return DrillTarget(stack, region, bucket, vault, key_arn, role, prefix, model_data_url)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ops.restore_drill",
        description="Restore the artifacts bucket's latest backup into a scratch bucket, verify it, time it.",
    )
    add_stack_arguments(parser)
    parser.add_argument(
        "--timeout-seconds",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="N",
        help=f"give up waiting for the restore job after N seconds (default {DEFAULT_TIMEOUT_SECONDS})",
    )
    parser.add_argument(
        "--iam-role-arn", metavar="ARN", help="role AWS Backup restores as (default: output backup_role_arns.primary)"
    )
    parser.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help=f"the objects verified (default {DEFAULT_PREFIX}: model artifacts)"
    )
    return parser.parse_args(argv)


def _positive_seconds(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of seconds, at least 1 (got {value!r})")
    return int(value)


def main(
    argv: list[str] | None = None,
    *,
    clients: ClientFactory = default_clients,
    workspace: Workspace | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    **drill_options: Any,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = parse_args(argv)
    try:
        outputs = read_outputs(args.stack, args.outputs, **({"workspace": workspace} if workspace else {}))
        target = drill_target(outputs, args.stack, args.iam_role_arn, args.prefix)
    except OutputsError as exc:
        print(f"error: stack {args.stack}: {exc}", file=err)
        return EXIT_USAGE
    passed = run_drill(target, clients, out=out, timeout_seconds=args.timeout_seconds, **drill_options)
    return EXIT_OK if passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
