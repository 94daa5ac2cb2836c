"""What CI may do to deploy the program: one table keyed by Pulumi type token.

Each row names the IAM actions that create, update, delete, tag (`manage`) and read (`read`)
one resource type, the ARNs they are scoped to, the actions AWS does not scope to resources
(`unscoped`/`unscoped_read`, granted on `*` pinned to the stack regions), and the service a role
given to that type is passed to (`iam:PassRole` with `iam:PassedToService`). The deploy role of
a stack gets `manage + read`; its preview role gets `read` only (what `pulumi preview --refresh`
calls). tests/test_bootstrap.py synthesizes every stack and fails naming any declared type, or
any role passed to a service, that this table does not cover.

The rows live by area: `grants_storage.py` (S3, KMS, ECR, Backup), `grants_sagemaker.py`
(SageMaker, autoscaling), `grants_operations.py` (IAM, CloudWatch, SNS, EventBridge, Scheduler,
X-Ray, CloudTrail, Budgets), `grants_frontdoor.py` (API Gateway, ACM, Route 53, WAF), each a
`Grant` (`grants_base.py`). This module is the table that maps type tokens to them.

ARN templates: `{partition}`, `{account}`, `{region}` (expanded for each stack region), `{stack}`.
Action names and resource-level support: the Service Authorization Reference,
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
(the IAM lint test checks them against parliament's copy of it).
"""

from __future__ import annotations

from grants_base import Grant
from grants_frontdoor import API_GATEWAY, CERTIFICATES, DNS, WEB_ACLS
from grants_operations import (
    ALARMS,
    API_DESTINATIONS,
    ATTACHABLE_POLICIES,
    BUDGETS,
    CONNECTION_SECRETS,
    CONNECTIONS,
    DASHBOARDS,
    EVENT_TARGETS,
    LOG_GROUPS,
    ROLE_ATTACHMENTS,
    ROLES,
    RULES,
    SCHEDULES,
    TOPICS,
    TRACING,
    TRAILS,
)
from grants_sagemaker import (
    ENDPOINT_CONFIGS,
    ENDPOINTS,
    MODEL_PACKAGE_GROUPS,
    MODELS,
    PIPELINES,
    SAGEMAKER_ARNS,
    SCALING,
    TRAINING_JOBS,
)
from grants_storage import BACKUP, BUCKET_REPLICATION, BUCKETS, IMAGE_CHECK, IMAGES, KEYS, OBJECTS

__all__ = [
    "ATTACHABLE_POLICIES",
    "NAMES_ROLES_WITHOUT_PASSING",
    "NO_IAM_PREFIXES",
    "OPS_TOOLS",
    "PREVIEW_TOOLS",
    "TYPE_GRANTS",
    "Grant",
]

