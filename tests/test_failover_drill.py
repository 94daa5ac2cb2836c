"""SigV4A for the front door, and the failover drill.

The signing side is the client's own library (`failover_client.FrontDoorClient`: botocore's
`CrtSigV4AsymAuth` on awscrt). The checking side is `offline.failover_drill.SignatureChecker`,
written from the SigV4/SigV4A specification (canonical request, KDF-derived P-256 key, ECDSA
verify) and independent of awscrt. What this cannot prove: that API Gateway itself accepts
SigV4A on a REST API with IAM authorization; that is checked against a deployed stack (see
RUNBOOK "Client-side failover").
"""

from __future__ import annotations

import io
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from moto import mock_aws

from failover_client import (
    FailoverClient,
    FrontDoorClient,
    RegionEndpoint,
    RequestRejectedError,
    Timeouts,
    sigv4a_signer,
)
from offline import failover_drill
from offline.failover_drill import (
    HealthCheck,
    RegionalFrontDoor,
    Resolver,
    SignatureChecker,
    SignatureRejectedError,
    ping_answer,
)

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
CREDENTIALS = Credentials("AKIAFRONTDOOREXAMPLE", "front/door/secret/key/for/tests/only")
SECRETS = {CREDENTIALS.access_key: CREDENTIALS.secret_key}
URL = "https://api.ml.example.com/invocations"
BODY = b"17.99,10.38,122.8\n"


def signed(sign, url: str = URL, body: bytes = BODY) -> AWSRequest:
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "text/csv"})
    sign.add_auth(request)
    return request


def check(region: str, request: AWSRequest, body: bytes = BODY) -> str:
    path = request.url.split("://", 1)[1].split("/", 1)[1]
    headers = {**dict(request.headers), "Host": request.url.split("/")[2]}
    return SignatureChecker(region, SECRETS).check("POST", f"/{path}", headers, body)


def test_one_sigv4a_signature_is_accepted_by_both_regions():
    request = signed(sigv4a_signer(CREDENTIALS, [PRIMARY, SECONDARY]))
    assert request.headers["X-Amz-Region-Set"] == "us-east-1,us-west-2"
    assert request.headers["Authorization"].startswith(f"AWS4-ECDSA-P256-SHA256 Credential={CREDENTIALS.access_key}/")
    assert "/execute-api/aws4_request" in request.headers["Authorization"]
    # The same bytes, checked as each region's API Gateway checks them.
    assert check(PRIMARY, request) == CREDENTIALS.access_key
    assert check(SECONDARY, request) == CREDENTIALS.access_key


def test_a_sigv4_signature_is_refused_by_the_other_region():
    request = signed(SigV4Auth(CREDENTIALS, "execute-api", PRIMARY))
    assert check(PRIMARY, request) == CREDENTIALS.access_key
    with pytest.raises(SignatureRejectedError) as caught:
        check(SECONDARY, request)
    assert str(caught.value) == "Credential should be scoped to a valid region, not 'us-east-1'. "


def test_sigv4a_outside_its_region_set_or_tampered_is_refused():
    only_primary = signed(sigv4a_signer(CREDENTIALS, [PRIMARY]))
    with pytest.raises(SignatureRejectedError) as caught:
        check(SECONDARY, only_primary)
    assert str(caught.value) == "The signature's region set us-east-1 does not include this region, us-west-2."
    request = signed(sigv4a_signer(CREDENTIALS, [PRIMARY, SECONDARY]))
    with pytest.raises(SignatureRejectedError) as caught:
        check(SECONDARY, request, body=b"1,2,3\n")
    assert str(caught.value) == "The request signature we calculated does not match the signature you provided."
    wildcard = signed(sigv4a_signer(CREDENTIALS, ["us-*"]))
    assert check(SECONDARY, wildcard) == CREDENTIALS.access_key
    with pytest.raises(ValueError) as empty:
        sigv4a_signer(CREDENTIALS, [])
    assert str(empty.value) == "a SigV4A region set needs at least one region (got none)"


def test_ping_mirrors_the_stage_mapping_template():
    assert ping_answer(lambda: {"EndpointStatus": "Updating"}) == (200, {"status": "ok", "endpoint_status": "Updating"})
    assert ping_answer(lambda: {"EndpointStatus": "Failed"}) == (
        503,
        {"status": "unavailable", "endpoint_status": "Failed"},
    )

    def missing():
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "Could not find endpoint"}}, "D")

    assert ping_answer(missing) == (503, {"status": "unavailable", "endpoint_status": "unknown"})


def test_health_check_and_resolver_follow_route53_and_the_ttl():
    check_ = HealthCheck(threshold=3)
    assert [check_.observe(ok) for ok in (False, False, True, False, False, False)] == [
        False,
        False,
        False,
        False,
        False,
        True,
    ]
    assert check_.healthy is False
    resolver = Resolver(ttl=60)
    assert resolver.resolve(0, PRIMARY) == PRIMARY
    assert resolver.resolve(59, SECONDARY) == PRIMARY  # cached
    assert resolver.resolve(60, SECONDARY) == SECONDARY


