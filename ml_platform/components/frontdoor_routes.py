"""Pure builders of the regional front door (ml_platform/components/frontdoor.py): the two routes
as data, the `/ping` mapping templates, the integration URIs, the invoke role's policy, the web
ACL's rules, and the recovery objectives the failover settings imply.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ml_platform.components.iam import allow, document

ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "user": "$context.identity.user",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integration.status",
}


# The two routes, as data: declared from these, and hashed into the deployment trigger so any
# change to them redeploys the stage.
INVOKE_ROUTE = {
    "path_part": "invocations",
    "http_method": "POST",
    "authorization": "AWS_IAM",
    "request_parameters": {"method.request.header.Content-Type": False, "method.request.header.Accept": False},
}
INVOKE_INTEGRATION = {
    "type": "AWS",
    "integration_http_method": "POST",
    "passthrough_behavior": "WHEN_NO_MATCH",
    "request_parameters": {
        "integration.request.header.Content-Type": "method.request.header.Content-Type",
        "integration.request.header.Accept": "method.request.header.Accept",
    },
    "timeout_milliseconds": 29000,
}
INVOKE_RESPONSES = [
    {"status_code": "200"},
    {"status_code": "400", "selection_pattern": "4\\d{2}"},
    {"status_code": "502", "selection_pattern": "5\\d{2}"},
]
PING_ROUTE = {"path_part": "ping", "http_method": "GET", "authorization": "NONE"}

# SageMaker's control-plane API speaks the AWS JSON 1.1 protocol at `api.sagemaker.<region>`
# with target prefix `SageMaker` (botocore's sagemaker service model: endpointPrefix,
# jsonVersion, targetPrefix); an API Gateway AWS integration calls it with these headers.
# https://docs.aws.amazon.com/apigateway/latest/api/API_Integration.html (uri:
# arn:<partition>:apigateway:{region}:{subdomain.service}:action/{service_api})
SAGEMAKER_API_SUBDOMAIN = "api.sagemaker"
DESCRIBE_ENDPOINT_TARGET = "SageMaker.DescribeEndpoint"
SAGEMAKER_JSON_CONTENT_TYPE = "application/x-amz-json-1.1"

# Endpoint statuses in which the endpoint answers invocations. "Updating" (a blue/green or
# rolling deployment), "SystemUpdating", "RollingBack" and "UpdateRollbackFailed" serve on the
# fleet in place; "Creating", "Deleting", "OutOfService" and "Failed" do not.
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html#sagemaker-DescribeEndpoint-response-EndpointStatus
SERVING_STATUSES = ("InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed")
NOT_SERVING_STATUSES = ("Creating", "Deleting", "OutOfService", "Failed")

PING_INTEGRATION = {
    "type": "AWS",
    "integration_http_method": "POST",
    "passthrough_behavior": "NEVER",
    "request_parameters": {
        "integration.request.header.X-Amz-Target": f"'{DESCRIBE_ENDPOINT_TARGET}'",
        "integration.request.header.Content-Type": f"'{SAGEMAKER_JSON_CONTENT_TYPE}'",
    },
    # Route 53 counts an HTTPS check failed unless the answer comes within 2 s of connecting:
    # a slower DescribeEndpoint is a failed check either way, so give up before that.
    # https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html
    "timeout_milliseconds": 2000,
}


def ping_status_template() -> str:
    """Mapping template of DescribeEndpoint's 200 answer: 200 while the endpoint serves, else
    503 through `$context.responseOverride.status`.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-override-request-response-parameters.html"""
    serving = " || ".join(f'$status == "{status}"' for status in SERVING_STATUSES)
    return (
        "#set($status = $input.path('$.EndpointStatus'))\n"
        f"#if({serving})\n"
        '{"status": "ok", "endpoint_status": "$status"}\n'
        "#else\n"
        "#set($context.responseOverride.status = 503)\n"
        '{"status": "unavailable", "endpoint_status": "$status"}\n'
        "#end"
    )


PING_RESPONSES = [
    {"status_code": "200", "response_templates": {"application/json": ping_status_template()}},
    # DescribeEndpoint refused (the endpoint does not exist: ValidationException; throttled;
    # denied) or failed: the region cannot vouch for its endpoint.
    {
        "status_code": "503",
        "selection_pattern": "[45]\\d{2}",
        "response_templates": {"application/json": '{"status": "unavailable", "endpoint_status": "unknown"}'},
    },
]


def ping_request_template(endpoint_name: str) -> dict[str, str]:
    return {"application/json": json.dumps({"EndpointName": endpoint_name})}


def routes_digest(stage_name: str) -> str:
    """A digest of everything the routes and stage are declared from (the endpoint URI and
    role are left out: they change only with replacements that redeploy anyway)."""
    routes = [INVOKE_ROUTE, INVOKE_INTEGRATION, INVOKE_RESPONSES, PING_ROUTE, PING_INTEGRATION, PING_RESPONSES]
    return hashlib.sha256(json.dumps([routes, stage_name], sort_keys=True).encode()).hexdigest()


def invoke_uri(partition: str, region: str, endpoint_name: str) -> str:
    """API Gateway's URI for SageMaker runtime `InvokeEndpoint` on `endpoint_name`."""
    return f"arn:{partition}:apigateway:{region}:runtime.sagemaker:path/endpoints/{endpoint_name}/invocations"


