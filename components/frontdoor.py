"""The regional front door: an API Gateway REST API per region in front of that region's
endpoint, and Route 53 failover between the regions.

`RegionalApi`: `POST /invocations` (IAM auth) integrates directly with SageMaker runtime
`InvokeEndpoint` through a role that may invoke only this endpoint; `GET /ping` (no auth) is
answered by API Gateway itself, for health checks of the region's front door. The stage
throttles and writes an access log with retention.

`RegionalFailover`: in each region, an ACM certificate and a regional custom domain for the
failover name, and a failover record (PRIMARY or SECONDARY) whose health check combines an
HTTPS check of `/ping` with checks on Route 53-compatible alarms of the endpoint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import allow, document, trust_json

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
PING_INTEGRATION = {"type": "MOCK", "request_templates": {"application/json": '{"statusCode": 200}'}}
PING_RESPONSES = [{"status_code": "200", "response_templates": {"application/json": '{"status": "ok"}'}}]


def routes_digest(stage_name: str) -> str:
    """A digest of everything the routes and stage are declared from (the endpoint URI and
    role are left out: they change only with replacements that redeploy anyway)."""
    routes = [INVOKE_ROUTE, INVOKE_INTEGRATION, INVOKE_RESPONSES, PING_ROUTE, PING_INTEGRATION, PING_RESPONSES]
    return hashlib.sha256(json.dumps([routes, stage_name], sort_keys=True).encode()).hexdigest()


def invoke_uri(region: str, endpoint_name: str) -> str:
    """API Gateway's URI for SageMaker runtime `InvokeEndpoint` on `endpoint_name`."""
    return f"arn:aws:apigateway:{region}:runtime.sagemaker:path/endpoints/{endpoint_name}/invocations"


def invoke_policy(endpoint_arn: str) -> dict[str, Any]:
    return document(allow("InvokeThisEndpoint", ["sagemaker:InvokeEndpoint"], endpoint_arn))


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


@dataclass(frozen=True)
class RegionalApiArgs:
    """Inputs of `RegionalApi`.

    endpoint_name / endpoint_arn: the region's SageMaker endpoint.
    region / account_id: where the API runs.
    key_arn: the region key, for the access log.
    stage_name, throttle_rate_limit, throttle_burst_limit, access_log_retention_days: from config.
    """

    endpoint_name: pulumi.Input[str]
    endpoint_arn: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    stage_name: str
    throttle_rate_limit: float
    throttle_burst_limit: int
    access_log_retention_days: int


