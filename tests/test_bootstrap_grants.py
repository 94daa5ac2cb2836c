"""The bootstrap's grants table (bootstrap/grants.py) against the program: every type the stacks
declare and every role they pass to a service is covered, the attachable managed policies are
the ones attached, what the ops tools call is granted, and the managed policies fit IAM's quotas
and pass moto's validator. What mocks cannot prove: that IAM accepts the documents or that AWS
calls no action the table misses; the first CI deploy does that.
"""

from __future__ import annotations

import json

import pytest
from moto.iam.policy_validation import IAMPolicyDocumentValidator

from offline.engine import MOCK_ACCOUNT_ID
from tests.bootstrap_support import (
    BUCKET,
    OIDC,
    STACKS,
    access,
    grants,
    role_policies,
    run_bootstrap,
)


@pytest.fixture(scope="module")
def bootstrap():
    return run_bootstrap()


@pytest.mark.parametrize("name", ["dev", "prod", "k8s"])
def test_the_table_covers_every_type_the_stack_declares(stack, name):
    types = [r.type for r in stack(name).resources if r.custom]
    assert access.uncovered_types(types) == []


ROLE_REFERENCES = (
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
)


@pytest.mark.parametrize("name", ["dev", "prod", "k8s"])
def test_every_role_the_stack_passes_to_a_service_is_covered_by_pass_role(stack, name):
    synthesis = stack(name)
    roles = {r.outputs["arn"]: r.name for r in synthesis.of_type("aws:iam/role:Role")}
    passing = sorted(
        {
            r.type
            for r in synthesis.resources
            if r.custom
            and r.type not in (*ROLE_REFERENCES, *grants.NAMES_ROLES_WITHOUT_PASSING)
            and not r.type.startswith(grants.NO_IAM_PREFIXES)
            and any(arn in json.dumps(r.inputs) for arn in roles)
        }
    )
    assert passing, "expected the stack to pass roles to services"
    missing = [t for t in passing if not any(g.passes_role_to for g in grants.TYPE_GRANTS.get(t, ()))]
    assert missing == []
    target = access.StackTarget(**STACKS.get(name, {"regions": ["us-east-1"]}))
    policies_ = access.deploy_policies(name, target, provider_arn="arn:aws:iam::1:oidc-provider/x", **STAND_INS)
    pass_role = next(s for s in policies_["iam"]["Statement"] if s["Sid"] == "PassRolesToTheServicesThatRunThem")
    services = {g.passes_role_to for t in passing for g in grants.TYPE_GRANTS[t] if g.passes_role_to}
    assert services <= set(pass_role["Condition"]["StringEquals"]["iam:PassedToService"])


