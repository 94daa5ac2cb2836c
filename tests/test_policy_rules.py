"""Each policy rule on real synthesized stacks: a passing case, and failing cases that are
mutations of the real resources, asserting the exact message. This module: the committed
stacks, rule levels, IAM, protection and tags (policy/rules_governance.py); storage rules are
in test_policy_rules_storage.py, serving rules in test_policy_rules_serving.py.

Rules over types the program does not declare yet (the retraining pipeline) run on
`pending_synthesis()` (see tests/policy_support.py). What these cannot prove: that AWS itself would refuse the
non-compliant resources, or that the values AWS computes (ids, ARNs) join the same way the
mock engine's stand-ins do; the CrossGuard run in CI covers the real preview.
"""

from __future__ import annotations

import json

import pytest

from offline.policy_check import check
from policy import policies
from policy.policies import ADVISORY, MANDATORY, Resource, evaluate
from tests.policy_support import mutated, pending_synthesis, resources

BUCKET = "aws:s3/bucket:Bucket"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
PROVIDER = "pulumi:providers:aws"


@pytest.fixture(scope="module")
def prod(stack):
    return stack("prod")


@pytest.fixture(scope="module")
def pending():
    return pending_synthesis()


# ---------------------------------------------------------------------------------------------
# The committed stacks


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_committed_stacks_have_no_mandatory_violation(stack, name):
    synthesis = stack(name)
    assert [v for v in check(name, synthesis) if v.level == MANDATORY] == []


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_committed_stacks_have_no_violation_at_all(stack, name):
    assert check(name, stack(name)) == []


def test_stand_in_for_resources_still_to_land_is_compliant_in_prod(pending):
    assert evaluate(resources(pending), "prod") == []


# ---------------------------------------------------------------------------------------------
# Levels and environments


def test_every_rule_is_mandatory_except_the_marked_ones():
    levels = {rule.name: {env: rule.level(env) for env in policies.ENVIRONMENTS} for rule in policies.RULES}
    assert levels.pop("training-spot-with-checkpoints") == {"dev": ADVISORY, "staging": MANDATORY, "prod": MANDATORY}
    assert {level for per_env in levels.values() for level in per_env.values()} == {MANDATORY}
    assert sorted(levels) == [
        "api-stage-tracing",
        "api-stage-waf",
        "backup-vault-kms",
        "backup-vault-locked-in-prod",
        "endpoint-config-kms-and-capacity",
        "endpoint-latency-and-error-alarms",
        "endpoint-rollback-alarms",
        "endpoint-scalable-target",
        "iam-no-wildcard-grants",
        "metric-alarm-actions",
        "prod-api-access-log-retention",
        "prod-buckets-in-backup-selection",
        "required-default-tags",
        "s3-access-records",
        "s3-buckets-hardened",
        "stateful-protected-in-prod",
    ]


def test_an_unknown_environment_gets_the_prod_rules(prod):
    broken = mutated(prod, BUCKET, "primary-datasets", protect=False)
    assert [v.rule for v in evaluate(resources(broken), "qa") if v.level == MANDATORY] == ["stateful-protected-in-prod"]


# ---------------------------------------------------------------------------------------------
# IAM


def test_iam_passes_including_the_registry_token_action_on_star(prod):
    # The model-build jobs' policy allows ecr:GetAuthorizationToken on "*" (it has no resource ARN).
    assert "ecr:GetAuthorizationToken" in prod.one(ROLE_POLICY, JOBS).inputs["policy"]
    assert [m for r in resources(prod) for m in policies.iam_no_wildcard_grants(r, "prod")] == []


JOBS = "retraining-jobs"


