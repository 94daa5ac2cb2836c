"""Failover drill, offline: fail the primary endpoint and watch the front door fail over and back.

    python -m offline.failover_drill --stack prod [--fail-at 20] [--recover-after 300] [--json]

Runs on moto and local stand-ins, never on AWS. It reads the stack's config
(`Pulumi.<stack>.yaml`), then:

1. creates the stack's endpoint (`ml-platform-<stack>`) in both regions in moto, InService;
2. starts one stand-in front door per region on 127.0.0.1 that behaves as the stack's API
   Gateway stage is declared to: `POST /<stage>/invocations` checks the caller's signature the
   way API Gateway does (SigV4A: the region must be in the signed `X-Amz-Region-Set`; SigV4:
   the credential scope must name this region), then answers from the endpoint's state;
   `GET /<stage>/ping` asks moto's SageMaker `DescribeEndpoint` and answers 200 only while the
   endpoint serves (`ml_platform.components.frontdoor.SERVING_STATUSES`), else 503, as the stage's mapping
   template does;
3. plays Route 53 on a simulated clock: every `failover.health_check_interval_seconds` it calls
   each region's `/ping` (for real, over HTTP); a region is unhealthy after
   `health_check_failure_threshold` failures in a row and healthy again after as many
   successes; the failover name answers the primary while it is healthy, and a resolver keeps
   an answer `failover.dns_ttl_seconds`;
4. sends one request a second from two callers, both signing with SigV4A
   (`failover_client.FrontDoorClient`): one through the failover name (DNS), one with
   `failover_client.FailoverClient` over both regional front doors (client-side failover);
5. at `--fail-at` marks the primary endpoint `Failed` in moto, and `--recover-after` seconds
   later `InService` again; prints every change (health, DNS answer, which region served each
   caller) and the measured client-side RTO of each caller beside the RTO the settings imply.

What it cannot show: AWS's own timing (Route 53 checkers in several locations, CloudWatch
alarm evaluation, resolvers that ignore TTLs), and API Gateway's real signature check; the
stand-in's check is tested against botocore's SigV4A signer (tests/test_failover_drill.py).
Exit codes: 0 failed over and back within the computed RTO; 1 it did not; 2 bad arguments or
a stack without failover.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import hmac
import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import quote

from ml_platform.assembly_edge import recovery_objectives
from ml_platform.components.frontdoor import SERVING_STATUSES
from ml_platform.config import PROJECT, StackConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SERVICE = "execute-api"
SIGV4A = "AWS4-ECDSA-P256-SHA256"
SIGV4 = "AWS4-HMAC-SHA256"
# The order of the NIST P-256 group (FIPS 186-4, D.1.2.3).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
MISMATCH = "The request signature we calculated does not match the signature you provided."
AUTHORIZATION = re.compile(
    r"^(?P<algorithm>\S+) Credential=(?P<access_key>[^/]+)/(?P<scope>[^,]+), "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]+)$"
)


# -------------------------------------------------------------------------------------------
# What API Gateway checks of an IAM-authorized request


class SignatureRejectedError(Exception):
    """The request's signature is refused; `str()` is the message API Gateway answers with."""


def sigv4a_public_key(access_key_id: str, secret_access_key: str) -> Any:
    """The ECDSA P-256 key SigV4A derives from an access key: NIST SP 800-108 counter-mode
    KDF with HMAC-SHA256 over "AWS4A" + secret, label "AWS4-ECDSA-P256-SHA256", context the
    access key id and a counter byte, retried until the candidate is below n - 1.
    https://github.com/awslabs/aws-c-auth (aws_ecc_key_pair_new_ecdsa_p256_key_from_aws_credentials)"""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = b"AWS4A" + secret_access_key.encode()
    for counter in range(1, 255):
        fixed = (
            (1).to_bytes(4, "big")
            + SIGV4A.encode()
            + b"\x00"
            + access_key_id.encode()
            + bytes([counter])
            + (256).to_bytes(4, "big")
        )
        candidate = int.from_bytes(hmac.new(key, fixed, hashlib.sha256).digest(), "big")
        if candidate <= P256_ORDER - 2:
            return ec.derive_private_key(candidate + 1, ec.SECP256R1()).public_key()
    raise SignatureRejectedError("no SigV4A key derives from this access key")


