"""`python -m model_code resolve-dataset`: the first step of the model-build pipeline.

    python -m model_code resolve-dataset --dataset-root s3://B/P/ --holdout-root s3://B/H/
        --version latest|V --champion latest-approved|none|s3://.../model.tar.gz
        --model-package-group G --no-champion-uri s3://A/champion-none/ [--region R] [--output FILE]

Pipeline parameters are static when EventBridge starts an execution (schedule, drift or
quality alarm), so `latest` and `latest-approved` are resolved here, inside the execution, and
written to a JSON property file that later steps read with `Std:JsonGet`:

    {"dataset_version": "v3", "dataset_s3_uri": "s3://B/P/v3/", "holdout_s3_uri": "s3://B/H/v3/",
     "champion_s3_uri": "s3://A/models/<execution>/<job>/output/model.tar.gz",
     "champion_version": 4}

Newest dataset version: the version prefixes directly under the dataset root that hold at least
one object, ordered by a natural sort key (digit runs compare as numbers: v9 < v10,
2024-05-01 < 2024-06-01); the largest wins. Name versions so they sort that way, and upload a
version completely before its name appears (e.g. copy into place last). The holdout must have
the same version; a missing holdout is an error, not a silent fallback.

Champion: `latest-approved` is the group's newest Approved package (its ModelDataUrl), or no
champion when none is approved yet; `none` means no champion; an s3:// URI is used as given.
"No champion" is the stack's placeholder prefix (`--no-champion-uri`), because a Processing
input prefix without objects fails the job.

Exit codes: 0 resolved; 1 nothing to train on or the registry cannot be read (the reason is in
the failure file, so it becomes the step's FailureReason); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from model_code.atomic import write_json_atomic
from model_code.exit_codes import EXIT_OK, EXIT_USAGE
from model_code.failure import UserError, run_command
from model_code.paths import OptMl

LATEST = "latest"
LATEST_APPROVED = "latest-approved"
NO_CHAMPION = "none"
VERSION = re.compile(r"^[A-Za-z0-9._-]+$")
OUTPUT = "processing/resolved/dataset.json"


def s3_root(text: str) -> str:
    if not text.startswith("s3://") or not text.endswith("/") or len(text.removeprefix("s3://").split("/", 1)) < 2:
        raise argparse.ArgumentTypeError(f"not an S3 prefix (got {text!r}; expected s3://<bucket>/<prefix>/)")
    return text


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model_code resolve-dataset")
    parser.add_argument("--dataset-root", type=s3_root, required=True, help="s3://<bucket>/<dataset prefix>/")
    parser.add_argument("--holdout-root", type=s3_root, required=True, help="s3://<bucket>/<holdout prefix>/")
    parser.add_argument("--version", required=True, help=f"a dataset version, or {LATEST!r}")
    parser.add_argument("--champion", required=True, help=f"{LATEST_APPROVED!r}, {NO_CHAMPION!r} or s3://...")
    parser.add_argument("--model-package-group", required=True, help="the Model Registry group")
    parser.add_argument("--no-champion-uri", type=s3_root, required=True, help="the placeholder prefix")
    parser.add_argument("--region", default=None, help="region of the buckets and the registry")
    parser.add_argument("--output", type=Path, default=None, help=f"default: <root>/{OUTPUT}")
    return parser.parse_args(argv)


def main(argv: list[str], clients: tuple[Any, Any] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK

    def command(paths: OptMl) -> int:
        s3, sagemaker = clients if clients is not None else _clients(args.region)
        resolution = resolve(s3, sagemaker, args)
        output = args.output or paths.root / OUTPUT
        write_json_atomic(output, resolution)
        print(
            f"dataset {resolution['dataset_version']} ({resolution['dataset_s3_uri']}); "
            f"champion {resolution['champion_s3_uri']}; wrote {output}"
        )
        return EXIT_OK

    return run_command(command)


def _clients(region: str | None) -> tuple[Any, Any]:
    import boto3

    return boto3.client("s3", region_name=region), boto3.client("sagemaker", region_name=region)


def resolve(s3: Any, sagemaker: Any, args: argparse.Namespace) -> dict[str, Any]:
    version = newest_version(s3, args.dataset_root) if args.version == LATEST else args.version
    if not VERSION.match(version):
        raise UserError(f"DatasetVersion: not a version name (got {version!r}; expected {LATEST!r} or e.g. v3)")
    dataset, holdout = f"{args.dataset_root}{version}/", f"{args.holdout_root}{version}/"
    for what, uri in (("dataset", dataset), ("holdout", holdout)):
        if not _has_objects(s3, uri):
            raise UserError(f"{what} version {version!r} has no objects at {uri}")
    champion_uri, champion_version = champion(sagemaker, args.champion, args.model_package_group)
    return {
        "dataset_version": version,
        "dataset_s3_uri": dataset,
        "holdout_s3_uri": holdout,
        "champion_s3_uri": champion_uri or args.no_champion_uri,
        "champion_version": champion_version,
    }


def natural_key(name: str) -> tuple:
    """`v10` after `v9`: digit runs compare as numbers, the rest as text."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part)


def newest_version(s3: Any, root: str) -> str:
    bucket, prefix = _split(root)
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        names += [p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
    candidates = sorted((n for n in names if VERSION.match(n)), key=natural_key, reverse=True)
    for name in candidates:
        if _has_objects(s3, f"{root}{name}/"):
            return name
    raise UserError(f"no dataset version under {root} (expected prefixes such as {root}v1/ holding CSV files)")


def champion(sagemaker: Any, selector: str, group: str) -> tuple[str | None, int | None]:
    if selector == NO_CHAMPION:
        return None, None
    if selector.startswith("s3://"):
        return selector, None
    if selector != LATEST_APPROVED:
        raise UserError(
            f"ChampionModelDataUrl: not allowed (got {selector!r}; expected {LATEST_APPROVED!r}, "
            f"{NO_CHAMPION!r} or s3://<bucket>/<key>/model.tar.gz)"
        )
    from botocore.exceptions import ClientError

    try:
        listed = sagemaker.list_model_packages(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )["ModelPackageSummaryList"]
        if not listed:
            return None, None
        package = sagemaker.describe_model_package(ModelPackageName=listed[0]["ModelPackageArn"])
    except ClientError as exc:
        raise UserError(f"cannot read the Model Registry group {group!r}: {exc}") from exc
    return package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"], package.get("ModelPackageVersion")


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _has_objects(s3: Any, uri: str) -> bool:
    bucket, prefix = _split(uri)
    return s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0) > 0