@pytest.fixture
def front_doors():
    """Both regions' stand-in stages over moto endpoints; the primary's endpoint Failed."""
    import boto3

    with mock_aws():
        doors = {}
        for region in (PRIMARY, SECONDARY):
            sm = boto3.client("sagemaker", region_name=region)
            sm.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::123456789012:role/r", PrimaryContainer={})
            sm.create_endpoint_config(
                EndpointConfigName="m",
                ProductionVariants=[
                    {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
                ],
            )
            sm.create_endpoint(EndpointName="m", EndpointConfigName="m")
            doors[region] = RegionalFrontDoor(region, "v1", SignatureChecker(region, SECRETS), sm, "m")
        with doors[PRIMARY], doors[SECONDARY]:
            yield doors


def test_the_front_door_client_fails_over_with_one_signature_scheme(front_doors, monkeypatch):
    from moto.sagemaker.models import sagemaker_backends

    for backend in sagemaker_backends.values():
        if PRIMARY in backend and "m" in backend[PRIMARY].endpoints:
            backend[PRIMARY].endpoints["m"].endpoint_status = "Failed"
    outputs = {
        "endpoints": {
            "primary": {"region": PRIMARY, "endpoint_name": "m", "endpoint_config_name": "m", "variant_name": "v"},
            "secondary": {"region": SECONDARY, "endpoint_name": "m", "endpoint_config_name": "m", "variant_name": "v"},
        },
        "api_invoke_urls": {
            "secondary": f"{front_doors[SECONDARY].base_url}/invocations",
            "primary": f"{front_doors[PRIMARY].base_url}/invocations",
        },
    }
    client = FailoverClient.from_front_doors(outputs, credentials=CREDENTIALS, sleep=lambda s: None)
    assert [(t.region, t.url) for t in client.targets] == [
        (PRIMARY, outputs["api_invoke_urls"]["primary"]),
        (SECONDARY, outputs["api_invoke_urls"]["secondary"]),
    ]
    result = client.invoke(BODY)
    assert (result.region, result.attempts) == (SECONDARY, 4)
    assert json.loads(result.body) == {"region": SECONDARY, "predictions": [1]}
    assert client.breakers[PRIMARY].last_error == "HTTP502 (HTTP 502): endpoint Failed"


def test_a_refused_signature_is_the_callers_fault(front_doors):
    url = f"{front_doors[SECONDARY].base_url}/invocations"
    client = FrontDoorClient(url, [PRIMARY], Timeouts(), credentials=CREDENTIALS)
    with pytest.raises(ClientError) as caught:
        client.invoke_endpoint(EndpointName="m", Body=BODY, ContentType="text/csv", Accept="application/json")
    assert caught.value.response["Error"] == {
        "Code": "ForbiddenException",
        "Message": "The signature's region set us-east-1 does not include this region, us-west-2.",
    }
    # A refused signature is not retried and not failed over: the other region would refuse it too.
    failover = FailoverClient([RegionEndpoint(SECONDARY, "m", url)], client_factory=lambda region, t: client)
    with pytest.raises(RequestRejectedError) as rejected:
        failover.invoke(BODY)
    assert (rejected.value.region, rejected.value.attempts) == (SECONDARY, 1)


def test_the_drill_fails_over_and_back_within_the_computed_rto():
    out = io.StringIO()
    assert failover_drill.main(["--stack", "prod", "--json"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "t=    0s  SigV4 request signed for us-east-1, sent to us-west-2: HTTP 403 "
        "\"Credential should be scoped to a valid region, not 'us-east-1'. \""
    )
    assert "t=   20s  primary endpoint ml-platform-prod in us-east-1 marked Failed" in lines
    assert "t=   20s  client caller: served by us-west-2" in lines
    assert (
        "t=   40s  health check us-east-1: UNHEALTHY (/ping answered 503 "
        "{'status': 'unavailable', 'endpoint_status': 'Failed'})"
    ) in lines
    assert "t=   60s  dns caller: served by us-west-2" in lines
    assert "t=  320s  primary endpoint ml-platform-prod in us-east-1 InService again" in lines
    assert "t=  360s  dns caller: served by us-east-1" in lines
    assert json.loads(lines[-1]) == {
        "rto_seconds": {"dns": 40.0, "client": 0.0},
        "failback_seconds": {"dns": 40.0, "client": 1.0},
        "computed_rto_seconds": 240,
    }
    assert "client-side RTO, through the failover name: 40 s; back on the primary 40 s after it recovered" in lines


def test_the_drill_refuses_a_stack_without_failover():
    out = io.StringIO()
    assert failover_drill.main(["--stack", "dev"], out=out) == 2
    assert out.getvalue() == "dev: no failover to drill (set api, standby, regions.secondary and failover)\n"