def canonical_request(method: str, path: str, headers: Mapping[str, str], signed: list[str], body: bytes) -> str:
    """SigV4's canonical request (the same for SigV4A); paths are URI-encoded twice, as every
    service but S3 expects. https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html"""
    lower = {k.lower(): v for k, v in headers.items()}
    missing = [name for name in signed if name not in lower]
    if missing:
        raise SignatureRejectedError(f"Signed header(s) {missing} missing from the request.")
    payload = hashlib.sha256(body).hexdigest()
    declared = lower.get("x-amz-content-sha256")
    if declared is not None and declared != payload:
        raise SignatureRejectedError("The provided 'x-amz-content-sha256' header does not match what was computed.")
    canonical_headers = "".join(f"{name}:{' '.join(str(lower[name]).strip().split())}\n" for name in signed)
    uri = quote(quote(path, safe="/~"), safe="/~")
    return "\n".join([method, uri, "", canonical_headers, ";".join(signed), payload])


@dataclass(frozen=True)
class SignatureChecker:
    """One region's check of `AWS_IAM` requests, as API Gateway makes it. `secrets` maps access
    key ids to secret keys (what IAM knows)."""

    region: str
    secrets: Mapping[str, str]

    def check(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> str:
        """The caller's access key id, or SignatureRejectedError naming what is wrong."""
        lower = {k.lower(): v for k, v in headers.items()}
        match = AUTHORIZATION.match(lower.get("authorization", ""))
        if not match:
            raise SignatureRejectedError("Missing Authentication Token")
        algorithm, access_key, scope = match["algorithm"], match["access_key"], match["scope"].split("/")
        signed = match["signed"].split(";")
        if access_key not in self.secrets:
            raise SignatureRejectedError("The security token included in the request is invalid.")
        secret = self.secrets[access_key]
        request = canonical_request(method, path, lower, signed, body)
        digest = hashlib.sha256(request.encode()).hexdigest()
        if algorithm == SIGV4:
            date, region, service, _ = scope
            if region != self.region:
                raise SignatureRejectedError(f"Credential should be scoped to a valid region, not '{region}'. ")
            if service != SERVICE:
                raise SignatureRejectedError(f"Credential should be scoped to correct service: '{SERVICE}'. ")
            to_sign = f"{SIGV4}\n{lower['x-amz-date']}\n{'/'.join(scope)}\n{digest}"
            key = f"AWS4{secret}".encode()
            for part in (date, region, service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), match["signature"]):
                raise SignatureRejectedError(
                    "The request signature we calculated does not match the signature you provided."
                )
            return access_key
        if algorithm != SIGV4A:
            raise SignatureRejectedError(f"Unsupported signing algorithm {algorithm!r}")
        date, service, _ = scope
        if service != SERVICE:
            raise SignatureRejectedError(f"Credential should be scoped to correct service: '{SERVICE}'. ")
        if "x-amz-region-set" not in signed:
            raise SignatureRejectedError("SigV4A requests must sign the X-Amz-Region-Set header.")
        region_set = [r.strip() for r in lower["x-amz-region-set"].split(",")]
        if not any(fnmatch.fnmatchcase(self.region, pattern) for pattern in region_set):
            raise SignatureRejectedError(
                f"The signature's region set {','.join(region_set)} does not include this region, {self.region}."
            )
        to_sign = f"{SIGV4A}\n{lower['x-amz-date']}\n{'/'.join(scope)}\n{digest}"
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            sigv4a_public_key(access_key, secret).verify(
                bytes.fromhex(match["signature"]), to_sign.encode(), ec.ECDSA(hashes.SHA256())
            )
        except (InvalidSignature, ValueError):
            raise SignatureRejectedError(MISMATCH) from None
        return access_key


# -------------------------------------------------------------------------------------------
# A stand-in regional front door


