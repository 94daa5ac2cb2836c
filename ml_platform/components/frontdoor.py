"""The regional front door: an API Gateway REST API per region in front of that region's
endpoint, and Route 53 failover between the regions.

`RegionalApi`: `POST /invocations` (IAM auth) integrates directly with SageMaker runtime
`InvokeEndpoint` through a role that may invoke and describe only this endpoint; `GET /ping`
(no auth) asks SageMaker for the endpoint's status (`DescribeEndpoint`) and answers 200 only
while the endpoint serves, 503 otherwise, so a health check of `/ping` sees SageMaker's real
state. The stage throttles, traces with X-Ray, writes an access log with retention, and sits
behind a regional WAFv2 web ACL (per-IP rate limit, AWS's common rule set).

Callers sign with SigV4A (region set: every region of the stack), not SigV4: a SigV4
signature names one region and the other region's API refuses it ("Credential should be
scoped to a valid region"), so after a DNS failover every SigV4 caller would get 403 until it
re-signed. IAM authorization (`AWS_IAM`) is unchanged; see failover_client/client.py for the client.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html (SigV4a: "signatures
valid in more than one AWS Region"), https://github.com/aws-samples/sigv4a-signing-examples;
for IAM-authorized REST APIs API Gateway accepts both ("clients must use Signature Version 4a
(SigV4a) and Signature Version 4 (SigV4)"):
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html.

`RegionalFailover`: in each region, an ACM certificate and a regional custom domain for the
failover name, and a failover record (PRIMARY or SECONDARY) whose health check combines an
HTTPS check of `/ping` with checks on Route 53-compatible alarms of the endpoint and stage.
The ACM validation record (the same name and value for the same domain in every region of
one account) is owned by one of them only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ml_platform.components.frontdoor_routes import (
    ACCESS_LOG_FORMAT,
    DESCRIBE_ENDPOINT_TARGET,
    INVOKE_INTEGRATION,
    INVOKE_RESPONSES,
    INVOKE_ROUTE,
    NOT_SERVING_STATUSES,
    PING_INTEGRATION,
    PING_RESPONSES,
    PING_ROUTE,
    SAGEMAKER_API_SUBDOMAIN,
    SAGEMAKER_JSON_CONTENT_TYPE,
    SERVING_STATUSES,
    describe_uri,
    invoke_policy,
    invoke_uri,
    ping_request_template,
    ping_status_template,
    push_to_cloudwatch_logs_policy_arn,
    routes_digest,
    rto_rpo_seconds,
    web_acl_rules,
)
from ml_platform.components.iam import trust_json

__all__ = [
    "ACCESS_LOG_FORMAT",
    "DESCRIBE_ENDPOINT_TARGET",
    "INVOKE_INTEGRATION",
    "INVOKE_RESPONSES",
    "INVOKE_ROUTE",
    "NOT_SERVING_STATUSES",
    "PING_INTEGRATION",
    "PING_RESPONSES",
    "PING_ROUTE",
    "SAGEMAKER_API_SUBDOMAIN",
    "SAGEMAKER_JSON_CONTENT_TYPE",
    "SERVING_STATUSES",
    "HealthAlarm",
    "RegionalApi",
    "RegionalApiArgs",
    "RegionalFailover",
    "RegionalFailoverArgs",
    "WebAclArgs",
    "describe_uri",
    "invoke_policy",
    "invoke_uri",
    "ping_request_template",
    "ping_status_template",
    "routes_digest",
    "rto_rpo_seconds",
    "web_acl_rules",
]


@dataclass(frozen=True)
class WebAclArgs:
    """The stage's regional WAFv2 web ACL: see `web_acl_rules`."""

    rate_limit_per_ip: int
    rate_window_seconds: int = 300
    common_rule_set: bool = True


