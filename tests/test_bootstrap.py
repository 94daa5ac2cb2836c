"""The CI bootstrap program (bootstrap/) under the mock engine, and its IAM documents.

Asserts, per role, the exact trust (which GitHub subjects may assume it) and the exact state
access (which stack's state, lock and secrets key); the state bucket and its per-role policy; the
model image repositories, their lifecycle, replication and creation template; the EKS access
entries. That the roles cover every resource type the program declares and every role it passes
to a service (grants.TYPE_GRANTS), and that each managed policy fits IAM's quotas, is in
test_bootstrap_grants.py. What mocks cannot prove: that IAM accepts the documents (moto's
validator is a partial stand-in); the first CI deploy does that.
"""

from __future__ import annotations

import json
import re

import pytest
from moto.iam.policy_validation import IAMTrustPolicyDocumentValidator

from offline.engine import MOCK_ACCOUNT_ID
from offline.policy_check import resources_of
from policy import policies
from tests.bootstrap_support import (
    BUCKET,
    CONFIG,
    KEY,
    OIDC,
    ROLE,
    STACKS,
    access,
    decoded,
    key_arn,
    run_bootstrap,
    statements,
)


@pytest.fixture(scope="module")
def bootstrap():
    return run_bootstrap()


# ---------------------------------------------------------------------------------------------
# Identity and trust


def test_github_oidc_provider_created_without_thumbprint(bootstrap):
    (provider,) = bootstrap.of_type(OIDC)
    # IAM validates GitHub's certificate against its trusted root CAs: no thumbprint to pin.
    assert provider.inputs == {
        "url": "https://token.actions.githubusercontent.com",
        "clientIdLists": ["sts.amazonaws.com"],
    }


def test_an_existing_oidc_provider_is_referred_to_not_created_again():
    """IAM refuses a second provider for the same URL (EntityAlreadyExists)."""
    synthesis = run_bootstrap(CONFIG | {"ml-platform-bootstrap:github_oidc_provider": "existing"})
    assert synthesis.of_type(OIDC) == []
    provider = f"arn:aws:iam::{MOCK_ACCOUNT_ID}:oidc-provider/token.actions.githubusercontent.com"
    assert synthesis.outputs["oidc_provider_arn"] == provider
    trust = decoded(synthesis.one(ROLE, "deploy-prod").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Federated": provider}


@pytest.mark.parametrize(
    ("role", "subject", "hours"),
    [
        ("deploy-dev", "repo:acme/ml-platform:environment:dev", 4),
        ("deploy-prod", "repo:acme/ml-platform:environment:prod", 4),
        ("deploy-k8s", "repo:acme/ml-platform:environment:k8s", 4),
        (
            "preview-dev",
            ["repo:acme/ml-platform:environment:dev-plan", "repo:acme/ml-platform:environment:dev-preview"],
            1,
        ),
        (
            "preview-prod",
            ["repo:acme/ml-platform:environment:prod-plan", "repo:acme/ml-platform:environment:prod-preview"],
            1,
        ),
    ],
)
def test_each_role_trusts_only_its_own_environments(bootstrap, role, subject, hours):
    """No two roles share a subject: a pull request (prod-preview, with reviewers) cannot assume
    a deploy role, and the dev preview cannot assume prod's."""
    provider_arn = bootstrap.one(OIDC, "github").outputs["arn"]
    policy = decoded(bootstrap.one(ROLE, role).inputs["assumeRolePolicy"])
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsOidc",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                        "token.actions.githubusercontent.com:sub": subject,
                    }
                },
            }
        ],
    }
    IAMTrustPolicyDocumentValidator(json.dumps(policy)).validate()
    assert access.size(policy) <= access.TRUST_POLICY_MAX_CHARS
    registration = bootstrap.one(ROLE, role)
    assert registration.inputs["name"] == f"ml-platform-ci-{role}"
    assert registration.inputs["maxSessionDuration"] == hours * 3600


