"""Warm standby, regional API front doors and Route 53 failover."""

from __future__ import annotations

import json

import botocore.session
import pytest

from ml_platform.components import frontdoor
from ml_platform.components.frontdoor import (
    DESCRIBE_ENDPOINT_TARGET,
    NOT_SERVING_STATUSES,
    SAGEMAKER_API_SUBDOMAIN,
    SAGEMAKER_JSON_CONTENT_TYPE,
    SERVING_STATUSES,
    describe_uri,
    invoke_policy,
    invoke_uri,
    ping_status_template,
    routes_digest,
    rto_rpo_seconds,
    web_acl_rules,
)
from offline.engine import synthesize_stack
from tests.test_config import PROD_BACKUP, problems

PROD_DIGEST = "sha256:4f2c9a1d8b7e6f5a4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d"


def test_rto_and_rpo_follow_from_the_settings():
    assert rto_rpo_seconds(
        alarm_period_seconds=60,
        datapoints_to_alarm=3,
        health_check_interval_seconds=10,
        health_check_failure_threshold=3,
        dns_ttl_seconds=60,
        replication_time_control=True,
    ) == {"detection_seconds": 180, "rto_seconds": 240, "rpo_seconds": 900, "rpo_guaranteed": True}
    # A slow HTTPS check dominates a fast alarm.
    assert (
        rto_rpo_seconds(
            alarm_period_seconds=60,
            datapoints_to_alarm=1,
            health_check_interval_seconds=30,
            health_check_failure_threshold=5,
            dns_ttl_seconds=30,
            replication_time_control=False,
        )["rto_seconds"]
        == 180
    )


def test_invoke_uri_and_policy():
    assert invoke_uri("aws", "us-west-2", "ml-platform-prod") == (
        "arn:aws:apigateway:us-west-2:runtime.sagemaker:path/endpoints/ml-platform-prod/invocations"
    )
    assert invoke_policy("arn:aws:sagemaker:us-west-2:1:endpoint/e")["Statement"] == [
        {
            "Sid": "InvokeThisEndpoint",
            "Effect": "Allow",
            "Action": ["sagemaker:InvokeEndpoint"],
            "Resource": "arn:aws:sagemaker:us-west-2:1:endpoint/e",
        },
        {
            "Sid": "DescribeThisEndpoint",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeEndpoint"],
            "Resource": "arn:aws:sagemaker:us-west-2:1:endpoint/e",
        },
    ]
    assert describe_uri("aws", "us-west-2") == "arn:aws:apigateway:us-west-2:api.sagemaker:action/DescribeEndpoint"
    # The partition is the account's, never assumed: China and GovCloud regions name their own.
    assert invoke_uri("aws-cn", "cn-north-1", "e") == (
        "arn:aws-cn:apigateway:cn-north-1:runtime.sagemaker:path/endpoints/e/invocations"
    )
    assert describe_uri("aws-us-gov", "us-gov-west-1") == (
        "arn:aws-us-gov:apigateway:us-gov-west-1:api.sagemaker:action/DescribeEndpoint"
    )


