"""The front-door components built alone, from plain args (no stack file, no StackConfig): every
child's type, name and the inputs that matter, and the branches where a child is skipped.

The whole-stack wiring (which endpoint, which alarms, which region owns the validation record)
is in tests/test_frontdoor.py. What mocks cannot prove: that API Gateway accepts the templates,
that the stage's WAF association takes effect, or which input changes replace a resource.
"""

from __future__ import annotations

import json

from ml_platform.components.frontdoor import (
    ACCESS_LOG_FORMAT,
    HealthAlarm,
    RegionalApi,
    RegionalApiArgs,
    RegionalFailover,
    RegionalFailoverArgs,
    WebAclArgs,
    invoke_policy,
    ping_request_template,
    routes_digest,
    web_acl_rules,
)
from ml_platform.components.iam import service_trust_policy
from tests.harness import decoded, in_region, run_component

ENDPOINT_ARN = "arn:aws-cn:sagemaker:cn-north-1:111122223333:endpoint/their-endpoint"
KEY_ARN = "arn:aws-cn:kms:cn-north-1:111122223333:key/k"


def api_args(**changes) -> RegionalApiArgs:
    values = {
        "api_name": "team-model",
        "endpoint_name": "their-endpoint",
        "endpoint_arn": ENDPOINT_ARN,
        "region": "cn-north-1",
        "account_id": "111122223333",
        "partition": "aws-cn",
        "dns_suffix": "amazonaws.com.cn",
        "key_arn": KEY_ARN,
        "stage_name": "v2",
        "throttle_rate_limit_per_second": 50,
        "throttle_burst_limit": 80,
        "access_log_retention_days": 14,
    }
    return RegionalApiArgs(**{**values, **changes})


def build_api(args: RegionalApiArgs):
    return run_component(lambda: RegionalApi("door", args, opts=in_region(args.region)))


def children(run, component_type: str, name: str) -> list[tuple[str, str]]:
    component = run.one(component_type, name)
    return sorted((r.type, r.name) for r in run.children(component))


API_CHILDREN = [
    ("aws:apigateway/account:Account", "door"),
    ("aws:apigateway/deployment:Deployment", "door"),
    ("aws:apigateway/integration:Integration", "door-invocations"),
    ("aws:apigateway/integration:Integration", "door-ping"),
    ("aws:apigateway/integrationResponse:IntegrationResponse", "door-invocations-200"),
    ("aws:apigateway/integrationResponse:IntegrationResponse", "door-invocations-400"),
    ("aws:apigateway/integrationResponse:IntegrationResponse", "door-invocations-502"),
    ("aws:apigateway/integrationResponse:IntegrationResponse", "door-ping-200"),
    ("aws:apigateway/integrationResponse:IntegrationResponse", "door-ping-503"),
    ("aws:apigateway/method:Method", "door-invocations"),
    ("aws:apigateway/method:Method", "door-ping"),
    ("aws:apigateway/methodResponse:MethodResponse", "door-invocations-200"),
    ("aws:apigateway/methodResponse:MethodResponse", "door-invocations-400"),
    ("aws:apigateway/methodResponse:MethodResponse", "door-invocations-502"),
    ("aws:apigateway/methodResponse:MethodResponse", "door-ping-200"),
    ("aws:apigateway/methodResponse:MethodResponse", "door-ping-503"),
    ("aws:apigateway/methodSettings:MethodSettings", "door"),
    ("aws:apigateway/resource:Resource", "door-invocations"),
    ("aws:apigateway/resource:Resource", "door-ping"),
    ("aws:apigateway/restApi:RestApi", "door"),
    ("aws:apigateway/stage:Stage", "door"),
    ("aws:cloudwatch/logGroup:LogGroup", "door-access"),
    ("aws:iam/role:Role", "door-invoke"),
    ("aws:iam/role:Role", "door-logs"),
    ("aws:iam/rolePolicy:RolePolicy", "door-invoke"),
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "door-logs"),
]


def test_an_api_without_a_web_acl_declares_the_routes_stage_and_roles_only():
    run = build_api(api_args())
    assert children(run, "ml-platform:frontdoor:RegionalApi", "door") == API_CHILDREN
    assert run.of_type("aws:wafv2/webAcl:WebAcl") == []
    assert run.of_type("aws:wafv2/webAclAssociation:WebAclAssociation") == []
    assert {r.region for r in run.resources if not r.is_provider} == {"cn-north-1"}