def with_statement(prod, statement: dict):
    document = json.loads(prod.one(ROLE_POLICY, JOBS).inputs["policy"])
    document["Statement"].append(statement)
    return mutated(prod, ROLE_POLICY, JOBS, inputs={"policy": json.dumps(document)})


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (
            {"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"},
            "policy statement 'Everything' allows '*' on Resource '*'",
        ),
        # Unnamed: reported by its 1-based position, after the jobs policy's 12 statements.
        (
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:*"], "Resource": ["*"]},
            "policy statement 13 allows 's3:*' on Resource '*'",
        ),
        (
            {"Sid": "AllBut", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
            "policy statement 'AllBut' allows every action but NotAction on Resource '*'",
        ),
    ],
)
def test_iam_wildcard_grant_in_a_role_policy(prod, statement, message):
    broken = with_statement(prod, statement)
    found = [m for r in resources(broken) for m in policies.iam_no_wildcard_grants(r, "prod")]
    assert found == [f"aws:iam/rolePolicy:RolePolicy {JOBS}: {message}"]


def test_iam_service_wildcard_on_one_arn_or_a_deny_is_not_flagged(prod):
    ok = with_statement(prod, {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::one/*"})
    deny = with_statement(prod, {"Effect": "Deny", "Action": "*", "Resource": "*"})
    for synthesis in (ok, deny):
        assert [m for r in resources(synthesis) for m in policies.iam_no_wildcard_grants(r, "prod")] == []


def test_iam_inline_role_policy_and_managed_full_access(prod):
    inline = [
        {"name": "admin", "policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})}
    ]
    broken = mutated(
        prod,
        ROLE,
        JOBS,
        inputs={"inlinePolicies": inline, "managedPolicyArns": ["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"]},
    )
    role = next(r for r in resources(broken) if r.type == ROLE and r.name == JOBS)
    assert policies.iam_no_wildcard_grants(role, "prod") == [
        f"aws:iam/role:Role {JOBS}: inlinePolicies[0] admin statement 0 allows '*' on Resource '*'",
        f"aws:iam/role:Role {JOBS}: attaches the AWS-managed policy "
        "'arn:aws:iam::aws:policy/AmazonSageMakerFullAccess' (grants whole services)",
    ]


def test_iam_attachment_of_administrator_access():
    attachment = Resource(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "ci",
        {"role": "ci", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    assert policies.iam_no_wildcard_grants(attachment, "dev") == [
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment ci: attaches the AWS-managed policy "
        "'arn:aws:iam::aws:policy/AdministratorAccess' (grants whole services)"
    ]


# ---------------------------------------------------------------------------------------------
# Protection and tags


def test_stateful_resources_protected_in_prod(prod, stack):
    assert [m for r in resources(prod) for m in policies.stateful_protected_in_prod(r, "prod")] == []
    assert [m for r in resources(stack("dev")) for m in policies.stateful_protected_in_prod(r, "dev")] == []
    for type_, name in ((BUCKET, "secondary-datasets"), ("aws:kms/key:Key", "key-primary")):
        broken = mutated(prod, type_, name, protect=False)
        assert [m for r in resources(broken) for m in policies.stateful_protected_in_prod(r, "prod")] == [
            f"{type_} {name}: stateful resource is not protected in prod (protect is false)"
        ]
    # The model's ECR repository is the bootstrap's (tests/test_bootstrap.py checks it is protected).


def test_required_default_tags(prod):
    assert [m for r in resources(prod) for m in policies.required_default_tags(r, "prod")] == []
    provider = prod.one(PROVIDER, "aws-secondary")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    del tags["owner"], tags["cost-center"]
    untagged = mutated(prod, PROVIDER, "aws-secondary", inputs={"defaultTags": json.dumps({"tags": tags})})
    found = [m for r in resources(untagged) for m in policies.required_default_tags(r, "prod")]
    secondary = [r for r in prod.resources if r.custom and r.region == "us-west-2" and r.type.startswith("aws:")]
    assert sorted(found) == sorted(
        f"{r.type} {r.name}: provider aws-secondary has no default tag owner, cost-center" for r in secondary
    )


def test_resource_on_the_default_provider(prod):
    broken = mutated(prod, "aws:kms/alias:Alias", "key-primary", provider=None)
    assert [m for r in resources(broken) for m in policies.required_default_tags(r, "prod")] == [
        "aws:kms/alias:Alias key-primary: uses the default provider "
        "(expected an explicit aws provider with default tags)"
    ]