@dataclass(frozen=True)
class RegionalApiArgs:
    """Inputs of `RegionalApi`.

    endpoint_name / endpoint_arn: the region's SageMaker endpoint (it may belong to another
        program: the API only invokes and describes it).
    region / account_id / partition / dns_suffix: where the API runs (`aws` and `amazonaws.com`,
        `aws-cn` and `amazonaws.com.cn`, ...: the program reads both with `aws.get_partition`).
    key_arn: a KMS key CloudWatch Logs may use in `region`, for the access log.
    stage_name: the stage; the invoke URL is `https://<host>/<stage_name>/invocations`.
    throttle_rate_limit_per_second / throttle_burst_limit: the stage's throttle, requests per
        second across the stage and its burst in requests.
    access_log_retention_days: how long the access log keeps entries.
    web_acl: the WAFv2 web ACL associated with the stage; None declares none.
    api_name: the REST API's name (API Gateway does not require it unique); it is the
        `ApiName` dimension of the stage's metrics, so alarms can name it before the API exists.
    """

    api_name: str
    endpoint_name: pulumi.Input[str]
    endpoint_arn: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    dns_suffix: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    stage_name: str
    throttle_rate_limit_per_second: float
    throttle_burst_limit: int
    access_log_retention_days: int
    web_acl: WebAclArgs | None = None


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
            policy_arn=pulumi.Output.from_input(args.partition).apply(push_to_cloudwatch_logs_policy_arn),
            opts=child,
        )
        account = aws.apigateway.Account(
            name,
            cloudwatch_role_arn=logs_role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs_attachment]),
        )

        self.api = aws.apigateway.RestApi(
            name,
            name=args.api_name,
            description="ml-platform regional front door",
            endpoint_configuration={"types": "REGIONAL"},
            opts=child,
        )
        invoke_integration = {
            **INVOKE_INTEGRATION,
            "uri": pulumi.Output.all(partition=args.partition, endpoint_name=args.endpoint_name).apply(
                lambda v: invoke_uri(v["partition"], args.region, v["endpoint_name"])
            ),
            "credentials": invoke_role.arn,
        }
        ping_integration = {
            **PING_INTEGRATION,
            "uri": pulumi.Output.from_input(args.partition).apply(lambda p: describe_uri(p, args.region)),
            "credentials": invoke_role.arn,
            "request_templates": pulumi.Output.from_input(args.endpoint_name).apply(ping_request_template),
        }
        created = [
            self._route(
                f"{name}-invocations", INVOKE_ROUTE, invoke_integration, INVOKE_RESPONSES, [invoke_role_policy]
            ),
            self._route(f"{name}-ping", PING_ROUTE, ping_integration, PING_RESPONSES, [invoke_role_policy]),
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
            # Active tracing: API Gateway samples requests into X-Ray (default sampling rule:
            # the first request each second and 5% of the rest). No role is needed.
            # https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-enabling-xray.html
            xray_tracing_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        if args.web_acl is not None:
            self.web_acl = aws.wafv2.WebAcl(
                name,
                description=f"ml-platform front door {args.region}",
                scope="REGIONAL",
                default_action={"allow": {}},
                rules=web_acl_rules(
                    rate_limit_per_ip=args.web_acl.rate_limit_per_ip,
                    rate_window_seconds=args.web_acl.rate_window_seconds,
                    common_rule_set=args.web_acl.common_rule_set,
                    metric_prefix=name,
                ),
                visibility_config={
                    "cloudwatch_metrics_enabled": True,
                    "metric_name": name,
                    "sampled_requests_enabled": True,
                },
                opts=child,
            )
            # A stage takes one web ACL; the association is replaced with the stage.
            # https://docs.aws.amazon.com/waf/latest/APIReference/API_AssociateWebACL.html
            aws.wafv2.WebAclAssociation(name, resource_arn=self.stage.arn, web_acl_arn=self.web_acl.arn, opts=child)
        aws.apigateway.MethodSettings(
            name,
            rest_api=self.api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings={
                "throttling_rate_limit": args.throttle_rate_limit_per_second,
                "throttling_burst_limit": args.throttle_burst_limit,
                "metrics_enabled": True,
                "logging_level": "ERROR",
            },
            opts=child,
        )
        # https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-call-api.html
        # (`https://{restapi_id}.execute-api.{region}.amazonaws.com/{stage_name}/`).
        self.host = pulumi.Output.concat(self.api.id, ".execute-api.", args.region, ".", args.dns_suffix)
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
class HealthAlarm:
    """An alarm a Route 53 health check follows, and the health Route 53 assumes while the
    alarm is INSUFFICIENT_DATA (`Healthy`, `Unhealthy` or `LastKnownStatus`)."""

    name: pulumi.Input[str]
    insufficient_data_health_status: str


@dataclass(frozen=True)
class RegionalFailoverArgs:
    """Inputs of `RegionalFailover` (declared in the API's region).

    role: `PRIMARY` or `SECONDARY`.
    hosted_zone_id / domain_name / dns_ttl_seconds: the failover name.
    rest_api_id / api_host / stage_name: this region's API (`RegionalApi.api.id`, `.host`, its
        stage): the custom domain maps to the stage, and the HTTPS check calls
        `https://<api_host>/<stage_name>/ping`.
    region: where the API and its health alarms live.
    health_alarms: Route 53-compatible alarms of this region's endpoint and stage.
    health_check_interval_seconds / health_check_failure_threshold: the HTTPS /ping check.
    validation_record_fqdn: the ACM validation record another region's `RegionalFailover`
        declared (`validation_record_fqdn` of that one); None declares it here. ACM asks for
        the same record for the same domain in every region of an account, so exactly one
        region owns it: two owners would each delete it on their own destroy.
    """

    role: str
    hosted_zone_id: str
    domain_name: str
    dns_ttl_seconds: int
    rest_api_id: pulumi.Input[str]
    api_host: pulumi.Input[str]
    stage_name: str
    region: str
    health_alarms: list[HealthAlarm]
    health_check_interval_seconds: int
    health_check_failure_threshold: int
    validation_record_fqdn: pulumi.Input[str] | None = None


class RegionalFailover(pulumi.ComponentResource):
    """One region's custom domain, health checks and failover record."""

    validation_record_fqdn: pulumi.Output[str]

    def __init__(self, name: str, args: RegionalFailoverArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:frontdoor:RegionalFailover", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        certificate = aws.acm.Certificate(name, domain_name=args.domain_name, validation_method="DNS", opts=child)
        if args.validation_record_fqdn is None:
            option = certificate.domain_validation_options[0]
            # ACM generates one validation CNAME per domain name and account, whatever the
            # region, so the other regions' certificates validate and renew against this one.
            # https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html
            validation_record = aws.route53.Record(
                f"{name}-validation",
                zone_id=args.hosted_zone_id,
                name=option.resource_record_name,
                type=option.resource_record_type,
                records=[option.resource_record_value],
                ttl=300,
                # The record may already exist (written before this stack owned it once).
                allow_overwrite=True,
                opts=child,
            )
            self.validation_record_fqdn = validation_record.fqdn
        else:
            self.validation_record_fqdn = pulumi.Output.from_input(args.validation_record_fqdn)
        validation = aws.acm.CertificateValidation(
            name, certificate_arn=certificate.arn, validation_record_fqdns=[self.validation_record_fqdn], opts=child
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
            name, rest_api=args.rest_api_id, stage_name=args.stage_name, domain_name=domain.domain_name, opts=child
        )
        ping_check = aws.route53.HealthCheck(
            f"{name}-ping",
            type="HTTPS",
            fqdn=args.api_host,
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
                cloudwatch_alarm_name=alarm.name,
                cloudwatch_alarm_region=args.region,
                insufficient_data_health_status=alarm.insufficient_data_health_status,
                opts=child,
            )
            for index, alarm in enumerate(args.health_alarms)
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
        self.register_outputs(
            {"health_check_id": self.health_check.id, "validation_record": self.validation_record_fqdn}
        )