def describe_uri(partition: str, region: str) -> str:
    """API Gateway's URI for SageMaker `DescribeEndpoint` in `region`."""
    return f"arn:{partition}:apigateway:{region}:{SAGEMAKER_API_SUBDOMAIN}:action/DescribeEndpoint"


def push_to_cloudwatch_logs_policy_arn(partition: str) -> str:
    """AWS's managed policy for API Gateway's account-level CloudWatch Logs role
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html)."""
    return f"arn:{partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def invoke_policy(endpoint_arn: str) -> dict[str, Any]:
    """Invoke this endpoint (`/invocations`) and read its status (`/ping`), nothing else."""
    return document(
        allow("InvokeThisEndpoint", ["sagemaker:InvokeEndpoint"], endpoint_arn),
        allow("DescribeThisEndpoint", ["sagemaker:DescribeEndpoint"], endpoint_arn),
    )


def web_acl_rules(
    *, rate_limit_per_ip: int, rate_window_seconds: int, common_rule_set: bool, metric_prefix: str
) -> list[dict[str, Any]]:
    """The web ACL's rules: a per-IP rate limit first (a flood of `/ping` or `/invocations`
    from one address is blocked at the edge of the region, before it spends the stage's
    throttle and fails the region over), then AWS's common rule set. Its
    `SizeRestrictions_BODY` (bodies over 8 KB) only counts: inference payloads may be larger.
    https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based.html
    https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html"""

    def visibility(name: str) -> dict[str, Any]:
        return {
            "cloudwatch_metrics_enabled": True,
            "metric_name": f"{metric_prefix}-{name}",
            "sampled_requests_enabled": True,
        }

    rules: list[dict[str, Any]] = [
        {
            "name": "rate-per-ip",
            "priority": 0,
            "action": {"block": {}},
            "statement": {
                "rate_based_statement": {
                    "limit": rate_limit_per_ip,
                    "aggregate_key_type": "IP",
                    "evaluation_window_sec": rate_window_seconds,
                }
            },
            "visibility_config": visibility("rate-per-ip"),
        }
    ]
    if common_rule_set:
        rules.append(
            {
                "name": "aws-common",
                "priority": 1,
                "override_action": {"none": {}},
                "statement": {
                    "managed_rule_group_statement": {
                        "vendor_name": "AWS",
                        "name": "AWSManagedRulesCommonRuleSet",
                        "rule_action_overrides": [{"name": "SizeRestrictions_BODY", "action_to_use": {"count": {}}}],
                    }
                },
                "visibility_config": visibility("aws-common"),
            }
        )
    return rules


def rto_rpo_seconds(
    *,
    alarm_period_seconds: int,
    datapoints_to_alarm: int,
    health_check_interval_seconds: int,
    health_check_failure_threshold: int,
    dns_ttl_seconds: int,
    replication_time_control: bool,
) -> dict[str, int]:
    """Worst-case recovery time and data loss implied by the settings.

    RTO: the slower detector (alarm: period x datapoints; HTTPS check: interval x failure
    threshold) plus the DNS TTL before resolvers follow the new record. RPO: S3 replication
    of models and datasets; Replication Time Control guarantees 15 minutes (99.99% of
    objects), without it S3 gives no bound and 15 minutes is the typical figure.
    """
    detection = max(
        alarm_period_seconds * datapoints_to_alarm, health_check_interval_seconds * health_check_failure_threshold
    )
    return {
        "detection_seconds": detection,
        "rto_seconds": detection + dns_ttl_seconds,
        "rpo_seconds": 15 * 60,
        "rpo_guaranteed": replication_time_control,
    }
