"""What CI may do to deploy the program: one table keyed by Pulumi type token.

Each row names the IAM actions that create, update, delete, tag (`manage`) and read (`read`)
one resource type, the ARNs they are scoped to, the actions AWS does not scope to resources
(`unscoped`/`unscoped_read`, granted on `*` pinned to the stack regions), and the service a role
given to that type is passed to (`iam:PassRole` with `iam:PassedToService`). The deploy role of
a stack gets `manage + read`; its preview role gets `read` only (what `pulumi preview --refresh`
calls). tests/test_bootstrap.py synthesizes every stack and fails naming any declared type, or
any role passed to a service, that this table does not cover.

ARN templates: `{partition}`, `{account}`, `{region}` (expanded for each stack region), `{stack}`.
Action names and resource-level support: the Service Authorization Reference,
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
(the IAM lint test checks them against parliament's copy of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Grant:
    """The permissions behind one or more Pulumi resource types."""

    sid: str
    policy: str  # the managed policy (by service) it lands in
    manage: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    arns: tuple[str, ...] = ()
    unscoped: tuple[str, ...] = ()
    unscoped_read: tuple[str, ...] = ()
    condition: dict = field(default_factory=dict)
    passes_role_to: str | None = None


THIS_ACCOUNT = {"StringEquals": {"aws:ResourceAccount": "{account}"}}

BUCKETS = Grant(
    "Buckets",
    "s3",
    manage=(
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:PutBucketTagging",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketVersioning",
        # DeleteBucketLifecycle, DeleteBucketEncryption, DeleteBucketReplication,
        # DeletePublicAccessBlock and DeleteBucketOwnershipControls are authorized by the Put
        # action of the same configuration.
        "s3:PutLifecycleConfiguration",
        "s3:PutEncryptionConfiguration",
        "s3:PutReplicationConfiguration",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketOwnershipControls",
        "s3:PutBucketLogging",
        "s3:PutBucketNotification",
        "s3:PutIntelligentTieringConfiguration",
    ),
    # What the provider's Bucket read (refresh) calls, and the configurations' reads.
    read=(
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:GetBucketLocation",
        "s3:GetBucketTagging",
        "s3:GetBucketPolicy",
        "s3:GetBucketPolicyStatus",
        "s3:GetBucketAcl",
        "s3:GetBucketCORS",
        "s3:GetBucketWebsite",
        "s3:GetBucketVersioning",
        "s3:GetAccelerateConfiguration",
        "s3:GetBucketRequestPayment",
        "s3:GetBucketLogging",
        "s3:GetBucketNotification",
        "s3:GetBucketObjectLockConfiguration",
        "s3:GetBucketOwnershipControls",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetLifecycleConfiguration",
        "s3:GetReplicationConfiguration",
        "s3:GetEncryptionConfiguration",
        "s3:GetIntelligentTieringConfiguration",
    ),
    # Bucket names are global and mostly auto-named: any bucket, of this account only.
    arns=("arn:{partition}:s3:::*",),
    condition=THIS_ACCOUNT,
)
BUCKET_REPLICATION = Grant(
    "BucketReplication", "s3", manage=BUCKETS.manage[:1], arns=BUCKETS.arns, passes_role_to="s3.amazonaws.com"
)
OBJECTS = Grant(
    "Objects",
    "s3",
    manage=("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectTagging"),
    read=("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"),
    arns=("arn:{partition}:s3:::*/*",),
    condition=THIS_ACCOUNT,
)

ROLES = Grant(
    "Roles",
    "iam",
    manage=(
        "iam:CreateRole",
        "iam:DeleteRole",
        "iam:UpdateRole",
        "iam:UpdateRoleDescription",
        "iam:UpdateAssumeRolePolicy",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
    ),
    read=(
        "iam:GetRole",
        "iam:ListRoleTags",
        "iam:GetRolePolicy",
        "iam:ListRolePolicies",
        "iam:ListAttachedRolePolicies",
        "iam:ListInstanceProfilesForRole",
    ),
    arns=("arn:{partition}:iam::{account}:role/*",),
)
# Only the AWS managed policies the program attaches (tests check the list against the stacks).
ATTACHABLE_POLICIES = (
    "arn:{partition}:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup",
    "arn:{partition}:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
    "arn:{partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "arn:{partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    "arn:{partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
)
ROLE_ATTACHMENTS = Grant(
    "RolePolicyAttachments",
    "iam",
    # The read (ListAttachedRolePolicies) is the Roles grant's: iam:PolicyARN does not apply to it.
    manage=("iam:AttachRolePolicy", "iam:DetachRolePolicy"),
    arns=ROLES.arns,
    condition={"ArnEquals": {"iam:PolicyARN": list(ATTACHABLE_POLICIES)}},
)

KEYS = Grant(
    "Keys",
    "kms",
    manage=(
        "kms:CreateAlias",
        "kms:DeleteAlias",
        "kms:UpdateAlias",
        "kms:EnableKeyRotation",
        "kms:DisableKeyRotation",
        "kms:PutKeyPolicy",
        "kms:ScheduleKeyDeletion",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:UpdateKeyDescription",
        # Creating encrypted resources (SNS, logs, SageMaker, Backup) and writing to encrypted buckets.
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
    ),
    read=("kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"),
    arns=("arn:{partition}:kms:{region}:{account}:key/*", "arn:{partition}:kms:{region}:{account}:alias/ml-platform-*"),
    unscoped=("kms:CreateKey",),
    unscoped_read=("kms:ListAliases",),
)

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

IMAGES = Grant(
    "PushModelImage",
    "models",
    manage=(
        "ecr:BatchCheckLayerAvailability",
        "ecr:CompleteLayerUpload",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
    ),
    read=(
        "ecr:BatchGetImage",
        "ecr:DescribeImageReplicationStatus",
        "ecr:DescribeImages",
        "ecr:DescribeRepositories",
        "ecr:GetDownloadUrlForLayer",
    ),
    # Only the stack's own repository (created by the bootstrap).
    arns=("arn:{partition}:ecr:{region}:{account}:repository/ml-platform/{stack}/model",),
    unscoped=("ecr:GetAuthorizationToken",),
)

# The program's one dynamic resource (ml_platform/components/image_check.py: the served digest present in
# the secondary region's replica repository before its Model is created) runs in the deploy
# process with the deploy role's credentials and only reads the stack's repositories. A new
# dynamic provider must extend this row.
IMAGE_CHECK = Grant(
    "CheckReplicaImage",
    "models",
    read=("ecr:DescribeImages",),
    arns=IMAGES.arns,
)

ALARMS = Grant(
    "Alarms",
    "observability",
    manage=(
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:PutCompositeAlarm",
        "cloudwatch:DeleteAlarms",
        "cloudwatch:TagResource",
        "cloudwatch:UntagResource",
    ),
    read=("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"),
    arns=("arn:{partition}:cloudwatch:{region}:{account}:alarm:*",),
)
DASHBOARDS = Grant(
    "Dashboards",
    "observability",
    manage=("cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"),
    read=("cloudwatch:GetDashboard",),
    arns=("arn:{partition}:cloudwatch::{account}:dashboard/*",),
)
LOG_GROUPS = Grant(
    "LogGroups",
    "observability",
    manage=(
        "logs:CreateLogGroup",
        "logs:DeleteLogGroup",
        "logs:PutRetentionPolicy",
        "logs:DeleteRetentionPolicy",
        "logs:AssociateKmsKey",
        "logs:DisassociateKmsKey",
        "logs:TagResource",
        "logs:UntagResource",
    ),
    read=("logs:ListTagsForResource",),
    arns=("arn:{partition}:logs:{region}:{account}:log-group:*",),
    # DescribeLogGroups takes no resource ARN: Resource "*" or it is not granted at all.
    unscoped_read=("logs:DescribeLogGroups",),
)
TOPICS = Grant(
    "Topics",
    "observability",
    manage=(
        "sns:CreateTopic",
        "sns:DeleteTopic",
        "sns:SetTopicAttributes",
        "sns:Subscribe",
        "sns:TagResource",
        "sns:UntagResource",
    ),
    read=("sns:GetTopicAttributes", "sns:ListTagsForResource", "sns:ListSubscriptionsByTopic"),
    arns=("arn:{partition}:sns:{region}:{account}:*",),
    # Subscription ARNs are not an SNS resource type in IAM: Resource "*".
    unscoped=("sns:Unsubscribe", "sns:SetSubscriptionAttributes"),
    unscoped_read=("sns:GetSubscriptionAttributes",),
)
RULES = Grant(
    "EventRules",
    "observability",
    manage=(
        "events:PutRule",
        "events:DeleteRule",
        "events:EnableRule",
        "events:DisableRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:TagResource",
        "events:UntagResource",
    ),
    read=("events:DescribeRule", "events:ListTargetsByRule", "events:ListTagsForResource"),
    arns=("arn:{partition}:events:{region}:{account}:rule/*",),
)
EVENT_TARGETS = Grant(
    "EventTargets",
    "observability",
    manage=("events:PutTargets", "events:RemoveTargets"),
    read=("events:ListTargetsByRule",),
    arns=RULES.arns,
    passes_role_to="events.amazonaws.com",
)
CONNECTIONS = Grant(
    "EventConnections",
    "observability",
    manage=("events:CreateConnection", "events:UpdateConnection", "events:DeleteConnection"),
    read=("events:DescribeConnection",),
    arns=("arn:{partition}:events:{region}:{account}:connection/*",),
)
# EventBridge keeps a connection's credentials in a Secrets Manager secret it creates with the
# caller's permissions: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-connections.html
CONNECTION_SECRETS = Grant(
    "EventConnectionSecrets",
    "observability",
    manage=(
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecret",
        "secretsmanager:DeleteSecret",
        "secretsmanager:TagResource",
    ),
    read=("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"),
    arns=("arn:{partition}:secretsmanager:{region}:{account}:secret:events!connection/*",),
)
API_DESTINATIONS = Grant(
    "EventApiDestinations",
    "observability",
    manage=("events:CreateApiDestination", "events:UpdateApiDestination", "events:DeleteApiDestination"),
    read=("events:DescribeApiDestination",),
    # An API destination names its connection: the actions also take the connection's ARN.
    arns=(
        "arn:{partition}:events:{region}:{account}:api-destination/*",
        "arn:{partition}:events:{region}:{account}:connection/*",
    ),
)
SCHEDULES = Grant(
    "Schedules",
    "observability",
    manage=("scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"),
    read=("scheduler:GetSchedule",),
    arns=("arn:{partition}:scheduler:{region}:{account}:schedule/*/*",),
    passes_role_to="scheduler.amazonaws.com",
)
TRACING = Grant(
    "Tracing",
    "observability",
    manage=(
        "xray:CreateGroup",
        "xray:UpdateGroup",
        "xray:DeleteGroup",
        "xray:CreateSamplingRule",
        "xray:UpdateSamplingRule",
        "xray:DeleteSamplingRule",
        "xray:TagResource",
        "xray:UntagResource",
    ),
    read=("xray:GetGroup", "xray:ListTagsForResource"),
    arns=(
        "arn:{partition}:xray:{region}:{account}:group/*",
        "arn:{partition}:xray:{region}:{account}:sampling-rule/*",
    ),
    unscoped_read=("xray:GetSamplingRules",),
)
TRAILS = Grant(
    "Trails",
    "observability",
    manage=(
        "cloudtrail:CreateTrail",
        "cloudtrail:UpdateTrail",
        "cloudtrail:DeleteTrail",
        "cloudtrail:StartLogging",
        "cloudtrail:StopLogging",
        "cloudtrail:PutEventSelectors",
        "cloudtrail:PutInsightSelectors",
        "cloudtrail:AddTags",
        "cloudtrail:RemoveTags",
    ),
    read=(
        "cloudtrail:GetTrail",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
        "cloudtrail:GetInsightSelectors",
        "cloudtrail:ListTags",
    ),
    arns=("arn:{partition}:cloudtrail:{region}:{account}:trail/*",),
    unscoped_read=("cloudtrail:DescribeTrails",),
    passes_role_to="cloudtrail.amazonaws.com",
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
BUDGETS = Grant(
    "Budgets",
    "scaling-and-budgets",
    manage=("budgets:ModifyBudget", "budgets:TagResource", "budgets:UntagResource"),
    read=("budgets:ViewBudget", "budgets:ListTagsForResource"),
    arns=("arn:{partition}:budgets::{account}:budget/*",),
)

BACKUP = Grant(
    "Backup",
    "backup",
    manage=(
        "backup:CreateBackupVault",
        "backup:DeleteBackupVault",
        "backup:PutBackupVaultAccessPolicy",
        "backup:DeleteBackupVaultAccessPolicy",
        "backup:PutBackupVaultLockConfiguration",
        "backup:DeleteBackupVaultLockConfiguration",
        "backup:PutBackupVaultNotifications",
        "backup:DeleteBackupVaultNotifications",
        "backup:CreateBackupPlan",
        "backup:UpdateBackupPlan",
        "backup:DeleteBackupPlan",
        "backup:CreateBackupSelection",
        "backup:DeleteBackupSelection",
        "backup:CreateRestoreTestingPlan",
        "backup:UpdateRestoreTestingPlan",
        "backup:DeleteRestoreTestingPlan",
        "backup:CreateRestoreTestingSelection",
        "backup:UpdateRestoreTestingSelection",
        "backup:DeleteRestoreTestingSelection",
        "backup:TagResource",
        "backup:UntagResource",
    ),
    read=(
        "backup:DescribeBackupVault",
        "backup:GetBackupVaultAccessPolicy",
        "backup:GetBackupVaultNotifications",
        "backup:GetBackupPlan",
        "backup:GetBackupSelection",
        "backup:GetRestoreTestingPlan",
        "backup:GetRestoreTestingSelection",
        "backup:ListTags",
    ),
    arns=("arn:{partition}:backup:{region}:{account}:*",),
    # CreateBackupVault also needs this; it takes no resource ARN.
    unscoped=("backup-storage:MountCapsule",),
    passes_role_to="backup.amazonaws.com",
)

API_GATEWAY = Grant(
    "ApiGateway",
    "front-door",
    manage=("apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE", "apigateway:SetWebACL"),
    read=("apigateway:GET",),
    arns=(
        "arn:{partition}:apigateway:{region}::/restapis",
        "arn:{partition}:apigateway:{region}::/restapis/*",
        "arn:{partition}:apigateway:{region}::/domainnames",
        "arn:{partition}:apigateway:{region}::/domainnames/*",
        "arn:{partition}:apigateway:{region}::/account",
        "arn:{partition}:apigateway:{region}::/tags/*",
    ),
    passes_role_to="apigateway.amazonaws.com",
)
CERTIFICATES = Grant(
    "Certificates",
    "front-door",
    manage=("acm:DeleteCertificate", "acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate"),
    read=("acm:DescribeCertificate", "acm:ListTagsForCertificate"),
    arns=("arn:{partition}:acm:{region}:{account}:certificate/*",),
    unscoped=("acm:RequestCertificate",),
)
DNS = Grant(
    "Dns",
    "front-door",
    manage=(
        "route53:ChangeResourceRecordSets",
        "route53:UpdateHealthCheck",
        "route53:DeleteHealthCheck",
        "route53:ChangeTagsForResource",
    ),
    read=(
        "route53:GetHostedZone",
        "route53:ListResourceRecordSets",
        "route53:GetHealthCheck",
        "route53:ListTagsForResource",
        "route53:GetChange",
    ),
    arns=(
        "arn:{partition}:route53:::hostedzone/*",
        "arn:{partition}:route53:::healthcheck/*",
        "arn:{partition}:route53:::change/*",
    ),
    unscoped=("route53:CreateHealthCheck",),
)
WEB_ACLS = Grant(
    "WebAcls",
    "front-door",
    manage=(
        "wafv2:CreateWebACL",
        "wafv2:UpdateWebACL",
        "wafv2:DeleteWebACL",
        "wafv2:AssociateWebACL",
        "wafv2:DisassociateWebACL",
        "wafv2:TagResource",
        "wafv2:UntagResource",
    ),
    read=("wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:ListTagsForResource"),
    arns=(
        "arn:{partition}:wafv2:{region}:{account}:regional/webacl/*/*",
        "arn:{partition}:wafv2:{region}:{account}:regional/managedruleset/*/*",
        "arn:{partition}:apigateway:{region}::/restapis/*/stages/*",
    ),
)

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
