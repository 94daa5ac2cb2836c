"""The failover client on moto in two regions.

Answers come from moto's sagemaker-runtime results queue. moto cannot fail an invocation, so
failures are injected at the client's transport: a `before-send` handler, registered ahead of
moto's, returns a real HTTP error response (status, `x-amzn-ErrorType` header, JSON body) that
botocore parses exactly as it would SageMaker's, or raises botocore's connection/timeout error.
Request parameters are still validated against the service model by the client itself.
The clock, sleep and jitter are injected, so backoff and cooldowns are asserted exactly.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from moto import mock_aws

from failover_client import (
    AllRegionsFailedError,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    FailoverClient,
    RegionEndpoint,
    RequestRejectedError,
    RetryPolicy,
    Timeouts,
    is_retryable,
    runtime_client,
)

MOTO_RESULTS_API = "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results"
PRIMARY, SECONDARY = "us-east-1", "us-west-2"
ENDPOINT = "ml-platform-prod"
ROW = b"17.99,10.38,122.8,1001,0.1184\n"


class Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs):
        yield self.body


def http_error(status: int, code: str, message: str, **fields):
    """A fault answering with a rest-json error response, as SageMaker runtime sends it."""
    body = json.dumps({"message": message, **fields}).encode()
    return lambda url: AWSResponse(
        url, status, {"x-amzn-ErrorType": code, "Content-Type": "application/json"}, Raw(body)
    )


UNAVAILABLE = http_error(503, "ServiceUnavailable", "Service is unavailable")
THROTTLED = http_error(400, "ThrottlingException", "Rate exceeded")
INVALID = http_error(
    400, "ValidationError", "1 validation error detected: Value at 'body' failed to satisfy constraint"
)
# A deleted endpoint: the region's fault, not the caller's (see is_retryable).
ENDPOINT_GONE = http_error(400, "ValidationError", "Endpoint ml-platform-prod of account 123456789012 not found.")


def disconnected(url: str):
    raise EndpointConnectionError(endpoint_url=url)


class Transport:
    """Counts each region's invocations and injects the queued faults; no fault: moto answers."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.faults: dict[str, list] = {PRIMARY: [], SECONDARY: []}
        self.down: dict[str, object] = {}

    def attach(self, region: str, client):
        def send(request, **kwargs):
            self.calls[region] += 1
            fault = self.faults[region].pop(0) if self.faults[region] else self.down.get(region)
            return fault(request.url) if fault else None

        client.meta.events.register_first("before-send.sagemaker-runtime.InvokeEndpoint", send)
        return client


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def answer(region: str, body: str) -> None:
    """Queue moto's answer to the next new invocation in `region`."""
    result = {"Body": body, "ContentType": "application/json", "InvokedProductionVariant": "primary"}
    assert requests.post(MOTO_RESULTS_API, json={"region": region, "results": [result]}, timeout=5).status_code == 201


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def transport():
    return Transport()


@pytest.fixture
def clock():
    return Clock()


def failover(transport: Transport, clock: Clock, **options) -> FailoverClient:
    return FailoverClient(
        [RegionEndpoint(PRIMARY, ENDPOINT), RegionEndpoint(SECONDARY, ENDPOINT)],
        client_factory=lambda region, timeouts: transport.attach(region, runtime_client(region, timeouts)),
        clock=clock,
        sleep=clock.sleep,
        random=lambda: 0.5,
        **options,
    )


def test_the_primary_serves_when_healthy(aws, transport, clock):
    answer(PRIMARY, '{"from": "east"}')

    result = failover(transport, clock).invoke(ROW)

    assert (result.body, result.region, result.endpoint_name, result.attempts) == (
        b'{"from": "east"}',
        PRIMARY,
        ENDPOINT,
        1,
    )
    assert (result.content_type, result.invoked_variant) == ("application/json", "primary")
    assert transport.calls == {PRIMARY: 1}