def ping_answer(describe: Callable[[], Mapping[str, Any]]) -> tuple[int, dict[str, str]]:
    """What the stage's `/ping` answers: DescribeEndpoint's status through the mapping template
    (200 while serving, else 503), or 503 when DescribeEndpoint itself fails."""
    try:
        status = describe()["EndpointStatus"]
    except Exception:  # noqa: BLE001 - any refusal (missing endpoint, throttling) is a 4XX/5XX: 503
        return 503, {"status": "unavailable", "endpoint_status": "unknown"}
    if status in SERVING_STATUSES:
        return 200, {"status": "ok", "endpoint_status": status}
    return 503, {"status": "unavailable", "endpoint_status": status}


class RegionalFrontDoor:
    """One region's stage on 127.0.0.1: checks signatures like API Gateway, answers `/ping`
    from DescribeEndpoint and `/invocations` from the endpoint's state (a non-serving endpoint
    is SageMaker's 5XX, which the stage maps to 502)."""

    def __init__(self, region: str, stage: str, checker: SignatureChecker, sagemaker: Any, endpoint_name: str):
        self.region, self.stage, self.checker = region, stage, checker
        self._describe = lambda: sagemaker.describe_endpoint(EndpointName=endpoint_name)
        door = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return

            def _answer(self, status: int, body: Mapping[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 403:
                    self.send_header("x-amzn-ErrorType", "ForbiddenException")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path != f"/{door.stage}/ping":
                    return self._answer(403, {"message": "Missing Authentication Token"})
                status, body = ping_answer(door._describe)
                return self._answer(status, body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != f"/{door.stage}/invocations":
                    return self._answer(403, {"message": "Missing Authentication Token"})
                try:
                    door.checker.check("POST", self.path, dict(self.headers.items()), body)
                except SignatureRejectedError as rejected:
                    return self._answer(403, {"message": str(rejected)})
                status, state = ping_answer(door._describe)
                if status != 200:
                    return self._answer(502, {"message": f"endpoint {state['endpoint_status']}"})
                return self._answer(200, {"region": door.region, "predictions": [1]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{self.stage}"

    def __enter__(self) -> RegionalFrontDoor:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


# -------------------------------------------------------------------------------------------
# Route 53 on a simulated clock


@dataclass
class HealthCheck:
    """One region's HTTPS check of /ping: unhealthy after `threshold` failures in a row,
    healthy after as many successes (Route 53's failure threshold works both ways).
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html"""

    threshold: int
    healthy: bool = True
    streak: int = 0

    def observe(self, ok: bool) -> bool:
        """Record one check; True when the health changed."""
        if ok == self.healthy:
            self.streak = 0
            return False
        self.streak += 1
        if self.streak >= self.threshold:
            self.healthy, self.streak = ok, 0
            return True
        return False


@dataclass
class Resolver:
    """A resolver caching the failover record's answer for its TTL."""

    ttl: int
    answer: str | None = None
    expires: float = -1.0

    def resolve(self, now: float, authoritative: str) -> str:
        if self.answer is None or now >= self.expires:
            self.answer, self.expires = authoritative, now + self.ttl
        return self.answer


@dataclass
class DrillReport:
    events: list[str] = field(default_factory=list)
    rto_seconds: dict[str, float | None] = field(default_factory=dict)
    failback_seconds: dict[str, float | None] = field(default_factory=dict)
    computed_rto_seconds: int = 0

    def passed(self) -> bool:
        dns = self.rto_seconds.get("dns")
        return (
            all(v is not None for v in (*self.rto_seconds.values(), *self.failback_seconds.values()))
            and dns is not None
            and dns <= self.computed_rto_seconds
        )


def run_drill(
    config: Any, stack: str, out: TextIO, *, fail_at: int = 20, recover_after: int = 300, horizon: int = 900
) -> DrillReport:
    """The drill of the module docstring; returns what it measured."""
    import boto3
    from botocore.credentials import Credentials
    from moto import mock_aws
    from moto.sagemaker.models import sagemaker_backends

    from failover_client import BreakerPolicy, FailoverClient, FrontDoorClient, RegionEndpoint, RetryPolicy, Timeouts

    failover, stage = config.failover, config.api.stage_name
    regions = config.regions.by_role()
    primary, secondary = regions["primary"], regions["secondary"]
    endpoint_name = f"{PROJECT}-{stack}"
    credentials = Credentials("AKIADRILLEXAMPLE0001", "drill/secret/key/only/for/the/stand-ins")
    report = DrillReport(computed_rto_seconds=recovery_objectives(config)["rto_seconds"])

    def say(now: float, text: str) -> None:
        line = f"t={now:>5.0f}s  {text}"
        report.events.append(line)
        print(line, file=out)

    with mock_aws():
        clients = {}
        for region in (primary, secondary):
            sm = boto3.client("sagemaker", region_name=region, aws_access_key_id="testing", aws_secret_access_key="x")
            sm.create_model(
                ModelName=endpoint_name,
                ExecutionRoleArn="arn:aws:iam::123456789012:role/drill",
                PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"},
            )
            sm.create_endpoint_config(
                EndpointConfigName=endpoint_name,
                ProductionVariants=[
                    {
                        "VariantName": "primary",
                        "ModelName": endpoint_name,
                        "InitialInstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                    }
                ],
            )
            sm.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=endpoint_name)
            clients[region] = sm

        def set_status(region: str, status: str) -> None:
            for backend in sagemaker_backends.values():
                if region in backend and endpoint_name in backend[region].endpoints:
                    backend[region].endpoints[endpoint_name].endpoint_status = status

        secrets = {credentials.access_key: credentials.secret_key}
        doors = {
            region: RegionalFrontDoor(region, stage, SignatureChecker(region, secrets), clients[region], endpoint_name)
            for region in (primary, secondary)
        }
        with doors[primary], doors[secondary]:
            region_set = [primary, secondary]
            timeouts = Timeouts(connect_seconds=1, read_seconds=2)
            now = [0.0]
            urls = {r: f"{d.base_url}/invocations" for r, d in doors.items()}
            direct = {r: FrontDoorClient(urls[r], region_set, timeouts, credentials=credentials) for r in urls}
            failover_client = FailoverClient(
                [RegionEndpoint(r, endpoint_name, urls[r]) for r in region_set],
                retry=RetryPolicy(max_attempts=2, base_delay_seconds=0.0, max_delay_seconds=0.0),
                breaker=BreakerPolicy(failure_threshold=3, cooldown_seconds=30),
                client_factory=lambda region, _t: direct[region],
                clock=lambda: now[0],
                sleep=lambda _s: None,
            )
            _show_region_bound_signature(doors, credentials, primary, secondary, say)
            checks = {r: HealthCheck(failover.health_check_failure_threshold) for r in region_set}
            resolver = Resolver(failover.dns_ttl_seconds)
            served: dict[str, str | None] = {"dns": None, "client": None}
            failed_at = recovered_at = None
            switched: dict[str, float | None] = {"dns": None, "client": None}
            back: dict[str, float | None] = {"dns": None, "client": None}
            say(0, f"both endpoints InService; callers sign with SigV4A for {','.join(region_set)}")
            for second in range(horizon + 1):
                now[0] = float(second)
                if second == fail_at:
                    set_status(primary, "Failed")
                    failed_at = now[0]
                    say(now[0], f"primary endpoint {endpoint_name} in {primary} marked Failed")
                if failed_at is not None and recovered_at is None and second == fail_at + recover_after:
                    set_status(primary, "InService")
                    recovered_at = now[0]
                    say(now[0], f"primary endpoint {endpoint_name} in {primary} InService again")
                if second % failover.health_check_interval_seconds == 0:
                    for region, check in checks.items():
                        status, body = _get(f"{doors[region].base_url}/ping")
                        if check.observe(status == 200):
                            health = "healthy" if check.healthy else "UNHEALTHY"
                            say(now[0], f"health check {region}: {health} (/ping answered {status} {body})")
                authoritative = primary if checks[primary].healthy or not checks[secondary].healthy else secondary
                dns_region = resolver.resolve(now[0], authoritative)
                results = {
                    "dns": _call(
                        lambda r=dns_region: direct[r].invoke_endpoint(
                            EndpointName=endpoint_name, Body=b"1,2\n", ContentType="text/csv", Accept="application/json"
                        ),
                        dns_region,
                    ),
                    "client": _call_failover(failover_client),
                }
                for caller, region in results.items():
                    if region != served[caller]:
                        say(now[0], f"{caller} caller: served by {region or 'nobody (every attempt failed)'}")
                        served[caller] = region
                    if failed_at is not None and switched[caller] is None and region == secondary:
                        switched[caller] = now[0] - failed_at
                    if recovered_at is not None and back[caller] is None and region == primary:
                        back[caller] = now[0] - recovered_at
                if recovered_at is not None and all(v is not None for v in back.values()):
                    break
            report.rto_seconds, report.failback_seconds = switched, back
    print("", file=out)
    for caller, label in (("dns", "through the failover name"), ("client", "FailoverClient, regional front doors")):
        print(
            f"client-side RTO, {label}: {_seconds(switched[caller])}; back on the primary "
            f"{_seconds(back[caller])} after it recovered",
            file=out,
        )
    print(f"RTO the settings imply (make plan): {report.computed_rto_seconds} s", file=out)
    return report


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f} s"


def _get(url: str) -> tuple[int, Any]:
    from urllib.error import HTTPError
    from urllib.request import urlopen

    try:
        with urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _call(invoke: Callable[[], Any], region: str) -> str | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        invoke()
    except (ClientError, BotoCoreError):
        return None
    return region


def _call_failover(client: Any) -> str | None:
    from failover_client import AllRegionsFailedError

    try:
        return client.invoke(b"1,2\n").region
    except AllRegionsFailedError:
        return None


def _show_region_bound_signature(
    doors: Mapping[str, RegionalFrontDoor], credentials: Any, primary: str, secondary: str, say: Callable
) -> None:
    """Why SigV4A: a SigV4 request signed for the primary, replayed to the secondary."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.httpsession import URLLib3Session

    url = f"{doors[secondary].base_url}/invocations"
    request = AWSRequest(method="POST", url=url, data=b"1,2\n", headers={"Content-Type": "text/csv"})
    SigV4Auth(credentials, SERVICE, primary).add_auth(request)
    response = URLLib3Session().send(request.prepare())
    message = json.loads(response.content).get("message", "")
    say(0, f"SigV4 request signed for {primary}, sent to {secondary}: HTTP {response.status_code} {message!r}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m offline.failover_drill", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", required=True, help="stack whose Pulumi.<stack>.yaml to drill (needs failover)")
    parser.add_argument("--fail-at", type=int, default=20, help="second at which the primary endpoint fails")
    parser.add_argument("--recover-after", type=int, default=300, help="seconds the primary stays failed")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON at the end")
    return parser.parse_args(argv)


def load_config(stack: str) -> Any:
    """The stack's validated config, read from `Pulumi.<stack>.yaml` as `make plan` reads it."""
    from offline.engine import stack_file
    from offline.plan import load_config as plan_config

    if not stack_file(stack).exists():
        raise StackConfigError([f"stack: no {stack_file(stack).name} (got {stack!r}; expected an existing stack)"])
    return plan_config(stack)


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = parse_args(argv)
    if args.fail_at < 0 or args.recover_after < 1:
        print(f"--fail-at must be >= 0 and --recover-after >= 1 (got {args.fail_at}, {args.recover_after})", file=out)
        return EXIT_USAGE
    try:
        config = load_config(args.stack)
    except StackConfigError as error:
        print(f"{args.stack}: {error}", file=out)
        return EXIT_USAGE
    if config.failover is None or config.api is None or config.regions.secondary is None:
        print(f"{args.stack}: no failover to drill (set api, standby, regions.secondary and failover)", file=out)
        return EXIT_USAGE
    # Every failed attempt is logged at WARNING by failover_client; the drill prints its own timeline.
    logging.getLogger("failover_client").setLevel(logging.ERROR)
    report = run_drill(config, args.stack, out, fail_at=args.fail_at, recover_after=args.recover_after)
    if args.json:
        print(
            json.dumps(
                {
                    "rto_seconds": report.rto_seconds,
                    "failback_seconds": report.failback_seconds,
                    "computed_rto_seconds": report.computed_rto_seconds,
                }
            ),
            file=out,
        )
    return EXIT_OK if report.passed() else EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
