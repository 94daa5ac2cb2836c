"""Every IAM document the program and the bootstrap declare, linted against AWS's action,
resource and condition tables (parliament, `tests/iam_lint.py`).

An action AWS does not know is never granted; an action scoped to an ARN it cannot take
(e.g. `logs:DescribeLogGroups`, which only takes `*`) is as good as not granted; a condition
key an action never carries makes its statement dead. None of this shows under mocks or in
moto's policy validator, which check shape only.
"""

from __future__ import annotations

import pytest

from tests.iam_lint import findings, iam_documents, lint_resources
from tests.test_bootstrap import run_bootstrap

STACKS = ("dev", "prod", "k8s")


def linted_kinds(resources) -> set[tuple[str, str]]:
    return {(r.type, path) for r in resources for path, _ in iam_documents(r.inputs)}


def test_the_linter_knows_aws_tables():
    """The findings the issue names, from parliament's tables, not from a list of ours."""
    assert findings(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:DeleteBucketOwnershipControls", "Resource": "arn:aws:s3:::b"},
                {
                    "Effect": "Allow",
                    "Action": ["logs:DescribeLogGroups", "sns:Unsubscribe"],
                    "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/x:*",
                },
            ],
        }
    ) == [
        "RESOURCE_MISMATCH: logs:DescribeLogGroups needs Resource *",
        "RESOURCE_MISMATCH: sns:Unsubscribe needs Resource *",
        "UNKNOWN_ACTION: Unknown action s3:DeleteBucketOwnershipControls",
    ]
    # A condition key the action never carries is named too.
    assert findings(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"s3:prefix": "x"}},
                }
            ],
        }
    ) == ["UNKNOWN_CONDITION_FOR_ACTION: Unknown condition s3:prefix for action cloudwatch:PutMetricData"]


@pytest.mark.parametrize("name", STACKS)
def test_every_program_iam_document_lints_clean(stack, name):
    synthesis = stack(name)
    kinds = linted_kinds(synthesis.resources)
    # The collector reaches every kind of document the program declares.
    for expected in (
        ("aws:iam/role:Role", "assumeRolePolicy"),
        ("aws:iam/rolePolicy:RolePolicy", "policy"),
        ("aws:kms/key:Key", "policy"),
        ("aws:s3/bucketPolicy:BucketPolicy", "policy"),
        ("aws:sns/topicPolicy:TopicPolicy", "policy"),
    ):
        assert expected in kinds, expected
    assert lint_resources(synthesis.resources) == {}


def test_prod_lints_its_backup_and_front_door_documents_too(stack):
    kinds = {t for t, _ in linted_kinds(stack("prod").resources)}
    assert {"aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy", "aws:kms/key:Key"} <= kinds
    roles = [r.name for r in stack("prod").of_type("aws:iam/role:Role")]
    # Backup, API Gateway (invoke and CloudWatch logging) and replication roles are among them.
    assert any(name.startswith("backup-") for name in roles)
    assert any(name.startswith("api-") for name in roles)


def test_bootstrap_iam_documents_have_no_lint_findings():
    """The bootstrap program as declared (whatever builders bootstrap/access.py has), linted."""
    synthesis = run_bootstrap()
    assert ("aws:iam/role:Role", "assumeRolePolicy") in linted_kinds(synthesis.resources)
    report = lint_resources(synthesis.resources)
    assert {f"{where}: {finding}" for where, found in report.items() for finding in found} == set()
