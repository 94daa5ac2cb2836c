"""Managed spot training: the job's exact inputs, its role, the model-version name, and the
training config rules. The job is also mapped onto a real CreateTrainingJob request."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from moto.iam.policy_validation import IAMPolicyDocumentValidator

from components.iam import service_trust_policy
from components.training import model_version, training_job_name, training_role_policy
from tests.aws_shapes import request
from tests.test_config import problems

DIGEST_A = "repo@sha256:" + "a" * 64
DIGEST_B = "repo@sha256:" + "b" * 64
HYPER = {"epochs": 30, "learning_rate": 0.05}
PROD_IMAGE = (
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-platform/prod/model@sha256:"
    "4f2c9a1d8b7e6f5a4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d"
)


def test_job_name_is_a_hash_of_image_digest_dataset_version_and_hyperparameters():
    name = training_job_name("ml-platform-prod", DIGEST_A, "v1", HYPER)
    assert name == f"ml-platform-prod-{model_version(DIGEST_A, 'v1', HYPER)}"
    assert len(name) == len("ml-platform-prod-") + 12
    assert training_job_name("ml-platform-prod", DIGEST_A, "v1", dict(reversed(HYPER.items()))) == name
    # The registry host is not part of the lineage: the same digest in another region is the same model.
    assert training_job_name("ml-platform-prod", "other/" + DIGEST_A, "v1", HYPER) == name
    changed = {
        training_job_name("ml-platform-prod", DIGEST_B, "v1", HYPER),
        training_job_name("ml-platform-prod", DIGEST_A, "v2", HYPER),
        training_job_name("ml-platform-prod", DIGEST_A, "v1", {**HYPER, "epochs": 31}),
    }
    assert name not in changed and len(changed) == 3


def test_job_name_fits_sagemaker_limit():
    assert len(training_job_name("x" * 80, DIGEST_A, "v1", {})) <= 63


def test_spot_wait_must_cover_runtime():
    assert problems(
        training={"dataset": {"prefix": "d", "version": "v1"}, "max_runtime_seconds": 7200, "max_wait_seconds": 3600}
    ) == [
        "training.max_wait_seconds: spot max wait must cover the max runtime (got 3600; expected "
        ">= max_runtime_seconds (7200))"
    ]


def test_training_instance_type_comes_from_botocore_with_close_matches():
    assert problems(training={"dataset": {"prefix": "d", "version": "v1"}, "instance_type": "ml.m5.xlarg"}) == [
        "training.instance_type: unknown instance type (got 'ml.m5.xlarg'; expected a SageMaker "
        "TrainingInstanceType, e.g. ml.m5.xlarge, ml.m5.4xlarge, ml.m5.2xlarge)"
    ]
    assert problems(training={"dataset": {"prefix": "d", "version": "v1"}, "instance_type": "t2.micro"}) == [
        "training.instance_type: unknown instance type (got 't2.micro'; expected a SageMaker "
        "TrainingInstanceType such as ml.m4.xlarge)"
    ]


def test_dataset_is_required_and_checked():
    assert problems(training={"dataset": {"prefix": "/abs", "version": ""}}) == [
        "training.dataset.prefix: not in the required format (got '/abs'; expected a relative S3 key prefix: "
        "lowercase letters, digits and . _ / -, no leading or trailing /)",
        "training.dataset.version: not in the required format (got ''; expected letters, digits and . _ - "
        "(a single path segment))",
    ]


def test_role_policy_is_least_privilege_and_valid():
    policy = training_role_policy(
        datasets_bucket_arn="arn:aws:s3:::d",
        dataset_prefix="tabular/x/v1/",
        artifacts_bucket_arn="arn:aws:s3:::a",
        job_name="job-1",
        key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        repository_arn="arn:aws:ecr:us-east-1:123456789012:repository/ml-platform/prod/model",
        region="us-east-1",
        account_id="123456789012",
        vpc=False,
    )
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ReadDatasetVersion"]["Resource"] == "arn:aws:s3:::d/tabular/x/v1/*"
    assert by_sid["WriteModel"]["Resource"] == "arn:aws:s3:::a/models/job-1/*"
    assert by_sid["ReadWriteCheckpoints"]["Resource"] == "arn:aws:s3:::a/checkpoints/job-1/*"
    assert by_sid["ListOwnPrefixes"]["Condition"] == {
        "StringLike": {"s3:prefix": ["models/job-1/*", "checkpoints/job-1/*"]}
    }
    assert by_sid["WriteLogs"]["Resource"] == [
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TrainingJobs:*"
    ]
    # Only the registry login is unscoped, because ECR offers no resource for it.
    assert [s["Sid"] for s in policy["Statement"] if s["Resource"] == "*"] == ["AuthenticateToRegistry"]
    assert all(not a.endswith(":*") and a != "*" for s in policy["Statement"] for a in s["Action"])
    IAMPolicyDocumentValidator(json.dumps(policy)).validate()
    vpc = training_role_policy(
        **{
            **dict(
                datasets_bucket_arn="arn:aws:s3:::d",
                dataset_prefix="p/",
                artifacts_bucket_arn="arn:aws:s3:::a",
                job_name="j",
                key_arn="k",
                repository_arn="r",
                region="eu-west-1",
                account_id="1",
            ),
            "vpc": True,
        }
    )
    assert vpc["Statement"][-1]["Sid"] == "AttachToVpc"
    assert vpc["Statement"][-1]["Condition"] == {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}


@pytest.fixture(scope="module")
def prod_job(stack):
    return stack("prod").one("aws:sagemaker/trainingJob:TrainingJob", "training")


def test_prod_training_job_inputs(stack, prod_job):
    prod = stack("prod")
    artifacts = prod.one("aws:s3/bucket:Bucket", "artifacts-primary").outputs["bucket"]
    datasets = prod.one("aws:s3/bucket:Bucket", "datasets-primary").outputs["bucket"]
    key = prod.one("aws:kms/key:Key", "key-primary").outputs["arn"]
    role = prod.one("aws:iam/role:Role", "training")
    job_name = training_job_name(
        "ml-platform-prod", PROD_IMAGE, "v1", {"epochs": 30, "learning_rate": 0.05, "batch_size": 64}
    )
    assert prod_job.region == "us-east-1"
    assert prod_job.inputs == {
        "trainingJobName": job_name,
        "roleArn": role.outputs["arn"],
        "algorithmSpecification": {"trainingImage": PROD_IMAGE, "trainingInputMode": "File"},
        "hyperParameters": {"batch_size": "64", "epochs": "30", "learning_rate": "0.05"},
        "inputDataConfigs": [
            {
                "channelName": "train",
                "contentType": "text/csv",
                "dataSource": {
                    "s3DataSource": {
                        "s3DataType": "S3Prefix",
                        "s3Uri": f"s3://{datasets}/tabular/breast-cancer/v1/",
                        "s3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "outputDataConfig": {"s3OutputPath": f"s3://{artifacts}/models/", "kmsKeyId": key},
        "resourceConfig": {
            "instanceType": "ml.m5.xlarge",
            "instanceCount": 1,
            "volumeSizeInGb": 30,
            "volumeKmsKeyId": key,
        },
        "enableManagedSpotTraining": True,
        "stoppingCondition": {"maxRuntimeInSeconds": 3600, "maxWaitTimeInSeconds": 10800},
        "checkpointConfig": {"s3Uri": f"s3://{artifacts}/checkpoints/{job_name}/", "localPath": "/opt/ml/checkpoints"},
        "retryStrategy": {"maximumRetryAttempts": 5},
        "enableNetworkIsolation": True,
        "enableInterContainerTrafficEncryption": False,
    }
    policy = prod.one("aws:iam/rolePolicy:RolePolicy", "training")
    assert policy.urn in prod_job.depends_on
    assert json.loads(role.inputs["assumeRolePolicy"]) == service_trust_policy(
        "sagemaker.amazonaws.com", "123456789012"
    )
    assert json.loads(policy.inputs["policy"]) == training_role_policy(
        datasets_bucket_arn=f"arn:aws:s3:::{datasets}",
        dataset_prefix="tabular/breast-cancer/v1/",
        artifacts_bucket_arn=f"arn:aws:s3:::{artifacts}",
        job_name=job_name,
        key_arn=key,
        repository_arn="arn:aws:ecr:us-east-1:123456789012:repository/ml-platform/prod/model",
        region="us-east-1",
        account_id="123456789012",
        vpc=False,
    )


def test_prod_training_job_is_a_valid_create_training_job_request_that_moto_accepts(prod_job):
    params = request("sagemaker", "CreateTrainingJob", prod_job.inputs)
    assert params["EnableManagedSpotTraining"] is True
    assert params["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    assert params["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] == "S3Prefix"
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        sagemaker.create_training_job(**params)
        described = sagemaker.describe_training_job(TrainingJobName=params["TrainingJobName"])
    assert described["EnableManagedSpotTraining"] is True
    assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 10800}
    assert described["AlgorithmSpecification"]["TrainingImage"] == PROD_IMAGE


def test_a_misspelt_request_key_is_caught_by_the_mapping(prod_job):
    with pytest.raises(KeyError, match=r"TrainingJobRequest|CreateTrainingJobRequest"):
        request("sagemaker", "CreateTrainingJob", {**prod_job.inputs, "enableManagedSpotTrainingg": True})


def test_model_registry_group_per_environment(stack):
    for name in ("dev", "prod"):
        group = stack(name).one("aws:sagemaker/modelPackageGroup:ModelPackageGroup", "model-registry")
        assert group.inputs == {
            "modelPackageGroupName": f"ml-platform-{name}",
            "modelPackageGroupDescription": f"Models of ml-platform {name}",
        }