# The table: every resource type the program declares (and some it is about to).
TYPE_GRANTS: dict[str, tuple[Grant, ...]] = {
    **dict.fromkeys(
        (
            "aws:s3/bucket:Bucket",
            "aws:s3/bucketV2:BucketV2",
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            "aws:s3/bucketPolicy:BucketPolicy",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "aws:s3/bucketVersioning:BucketVersioning",
            "aws:s3/bucketLogging:BucketLogging",
            "aws:s3/bucketNotification:BucketNotification",
            "aws:s3/bucketIntelligentTieringConfiguration:BucketIntelligentTieringConfiguration",
        ),
        (BUCKETS,),
    ),
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": (BUCKETS, BUCKET_REPLICATION),
    "aws:s3/bucketObjectv2:BucketObjectv2": (OBJECTS,),
    "aws:s3/objectCopy:ObjectCopy": (OBJECTS,),
    "aws:iam/role:Role": (ROLES,),
    "aws:iam/rolePolicy:RolePolicy": (ROLES,),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (ROLE_ATTACHMENTS,),
    "aws:kms/key:Key": (KEYS,),
    "aws:kms/alias:Alias": (KEYS,),
    "aws:sagemaker/model:Model": (MODELS,),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": (ENDPOINT_CONFIGS,),
    "aws:sagemaker/endpoint:Endpoint": (ENDPOINTS,),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": (MODEL_PACKAGE_GROUPS,),
    "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy": (MODEL_PACKAGE_GROUPS,),
    "aws:sagemaker/pipeline:Pipeline": (PIPELINES,),
    "aws:sagemaker/trainingJob:TrainingJob": (TRAINING_JOBS,),
    "docker-build:index:Image": (IMAGES,),
    "pulumi-python:dynamic:Resource": (IMAGE_CHECK,),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (ALARMS,),
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": (ALARMS,),
    "aws:cloudwatch/dashboard:Dashboard": (DASHBOARDS,),
    "aws:cloudwatch/logGroup:LogGroup": (LOG_GROUPS,),
    "aws:sns/topic:Topic": (TOPICS,),
    "aws:sns/topicPolicy:TopicPolicy": (TOPICS,),
    "aws:sns/topicSubscription:TopicSubscription": (TOPICS,),
    "aws:cloudwatch/eventRule:EventRule": (RULES,),
    "aws:cloudwatch/eventTarget:EventTarget": (EVENT_TARGETS,),
    "aws:cloudwatch/eventConnection:EventConnection": (CONNECTIONS, CONNECTION_SECRETS),
    "aws:cloudwatch/eventApiDestination:EventApiDestination": (API_DESTINATIONS,),
    "aws:scheduler/schedule:Schedule": (SCHEDULES,),
    "aws:xray/group:Group": (TRACING,),
    "aws:xray/samplingRule:SamplingRule": (TRACING,),
    "aws:cloudtrail/trail:Trail": (TRAILS,),
    "aws:appautoscaling/target:Target": (SCALING,),
    "aws:appautoscaling/policy:Policy": (SCALING,),
    "aws:appautoscaling/scheduledAction:ScheduledAction": (SCALING,),
    "aws:budgets/budget:Budget": (BUDGETS,),
    **dict.fromkeys(
        (
            "aws:backup/vault:Vault",
            "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
            "aws:backup/vaultNotifications:VaultNotifications",
            "aws:backup/vaultPolicy:VaultPolicy",
            "aws:backup/plan:Plan",
            "aws:backup/selection:Selection",
            "aws:backup/restoreTestingPlan:RestoreTestingPlan",
            "aws:backup/restoreTestingSelection:RestoreTestingSelection",
        ),
        (BACKUP,),
    ),
    **dict.fromkeys(
        (
            "aws:apigateway/account:Account",
            "aws:apigateway/basePathMapping:BasePathMapping",
            "aws:apigateway/deployment:Deployment",
            "aws:apigateway/domainName:DomainName",
            "aws:apigateway/integration:Integration",
            "aws:apigateway/integrationResponse:IntegrationResponse",
            "aws:apigateway/method:Method",
            "aws:apigateway/methodResponse:MethodResponse",
            "aws:apigateway/methodSettings:MethodSettings",
            "aws:apigateway/resource:Resource",
            "aws:apigateway/restApi:RestApi",
            "aws:apigateway/restApiPolicy:RestApiPolicy",
            "aws:apigateway/stage:Stage",
        ),
        (API_GATEWAY,),
    ),
    "aws:acm/certificate:Certificate": (CERTIFICATES,),
    "aws:acm/certificateValidation:CertificateValidation": (CERTIFICATES,),
    "aws:route53/record:Record": (DNS,),
    "aws:route53/healthCheck:HealthCheck": (DNS,),
    "aws:wafv2/webAcl:WebAcl": (WEB_ACLS,),
    "aws:wafv2/webAclAssociation:WebAclAssociation": (WEB_ACLS, API_GATEWAY),
}


# Types that need no IAM grant: providers, and Kubernetes objects (authorized by the cluster's
# EKS access entry for the stack's roles, not by IAM actions).
NO_IAM_PREFIXES = ("pulumi:providers:", "kubernetes:")


# Types whose inputs may name a role without passing it to a service (resource policies naming
# a principal, IRSA annotations): `iam:PassRole` is not involved.
NAMES_ROLES_WITHOUT_PASSING = (
    "aws:kms/key:Key",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:sns/topicPolicy:TopicPolicy",
    "aws:backup/vaultPolicy:VaultPolicy",
    "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy",
    "aws:eks/accessEntry:AccessEntry",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
)


# What the ops tools the workflows run call (sagemaker-runtime's InvokeEndpoint is the
# `sagemaker:InvokeEndpoint` action).
OPS_TOOLS: dict[str, Grant] = {
    "ops.verify": Grant(
        "OpsVerify",
        "models",
        read=("sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:InvokeEndpoint"),
        arns=SAGEMAKER_ARNS,
        unscoped_read=("application-autoscaling:DescribeScalableTargets",),
    ),
    "ops.preflight": Grant(
        "OpsPreflight",
        "models",
        read=("sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig"),
        arns=SAGEMAKER_ARNS,
        unscoped_read=(
            "application-autoscaling:DescribeScalableTargets",
            "application-autoscaling:DescribeScalingPolicies",
        ),
    ),
}


# The preview job runs only ops.preflight; the deploy job runs both.
PREVIEW_TOOLS = ("ops.preflight",)