def test_a_failing_primary_is_retried_with_jittered_backoff_then_the_secondary_answers(aws, transport, clock):
    transport.faults[PRIMARY] = [UNAVAILABLE, THROTTLED, disconnected]
    answer(SECONDARY, '{"from": "west"}')

    result = failover(transport, clock).invoke(ROW)

    assert (result.body, result.region, result.attempts) == (b'{"from": "west"}', SECONDARY, 4)
    assert transport.calls == {PRIMARY: 3, SECONDARY: 1}
    # Full jitter with random() = 0.5: 0.5 x 0.1 s, then 0.5 x 0.2 s; no sleep before failing over.
    assert clock.slept == [0.05, 0.1]


def test_a_transient_failure_recovers_in_the_same_region(aws, transport, clock):
    transport.faults[PRIMARY] = [http_error(500, "InternalFailure", "An internal error occurred")]
    answer(PRIMARY, '{"from": "east"}')

    client = failover(transport, clock)
    result = client.invoke(ROW)

    assert (result.region, result.attempts, clock.slept) == (PRIMARY, 2, [0.05])
    # A success resets the count: one failure does not linger towards opening the circuit.
    assert (client.breakers[PRIMARY].state, client.breakers[PRIMARY].consecutive_failures) == (BreakerState.CLOSED, 0)


def test_the_circuit_opens_skips_the_dead_region_and_recovers_after_the_cooldown(aws, transport, clock):
    client = failover(
        transport,
        clock,
        retry=RetryPolicy(max_attempts=3),
        breaker=BreakerPolicy(failure_threshold=3, cooldown_seconds=30),
    )
    transport.down[PRIMARY] = UNAVAILABLE
    answer(SECONDARY, '{"call": 1}')

    first = client.invoke(b"1\n")
    assert (first.region, first.attempts, transport.calls[PRIMARY]) == (SECONDARY, 4, 3)
    assert client.breakers[PRIMARY].state is BreakerState.OPEN

    # Open: the primary is not called at all while it cools down.
    clock.now += 10
    answer(SECONDARY, '{"call": 2}')
    second = client.invoke(b"2\n")
    assert (second.region, second.attempts, transport.calls[PRIMARY]) == (SECONDARY, 1, 3)

    # After the cooldown one probe (a single attempt) goes to the primary; it still fails: open again.
    clock.now += 30
    answer(SECONDARY, '{"call": 3}')
    third = client.invoke(b"3\n")
    assert (third.region, third.attempts, transport.calls[PRIMARY]) == (SECONDARY, 2, 4)
    assert client.breakers[PRIMARY].state is BreakerState.OPEN

    # The primary comes back; the next probe after another cooldown succeeds and closes the circuit.
    del transport.down[PRIMARY]
    clock.now += 30
    answer(PRIMARY, '{"call": 4}')
    fourth = client.invoke(b"4\n")
    assert (fourth.body, fourth.region, fourth.attempts) == (b'{"call": 4}', PRIMARY, 1)
    assert client.breakers[PRIMARY].state is BreakerState.CLOSED
    assert client.breakers[PRIMARY].consecutive_failures == 0
    assert transport.calls == {PRIMARY: 5, SECONDARY: 3}


def test_both_regions_down_raise_one_error_listing_each_regions_last_error(aws, transport, clock):
    transport.down[PRIMARY] = disconnected
    transport.down[SECONDARY] = UNAVAILABLE

    with pytest.raises(AllRegionsFailedError) as failed:
        failover(transport, clock).invoke(ROW)

    assert failed.value.attempts == 6
    assert failed.value.errors == {
        PRIMARY: 'EndpointConnectionError: Could not connect to the endpoint URL: "https://runtime.sagemaker.'
        'us-east-1.amazonaws.com/endpoints/ml-platform-prod/invocations"',
        SECONDARY: "ServiceUnavailable (HTTP 503): Service is unavailable",
    }
    assert str(failed.value) == (
        "every region failed (6 attempts): us-east-1: EndpointConnectionError: Could not connect to the endpoint"
        ' URL: "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/ml-platform-prod/invocations";'
        " us-west-2: ServiceUnavailable (HTTP 503): Service is unavailable"
    )


