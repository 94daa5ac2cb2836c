"""Client-side region failover for callers that invoke the SageMaker endpoints with the SDK.

    import json
    from pathlib import Path

    from failover_client import FailoverClient

    # `pulumi stack output --json --stack prod > outputs.json`, or the Automation API's
    # `{k: v.value for k, v in stack.outputs().items()}`
    outputs = json.loads(Path("outputs.json").read_text())
    client = FailoverClient.from_stack_outputs(outputs)
    result = client.invoke(b"17.99,10.38,...\\n", content_type="text/csv")
    result.body, result.region, result.attempts

Regions are tried in order (primary first). In each region:

- the call has connect and read timeouts, and botocore's own retries are off: this client
  owns retrying, so attempts are counted once and never multiplied;
- throttling, 5XX answers (including a model error whose container answered 5XX, and
  `ModelNotReadyException`) and connection or read-timeout errors are retried with full-jitter
  exponential backoff, up to `RetryPolicy.max_attempts` calls, then the next region is tried.
  Inference is a pure function of the body, so repeating a call that may have been served is safe;
- any other 4XX is the caller's mistake: `RequestRejectedError` at once, no retry, no failover
  (another region would refuse the same body).

A circuit breaker per region counts consecutive failed calls. At `BreakerPolicy.failure_threshold`
it opens: calls skip that region for `cooldown_seconds` instead of waiting on it. After the
cooldown one call probes it (half-open, a single attempt): success closes the circuit, failure
opens it for another cooldown. A rejected request (4XX) proves the region answers, so it counts
as a success.

Every call returns the body and which region served it, with the attempts it took. When no
region serves it, `AllRegionsFailedError` lists each region's last error. One client may be
shared by threads: the breakers are locked, and boto3 clients are thread-safe.

Through the regional front doors instead of the SDK (the same retries, breakers and failover):

    client = FailoverClient.from_front_doors(outputs)

POSTs to each region's `POST /invocations` (the `api_invoke_urls` output, primary first),
signed with SigV4A for the stack's regions (`X-Amz-Region-Set: us-east-1,us-west-2`), so the
same signature is accepted by either region's API: before a failover, after it, and when DNS
(`failover.domain_name`, `FrontDoorClient(url=...)` on its own) moves between them. A SigV4
signature names one region, and the other region's API Gateway refuses it with 403
("Credential should be scoped to a valid region"). Signing needs `awscrt` (pinned).
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html; API Gateway REST APIs
with IAM authorization take SigV4a and SigV4:
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import boto3
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.httpsession import URLLib3Session
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

from failover_client.stack_outputs import OutputsError, endpoints, role_order, section

logger = logging.getLogger("failover_client")

# botocore's list of throttling error codes (standard retry mode), plus SageMaker's own 429.
_THROTTLING = ThrottledRetryableChecker()
RETRYABLE_CODES = frozenset({"ModelNotReadyException"})
ENDPOINT_NOT_FOUND = re.compile(r"^Endpoint \S+ of account \S+ not found")


@dataclass(frozen=True)
class RegionEndpoint:
    """One region to try. `url`: its front door's `POST /invocations` URL, for clients made by
    `front_door_client_factory`; None for the SDK client (it calls SageMaker runtime)."""

    region: str
    endpoint_name: str
    url: str | None = None


@dataclass(frozen=True)
class Timeouts:
    """Per attempt. SageMaker itself gives a container 60 s to answer an invocation."""

    connect_seconds: float = 2.0
    read_seconds: float = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per region per call, and the full-jitter backoff between them:
    sleep = uniform(0, min(max_delay, base_delay x 2^(attempt - 1)))."""

    max_attempts: int = 3
    base_delay_seconds: float = 0.1
    max_delay_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be at least 1 (got {self.max_attempts})")

    def delay(self, attempt: int, unit_random: float) -> float:
        return unit_random * min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (attempt - 1))


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    cooldown_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(f"BreakerPolicy.failure_threshold must be at least 1 (got {self.failure_threshold})")


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """closed -> open after `failure_threshold` consecutive failures -> half-open (one probe)
    once `cooldown_seconds` have passed -> closed on the probe's success, open again on its failure."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.last_error: str | None = None

    def acquire(self) -> BreakerState | None:
        """The state a call may proceed in (CLOSED, or HALF_OPEN for the one probe), or None to skip."""
        with self._lock:
            if self.state is BreakerState.CLOSED:
                return BreakerState.CLOSED
            if (
                self.state is BreakerState.OPEN
                and self._clock() - (self.opened_at or 0.0) >= self.policy.cooldown_seconds
            ):
                self.state = BreakerState.HALF_OPEN
                return BreakerState.HALF_OPEN
            return None  # open and cooling down, or another caller's probe is in flight

    def seconds_until_probe(self) -> float:
        with self._lock:
            if self.state is not BreakerState.OPEN or self.opened_at is None:
                return 0.0
            return max(0.0, self.policy.cooldown_seconds - (self._clock() - self.opened_at))

    def record_success(self) -> None:
        with self._lock:
            self.state, self.consecutive_failures, self.opened_at = BreakerState.CLOSED, 0, None

    def abandon_probe(self) -> None:
        """A probe ended without an answer either way (e.g. the caller's bad parameters): the next call probes."""
        with self._lock:
            if self.state is BreakerState.HALF_OPEN:
                self.state = BreakerState.OPEN

    def record_failure(self, error: str) -> None:
        with self._lock:
            self.consecutive_failures += 1
            self.last_error = error
            if self.state is BreakerState.HALF_OPEN or self.consecutive_failures >= self.policy.failure_threshold:
                self.state, self.opened_at = BreakerState.OPEN, self._clock()


@dataclass(frozen=True)
class InvokeResult:
    body: bytes
    content_type: str | None
    region: str
    endpoint_name: str
    attempts: int  # calls made for this invocation, over every region tried
    invoked_variant: str | None = None


class AllRegionsFailedError(Exception):
    """No region served the call. `errors` maps each region to its last error."""

    def __init__(self, errors: Mapping[str, str], attempts: int) -> None:
        self.errors = dict(errors)
        self.attempts = attempts
        listed = "; ".join(f"{region}: {error}" for region, error in self.errors.items())
        super().__init__(f"every region failed ({attempts} attempts): {listed}")


class RequestRejectedError(Exception):
    """A region refused the request itself (4XX other than throttling): not retried, not failed over.
    The botocore `ClientError` is `__cause__` and `error`."""

    def __init__(self, region: str, error: ClientError, attempts: int) -> None:
        self.region, self.error, self.attempts = region, error, attempts
        super().__init__(f"{region} rejected the request: {describe_error(error)}; fix the request, it was not retried")


def describe_error(error: Exception) -> str:
    """One line naming the error: `ServiceUnavailable (HTTP 503): message`, or the exception."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = f"{info.get('Code', 'error')} (HTTP {status}): {info.get('Message', '')}".rstrip(": ")
        original = error.response.get("OriginalStatusCode")
        if original is not None:
            message = error.response.get("OriginalMessage")
            text += f" [container answered {original}" + (f": {message}]" if message else "]")
        return text
    return f"{type(error).__name__}: {error}"


def is_retryable(error: Exception) -> bool:
    """Throttling, 5XX, a container's 5XX, model not ready, connection and timeout errors."""
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return True
    if not isinstance(error, ClientError):
        return False
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    code = error.response.get("Error", {}).get("Code")
    if status >= 500 or status == 429 or code in RETRYABLE_CODES:
        return True
    if _THROTTLING.is_retryable(RetryContext(attempt_number=1, parsed_response=error.response)):
        return True
    # A deleted endpoint answers ValidationError (400) "Endpoint <name> of account <id> not
    # found.": the region cannot serve, another region can (the same body is fine there).
    if code == "ValidationError" and ENDPOINT_NOT_FOUND.match(error.response.get("Error", {}).get("Message", "")):
        return True
    # ModelError (424): the container answered with an error; its own 5XX is the region's problem.
    original = error.response.get("OriginalStatusCode")
    return code == "ModelError" and isinstance(original, int) and original >= 500


def runtime_client(region: str, timeouts: Timeouts) -> Any:
    """A sagemaker-runtime client with these timeouts and botocore's retries off (one attempt)."""
    config = Config(
        connect_timeout=timeouts.connect_seconds,
        read_timeout=timeouts.read_seconds,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    return boto3.client("sagemaker-runtime", region_name=region, config=config)


# -------------------------------------------------------------------------------------------
# The regional front doors, signed with SigV4A

FRONT_DOOR_SERVICE = "execute-api"


def sigv4a_signer(credentials: Any, region_set: Sequence[str]) -> Any:
    """botocore's SigV4A signer (`awscrt` under it) for API Gateway, valid in every region of
    `region_set`: it signs `X-Amz-Region-Set` with them, and any of those regions accepts it."""
    from botocore.crt.auth import CrtSigV4AsymAuth  # needs awscrt

    if not region_set:
        raise ValueError("a SigV4A region set needs at least one region (got none)")
    return CrtSigV4AsymAuth(credentials, FRONT_DOOR_SERVICE, ",".join(region_set))


class FrontDoorClient:
    """`invoke_endpoint` over HTTPS to one front door URL, signed with SigV4A; an HTTP error
    is raised as botocore's `ClientError` (HTTP status, `x-amzn-ErrorType` as the code), a
    connection or timeout error as botocore's, so `FailoverClient` treats both alike."""

    def __init__(
        self,
        url: str,
        region_set: Sequence[str],
        timeouts: Timeouts,
        credentials: Any = None,
        session: Any = None,
    ) -> None:
        self.url = url
        if credentials is None:
            credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        self._signer = sigv4a_signer(credentials, region_set)
        self._http = session or URLLib3Session(timeout=(timeouts.connect_seconds, timeouts.read_seconds))

    def invoke_endpoint(  # the SDK's parameter names, so FailoverClient calls both alike
        self,
        *,
        EndpointName: str,  # noqa: N803
        Body: bytes | str,  # noqa: N803
        ContentType: str,  # noqa: N803
        Accept: str,  # noqa: N803
        **extra: Any,
    ) -> dict[str, Any]:
        """POST the body; `EndpointName` is the API's own (each front door fronts one endpoint)."""
        body = Body.encode() if isinstance(Body, str) else Body
        headers = {"Content-Type": ContentType, "Accept": Accept}
        if "CustomAttributes" in extra:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = extra["CustomAttributes"]
        request = AWSRequest(method="POST", url=self.url, data=body, headers=headers)
        self._signer.add_auth(request)
        response = self._http.send(request.prepare())
        payload = response.content
        if response.status_code >= 400:
            code = (response.headers.get("x-amzn-ErrorType") or f"HTTP{response.status_code}").split(":")[0]
            try:
                message = json.loads(payload).get("message") or json.loads(payload).get("Message") or ""
            except (ValueError, AttributeError):
                message = payload.decode(errors="replace")[:200]
            raise ClientError(
                {
                    "Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": response.status_code, "HTTPHeaders": dict(response.headers)},
                },
                "InvokeFrontDoor",
            )
        return {"Body": io.BytesIO(payload), "ContentType": response.headers.get("Content-Type")}


def front_door_client_factory(
    urls: Mapping[str, str], region_set: Sequence[str], credentials: Any = None, session: Any = None
) -> Callable[[str, Timeouts], FrontDoorClient]:
    """A `client_factory` for `FailoverClient`: region -> a SigV4A client of its front door."""

    def make(region: str, timeouts: Timeouts) -> FrontDoorClient:
        return FrontDoorClient(urls[region], region_set, timeouts, credentials=credentials, session=session)

    return make


def front_door_targets(outputs: Mapping[str, Any]) -> list[RegionEndpoint]:
    """The front doors from the stack's `api_invoke_urls` output (role -> URL), primary first,
    each with its region and endpoint from the `endpoints` output."""
    urls = section(outputs, "api_invoke_urls", dict[str, str], "the stack declares no api section")
    by_role = {e.role: e for e in endpoints(outputs)}
    missing = [role for role in urls if role not in by_role]
    if missing:
        raise OutputsError(f"outputs: api_invoke_urls: roles {missing} have no entry in endpoints")
    return [RegionEndpoint(by_role[r].region, by_role[r].endpoint_name, urls[r]) for r in role_order(urls)]


@dataclass
class FailoverClient:
    """Invoke the first region that serves the call; see the module docstring for the rules."""

    targets: Sequence[RegionEndpoint]
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    client_factory: Callable[[str, Timeouts], Any] = runtime_client
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        regions = [t.region for t in self.targets]
        if not regions:
            raise ValueError("FailoverClient needs at least one region endpoint")
        if len(set(regions)) != len(regions):
            raise ValueError(f"FailoverClient regions must be distinct (got {regions})")
        self._clients = {t.region: self.client_factory(t.region, self.timeouts) for t in self.targets}
        self.breakers = {t.region: CircuitBreaker(self.breaker, self.clock) for t in self.targets}

    @classmethod
    def from_stack_outputs(cls, outputs: Mapping[str, Any], **options: Any) -> FailoverClient:
        """Targets from the stack's `endpoints` output, primary first (see `stack_outputs.endpoints`)."""
        targets = [RegionEndpoint(e.region, e.endpoint_name) for e in endpoints(outputs)]
        return cls(targets, **options)

    @classmethod
    def from_front_doors(
        cls, outputs: Mapping[str, Any], credentials: Any = None, session: Any = None, **options: Any
    ) -> FailoverClient:
        """Targets from the stack's regional front doors (`api_invoke_urls`), primary first,
        each request signed with SigV4A for every region of the stack."""
        targets = front_door_targets(outputs)
        urls = {t.region: t.url for t in targets if t.url}
        factory = front_door_client_factory(urls, [t.region for t in targets], credentials, session)
        return cls(targets, client_factory=factory, **options)

    def invoke(
        self, body: bytes | str, content_type: str = "text/csv", accept: str = "application/json", **extra: Any
    ) -> InvokeResult:
        """Invoke the endpoint; `extra` goes to `invoke_endpoint` as is (e.g. `CustomAttributes`)."""
        errors: dict[str, str] = {}
        attempts = 0
        for target in self.targets:
            breaker = self.breakers[target.region]
            state = breaker.acquire()
            if state is None:
                errors[target.region] = (
                    f"circuit open after {breaker.consecutive_failures} consecutive failures, next probe in "
                    f"{breaker.seconds_until_probe():.1f} s (last error: {breaker.last_error})"
                )
                continue
            allowed = 1 if state is BreakerState.HALF_OPEN else self.retry.max_attempts
            for attempt in range(1, allowed + 1):
                attempts += 1
                try:
                    response = self._clients[target.region].invoke_endpoint(
                        EndpointName=target.endpoint_name, Body=body, ContentType=content_type, Accept=accept, **extra
                    )
                    payload = response["Body"].read()
                except (ClientError, BotoConnectionError, HTTPClientError) as error:
                    if not is_retryable(error):
                        breaker.record_success()  # the region answered; the request is at fault
                        raise RequestRejectedError(target.region, error, attempts) from error
                    errors[target.region] = describe_error(error)
                    breaker.record_failure(errors[target.region])
                    logger.warning(
                        "%s attempt %d/%d failed: %s", target.region, attempt, allowed, errors[target.region]
                    )
                    if breaker.state is BreakerState.OPEN or attempt == allowed:
                        break
                    self.sleep(self.retry.delay(attempt, self.random()))
                    continue
                except Exception:
                    breaker.abandon_probe()
                    raise
                breaker.record_success()
                return InvokeResult(
                    body=payload,
                    content_type=response.get("ContentType"),
                    region=target.region,
                    endpoint_name=target.endpoint_name,
                    attempts=attempts,
                    invoked_variant=response.get("InvokedProductionVariant"),
                )
        raise AllRegionsFailedError(errors, attempts)