def test_every_arn_the_api_writes_is_in_the_partition_it_was_given():
    run = build_api(api_args())
    invoke = run.one("aws:apigateway/integration:Integration", "door-invocations").inputs
    assert invoke["uri"] == (
        "arn:aws-cn:apigateway:cn-north-1:runtime.sagemaker:path/endpoints/their-endpoint/invocations"
    )
    ping = run.one("aws:apigateway/integration:Integration", "door-ping").inputs
    assert ping["uri"] == "arn:aws-cn:apigateway:cn-north-1:api.sagemaker:action/DescribeEndpoint"
    assert ping["requestTemplates"] == ping_request_template("their-endpoint")
    attachment = run.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "door-logs")
    assert attachment.inputs["policyArn"] == (
        "arn:aws-cn:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    )
    policy = run.one("aws:iam/rolePolicy:RolePolicy", "door-invoke")
    assert decoded(policy.inputs["policy"]) == invoke_policy(ENDPOINT_ARN)
    for role in ("door-invoke", "door-logs"):
        trust = run.one("aws:iam/role:Role", role).inputs["assumeRolePolicy"]
        assert decoded(trust) == service_trust_policy("apigateway.amazonaws.com", "111122223333")
    # (Role and certificate ARNs in these inputs come from the mock engine, always `arn:aws:`.)


def test_the_stage_throttles_logs_and_traces_as_asked():
    run = build_api(api_args())
    assert run.one("aws:apigateway/restApi:RestApi", "door").inputs == {
        "name": "team-model",
        "description": "ml-platform regional front door",
        "endpointConfiguration": {"types": "REGIONAL"},
    }
    log_group = run.one("aws:cloudwatch/logGroup:LogGroup", "door-access")
    assert log_group.inputs == {"kmsKeyId": KEY_ARN, "retentionInDays": 14}
    stage = run.one("aws:apigateway/stage:Stage", "door")
    assert stage.inputs["stageName"] == "v2"
    assert stage.inputs["xrayTracingEnabled"] is True
    assert stage.inputs["accessLogSettings"] == {
        "destinationArn": log_group.outputs["arn"],
        "format": json.dumps(ACCESS_LOG_FORMAT),
    }
    assert run.one("aws:apigateway/account:Account", "door").urn in stage.depends_on
    settings = run.one("aws:apigateway/methodSettings:MethodSettings", "door").inputs
    assert settings["methodPath"] == "*/*"
    assert settings["settings"] == {
        "throttlingRateLimit": 50,
        "throttlingBurstLimit": 80,
        "metricsEnabled": True,
        "loggingLevel": "ERROR",
    }
    deployment = run.one("aws:apigateway/deployment:Deployment", "door")
    assert deployment.inputs["triggers"] == {"routes": routes_digest("v2")}


def test_a_web_acl_is_declared_and_associated_with_the_stage_only_when_asked():
    run = build_api(api_args(web_acl=WebAclArgs(rate_limit_per_ip=500, rate_window_seconds=60, common_rule_set=False)))
    assert children(run, "ml-platform:frontdoor:RegionalApi", "door") == sorted(
        [*API_CHILDREN, ("aws:wafv2/webAcl:WebAcl", "door"), ("aws:wafv2/webAclAssociation:WebAclAssociation", "door")]
    )
    acl = run.one("aws:wafv2/webAcl:WebAcl", "door")
    assert acl.inputs["scope"] == "REGIONAL"
    assert acl.inputs["defaultAction"] == {"allow": {}}
    rules = web_acl_rules(rate_limit_per_ip=500, rate_window_seconds=60, common_rule_set=False, metric_prefix="door")
    assert [rule["name"] for rule in acl.inputs["rules"]] == [rule["name"] for rule in rules] == ["rate-per-ip"]
    rate = acl.inputs["rules"][0]["statement"]["rateBasedStatement"]
    assert rate == {"limit": 500, "aggregateKeyType": "IP", "evaluationWindowSec": 60}
    association = run.one("aws:wafv2/webAclAssociation:WebAclAssociation", "door")
    assert association.inputs == {
        "resourceArn": run.one("aws:apigateway/stage:Stage", "door").outputs["arn"],
        "webAclArn": acl.outputs["arn"],
    }


def failover_args(**changes) -> RegionalFailoverArgs:
    values = {
        "role": "SECONDARY",
        "hosted_zone_id": "Z1",
        "domain_name": "model.example.com",
        "dns_ttl_seconds": 30,
        "rest_api_id": "abc123",
        "api_host": "abc123.execute-api.us-west-2.amazonaws.com",
        "stage_name": "v2",
        "region": "us-west-2",
        "health_alarms": [HealthAlarm("endpoint-5xx", "Healthy"), HealthAlarm("stage-5xx", "LastKnownStatus")],
        "health_check_interval_seconds": 10,
        "health_check_failure_threshold": 3,
    }
    return RegionalFailoverArgs(**{**values, **changes})


def build_failover(args: RegionalFailoverArgs):
    return run_component(lambda: RegionalFailover("door", args, opts=in_region(args.region)))


FAILOVER_CHILDREN = [
    ("aws:acm/certificate:Certificate", "door"),
    ("aws:acm/certificateValidation:CertificateValidation", "door"),
    ("aws:apigateway/basePathMapping:BasePathMapping", "door"),
    ("aws:apigateway/domainName:DomainName", "door"),
    ("aws:route53/healthCheck:HealthCheck", "door"),
    ("aws:route53/healthCheck:HealthCheck", "door-alarm-0"),
    ("aws:route53/healthCheck:HealthCheck", "door-alarm-1"),
    ("aws:route53/healthCheck:HealthCheck", "door-ping"),
    ("aws:route53/record:Record", "door"),
]


def test_failover_takes_the_apis_id_and_host_not_the_api_component():
    run = build_failover(failover_args(validation_record_fqdn="_abc.model.example.com"))
    # Another region owns the ACM validation record: none is declared here.
    assert children(run, "ml-platform:frontdoor:RegionalFailover", "door") == FAILOVER_CHILDREN
    assert run.one("aws:apigateway/basePathMapping:BasePathMapping", "door").inputs == {
        "restApi": "abc123",
        "stageName": "v2",
        "domainName": "model.example.com",
    }
    assert run.one("aws:route53/healthCheck:HealthCheck", "door-ping").inputs == {
        "type": "HTTPS",
        "fqdn": "abc123.execute-api.us-west-2.amazonaws.com",
        "port": 443,
        "resourcePath": "/v2/ping",
        "requestInterval": 10,
        "failureThreshold": 3,
    }
    assert [run.one("aws:route53/healthCheck:HealthCheck", f"door-alarm-{i}").inputs for i in range(2)] == [
        {
            "type": "CLOUDWATCH_METRIC",
            "cloudwatchAlarmName": "endpoint-5xx",
            "cloudwatchAlarmRegion": "us-west-2",
            "insufficientDataHealthStatus": "Healthy",
        },
        {
            "type": "CLOUDWATCH_METRIC",
            "cloudwatchAlarmName": "stage-5xx",
            "cloudwatchAlarmRegion": "us-west-2",
            "insufficientDataHealthStatus": "LastKnownStatus",
        },
    ]
    calculated = run.one("aws:route53/healthCheck:HealthCheck", "door").inputs
    assert calculated == {
        "type": "CALCULATED",
        "childHealthchecks": ["door-ping-mock", "door-alarm-0-mock", "door-alarm-1-mock"],
        "childHealthThreshold": 3,
    }
    record = run.one("aws:route53/record:Record", "door").inputs
    assert record == {
        "zoneId": "Z1",
        "name": "model.example.com",
        "type": "CNAME",
        "ttl": 30,
        "records": ["d-door-mock.execute-api.us-west-2.amazonaws.com"],
        "setIdentifier": "secondary-us-west-2",
        "failoverRoutingPolicies": [{"type": "SECONDARY"}],
        "healthCheckId": "door-mock",
    }
    validation = run.one("aws:acm/certificateValidation:CertificateValidation", "door")
    assert validation.inputs["validationRecordFqdns"] == ["_abc.model.example.com"]


def test_without_a_given_validation_record_the_failover_declares_it():
    run = build_failover(failover_args(role="PRIMARY", health_alarms=[]))
    assert children(run, "ml-platform:frontdoor:RegionalFailover", "door") == [
        ("aws:acm/certificate:Certificate", "door"),
        ("aws:acm/certificateValidation:CertificateValidation", "door"),
        ("aws:apigateway/basePathMapping:BasePathMapping", "door"),
        ("aws:apigateway/domainName:DomainName", "door"),
        ("aws:route53/healthCheck:HealthCheck", "door"),
        ("aws:route53/healthCheck:HealthCheck", "door-ping"),
        ("aws:route53/record:Record", "door"),
        ("aws:route53/record:Record", "door-validation"),
    ]
    record = run.one("aws:route53/record:Record", "door-validation")
    assert record.inputs == {
        "zoneId": "Z1",
        "name": "_mock.model.example.com.",
        "type": "CNAME",
        "records": ["_mock.acm-validations.aws."],
        "ttl": 300,
        "allowOverwrite": True,
    }
    validation = run.one("aws:acm/certificateValidation:CertificateValidation", "door")
    assert validation.inputs["validationRecordFqdns"] == [record.outputs["fqdn"]]
    # With no alarms the calculated check follows the HTTPS check alone.
    assert run.one("aws:route53/healthCheck:HealthCheck", "door").inputs["childHealthThreshold"] == 1
    assert run.one("aws:route53/record:Record", "door").inputs["failoverRoutingPolicies"] == [{"type": "PRIMARY"}]


def test_the_invoke_url_is_in_the_regions_own_dns_suffix():
    found = {}

    def program():
        api = RegionalApi("door", api_args(), opts=in_region("cn-north-1"))
        api.invoke_url.apply(lambda url: found.update(url=url))

    run_component(program)
    # (The mock engine gives a REST API its name as its id.)
    assert found == {"url": "https://team-model.execute-api.cn-north-1.amazonaws.com.cn/v2/invocations"}
