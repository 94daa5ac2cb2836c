"""Another team's Pulumi program reusing one ml-platform component: the hardened regional front door
(`RegionalApi`: IAM-authorized `POST /invocations`, a `/ping` that reports SageMaker's real endpoint
status, throttling, access logs, X-Ray, a WAF web ACL) in front of an endpoint this program does not
manage. Everything it needs comes from its own config and the AWS provider, never from
ml-platform's stack config.
"""

import pulumi
import pulumi_aws as aws

from ml_platform.components import RegionalApi, RegionalApiArgs, WebAclArgs

config = pulumi.Config()
endpoint_name = config.require("endpointName")
region = pulumi.Config("aws").require("region")
account_id = aws.get_caller_identity_output().account_id
partition = aws.get_partition_output()

api = RegionalApi(
    "inference",
    RegionalApiArgs(
        api_name=f"{pulumi.get_project()}-{pulumi.get_stack()}",
        endpoint_name=endpoint_name,
        # SageMaker writes an endpoint's ARN with its name in lower case.
        endpoint_arn=pulumi.Output.concat(
            "arn:", partition.partition, ":sagemaker:", region, ":", account_id, ":endpoint/", endpoint_name.lower()
        ),
        region=region,
        account_id=account_id,
        partition=partition.partition,
        dns_suffix=partition.dns_suffix,
        key_arn=config.require("logKeyArn"),
        stage_name=config.get("stageName") or "v1",
        throttle_rate_limit_per_second=20,
        throttle_burst_limit=40,
        access_log_retention_days=90,
        web_acl=WebAclArgs(rate_limit_per_ip=300),
    ),
)

pulumi.export("invoke_url", api.invoke_url)
