"""Post-deploy verification: is what the stack declared what is actually serving?

    python -m ops.verify --stack prod [--outputs FILE]

Reads the stack's outputs (through the Pulumi Automation API, or FILE holding the JSON of
`pulumi stack output --json`; see ops/outputs.py) and checks every endpoint in `endpoints`, in
its own region, with boto3:

- status            the endpoint is `InService` (not Creating, Updating, RollingBack, Failed...);
- endpoint config   its *current* `EndpointConfigName` is the one the stack declared. A
                    blue/green update that SageMaker rolled back leaves the endpoint on the old
                    configuration while Pulumi may have recorded the new one: this catches it;
- capacity          each variant's `CurrentInstanceCount` lies within the declared autoscaling
                    bounds (skipped, and said so, for serverless variants and when the stack
                    declares no bounds); a variant the stack did not declare fails;
- smoke invocation  one `InvokeEndpoint` with two sample rows (text/csv, 30 features) returns a
                    well-formed prediction for each row (see `prediction_problem`).

Prints one row per check (PASS, FAIL or SKIP, with the reason) and a summary line.
Exit codes: 0 every check passed (skips allowed); 1 a check failed; 2 bad arguments, or
outputs that cannot be read or lack what verification needs.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ops.outputs import Endpoint, OutputsError, Workspace, add_stack_arguments, endpoints, read_outputs

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"

# Two rows of the Wisconsin breast-cancer data the model is trained on (label 0, then 1),
# in the model's feature order: 30 numbers per row, no header, as the server's text/csv expects.
SAMPLE_ROWS = (
    "17.99,10.38,122.8,1001,0.1184,0.2776,0.3001,0.1471,0.2419,0.07871,1.095,0.9053,8.589,153.4,0.006399,"
    "0.04904,0.05373,0.01587,0.03003,0.006193,25.38,17.33,184.6,2019,0.1622,0.6656,0.7119,0.2654,0.4601,0.1189",
    "13.54,14.36,87.46,566.3,0.09779,0.08129,0.06664,0.04781,0.1885,0.05766,0.2699,0.7886,2.058,23.56,0.008462,"
    "0.0146,0.02387,0.01315,0.0198,0.0023,15.11,19.26,99.7,711.2,0.144,0.1773,0.239,0.1288,0.2977,0.07259",
)
SAMPLE_PAYLOAD = ("\n".join(SAMPLE_ROWS) + "\n").encode()
PROBABILITY_SUM_TOLERANCE = 1e-6

# Describe calls may retry (they are reads); the smoke call is made once so a flaky endpoint shows.
DESCRIBE_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "total_max_attempts": 3})
INVOKE_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"mode": "standard", "total_max_attempts": 1})

ClientFactory = Callable[[str, str], Any]  # (service name, region) -> boto3 client


@dataclass(frozen=True)
class Check:
    """One row of the report."""

    role: str
    region: str
    endpoint: str
    name: str
    result: str
    detail: str


def default_clients(service: str, region: str) -> Any:
    config = INVOKE_CONFIG if service == "sagemaker-runtime" else DESCRIBE_CONFIG
    return boto3.client(service, region_name=region, config=config)


# ---------------------------------------------------------------------------------------------
# The checks, as pure functions of what the APIs returned


def status_check(description: dict[str, Any]) -> tuple[str, str]:
    status = description.get("EndpointStatus", "unknown")
    if status == "InService":
        return PASS, "InService"
    reason = description.get("FailureReason")
    return FAIL, f"status is {status}, not InService" + (f": {reason}" if reason else "")


def config_check(description: dict[str, Any], declared: str) -> tuple[str, str]:
    current = description.get("EndpointConfigName")
    if current == declared:
        return PASS, f"{current} (as declared)"
    return FAIL, (f"serving {current}, but the stack declared {declared}: the last update rolled back or did not apply")


def capacity_checks(description: dict[str, Any], endpoint: Endpoint) -> list[tuple[str, str, str]]:
    """(check name, result, detail) per variant the endpoint reports, plus the declared one if missing."""
    variants = description.get("ProductionVariants") or []
    rows = []
    for variant in variants:
        name = variant.get("VariantName", "?")
        rows.append((f"capacity {name}", *_variant_capacity(variant, endpoint)))
    if not any(variant.get("VariantName") == endpoint.variant_name for variant in variants):
        reported = ", ".join(v.get("VariantName", "?") for v in variants) or "none"
        rows.append(
            (
                f"capacity {endpoint.variant_name}",
                FAIL,
                f"declared variant is not on the endpoint (variants: {reported})",
            )
        )
    return rows


def _variant_capacity(variant: dict[str, Any], endpoint: Endpoint) -> tuple[str, str]:
    if variant.get("VariantName") != endpoint.variant_name:
        return FAIL, f"variant not declared by the stack (declared: {endpoint.variant_name})"
    if variant.get("CurrentServerlessConfig") is not None:
        return SKIP, "serverless variant: no instance count to check"
    low, high = endpoint.min_capacity, endpoint.max_capacity
    if low is None or high is None:
        return SKIP, "the stack declares no autoscaling bounds for this variant"
    count = variant.get("CurrentInstanceCount")
    if count is None:
        return FAIL, f"no CurrentInstanceCount reported (expected {low}..{high})"
    if low <= count <= high:
        return PASS, f"{count} instances, within [{low}, {high}]"
    return FAIL, f"{count} instances, outside [{low}, {high}]"


def prediction_problem(body: bytes, content_type: str | None, rows: int) -> str | None:
    """Why a response is not a well-formed prediction for `rows` input rows, or None if it is.

    The shape is the server's JSON contract (model_code/serve/encode.py), probabilities in the
    order of `classes`, one prediction per input row:
    `{"classes": ["0", "1"], "predictions": [{"label": "1", "probabilities": [0.02, 0.98]}, ...]}`.
    Each label must be one of the classes and the most probable one; the probabilities must be
    one finite number in [0, 1] per class, summing to 1.
    """
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        return f"Content-Type is {content_type!r}, expected application/json"
    try:
        document = json.loads(body)
    except ValueError:
        return f"body is not JSON: {body[:80]!r}"
    if not isinstance(document, dict):
        return f"body is not a JSON object: {body[:80]!r}"
    classes, predictions = document.get("classes"), document.get("predictions")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        return f"`classes` is not a list of class names: {classes!r}"
    if len(set(classes)) != len(classes):
        return f"`classes` repeats a name: {classes!r}"
    if not isinstance(predictions, list):
        return f"body has no `predictions` list: {body[:80]!r}"
    if len(predictions) != rows:
        return f"{len(predictions)} predictions for {rows} rows"
    for number, prediction in enumerate(predictions):
        problem = _one_prediction_problem(prediction, classes)
        if problem:
            return f"predictions[{number}]: {problem}"
    return None


def _one_prediction_problem(prediction: Any, classes: list[str]) -> str | None:
    if not isinstance(prediction, dict):
        return f"not an object: {prediction!r}"
    label, probabilities = prediction.get("label"), prediction.get("probabilities")
    if not isinstance(label, str):
        return f"label is not a string: {label!r}"
    if label not in classes:
        return f"label {label!r} is not one of the classes {classes}"
    if not isinstance(probabilities, list) or len(probabilities) != len(classes):
        return f"probabilities is not a list of {len(classes)} numbers, one per class: {probabilities!r}"
    if not all(isinstance(p, int | float) and not isinstance(p, bool) and math.isfinite(p) for p in probabilities):
        return f"probabilities are not all finite numbers: {probabilities!r}"
    if not all(0.0 <= p <= 1.0 for p in probabilities):
        return f"a probability lies outside [0, 1]: {probabilities!r}"
    total = math.fsum(probabilities)
    if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
        return f"probabilities sum to {total:.6f}, not 1"
    if probabilities[classes.index(label)] < max(probabilities):
        return f"label {label!r} is not the most probable class"
    return None


# ---------------------------------------------------------------------------------------------
# Running them against AWS


def verify_endpoint(endpoint: Endpoint, clients: ClientFactory) -> list[Check]:
    def row(name: str, result: str, detail: str) -> Check:
        return Check(endpoint.role, endpoint.region, endpoint.endpoint_name, name, result, detail)

    try:
        description = clients("sagemaker", endpoint.region).describe_endpoint(EndpointName=endpoint.endpoint_name)
    except (ClientError, BotoCoreError) as exc:
        return [
            row("status", FAIL, f"describe_endpoint failed: {_aws_error(exc)}"),
            row("endpoint config", SKIP, "endpoint could not be described"),
            row("capacity", SKIP, "endpoint could not be described"),
            row("smoke invocation", SKIP, "endpoint could not be described"),
        ]
    checks = [
        row("status", *status_check(description)),
        row("endpoint config", *config_check(description, endpoint.endpoint_config_name)),
        *(row(*capacity) for capacity in capacity_checks(description, endpoint)),
    ]
    if description.get("EndpointStatus") == "InService":
        checks.append(row("smoke invocation", *smoke_check(endpoint, clients)))
    else:
        checks.append(row("smoke invocation", SKIP, f"endpoint is {description.get('EndpointStatus')}"))
    return checks


def smoke_check(endpoint: Endpoint, clients: ClientFactory) -> tuple[str, str]:
    try:
        response = clients("sagemaker-runtime", endpoint.region).invoke_endpoint(
            EndpointName=endpoint.endpoint_name,
            ContentType="text/csv",
            Accept="application/json",
            Body=SAMPLE_PAYLOAD,
        )
        body = response["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        return FAIL, f"invoke_endpoint failed: {_aws_error(exc)}"
    problem = prediction_problem(body, response.get("ContentType"), len(SAMPLE_ROWS))
    if problem:
        return FAIL, f"malformed prediction: {problem}"
    labels = ", ".join(p["label"] for p in json.loads(body)["predictions"])
    variant = response.get("InvokedProductionVariant")
    served = f" (variant {variant})" if variant else ""
    return PASS, f"{len(SAMPLE_ROWS)} rows -> labels {labels}{served}"


def _aws_error(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


def verify(targets: Iterable[Endpoint], clients: ClientFactory = default_clients) -> list[Check]:
    one_per_service_and_region = functools.cache(clients)
    return [check for endpoint in targets for check in verify_endpoint(endpoint, one_per_service_and_region)]


def render(checks: list[Check]) -> str:
    header = ("ROLE", "REGION", "ENDPOINT", "CHECK", "RESULT", "DETAIL")
    rows = [header, *((c.role, c.region, c.endpoint, c.name, c.result, c.detail) for c in checks)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]]) for r in rows]
    counts = {result: sum(c.result == result for c in checks) for result in (PASS, FAIL, SKIP)}
    verdict = "FAILED" if counts[FAIL] else "OK"
    lines.append("")
    lines.append(
        f"verify: {verdict}: {len(checks)} checks, {counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ops.verify", description="Check a deployed stack's endpoints against what it declared."
    )
    add_stack_arguments(parser)
    return parser.parse_args(argv)


def main(
    argv: list[str] | None = None,
    *,
    clients: ClientFactory = default_clients,
    workspace: Workspace | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = parse_args(argv)
    try:
        outputs = read_outputs(args.stack, args.outputs, **({"workspace": workspace} if workspace else {}))
        targets = endpoints(outputs)
    except OutputsError as exc:
        print(f"error: stack {args.stack}: {exc}", file=err)
        return EXIT_USAGE
    checks = verify(targets, clients)
    print(f"ops verify · stack {args.stack} · {len(targets)} endpoint(s)\n", file=out)
    print(render(checks), file=out)
    return EXIT_FAILED if any(c.result == FAIL for c in checks) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
