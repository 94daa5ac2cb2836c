"""Grants for SageMaker (models, endpoints, registry, pipelines, training) and its autoscaling.

Rows of the table in `grants.py`; see its docstring for what each field means.
"""

from __future__ import annotations

from grants_base import Grant

SAGEMAKER_TAGS = ("sagemaker:AddTags", "sagemaker:DeleteTags")
SAGEMAKER_ARNS = ("arn:{partition}:sagemaker:{region}:{account}:*",)


def sagemaker(sid: str, manage: tuple[str, ...], read: tuple[str, ...], passes: bool = False) -> Grant:
    return Grant(
        sid,
        "models",
        manage=(*manage, *SAGEMAKER_TAGS),
        read=(*read, "sagemaker:ListTags"),
        arns=SAGEMAKER_ARNS,
        passes_role_to="sagemaker.amazonaws.com" if passes else None,
    )


MODELS = sagemaker("Models", ("sagemaker:CreateModel", "sagemaker:DeleteModel"), ("sagemaker:DescribeModel",), True)


ENDPOINT_CONFIGS = sagemaker(
    "EndpointConfigs",
    ("sagemaker:CreateEndpointConfig", "sagemaker:DeleteEndpointConfig"),
    ("sagemaker:DescribeEndpointConfig",),
)


ENDPOINTS = sagemaker(
    "Endpoints",
    (
        "sagemaker:CreateEndpoint",
        "sagemaker:UpdateEndpoint",
        "sagemaker:DeleteEndpoint",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
    ),
    ("sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig"),
)


MODEL_PACKAGE_GROUPS = sagemaker(
    "ModelPackageGroups",
    (
        "sagemaker:CreateModelPackageGroup",
        "sagemaker:DeleteModelPackageGroup",
        "sagemaker:PutModelPackageGroupPolicy",
        "sagemaker:DeleteModelPackageGroupPolicy",
    ),
    (
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:GetModelPackageGroupPolicy",
        "sagemaker:DescribeModelPackage",
        "sagemaker:ListModelPackages",
    ),
)


PIPELINES = sagemaker(
    "Pipelines",
    ("sagemaker:CreatePipeline", "sagemaker:UpdatePipeline", "sagemaker:DeletePipeline"),
    ("sagemaker:DescribePipeline",),
    True,
)


TRAINING_JOBS = sagemaker(
    "TrainingJobs",
    ("sagemaker:CreateTrainingJob", "sagemaker:StopTrainingJob"),
    ("sagemaker:DescribeTrainingJob",),
    True,
)


SCALING = Grant(
    "Autoscaling",
    "scaling-and-budgets",
    manage=(
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:PutScalingPolicy",
        "application-autoscaling:DeleteScalingPolicy",
        "application-autoscaling:PutScheduledAction",
        "application-autoscaling:DeleteScheduledAction",
        "application-autoscaling:TagResource",
        "application-autoscaling:UntagResource",
    ),
    read=("application-autoscaling:ListTagsForResource",),
    arns=("arn:{partition}:application-autoscaling:{region}:{account}:scalable-target/*",),
    # The Describe actions take no resource ARN.
    unscoped_read=(
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies",
        "application-autoscaling:DescribeScheduledActions",
    ),
)
