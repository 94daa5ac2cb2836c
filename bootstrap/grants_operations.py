"""Grants for IAM roles, CloudWatch, SNS, EventBridge, Scheduler, X-Ray, CloudTrail and Budgets.

Rows of the table in `grants.py`; see its docstring for what each field means.
"""

from __future__ import annotations

from grants_base import Grant

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


BUDGETS = Grant(
    "Budgets",
    "scaling-and-budgets",
    manage=("budgets:ModifyBudget", "budgets:TagResource", "budgets:UntagResource"),
    read=("budgets:ViewBudget", "budgets:ListTagsForResource"),
    arns=("arn:{partition}:budgets::{account}:budget/*",),
)
