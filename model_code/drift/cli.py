"""Command-line arguments shared by `drift` and `quality`, each checked with an exact message.

A bad argument exits 2 with `python -m model_code <command>: error: argument --x: <problem>
(got <value>; expected <what is allowed>)` on stderr, before anything is read or written.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from model_code.drift.storage import Location, parse_location
from model_code.drift.window import MAX_WINDOW_HOURS, Window, floor_hour, parse_hour
from model_code.exit_codes import EXIT_OK, EXIT_USAGE
from model_code.failure import UserError
from model_code.paths import OptMl

ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# CloudWatch: 1-255 printable ASCII characters, no leading ':', and AWS/ is reserved.
NAMESPACE = re.compile(r"^[0-9A-Za-z.\-_/#:]{1,255}$")
DEFAULT_LOOKBACK_HOURS = 1


def _bad(what: str, got: str, expected: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{what} (got {got!r}; expected {expected})")


def endpoint_name(text: str) -> str:
    if not ENDPOINT_NAME.match(text):
        raise _bad(
            "not a SageMaker endpoint name",
            text,
            "1-63 letters, digits and hyphens, starting and ending with a letter or digit",
        )
    return text


def location(text: str) -> Location:
    try:
        return parse_location(text)
    except ValueError as exc:
        raise _bad(str(exc), text, "s3://<bucket>/<prefix> or a local path") from None


# SageMaker Processing inputs land under this root; a shard of a sharded input may receive no file
# at all, which is an empty share of the window, not a mistyped path.
PROCESSING_INPUTS = "/opt/ml/processing/"


def directory(text: str) -> Location:
    where = location(text)
    if not where.is_s3 and not where.path.is_dir() and not text.startswith(PROCESSING_INPUTS):
        raise _bad("no such directory", text, "s3://<bucket>/<prefix> or an existing local directory")
    return where


def new_directory(text: str) -> Path:
    """A local directory to write into (made if missing)."""
    if text.startswith("s3://") or not text:
        raise _bad("not a local directory", text, "a local path, e.g. /opt/ml/processing/plan")
    return Path(text)


def hour(text: str) -> datetime:
    try:
        return parse_hour(text)
    except ValueError as exc:
        raise _bad(str(exc), text, "an ISO 8601 time on the hour, e.g. 2024-05-01T10:00:00Z") from None


def hours(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= MAX_WINDOW_HOURS:
        raise _bad("not a number of hours", text, f"a whole number from 1 to {MAX_WINDOW_HOURS}")
    return value


def hours_or_zero(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_WINDOW_HOURS:
        raise _bad("not a number of hours", text, f"a whole number from 0 to {MAX_WINDOW_HOURS}")
    return value


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise _bad("not a positive number", text, "a number > 0, e.g. 0.2")
    return value


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise _bad("not a probability", text, "a number > 0 and < 1, e.g. 0.01")
    return value


def whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise _bad("not a whole number >= 1", text, "a whole number >= 1, e.g. 200")
    return value


def namespace(text: str) -> str:
    if not NAMESPACE.match(text) or text.startswith(":") or text.startswith("AWS/"):
        raise _bad(
            "not a CloudWatch namespace",
            text,
            "1-255 of letters, digits and . - _ / # :, not starting with ':' or 'AWS/'",
        )
    return text


def region(text: str) -> str:
    if not REGION.match(text):
        raise _bad("not an AWS region", text, "a region name such as us-east-1")
    return text


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint-name", type=endpoint_name, required=True, help="the endpoint whose captures to read"
    )
    parser.add_argument(
        "--capture",
        type=directory,
        required=True,
        help="the data capture destination (DestinationS3Uri, s3://bucket/prefix) or a local directory with "
        "the same layout: <capture>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl",
    )
    parser.add_argument(
        "--baseline",
        type=location,
        help="baseline.json, a model.tar.gz holding it, or a directory with either (local or s3://); "
        "default: <root>/processing/baseline",
    )
    parser.add_argument("--start", type=hour, help="window start, ISO 8601 on the hour (UTC if no offset)")
    parser.add_argument("--end", type=hour, help="window end (exclusive), ISO 8601 on the hour")
    parser.add_argument(
        "--lookback-hours",
        type=hours,
        help=f"without --start/--end: the last N whole hours before now (default {DEFAULT_LOOKBACK_HOURS})",
    )
    parser.add_argument("--report", type=location, help="where to write the JSON report (s3:// or local path)")
    parser.add_argument("--metrics-namespace", type=namespace, help="CloudWatch namespace (required with metrics)")
    parser.add_argument("--region", type=region, help="AWS region (default: AWS_REGION / the SDK's chain)")
    parser.add_argument("--no-metrics", action="store_true", help="do not publish CloudWatch metrics")


def resolve_window(args: argparse.Namespace, parser: argparse.ArgumentParser, now: datetime) -> Window:
    """The window from --start/--end, or the last --lookback-hours whole hours before `now`."""
    if (args.start is None) != (args.end is None):
        given, missing = ("--start", "--end") if args.end is None else ("--end", "--start")
        parser.error(f"argument {missing}: required with {given} (got nothing; expected an ISO 8601 time on the hour)")
    if args.start is None:
        return Window.ending_at(floor_hour(now), args.lookback_hours or DEFAULT_LOOKBACK_HOURS)
    if args.lookback_hours is not None:
        parser.error(
            f"argument --lookback-hours: not allowed with --start/--end (got {args.lookback_hours}; "
            f"expected either --start and --end, or --lookback-hours)"
        )
    if args.end <= args.start:
        parser.error(
            f"argument --end: must be after --start (got {args.end.isoformat()!r}; "
            f"expected a time after {args.start.isoformat()!r})"
        )
    window = Window(args.start, args.end)
    if len(window.hours()) > MAX_WINDOW_HOURS:
        parser.error(
            f"argument --end: window too long (got {len(window.hours())} hours; expected at most {MAX_WINDOW_HOURS})"
        )
    return window


def check_metrics_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if not args.no_metrics and args.metrics_namespace is None:
        parser.error(
            "argument --metrics-namespace: required unless --no-metrics is given "
            "(got nothing; expected a CloudWatch namespace such as MLPlatform/Monitoring)"
        )


def parse_job_arguments(
    parser: argparse.ArgumentParser, argv: list[str], now: datetime
) -> tuple[argparse.Namespace, Window] | int:
    """Arguments and window of a `drift`/`quality` run, or the exit code argparse chose
    (2 for a bad argument, 0 for --help)."""
    try:
        args = parser.parse_args(argv)
        window = resolve_window(args, parser, now)
        check_metrics_arguments(args, parser)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    return args, window


def default_baseline(paths: OptMl) -> Location:
    """Where a SageMaker Processing input mounts the baseline (model.tar.gz or baseline.json)."""
    return Location(None, str(paths.root / "processing" / "baseline"))


def aws_client(service: str, region_name: str | None) -> Callable[[], Any]:
    """A factory: the client is made when first needed, so local runs without metrics need no AWS."""

    def make() -> Any:
        import boto3
        from botocore.exceptions import NoRegionError

        try:
            return boto3.session.Session(region_name=region_name).client(service)
        except NoRegionError:
            raise UserError(f"no AWS region for {service}: pass --region or set AWS_REGION") from None

    return make