def test_open_circuits_fail_fast_and_say_when_they_probe_again(aws, transport, clock):
    client = failover(transport, clock, breaker=BreakerPolicy(failure_threshold=1, cooldown_seconds=30))
    transport.down[PRIMARY] = transport.down[SECONDARY] = UNAVAILABLE
    with pytest.raises(AllRegionsFailedError):
        client.invoke(ROW)
    clock.now += 12.5

    with pytest.raises(AllRegionsFailedError) as failed:
        client.invoke(ROW)

    assert failed.value.attempts == 0
    assert failed.value.errors[PRIMARY] == (
        "circuit open after 1 consecutive failures, next probe in 17.5 s"
        " (last error: ServiceUnavailable (HTTP 503): Service is unavailable)"
    )
    assert transport.calls == {PRIMARY: 1, SECONDARY: 1}


def test_a_400_is_the_callers_fault_no_retry_no_failover(aws, transport, clock):
    transport.faults[PRIMARY] = [INVALID]
    client = failover(transport, clock)

    with pytest.raises(RequestRejectedError) as rejected:
        client.invoke(ROW)

    assert str(rejected.value) == (
        "us-east-1 rejected the request: ValidationError (HTTP 400): 1 validation error detected: Value at 'body'"
        " failed to satisfy constraint; fix the request, it was not retried"
    )
    assert (rejected.value.region, rejected.value.attempts) == (PRIMARY, 1)
    assert rejected.value.error.response["Error"]["Code"] == "ValidationError"
    assert transport.calls == {PRIMARY: 1}
    assert clock.slept == []
    assert client.breakers[PRIMARY].state is BreakerState.CLOSED


def test_a_model_error_follows_the_containers_own_status(aws, transport, clock):
    bad_row = http_error(
        424, "ModelError", "Received client error (400) from primary", OriginalStatusCode=400, OriginalMessage="row 1"
    )
    crashed = http_error(424, "ModelError", "Received server error (500) from primary", OriginalStatusCode=500)
    transport.faults[PRIMARY] = [bad_row]
    client = failover(transport, clock)

    with pytest.raises(RequestRejectedError) as rejected:
        client.invoke(ROW)
    assert str(rejected.value) == (
        "us-east-1 rejected the request: ModelError (HTTP 424): Received client error (400) from primary"
        " [container answered 400: row 1]; fix the request, it was not retried"
    )

    transport.faults[PRIMARY] = [crashed]
    answer(PRIMARY, '{"ok": true}')
    result = client.invoke(b"other row\n")
    assert (result.region, result.attempts) == (PRIMARY, 2)


def test_a_read_timeout_is_retried(aws, transport, clock):
    def timed_out(url):
        raise ReadTimeoutError(endpoint_url=url)

    transport.faults[PRIMARY] = [timed_out]
    answer(PRIMARY, '{"ok": true}')

    result = failover(transport, clock).invoke(ROW)

    assert (result.region, result.attempts) == (PRIMARY, 2)


def test_targets_come_from_the_stack_outputs_primary_first(aws):
    outputs = {
        "endpoints": {
            role: {
                "region": region,
                "endpoint_name": f"ml-platform-prod-{role}",
                "endpoint_config_name": "c",
                "variant_name": "primary",
            }
            for role, region in (("secondary", SECONDARY), ("primary", PRIMARY))
        }
    }

    client = FailoverClient.from_stack_outputs(outputs)

    assert client.targets == [
        RegionEndpoint(PRIMARY, "ml-platform-prod-primary"),
        RegionEndpoint(SECONDARY, "ml-platform-prod-secondary"),
    ]


def test_the_prod_programs_exports_give_primary_then_secondary(stack):
    client = FailoverClient.from_stack_outputs(stack("prod").outputs, client_factory=lambda region, timeouts: None)
    assert client.targets == [RegionEndpoint(PRIMARY, ENDPOINT), RegionEndpoint(SECONDARY, ENDPOINT)]