def test_subjects_are_unique_across_roles(bootstrap):
    seen = {}
    for created in bootstrap.of_type(ROLE):
        subjects = decoded(created.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
        for subject in [subjects["token.actions.githubusercontent.com:sub"]]:
            for one in subject if isinstance(subject, list) else [subject]:
                assert one not in seen, (one, seen.get(one), created.name)
                seen[one] = created.name
    # Each stack's environments map to its own role: the deploy role to `<stack>`, the preview
    # role to `<stack>-preview` and `<stack>-plan`, and nothing else.
    assert seen == {
        f"repo:acme/ml-platform:environment:{stack}{suffix}": f"{kind}-{stack}"
        for stack in ("dev", "k8s", "prod")
        for suffix, kind in (("", "deploy"), ("-plan", "preview"), ("-preview", "preview"))
    }


# ---------------------------------------------------------------------------------------------
# State: bucket, per-stack prefixes, per-stack secrets keys


def test_state_bucket_is_versioned_kms_encrypted_private_and_tls_only(bootstrap):
    bucket = bootstrap.one("aws:s3/bucket:Bucket", "state")
    key = bootstrap.one(KEY, "state")
    assert (bucket.protect, bucket.retain_on_delete, key.protect, key.retain_on_delete) == (True, True, True, True)
    assert key.inputs["enableKeyRotation"] is True
    assert bootstrap.one("aws:kms/alias:Alias", "state").inputs["name"] == "alias/ml-platform-pulumi-state"

    def settings(type_):
        found = bootstrap.one(type_, "state").inputs
        assert found["bucket"] == bucket.outputs["bucket"]
        return {k: v for k, v in found.items() if k != "bucket"}

    assert settings("aws:s3/bucketVersioning:BucketVersioning") == {"versioningConfiguration": {"status": "Enabled"}}
    assert settings("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration") == {
        "rules": [
            {
                "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"]},
                "bucketKeyEnabled": True,
            }
        ]
    }
    assert settings("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock") == dict.fromkeys(
        ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"], True
    )
    # The DIY backend's metadata, so no CI role ever writes outside its stack's prefixes.
    meta = bootstrap.one("aws:s3/bucketObjectv2:BucketObjectv2", "state-meta").inputs
    assert (meta["key"], meta["content"]) == (".pulumi/meta.yaml", "version: 1\n")


