"""IAM statements AWS documents as needed, in the form AWS documents them: trust conditions
per service, the key statement for the alerts topic's publishers, and the helpers for roles
whose SageMaker jobs pass a KMS key or publish metrics. Each is linted against AWS's tables."""

from __future__ import annotations

import json

from ml_platform.components.iam import (
    TRAINING_METRICS_NAMESPACE,
    put_metric_data,
    sagemaker_job_output_key,
    service_trust_policy,
    write_logs,
)
from ml_platform.components.monitoring import PUBLISHERS
from tests.iam_lint import findings

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def test_api_gateway_trust_has_no_source_account_condition():
    # API Gateway's documented trust for logging and integration roles names only the principal.
    assert service_trust_policy("apigateway.amazonaws.com", "123456789012") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ServiceAssumesRole",
                "Effect": "Allow",
                "Principal": {"Service": "apigateway.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def test_other_services_assume_roles_only_for_this_account():
    assert service_trust_policy("sagemaker.amazonaws.com", "123456789012")["Statement"] == [
        {
            "Sid": "ServiceAssumesRoleForThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        }
    ]


def test_a_job_that_passes_an_output_key_may_encrypt_with_it():
    statements = sagemaker_job_output_key(KEY)
    assert statements == [
        {
            "Sid": "UseJobOutputKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": KEY,
        },
        {
            "Sid": "GrantJobVolumesTheKey",
            "Effect": "Allow",
            "Action": ["kms:CreateGrant"],
            "Resource": KEY,
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ]
    assert findings({"Version": "2012-10-17", "Statement": statements}) == []


def test_training_metrics_are_limited_to_one_namespace():
    statement = put_metric_data("ml-platform/Training")
    assert statement == {
        "Sid": "PutMetricsInNamespace",
        "Effect": "Allow",
        "Action": ["cloudwatch:PutMetricData"],
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "ml-platform/Training"}},
    }
    # parliament knows cloudwatch:namespace is a condition key of PutMetricData.
    assert findings({"Version": "2012-10-17", "Statement": [statement]}) == []
    # SageMaker publishes a training job's metric definitions here, with the job's role.
    assert put_metric_data(TRAINING_METRICS_NAMESPACE)["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}
    }


def test_prod_api_roles_trust_api_gateway_without_conditions(stack):
    prod = stack("prod")
    trusts = {
        r.name: json.loads(r.inputs["assumeRolePolicy"])["Statement"]
        for r in prod.of_type("aws:iam/role:Role")
        if r.name.startswith("api-")
    }
    assert sorted(trusts) == ["api-primary-invoke", "api-primary-logs", "api-secondary-invoke", "api-secondary-logs"]
    for statements in trusts.values():
        assert statements == [
            {
                "Sid": "ServiceAssumesRole",
                "Effect": "Allow",
                "Principal": {"Service": "apigateway.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]


def test_prod_keys_let_every_publisher_use_them_for_the_encrypted_topic(stack):
    for key in stack("prod").of_type("aws:kms/key:Key"):
        statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
        assert statements["ServicesPublishToEncryptedTopics"] == {
            "Sid": "ServicesPublishToEncryptedTopics",
            "Effect": "Allow",
            "Principal": {"Service": sorted(PUBLISHERS)},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        }


def test_log_writing_is_scoped_to_the_named_groups_in_the_accounts_partition():
    groups = ["/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints/e"]
    assert write_logs("cn-north-1", "123456789012", groups, partition="aws-cn") == {
        "Sid": "WriteLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
        "Resource": [
            "arn:aws-cn:logs:cn-north-1:123456789012:log-group:/aws/sagemaker/TrainingJobs:*",
            "arn:aws-cn:logs:cn-north-1:123456789012:log-group:/aws/sagemaker/Endpoints/e:*",
        ],
    }
    # Callers that do not pass one get the commercial partition, as before.
    assert write_logs("us-east-1", "1", ["/g"])["Resource"] == ["arn:aws:logs:us-east-1:1:log-group:/g:*"]