def test_the_runtime_client_has_the_timeouts_and_no_botocore_retries(aws):
    config = runtime_client(PRIMARY, Timeouts(connect_seconds=1.5, read_seconds=7)).meta.config
    assert (config.connect_timeout, config.read_timeout) == (1.5, 7)
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RetryPolicy(max_attempts=0), "RetryPolicy.max_attempts must be at least 1 (got 0)"),
        (lambda: BreakerPolicy(failure_threshold=0), "BreakerPolicy.failure_threshold must be at least 1 (got 0)"),
        (
            lambda: FailoverClient([], client_factory=lambda r, t: None),
            "FailoverClient needs at least one region endpoint",
        ),
        (
            lambda: FailoverClient(
                [RegionEndpoint(PRIMARY, "a"), RegionEndpoint(PRIMARY, "b")], client_factory=lambda r, t: None
            ),
            "FailoverClient regions must be distinct (got ['us-east-1', 'us-east-1'])",
        ),
    ],
)
def test_bad_settings_are_refused_with_the_value(build, message):
    with pytest.raises(ValueError) as refused:
        build()
    assert str(refused.value) == message


def test_the_breaker_lets_one_probe_through_at_a_time():
    clock = Clock()
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=2, cooldown_seconds=30), clock)
    assert breaker.acquire() is BreakerState.CLOSED
    breaker.record_failure("boom 1")
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure("boom 2")
    assert (breaker.state, breaker.last_error, breaker.seconds_until_probe()) == (BreakerState.OPEN, "boom 2", 30.0)

    clock.now += 29.9
    assert breaker.acquire() is None
    clock.now += 0.1
    assert breaker.acquire() is BreakerState.HALF_OPEN
    assert breaker.acquire() is None  # another caller, while the probe is in flight

    breaker.abandon_probe()  # the probe never reached the region (e.g. bad parameters)
    assert breaker.acquire() is BreakerState.HALF_OPEN
    breaker.record_success()
    assert (breaker.state, breaker.consecutive_failures, breaker.acquire()) == (
        BreakerState.CLOSED,
        0,
        BreakerState.CLOSED,
    )


@pytest.mark.parametrize(
    ("status", "code", "extra", "retryable"),
    [
        (400, "ThrottlingException", {}, True),
        (429, "ModelNotReadyException", {}, True),
        (500, "InternalFailure", {}, True),
        (503, "ServiceUnavailable", {}, True),
        (530, "InternalDependencyException", {}, True),
        (424, "ModelError", {"OriginalStatusCode": 503}, True),
        (424, "ModelError", {"OriginalStatusCode": 413}, False),
        (400, "ValidationError", {}, False),
        (403, "AccessDeniedException", {}, False),
    ],
)
def test_which_answers_are_retried(status, code, extra, retryable):
    error = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}, **extra},
        "InvokeEndpoint",
    )
    assert is_retryable(error) is retryable


def test_a_deleted_endpoint_fails_over_but_other_validation_errors_do_not():
    def validation(message: str) -> ClientError:
        return ClientError(
            {"Error": {"Code": "ValidationError", "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}},
            "InvokeEndpoint",
        )

    assert is_retryable(validation("Endpoint ml-platform-prod of account 123456789012 not found.")) is True
    assert is_retryable(validation("1 validation error detected: Value at 'body' failed")) is False


def test_a_deleted_primary_endpoint_fails_over_to_the_secondary(aws, transport, clock):
    transport.faults[PRIMARY] = [ENDPOINT_GONE] * 3
    answer(SECONDARY, '{"predictions": [1]}')
    client = failover(transport, clock)
    result = client.invoke(ROW)
    assert (result.region, result.attempts) == (SECONDARY, 4)
    assert client.breakers[PRIMARY].last_error == (
        "ValidationError (HTTP 400): Endpoint ml-platform-prod of account 123456789012 not found."
    )