def test_state_bucket_policy_denies_each_ci_role_every_other_stacks_state(bootstrap):
    policy = decoded(bootstrap.one("aws:s3/bucketPolicy:BucketPolicy", "state").inputs["policy"])
    assert policy["Statement"][0] == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [BUCKET, f"{BUCKET}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    by_role = {s["Principal"]["AWS"]: s for s in policy["Statement"][1:]}
    assert sorted(by_role) == [
        f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/ml-platform-ci-{kind}-{stack}"
        for kind in ("deploy", "preview")
        for stack in ("dev", "k8s", "prod")
    ]
    deny = by_role[f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/ml-platform-ci-preview-prod"]
    assert deny["Effect"] == "Deny"
    assert deny["Action"] == ["s3:DeleteObject*", "s3:GetObject*", "s3:PutObject*", "s3:RestoreObject"]
    assert deny["NotResource"] == [
        f"{BUCKET}/.pulumi/backups/ml-platform/prod/*",
        f"{BUCKET}/.pulumi/history/ml-platform/prod/*",
        f"{BUCKET}/.pulumi/journal/ml-platform/prod/*",
        f"{BUCKET}/.pulumi/locks/organization/ml-platform/prod/*",
        f"{BUCKET}/.pulumi/stacks/ml-platform/prod.json*",
        f"{BUCKET}/.pulumi/meta.yaml",
    ]


def test_deploy_role_reads_and_writes_only_its_stacks_state_and_secrets(bootstrap):
    found = statements(bootstrap, "deploy", "dev")
    dev_key, prod_key, k8s_key = (key_arn(bootstrap, f"secrets-{s}") for s in ("dev", "prod", "k8s"))
    own = [
        f"{BUCKET}/.pulumi/backups/ml-platform/dev/*",
        f"{BUCKET}/.pulumi/history/ml-platform/dev/*",
        f"{BUCKET}/.pulumi/journal/ml-platform/dev/*",
        f"{BUCKET}/.pulumi/locks/organization/ml-platform/dev/*",
        f"{BUCKET}/.pulumi/stacks/ml-platform/dev.json*",
    ]
    assert found["ReadOwnState"]["Resource"] == sorted([*own, f"{BUCKET}/.pulumi/meta.yaml"])
    assert found["WriteOwnState"] == {
        "Sid": "WriteOwnState",
        "Effect": "Allow",
        "Action": ["s3:DeleteObject", "s3:PutObject"],
        "Resource": own,
    }
    assert found["ListOwnState"]["Condition"]["StringLike"]["s3:prefix"][0] == ".pulumi/backups/ml-platform/dev"
    assert found["OwnSecretsKey"] == {
        "Sid": "OwnSecretsKey",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
        "Resource": dev_key,
    }
    assert found["StateBucketKeyThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    }
    assert found["NoOtherStacksSecrets"] == {
        "Sid": "NoOtherStacksSecrets",
        "Effect": "Deny",
        "Action": ["kms:*"],
        "Resource": sorted([k8s_key, prod_key]),
    }
    assert not any("prod" in json.dumps(s) for sid, s in found.items() if sid not in ("NoOtherStacksSecrets",))


def test_preview_role_reads_only_its_stacks_state_takes_its_lock_and_decrypts(bootstrap):
    found = statements(bootstrap, "preview", "prod")
    assert found["TakeOwnLock"] == {
        "Sid": "TakeOwnLock",
        "Effect": "Allow",
        "Action": ["s3:DeleteObject", "s3:PutObject"],
        "Resource": [f"{BUCKET}/.pulumi/locks/organization/ml-platform/prod/*"],
    }
    assert found["OwnSecretsKey"]["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    assert found["OwnSecretsKey"]["Resource"] == key_arn(bootstrap, "secrets-prod")
    assert "WriteOwnState" not in found
    writes = [
        (sid, a)
        for sid, s in found.items()
        for a in s["Action"]
        if re.match(r".*:(Create|Put|Delete|Update|Set|Attach|Tag|Untag|Register|Modify)", a) and sid != "TakeOwnLock"
    ]
    assert writes == []


def test_one_secrets_key_per_stack_exported_as_its_secrets_provider(bootstrap):
    for stack in ("dev", "prod", "k8s"):
        key = bootstrap.one(KEY, f"secrets-{stack}")
        assert (key.protect, key.retain_on_delete, key.inputs["enableKeyRotation"]) == (True, True, True)
        assert bootstrap.one("aws:kms/alias:Alias", f"secrets-{stack}").inputs["name"] == (
            f"alias/ml-platform-{stack}-secrets"
        )
        assert bootstrap.outputs["secrets_providers"][stack] == (
            f"awskms://alias/ml-platform-{stack}-secrets?region=us-east-1"
        )


def test_exports_are_the_workflow_variables(bootstrap):
    outputs = bootstrap.outputs
    # The region rides in the URL, so `pulumi login` needs no AWS_REGION to find the bucket.
    assert outputs["backend_url"] == "s3://state-mock?region=us-east-1"
    assert outputs["bootstrap_backend_url"] == "s3://state-mock/bootstrap?region=us-east-1"
    assert outputs["region"] == "us-east-1"
    assert set(outputs["deploy_role_arns"]) == set(outputs["preview_role_arns"]) == {"dev", "prod", "k8s"}
    assert outputs["deploy_role_arns"]["prod"] == f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/ml-platform-ci-deploy-prod"
    assert outputs["repository_urls"]["prod"] == (
        f"{MOCK_ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/ml-platform/prod/model"
    )


# ---------------------------------------------------------------------------------------------
# The model image's repositories


def test_repositories_exist_before_any_push_immutable_scanned_encrypted_protected(bootstrap):
    for stack in ("dev", "prod", "k8s"):
        repo = bootstrap.one("aws:ecr/repository:Repository", f"model-{stack}")
        assert repo.region == "us-east-1"
        assert repo.inputs == {
            "name": f"ml-platform/{stack}/model",
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
            "encryptionConfigurations": [{"encryptionType": "KMS"}],
            "forceDelete": False,
        }
        assert (repo.protect, repo.retain_on_delete) == (True, True)
        lifecycle = bootstrap.one("aws:ecr/lifecyclePolicy:LifecyclePolicy", f"model-{stack}")
        assert json.loads(lifecycle.inputs["policy"]) == access.ecr_lifecycle_policy(10)


def selected(policy: dict, tags: list[str]) -> list[int]:
    """Priorities of the lifecycle rules whose tag selection matches an image with `tags`
    (ECR: an image matched by no rule is never expired)."""
    found = []
    for rule in policy["rules"]:
        selection = rule["selection"]
        status = selection["tagStatus"]
        if (
            status == "any"
            or (status == "untagged" and not tags)
            or (status == "tagged" and any(t.startswith(p) for t in tags for p in selection.get("tagPrefixList", [])))
        ):
            found.append(rule["rulePriority"])
    return found


def test_lifecycle_never_selects_a_release_image():
    policy = access.ecr_lifecycle_policy(10)
    assert selected(policy, ["release-0123abc"]) == []
    assert selected(policy, ["ctx-0123456789abcdef"]) == [2]
    assert selected(policy, []) == [1]
    assert policy["rules"][1]["selection"] == {
        "tagStatus": "tagged",
        "tagPrefixList": ["ctx-"],
        "countType": "imageCountMoreThan",
        "countNumber": 10,
    }
    assert not any(r["selection"]["tagStatus"] == "any" for r in policy["rules"])


def test_prod_replicates_into_an_immutable_encrypted_replica_made_by_a_template(bootstrap):
    replication = bootstrap.one("aws:ecr/replicationConfiguration:ReplicationConfiguration", "registry-us-east-1")
    assert replication.inputs["replicationConfiguration"] == {
        "rules": [
            {
                "destinations": [{"region": "us-west-2", "registryId": MOCK_ACCOUNT_ID}],
                "repositoryFilters": [{"filter": "ml-platform/prod/", "filterType": "PREFIX_MATCH"}],
            }
        ]
    }
    template = bootstrap.one("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate", "model-prod-us-west-2")
    assert template.region == "us-west-2"
    assert template.inputs == {
        "prefix": "ml-platform/prod",
        "description": "replicas of the prod model image",
        "appliedFors": ["REPLICATION"],
        "imageTagMutability": "IMMUTABLE",
        "encryptionConfigurations": [{"encryptionType": "KMS"}],
        "lifecyclePolicy": json.dumps(access.ecr_lifecycle_policy(10)),
    }
    # The template exists before replication creates the replica repository.
    assert template.urn in replication.depends_on


# ---------------------------------------------------------------------------------------------
# The roles as a whole


def test_deploy_role_cannot_change_the_ci_access_or_the_state(bootstrap):
    found = statements(bootstrap, "deploy", "prod")
    assert found["KeepCiAccessAsBootstrapped"] == {
        "Sid": "KeepCiAccessAsBootstrapped",
        "Effect": "Deny",
        "Action": ["iam:*"],
        "Resource": [
            f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/ml-platform-ci-*",
            f"arn:aws:iam::{MOCK_ACCOUNT_ID}:policy/ml-platform-ci-*",
            bootstrap.one(OIDC, "github").outputs["arn"],
        ],
    }
    assert found["KeepStateBucketAsBootstrapped"]["Resource"] == BUCKET
    keys = sorted(key_arn(bootstrap, n) for n in ("state", "secrets-dev", "secrets-prod", "secrets-k8s"))
    assert found["KeepKeysAsBootstrapped"]["Resource"] == keys


def test_k8s_roles_reach_the_cluster_through_access_entries(bootstrap):
    for kind, policy in (("deploy", "AmazonEKSClusterAdminPolicy"), ("preview", "AmazonEKSViewPolicy")):
        role_arn = bootstrap.one(ROLE, f"{kind}-k8s").outputs["arn"]
        entry = bootstrap.one("aws:eks/accessEntry:AccessEntry", f"{kind}-k8s")
        assert entry.inputs == {"clusterName": "ml", "principalArn": role_arn, "type": "STANDARD"}
        association = bootstrap.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", f"{kind}-k8s")
        assert association.inputs == {
            "clusterName": "ml",
            "principalArn": role_arn,
            "policyArn": f"arn:aws:eks::aws:cluster-access-policy/{policy}",
            "accessScope": {"type": "cluster"},
        }
        assert entry.urn in association.depends_on
        # `aws eks update-kubeconfig` needs DescribeCluster.
        assert statements(bootstrap, kind, "k8s")["DescribeOwnCluster"]["Resource"] == (
            f"arn:aws:eks:us-east-1:{MOCK_ACCOUNT_ID}:cluster/ml"
        )
    assert "DescribeOwnCluster" not in statements(bootstrap, "deploy", "prod")


def test_documents_builder_returns_every_iam_document():
    config = access.BootstrapConfig(
        github_owner="acme", github_repo="ml-platform", region="us-east-1", owner="o", cost_center="c", stacks=STACKS
    )
    found = access.documents(config, account_id=MOCK_ACCOUNT_ID)
    assert "state-bucket" in found and "deploy-prod-trust" in found and "preview-k8s-state" in found
    assert len([n for n in found if n.startswith("deploy-prod-")]) == 10  # 9 policies and the trust


def test_bootstrap_passes_the_platform_policy_rules(bootstrap):
    # Environment `ci` is not a stack environment, so the prod rules apply (protection included).
    violations = policies.evaluate(resources_of(bootstrap), "ci")
    # The exceptions: the state bucket keeps its history in versions (90 days of noncurrent
    # ones) and is not part of the platform's AWS Backup plans; and it has no S3 server access
    # logging yet (bootstrap/ declares no log bucket: an open finding of the s3-access-records rule).
    assert [(v.rule, v.resource) for v in violations] == [
        ("prod-buckets-in-backup-selection", "aws:s3/bucket:Bucket state"),
        ("s3-access-records", "aws:s3/bucket:Bucket state"),
    ]


def test_bad_stack_name_is_a_config_error():
    with pytest.raises(Exception, match=r"stacks: Value error, not a stack name \(got \['Prod:v1'\]") as caught:
        run_bootstrap(CONFIG | {"ml-platform-bootstrap:stacks": json.dumps({"Prod:v1": {"regions": ["us-east-1"]}})})
    assert "bootstrap config has 1 problem(s)" in str(caught.value)