class RegionalApi(pulumi.ComponentResource):
    """A regional REST API fronting one region's endpoint."""

    def __init__(self, name: str, args: RegionalApiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:frontdoor:RegionalApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        trust = trust_json("apigateway.amazonaws.com", args.account_id)
        invoke_role = aws.iam.Role(
            f"{name}-invoke", description="API Gateway invokes the endpoint", assume_role_policy=trust, opts=child
        )
        invoke_role_policy = aws.iam.RolePolicy(
            f"{name}-invoke",
            role=invoke_role.id,
            policy=pulumi.Output.from_input(args.endpoint_arn).apply(lambda arn: json.dumps(invoke_policy(arn))),
            opts=child,
        )
        # Access logging needs the account-level CloudWatch role (one per account and region).
        logs_role = aws.iam.Role(
            f"{name}-logs", description="API Gateway writes access logs", assume_role_policy=trust, opts=child
        )
        logs_attachment = aws.iam.RolePolicyAttachment(
            f"{name}-logs",
            role=logs_role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
            opts=child,
        )
        account = aws.apigateway.Account(
            name,
            cloudwatch_role_arn=logs_role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs_attachment]),
        )

        self.api = aws.apigateway.RestApi(
            name,
            description="ml-platform regional front door",
            endpoint_configuration={"types": "REGIONAL"},
            opts=child,
        )
        invoke_integration = {
            **INVOKE_INTEGRATION,
            "uri": pulumi.Output.from_input(args.endpoint_name).apply(lambda e: invoke_uri(args.region, e)),
            "credentials": invoke_role.arn,
        }
        created = [
            self._route(
                f"{name}-invocations", INVOKE_ROUTE, invoke_integration, INVOKE_RESPONSES, [invoke_role_policy]
            ),
            self._route(f"{name}-ping", PING_ROUTE, PING_INTEGRATION, PING_RESPONSES, []),
        ]
        deployment = aws.apigateway.Deployment(
            name,
            rest_api=self.api.id,
            # Redeploy whenever the routes' definition or the stage changes.
            triggers={"routes": routes_digest(args.stage_name)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[r for route in created for r in route]),
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-access",
            retention_in_days=args.access_log_retention_days,
            kms_key_id=args.key_arn,
            opts=child,
        )
        self.stage = aws.apigateway.Stage(
            name,
            rest_api=self.api.id,
            deployment=deployment.id,
            stage_name=args.stage_name,
            access_log_settings={"destination_arn": log_group.arn, "format": json.dumps(ACCESS_LOG_FORMAT)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        aws.apigateway.MethodSettings(
            name,
            rest_api=self.api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings={
                "throttling_rate_limit": args.throttle_rate_limit,
                "throttling_burst_limit": args.throttle_burst_limit,
                "metrics_enabled": True,
                "logging_level": "ERROR",
            },
            opts=child,
        )
        self.host = pulumi.Output.concat(self.api.id, f".execute-api.{args.region}.amazonaws.com")
        self.invoke_url = pulumi.Output.concat("https://", self.host, f"/{args.stage_name}/invocations")
        self.register_outputs({"invoke_url": self.invoke_url})

    def _route(
        self,
        name: str,
        route: dict[str, Any],
        integration: dict[str, Any],
        responses: list[dict[str, Any]],
        depends_on: list[pulumi.Resource],
    ) -> list[pulumi.Resource]:
        """A path with one method, its integration, and a method and integration response per
        status; returns what a deployment must wait for."""
        child = pulumi.ResourceOptions(parent=self)
        api_id = self.api.id
        resource = aws.apigateway.Resource(
            name, rest_api=api_id, parent_id=self.api.root_resource_id, path_part=route["path_part"], opts=child
        )
        method = aws.apigateway.Method(
            name,
            rest_api=api_id,
            resource_id=resource.id,
            **{k: v for k, v in route.items() if k != "path_part"},
            opts=child,
        )
        target = {"rest_api": api_id, "resource_id": resource.id, "http_method": method.http_method}
        wired = aws.apigateway.Integration(
            name, **target, **integration, opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        )
        created: list[pulumi.Resource] = [wired]
        for response in responses:
            status = response["status_code"]
            method_response = aws.apigateway.MethodResponse(
                f"{name}-{status}", **target, status_code=status, opts=child
            )
            created.append(
                aws.apigateway.IntegrationResponse(
                    f"{name}-{status}",
                    **target,
                    **response,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[wired, method_response]),
                )
            )
        return created


@dataclass(frozen=True)
class RegionalFailoverArgs:
    """Inputs of `RegionalFailover` (declared in the API's region).

    role: `PRIMARY` or `SECONDARY`.
    hosted_zone_id / domain_name / dns_ttl_seconds: the failover name.
    api: this region's `RegionalApi`; stage_name: its stage.
    region: where the API and its health alarms live.
    health_alarm_names: Route 53-compatible alarms of this region's endpoint.
    health_check_interval_seconds / health_check_failure_threshold: the HTTPS /ping check.
    """

    role: str
    hosted_zone_id: str
    domain_name: str
    dns_ttl_seconds: int
    api: RegionalApi
    stage_name: str
    region: str
    health_alarm_names: list[pulumi.Input[str]]
    health_check_interval_seconds: int
    health_check_failure_threshold: int


class RegionalFailover(pulumi.ComponentResource):
    """One region's custom domain, health checks and failover record."""

    def __init__(self, name: str, args: RegionalFailoverArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:frontdoor:RegionalFailover", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        certificate = aws.acm.Certificate(name, domain_name=args.domain_name, validation_method="DNS", opts=child)
        option = certificate.domain_validation_options[0]
        # Both regions' certificates ask for the same validation record: let either write it.
        validation_record = aws.route53.Record(
            f"{name}-validation",
            zone_id=args.hosted_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            allow_overwrite=True,
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            name, certificate_arn=certificate.arn, validation_record_fqdns=[validation_record.fqdn], opts=child
        )
        domain = aws.apigateway.DomainName(
            name,
            domain_name=args.domain_name,
            regional_certificate_arn=validation.certificate_arn,
            endpoint_configuration={"types": "REGIONAL"},
            security_policy="TLS_1_2",
            opts=child,
        )
        aws.apigateway.BasePathMapping(
            name, rest_api=args.api.api.id, stage_name=args.stage_name, domain_name=domain.domain_name, opts=child
        )
        ping_check = aws.route53.HealthCheck(
            f"{name}-ping",
            type="HTTPS",
            fqdn=args.api.host,
            port=443,
            resource_path=f"/{args.stage_name}/ping",
            request_interval=args.health_check_interval_seconds,
            failure_threshold=args.health_check_failure_threshold,
            opts=child,
        )
        alarm_checks = [
            aws.route53.HealthCheck(
                f"{name}-alarm-{index}",
                type="CLOUDWATCH_METRIC",
                cloudwatch_alarm_name=alarm_name,
                cloudwatch_alarm_region=args.region,
                # While the alarm has too little data, keep the last known health.
                insufficient_data_health_status="LastKnownStatus",
                opts=child,
            )
            for index, alarm_name in enumerate(args.health_alarm_names)
        ]
        checks = [ping_check, *alarm_checks]
        self.health_check = aws.route53.HealthCheck(
            name,
            type="CALCULATED",
            child_healthchecks=[check.id for check in checks],
            # Healthy only while every child is: any failing detector fails the region over.
            child_health_threshold=len(checks),
            opts=child,
        )
        # A CNAME rather than an alias: its TTL is ours to set, and it bounds how long
        # resolvers keep answering with a failed region.
        aws.route53.Record(
            name,
            zone_id=args.hosted_zone_id,
            name=args.domain_name,
            type="CNAME",
            ttl=args.dns_ttl_seconds,
            records=[domain.regional_domain_name],
            set_identifier=f"{args.role.lower()}-{args.region}",
            failover_routing_policies=[{"type": args.role}],
            health_check_id=self.health_check.id,
            opts=child,
        )
        self.register_outputs({"health_check_id": self.health_check.id})