def test_the_attachable_managed_policies_are_exactly_those_the_stacks_attach(stack):
    attached = {
        r.inputs["policyArn"]
        for name in ("dev", "prod", "k8s")
        for r in stack(name).of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert attached <= {a.format(partition="aws") for a in grants.ATTACHABLE_POLICIES}


STAND_INS = {
    "account_id": MOCK_ACCOUNT_ID,
    "partition": "aws",
    "state_region": "us-east-1",
    "bucket_arn": BUCKET,
    "state_key_arn": f"arn:aws:kms:us-east-1:{MOCK_ACCOUNT_ID}:key/state",
    "secrets_key_arns": {s: f"arn:aws:kms:us-east-1:{MOCK_ACCOUNT_ID}:key/{s}" for s in STACKS},
}


def test_deploy_role_covers_what_verify_and_preflight_call_and_preview_only_preflight():
    target = access.StackTarget(regions=("us-east-1", "us-west-2"))
    deploy = access.deploy_policies("prod", target, provider_arn="arn:aws:iam::1:oidc-provider/x", **STAND_INS)
    preview = access.preview_policies("prod", target, **STAND_INS)

    def actions(found):
        return {a for p in found.values() for s in p["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}

    verify = {"sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:InvokeEndpoint"}
    assert verify | {"application-autoscaling:DescribeScalableTargets"} <= actions(deploy)
    assert {"sagemaker:DescribeEndpoint", "application-autoscaling:DescribeScalingPolicies"} <= actions(preview)
    assert "sagemaker:InvokeEndpoint" not in actions(preview)
    models = {s["Sid"]: s for s in deploy["models"]["Statement"]}
    assert models["OpsVerify"]["Resource"] == [
        f"arn:aws:sagemaker:us-east-1:{MOCK_ACCOUNT_ID}:*",
        f"arn:aws:sagemaker:us-west-2:{MOCK_ACCOUNT_ID}:*",
    ]
    # The image push is scoped to the stack's own repository.
    assert models["PushModelImage"]["Resource"] == [
        f"arn:aws:ecr:us-east-1:{MOCK_ACCOUNT_ID}:repository/ml-platform/prod/model",
        f"arn:aws:ecr:us-west-2:{MOCK_ACCOUNT_ID}:repository/ml-platform/prod/model",
    ]


def test_lint_findings_are_fixed_actions_without_resource_arns_are_on_star():
    """`s3:DeleteBucketOwnershipControls` is no IAM action (the API needs
    `s3:PutBucketOwnershipControls`); DescribeLogGroups, GetSubscriptionAttributes and
    Unsubscribe take no resource ARN, so scoped to one they are not granted at all."""
    target = access.StackTarget(regions=("us-east-1",))
    deploy = access.deploy_policies("dev", target, provider_arn="arn:aws:iam::1:oidc-provider/x", **STAND_INS)
    allowed = [s for p in deploy.values() for s in p["Statement"] if s["Effect"] == "Allow"]
    everything = {a for s in allowed for a in s["Action"]}
    assert "s3:DeleteBucketOwnershipControls" not in everything
    assert "s3:PutBucketOwnershipControls" in everything
    for action in ("logs:DescribeLogGroups", "sns:GetSubscriptionAttributes", "sns:Unsubscribe"):
        (where,) = [s for s in allowed if action in s["Action"]]
        assert where["Resource"] == "*"
        assert where["Condition"] == {"StringEquals": {"aws:RequestedRegion": ["us-east-1"]}}


def test_managed_policies_fit_iams_quotas_and_are_valid(bootstrap):
    for kind in ("deploy", "preview"):
        for stack in ("dev", "prod", "k8s"):
            found = role_policies(bootstrap, kind, stack)
            assert len(found) <= access.MANAGED_POLICIES_PER_ROLE, (kind, stack, list(found))
            for suffix, policy in found.items():
                assert access.size(policy) <= access.MANAGED_POLICY_MAX_CHARS, (kind, stack, suffix)
                real = json.loads(
                    json.dumps(policy).replace(
                        bootstrap.one(OIDC, "github").outputs["arn"],
                        f"arn:aws:iam::{MOCK_ACCOUNT_ID}:oidc-provider/token.actions.githubusercontent.com",
                    )
                )
                IAMPolicyDocumentValidator(json.dumps(real)).validate()
    assert sorted(role_policies(bootstrap, "deploy", "prod")) == [
        "backup",
        "front-door",
        "iam",
        "kms",
        "models",
        "observability",
        "s3",
        "scaling-and-budgets",
        "state",
    ]


def test_a_four_region_stack_still_fits():
    target = access.StackTarget(regions=("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"))
    for found in (
        access.deploy_policies("prod", target, provider_arn="arn:aws:iam::1:oidc-provider/x", **STAND_INS),
        access.preview_policies("prod", target, **STAND_INS),
    ):
        sizes = {name: access.size(p) for name, p in found.items()}
        assert max(sizes.values()) <= access.MANAGED_POLICY_MAX_CHARS, sizes


def test_unscoped_statements_are_pinned_to_the_stack_regions(bootstrap):
    for policy in role_policies(bootstrap, "deploy", "prod").values():
        for s in policy["Statement"]:
            if s["Effect"] == "Allow" and s["Resource"] == "*":
                assert s["Condition"] == {"StringEquals": {"aws:RequestedRegion": ["us-east-1", "us-west-2"]}}, s
            elif s["Effect"] == "Allow":
                resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
                for arn in resources:
                    assert MOCK_ACCOUNT_ID in arn or arn.startswith(
                        ("arn:aws:s3:::", "arn:aws:apigateway:", "arn:aws:route53:::")
                    ), arn