def test_ping_speaks_sagemakers_own_protocol():
    """The integration's host, target and content type are SageMaker's, from botocore's model."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    assert model.metadata["endpointPrefix"] == SAGEMAKER_API_SUBDOMAIN
    assert f"{model.metadata['targetPrefix']}.DescribeEndpoint" == DESCRIBE_ENDPOINT_TARGET
    assert f"application/x-amz-json-{model.metadata['jsonVersion']}" == SAGEMAKER_JSON_CONTENT_TYPE
    assert "DescribeEndpoint" in model.operation_names
    # Every status SageMaker can report is classified, once.
    statuses = model.shape_for("EndpointStatus").enum
    assert sorted(SERVING_STATUSES + NOT_SERVING_STATUSES) == sorted(statuses)
    assert "EndpointStatus" in model.operation_model("DescribeEndpoint").output_shape.members


def test_ping_answers_503_unless_the_endpoint_serves():
    assert ping_status_template() == (
        "#set($status = $input.path('$.EndpointStatus'))\n"
        '#if($status == "InService" || $status == "Updating" || $status == "SystemUpdating" || '
        '$status == "RollingBack" || $status == "UpdateRollbackFailed")\n'
        '{"status": "ok", "endpoint_status": "$status"}\n'
        "#else\n"
        "#set($context.responseOverride.status = 503)\n"
        '{"status": "unavailable", "endpoint_status": "$status"}\n'
        "#end"
    )


def test_web_acl_rules_rate_limit_per_ip_then_the_common_rule_set():
    rules = web_acl_rules(rate_limit_per_ip=500, rate_window_seconds=60, common_rule_set=True, metric_prefix="api")
    assert rules[0] == {
        "name": "rate-per-ip",
        "priority": 0,
        "action": {"block": {}},
        "statement": {"rate_based_statement": {"limit": 500, "aggregate_key_type": "IP", "evaluation_window_sec": 60}},
        "visibility_config": {
            "cloudwatch_metrics_enabled": True,
            "metric_name": "api-rate-per-ip",
            "sampled_requests_enabled": True,
        },
    }
    assert rules[1]["override_action"] == {"none": {}}
    assert rules[1]["statement"] == {
        "managed_rule_group_statement": {
            "vendor_name": "AWS",
            "name": "AWSManagedRulesCommonRuleSet",
            "rule_action_overrides": [{"name": "SizeRestrictions_BODY", "action_to_use": {"count": {}}}],
        }
    }
    assert [
        r["name"]
        for r in web_acl_rules(
            rate_limit_per_ip=500, rate_window_seconds=60, common_rule_set=False, metric_prefix="api"
        )
    ] == ["rate-per-ip"]


def test_standby_and_failover_rules():
    assert problems(standby={"initial_instance_count": 1}) == [
        "standby: a standby needs regions.secondary (got 'set'; expected regions.secondary, or no standby)"
    ]
    assert problems(failover={"hosted_zone_id": "Z123", "domain_name": "api.example.com"}) == [
        "failover: failover routes to the regional APIs; none is configured (got 'set'; expected an api section)",
        "failover: failover needs a warm standby to fail over to (got 'set'; expected a standby section (and "
        "regions.secondary))",
    ]
    assert problems(
        api={},
        regions={"primary": "us-east-1", "secondary": "us-west-2"},
        standby={"initial_instance_count": 1},
        failover={"hosted_zone_id": "Z123", "domain_name": "API", "health_check_interval_seconds": 20},
    ) == [
        "failover.domain_name: not in the required format (got 'API'; expected "
        "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$)",
        "failover.health_check_interval_seconds: not an allowed value (got 20; expected one of 10 or 30)",
    ]


def test_standby_serves_the_same_model_from_secondary_replicas(stack):
    prod = stack("prod")
    served = prod.outputs["model_version"]
    key = served["model_data_url"].removeprefix("s3://").partition("/")[2]
    digest = served["image_uri"].rpartition("@")[2]
    replica = prod.one("aws:s3/bucket:Bucket", "secondary-artifacts").outputs["bucket"]
    model = prod.one("aws:sagemaker/model:Model", "endpoint-secondary-v2")
    assert model.region == "us-west-2"
    assert model.inputs["primaryContainer"] == {
        "image": f"123456789012.dkr.ecr.us-west-2.amazonaws.com/ml-platform/prod/model@{digest}",
        "modelDataUrl": f"s3://{replica}/{key}",
        "mode": "SingleModel",
    }
    config = prod.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "endpoint-secondary-v2")
    assert config.inputs["productionVariants"][0]["initialInstanceCount"] == 1
    assert config.inputs["tags"] == {"serving-role": "standby", "model-version": "2"}
    assert config.inputs["kmsKeyArn"] == prod.one("aws:kms/key:Key", "key-secondary").outputs["arn"]
    target = prod.one("aws:appautoscaling/target:Target", "endpoint-secondary")
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (1, 8)
    policy = json.loads(prod.one("aws:iam/rolePolicy:RolePolicy", "endpoint-secondary").inputs["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["PullImage"]["Resource"] == "arn:aws:ecr:us-west-2:123456789012:repository/ml-platform/prod/model"
    assert by_sid["ReadModelArtifacts"]["Resource"] == f"arn:aws:s3:::{replica}/models/*"


def test_nothing_in_the_secondary_region_names_the_primary_region(stack):
    # Route 53 and ACM are global or per-name; the secondary's backup plan copies its own
    # recovery points to the primary vault, which is disaster recovery of the secondary's data,
    # not something serving reads.
    skipped = ("aws:route53", "aws:acm", "aws:backup/plan:Plan")
    for resource in stack("prod").resources:
        if resource.region == "us-west-2" and not resource.type.startswith(skipped):
            text = json.dumps(resource.inputs)
            assert "us-east-1" not in text, f"{resource.type} {resource.name} refers to us-east-1"


@pytest.mark.parametrize(("role", "region"), [("primary", "us-east-1"), ("secondary", "us-west-2")])
def test_regional_api_fronts_its_own_endpoint(stack, role, region):
    prod = stack("prod")
    integration = prod.one("aws:apigateway/integration:Integration", f"api-{role}-invocations")
    assert integration.region == region
    assert integration.inputs["type"] == "AWS"
    assert integration.inputs["uri"] == invoke_uri("aws", region, "ml-platform-prod")
    assert integration.inputs["integrationHttpMethod"] == "POST"
    invoke_role = prod.one("aws:iam/role:Role", f"api-{role}-invoke")
    assert integration.inputs["credentials"] == invoke_role.outputs["arn"]
    endpoint_arn = prod.one("aws:sagemaker/endpoint:Endpoint", f"endpoint-{role}").outputs["arn"]
    role_policy = prod.one("aws:iam/rolePolicy:RolePolicy", f"api-{role}-invoke")
    assert json.loads(role_policy.inputs["policy"]) == invoke_policy(endpoint_arn)
    method = prod.one("aws:apigateway/method:Method", f"api-{role}-invocations")
    assert (method.inputs["httpMethod"], method.inputs["authorization"]) == ("POST", "AWS_IAM")
    ping = prod.one("aws:apigateway/method:Method", f"api-{role}-ping")
    assert (ping.inputs["httpMethod"], ping.inputs["authorization"]) == ("GET", "NONE")
    ping_integration = prod.one("aws:apigateway/integration:Integration", f"api-{role}-ping")
    assert {k: v for k, v in ping_integration.inputs.items() if k not in ("resourceId", "restApi")} == {
        "type": "AWS",
        "httpMethod": "GET",
        "integrationHttpMethod": "POST",
        "uri": f"arn:aws:apigateway:{region}:api.sagemaker:action/DescribeEndpoint",
        "credentials": invoke_role.outputs["arn"],
        "requestParameters": {
            "integration.request.header.X-Amz-Target": "'SageMaker.DescribeEndpoint'",
            "integration.request.header.Content-Type": "'application/x-amz-json-1.1'",
        },
        "requestTemplates": {"application/json": '{"EndpointName": "ml-platform-prod"}'},
        "passthroughBehavior": "NEVER",
        "timeoutMilliseconds": 2000,
    }
    api = prod.one("aws:apigateway/restApi:RestApi", f"api-{role}")
    assert api.inputs["name"] == "ml-platform-prod"
    settings = prod.one("aws:apigateway/methodSettings:MethodSettings", f"api-{role}")
    assert settings.inputs["methodPath"] == "*/*"
    assert settings.inputs["settings"] == {
        "throttlingRateLimit": 500,
        "throttlingBurstLimit": 1000,
        "metricsEnabled": True,
        "loggingLevel": "ERROR",
    }
    log_group = prod.one("aws:cloudwatch/logGroup:LogGroup", f"api-{role}-access")
    # Prod keeps API access logs 365 days by default (Pulumi.prod.yaml sets none).
    assert log_group.inputs == {
        "retentionInDays": 365,
        "kmsKeyId": prod.one("aws:kms/key:Key", f"key-{role}").outputs["arn"],
    }
    stage = prod.one("aws:apigateway/stage:Stage", f"api-{role}")
    assert stage.inputs["stageName"] == "v1"
    assert stage.inputs["accessLogSettings"]["destinationArn"] == log_group.outputs["arn"]
    assert stage.inputs["xrayTracingEnabled"] is True
    acl = prod.one("aws:wafv2/webAcl:WebAcl", f"api-{role}")
    assert acl.region == region
    assert (acl.inputs["scope"], acl.inputs["defaultAction"]) == ("REGIONAL", {"allow": {}})
    assert [rule["name"] for rule in acl.inputs["rules"]] == ["rate-per-ip", "aws-common"]
    assert acl.inputs["rules"][0]["statement"] == {
        "rateBasedStatement": {"limit": 2000, "aggregateKeyType": "IP", "evaluationWindowSec": 300}
    }
    association = prod.one("aws:wafv2/webAclAssociation:WebAclAssociation", f"api-{role}")
    assert association.inputs == {"resourceArn": stage.outputs["arn"], "webAclArn": acl.outputs["arn"]}


@pytest.mark.parametrize(("role", "region"), [("primary", "us-east-1"), ("secondary", "us-west-2")])
def test_failover_records_and_health_checks(stack, role, region):
    prod = stack("prod")
    variant = prod.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration", f"endpoint-{role}-v2").inputs[
        "productionVariants"
    ][0]["variantName"]
    record = prod.one("aws:route53/record:Record", f"failover-{role}")
    domain = prod.one("aws:apigateway/domainName:DomainName", f"failover-{role}")
    check = prod.one("aws:route53/healthCheck:HealthCheck", f"failover-{role}")
    assert record.inputs == {
        "zoneId": "Z0123456789ABCDEFGHIJ",
        "name": "api.ml.example.com",
        "type": "CNAME",
        "ttl": 60,
        "records": [domain.outputs["regionalDomainName"]],
        "setIdentifier": f"{role}-{region}",
        "failoverRoutingPolicies": [{"type": role.upper()}],
        "healthCheckId": check.outputs["name"],
    }
    ping = prod.one("aws:route53/healthCheck:HealthCheck", f"failover-{role}-ping")
    alarm_checks = [prod.one("aws:route53/healthCheck:HealthCheck", f"failover-{role}-alarm-{i}") for i in range(4)]
    assert check.inputs == {
        "type": "CALCULATED",
        "childHealthchecks": [c.outputs["name"] for c in (ping, *alarm_checks)],
        "childHealthThreshold": 5,
    }
    assert ping.inputs == {
        "type": "HTTPS",
        "fqdn": f"ml-platform-prod.execute-api.{region}.amazonaws.com",
        "port": 443,
        "resourcePath": "/v1/ping",
        "requestInterval": 10,
        "failureThreshold": 3,
    }
    # Endpoint alarms keep the last known health without data; stage alarms (fed by Route 53's
    # own /ping calls) are unhealthy without data.
    assert [(c.inputs["cloudwatchAlarmName"], c.inputs["insufficientDataHealthStatus"]) for c in alarm_checks] == [
        (f"ml-platform-prod-{variant}-health_5xx", "LastKnownStatus"),
        (f"ml-platform-prod-{variant}-health_latency", "LastKnownStatus"),
        (f"ml-platform-prod-{role}-api_5xx", "Unhealthy"),
        (f"ml-platform-prod-{role}-api_integration_latency", "Unhealthy"),
    ]
    assert {c.inputs["cloudwatchAlarmRegion"] for c in alarm_checks} == {region}
    # Route 53 follows only single-metric alarms with standard statistics.
    health_5xx = prod.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"health-{role}-health_5xx")
    assert health_5xx.region == region
    fields = ("namespace", "metricName", "statistic", "period", "threshold", "treatMissingData", "dimensions")
    assert {k: health_5xx.inputs[k] for k in fields} == {
        "namespace": "AWS/SageMaker",
        "metricName": "Invocation5XXErrors",
        "statistic": "Sum",
        "period": 60,
        "threshold": 20,
        "treatMissingData": "missing",
        "dimensions": {"EndpointName": "ml-platform-prod", "VariantName": variant},
    }
    assert "metricQueries" not in health_5xx.inputs
    latency = prod.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"health-{role}-health_latency")
    # Its own average threshold (failover.unhealthy_average_latency_ms: 150), not the p99's 300.
    assert (latency.inputs["statistic"], latency.inputs["threshold"], latency.inputs["unit"]) == (
        "Average",
        150_000,
        "Microseconds",
    )
    assert latency.inputs["treatMissingData"] == "missing"
    stage_5xx = prod.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"api-health-{role}-api_5xx")
    stage_latency = prod.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"api-health-{role}-api_integration_latency")
    topic = prod.one("aws:sns/topic:Topic", f"alerts-{role}").outputs["arn"]
    for alarm, metric, statistic, threshold in (
        (stage_5xx, "5XXError", "Sum", 20),
        (stage_latency, "IntegrationLatency", "Average", 2000),
    ):
        assert alarm.region == region
        assert {k: alarm.inputs[k] for k in (*fields, "alarmActions", "okActions")} == {
            "namespace": "AWS/ApiGateway",
            "metricName": metric,
            "statistic": statistic,
            "period": 60,
            "threshold": threshold,
            "treatMissingData": "breaching",
            "dimensions": {"ApiName": "ml-platform-prod", "Stage": "v1"},
            "alarmActions": [topic],
            "okActions": [topic],
        }
    cert = prod.one("aws:acm/certificate:Certificate", f"failover-{role}")
    assert cert.region == region and cert.inputs == {"domainName": "api.ml.example.com", "validationMethod": "DNS"}


def test_dev_has_one_region_an_api_and_no_failover(stack):
    dev = stack("dev")
    assert {r.region for r in dev.resources} == {"us-east-1"}
    assert [a.name for a in dev.of_type("aws:apigateway/restApi:RestApi")] == ["api-primary"]
    assert dev.of_type("aws:route53/record:Record") == []
    assert dev.of_type("aws:route53/healthCheck:HealthCheck") == []
    assert "recovery_objectives" not in dev.outputs


def test_removing_the_secondary_region_drops_every_secondary_resource():
    prod = synthesize_stack(
        "prod",
        overrides={"regions": {"primary": "us-east-1"}, "standby": None, "failover": None},
    )
    assert {r.region for r in prod.resources} == {"us-east-1"}
    for plan in prod.of_type("aws:backup/plan:Plan"):
        assert all("copyActions" not in rule for rule in plan.inputs["rules"])
    assert prod.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig") == []
    assert prod.of_type("aws:ecr/replicationConfiguration:ReplicationConfiguration") == []
    assert list(prod.outputs["endpoints"]) == ["primary"]


def test_standby_initial_count_must_lie_within_its_autoscaling_bounds():
    assert problems(
        regions={"primary": "us-east-1", "secondary": "us-west-2"},
        standby={"initial_instance_count": 5, "autoscaling": {"min_capacity": 1, "max_capacity": 4}},
    ) == ["standby.initial_instance_count: must lie within the autoscaling bounds (got 5; expected 1 <= count <= 4)"]


def test_api_responses_and_redeployment_follow_the_route_definitions(stack):
    prod = stack("prod")
    responses = {
        r.name: {k: v for k, v in r.inputs.items() if k in ("statusCode", "selectionPattern", "responseTemplates")}
        for r in prod.of_type("aws:apigateway/integrationResponse:IntegrationResponse")
        if r.region == "us-east-1"
    }
    assert responses == {
        "api-primary-invocations-200": {"statusCode": "200"},
        "api-primary-invocations-400": {"statusCode": "400", "selectionPattern": "4\\d{2}"},
        "api-primary-invocations-502": {"statusCode": "502", "selectionPattern": "5\\d{2}"},
        "api-primary-ping-200": {
            "statusCode": "200",
            "responseTemplates": {"application/json": ping_status_template()},
        },
        "api-primary-ping-503": {
            "statusCode": "503",
            "selectionPattern": "[45]\\d{2}",
            "responseTemplates": {"application/json": '{"status": "unavailable", "endpoint_status": "unknown"}'},
        },
    }
    method_responses = sorted(
        r.inputs["statusCode"]
        for r in prod.of_type("aws:apigateway/methodResponse:MethodResponse")
        if r.region == "us-east-1" and r.name.startswith("api-primary-ping")
    )
    assert method_responses == ["200", "503"]
    deployment = prod.one("aws:apigateway/deployment:Deployment", "api-primary")
    assert deployment.inputs["triggers"] == {"routes": routes_digest("v1")}
    assert {r.urn for r in prod.of_type("aws:apigateway/integration:Integration") if r.region == "us-east-1"} <= set(
        deployment.depends_on
    )


def test_the_redeployment_digest_changes_with_any_route_setting(monkeypatch):
    before = routes_digest("v1")
    assert routes_digest("v2") != before
    monkeypatch.setitem(frontdoor.INVOKE_INTEGRATION, "timeout_milliseconds", 10000)
    assert routes_digest("v1") != before


def test_one_region_owns_the_acm_validation_record(stack):
    prod = stack("prod")
    records = [r for r in prod.of_type("aws:route53/record:Record") if r.name.endswith("-validation")]
    assert [r.name for r in records] == ["failover-primary-validation"]
    fqdn = records[0].outputs["fqdn"]
    for role in ("primary", "secondary"):
        validation = prod.one("aws:acm/certificateValidation:CertificateValidation", f"failover-{role}")
        assert validation.inputs["validationRecordFqdns"] == [fqdn]
        assert records[0].urn in validation.depends_on or role == "primary"


def test_a_region_without_an_endpoint_gets_no_front_door():
    from ml_platform.assembly_edge import front_doors
    from ml_platform.config import parse_stack_config
    from offline.engine import run_under_mocks
    from tests.test_config import VALID

    config = parse_stack_config(
        {
            **VALID,
            "regions": {"primary": "us-east-1", "secondary": "us-west-2"},
            "standby": {},
            "api": {},
            "failover": {"hosted_zone_id": "Z123", "domain_name": "api.example.com"},
        }
    )
    outputs = {}
    synthesis = run_under_mocks(lambda: outputs.update(front_doors(config, {}, {"secondary": None}, {}, "1")))
    assert outputs == {"api_invoke_urls": {}}
    assert synthesis.resources == []


def test_prod_keeps_api_access_logs_a_year_and_the_average_latency_sits_below_the_p99():
    from ml_platform.config import parse_stack_config
    from tests.test_config import VALID

    two_regions = {
        "regions": {"primary": "us-east-1", "secondary": "us-west-2"},
        "standby": {},
        "failover": {"hosted_zone_id": "Z123", "domain_name": "api.example.com"},
    }
    assert parse_stack_config({**VALID, "api": {}}).api.access_log_retention_days == 30
    assert parse_stack_config({**VALID, "api": {"access_log_retention_days": 14}}).api.access_log_retention_days == 14
    assert problems(
        api={"access_log_retention_days": 90},
        alarms={"model_latency_p99_ms": 200},
        **{**two_regions, "failover": {**two_regions["failover"], "unhealthy_average_latency_ms": 200}},
    ) == [
        "failover.unhealthy_average_latency_ms: an average at or above the p99 alarm threshold fails over only "
        "long after the p99 alarm (got 200.0; expected below alarms.model_latency_p99_ms (200))"
    ]
    prod = {"environment": "prod", "protect_stateful": True, "backup": PROD_BACKUP}
    assert parse_stack_config({**VALID, **prod, "api": {}}).api.access_log_retention_days == 365
    assert problems(**prod, api={"access_log_retention_days": 90}) == [
        "api.access_log_retention_days: prod keeps API access logs a year at least (got 90; expected >= 365, or "
        "unset for the default)"
    ]
