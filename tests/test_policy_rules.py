"""Each policy rule on real synthesized stacks: a passing case, and failing cases that are
mutations of the real resources, asserting the exact message.

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
from policy.policies import ADVISORY, MANDATORY, UNKNOWN, Resource, evaluate
from tests.policy_support import mutated, pending_synthesis, resources, training_job_synthesis

SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET = "aws:s3/bucket:Bucket"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
TRAINING = "aws:sagemaker/trainingJob:TrainingJob"
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
# S3


def test_buckets_pass(prod):
    assert policies.s3_buckets_hardened(resources(prod), "prod") == []


def test_bucket_without_its_encryption_configuration(prod):
    broken = mutated(prod, SSE, "datasets-primary", drop=True)
    assert policies.s3_buckets_hardened(resources(broken), "prod") == [
        "aws:s3/bucket:Bucket datasets-primary: no server-side encryption configuration with aws:kms"
    ]


def test_bucket_encrypted_with_aes256(prod):
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    broken = mutated(prod, SSE, "capture-secondary", inputs={"rules": rules})
    assert policies.s3_buckets_hardened(resources(broken), "prod") == [
        "aws:s3/bucket:Bucket capture-secondary: server-side encryption is not SSE-KMS "
        "(got sseAlgorithm 'AES256'; expected 'aws:kms')"
    ]


def test_bucket_on_the_aws_managed_key(prod):
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}, "bucketKeyEnabled": True}]
    broken = mutated(prod, SSE, "artifacts-primary", inputs={"rules": rules})
    assert policies.s3_buckets_hardened(resources(broken), "prod") == [
        "aws:s3/bucket:Bucket artifacts-primary: SSE-KMS without kmsMasterKeyId uses the AWS-managed key "
        "(expected the region's key)"
    ]


def test_bucket_versioning_suspended_or_missing(prod):
    suspended = mutated(
        prod, VERSIONING, "datasets-primary", inputs={"versioningConfiguration": {"status": "Suspended"}}
    )
    assert policies.s3_buckets_hardened(resources(suspended), "prod") == [
        "aws:s3/bucket:Bucket datasets-primary: versioning is not enabled (got status 'Suspended'; expected 'Enabled')"
    ]
    missing = mutated(prod, VERSIONING, "datasets-primary", drop=True)
    assert policies.s3_buckets_hardened(resources(missing), "prod") == [
        "aws:s3/bucket:Bucket datasets-primary: versioning is not enabled (no aws:s3/bucketVersioning:BucketVersioning)"
    ]


def test_bucket_public_access_block_partial_or_missing(prod):
    partial = mutated(
        prod, BLOCK, "capture-primary", inputs={"blockPublicPolicy": False}, without=("restrictPublicBuckets",)
    )
    assert policies.s3_buckets_hardened(resources(partial), "prod") == [
        "aws:s3/bucket:Bucket capture-primary: public-access block is not full "
        "(blockPublicPolicy, restrictPublicBuckets not true)"
    ]
    missing = mutated(prod, BLOCK, "capture-primary", drop=True)
    assert policies.s3_buckets_hardened(resources(missing), "prod") == [
        "aws:s3/bucket:Bucket capture-primary: no public-access block "
        "(no aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock)"
    ]


def test_bucket_without_lifecycle_rules(prod):
    missing = mutated(prod, LIFECYCLE, "artifacts-secondary", drop=True)
    assert policies.s3_buckets_hardened(resources(missing), "prod") == [
        "aws:s3/bucket:Bucket artifacts-secondary: no lifecycle rules "
        "(no aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration)"
    ]
    lifecycle = prod.one(LIFECYCLE, "artifacts-secondary")
    disabled = [rule | {"status": "Disabled"} for rule in lifecycle.inputs["rules"]]
    off = mutated(prod, LIFECYCLE, "artifacts-secondary", inputs={"rules": disabled})
    assert policies.s3_buckets_hardened(resources(off), "prod") == [
        "aws:s3/bucket:Bucket artifacts-secondary: lifecycle configuration has no enabled rule "
        "(got statuses ['Disabled'])"
    ]


def test_preview_joins_a_bucket_whose_id_is_not_known_yet_through_dependencies():
    """In `pulumi preview` a new bucket's id is unknown; the engine's property dependencies
    still tie its settings to it."""
    bucket = Resource(BUCKET, "new", urn="urn:bucket")
    settings = [
        Resource(SSE, "new", {"bucket": UNKNOWN, "rules": [{"applyServerSideEncryptionByDefault": UNKNOWN}]}),
        Resource(VERSIONING, "new", {"bucket": UNKNOWN, "versioningConfiguration": {"status": "Enabled"}}),
        Resource(BLOCK, "new", {"bucket": UNKNOWN} | dict.fromkeys(policies.PUBLIC_ACCESS_FLAGS, True)),
        Resource(LIFECYCLE, "new", {"bucket": UNKNOWN, "rules": [{"status": "Enabled"}]}),
    ]
    joined = [dataclass_with(r, dependencies={"bucket": ("urn:bucket",)}) for r in settings]
    assert policies.s3_buckets_hardened([bucket, *joined], "prod") == []
    unrelated = [dataclass_with(r, dependencies={"bucket": ("urn:other",)}) for r in settings]
    assert policies.s3_buckets_hardened([bucket, *unrelated], "prod") == [
        f"{BUCKET} new: no server-side encryption configuration with aws:kms",
        f"{BUCKET} new: versioning is not enabled (no {VERSIONING})",
        f"{BUCKET} new: no public-access block (no {BLOCK})",
        f"{BUCKET} new: no lifecycle rules (no {LIFECYCLE})",
    ]


def dataclass_with(resource: Resource, **changes) -> Resource:
    import dataclasses

    return dataclasses.replace(resource, **changes)


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
# SageMaker serving and its alarms

CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
TARGET = "aws:appautoscaling/target:Target"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SERVING = "endpoint-primary"
STANDBY = "endpoint-secondary"
# Endpoint configurations are named after the served model version (2 in the example registry).
SERVING_CONFIG = f"{SERVING}-v2"
STANDBY_CONFIG = f"{STANDBY}-v2"


def primary_alarms(synthesis, metric: str) -> tuple[str, ...]:
    """Logical names of the primary region's alarms on a metric whose name contains `metric`."""

    def names(alarm) -> list[str]:
        queries = [q.get("metric", {}).get("metricName") for q in alarm.inputs.get("metricQueries", [])]
        return [n for n in [alarm.inputs.get("metricName"), *queries] if n]

    return tuple(
        a.name for a in synthesis.of_type(ALARM) if a.region == "us-east-1" and any(metric in n for n in names(a))
    )


def one(synthesis, type_: str, name: str | None = None) -> Resource:
    name = name or (SERVING_CONFIG if type_ == CONFIG else SERVING)
    return next(r for r in resources(synthesis) if r.type == type_ and r.name == name)


def test_endpoint_config_passes_in_its_environment(stack):
    for name in ("dev", "prod"):
        assert policies.endpoint_config_kms_and_capacity(one(stack(name), CONFIG), name) == []


def test_endpoint_config_without_kms(prod):
    broken = mutated(prod, CONFIG, SERVING_CONFIG, without=("kmsKeyArn",))
    assert policies.endpoint_config_kms_and_capacity(one(broken, CONFIG), "prod") == [
        f"{CONFIG} {SERVING_CONFIG}: no kmsKeyArn (the instance storage volumes would use an AWS-owned key)"
    ]
    capture = prod.one(CONFIG, SERVING_CONFIG).inputs["dataCaptureConfig"]
    no_capture_key = mutated(prod, CONFIG, SERVING_CONFIG, inputs={"dataCaptureConfig": capture | {"kmsKeyId": ""}})
    assert policies.endpoint_config_kms_and_capacity(one(no_capture_key, CONFIG), "prod") == [
        f"{CONFIG} {SERVING_CONFIG}: dataCaptureConfig has no kmsKeyId (captured requests would use SSE-S3)"
    ]


def test_endpoint_config_with_one_instance_passes_outside_prod_only(prod, stack):
    # dev's real config starts one instance.
    assert stack("dev").one(CONFIG, SERVING_CONFIG).inputs["productionVariants"][0]["initialInstanceCount"] == 1.0
    variant = prod.one(CONFIG, SERVING_CONFIG).inputs["productionVariants"][0] | {"initialInstanceCount": 1.0}
    single = one(mutated(prod, CONFIG, SERVING_CONFIG, inputs={"productionVariants": [variant]}), CONFIG)
    assert policies.endpoint_config_kms_and_capacity(single, "staging") == []
    assert policies.endpoint_config_kms_and_capacity(single, "prod") == [
        f"{CONFIG} {SERVING_CONFIG}: production variant 'primary' has initialInstanceCount 1.0 in prod "
        "(expected at least 2 on an endpoint taking traffic)"
    ]


def test_prod_warm_standby_may_keep_one_instance_but_not_fewer(prod):
    standby = prod.one(CONFIG, STANDBY_CONFIG)
    assert standby.inputs["tags"] == {"serving-role": "standby", "model-version": "2"}
    assert standby.inputs["productionVariants"][0]["initialInstanceCount"] == 1.0
    assert policies.endpoint_config_kms_and_capacity(one(prod, CONFIG, STANDBY_CONFIG), "prod") == []
    variant = standby.inputs["productionVariants"][0] | {"initialInstanceCount": 0.0}
    empty = one(mutated(prod, CONFIG, STANDBY_CONFIG, inputs={"productionVariants": [variant]}), CONFIG, STANDBY_CONFIG)
    assert policies.endpoint_config_kms_and_capacity(empty, "prod") == [
        f"{CONFIG} {STANDBY_CONFIG}: production variant 'primary' has initialInstanceCount 0.0 in prod "
        "(expected at least 1 on a warm standby)"
    ]
    # Without the tag, the standby is held to the serving minimum.
    untagged = one(mutated(prod, CONFIG, STANDBY_CONFIG, without=("tags",)), CONFIG, STANDBY_CONFIG)
    assert policies.endpoint_config_kms_and_capacity(untagged, "prod") == [
        f"{CONFIG} {STANDBY_CONFIG}: production variant 'primary' has initialInstanceCount 1.0 in prod "
        "(expected at least 2 on an endpoint taking traffic)"
    ]


def test_serverless_endpoint_config_is_dev_only(prod):
    variant = prod.one(CONFIG, SERVING_CONFIG).inputs["productionVariants"][0]
    serverless = {
        "variantName": variant["variantName"],
        "modelName": variant["modelName"],
        "serverlessConfig": {"maxConcurrency": 5.0, "memorySizeInMb": 2048.0},
    }
    config = one(
        mutated(prod, CONFIG, SERVING_CONFIG, inputs={"productionVariants": [serverless]}, without=("kmsKeyArn",)),
        CONFIG,
    )
    assert policies.endpoint_config_kms_and_capacity(config, "dev") == []
    assert policies.endpoint_config_kms_and_capacity(config, "prod") == [
        f"{CONFIG} {SERVING_CONFIG}: production variant 'primary' is serverless, which is allowed in dev only "
        "(environment 'prod')"
    ]


def test_endpoint_rollback_alarms(prod):
    assert policies.endpoint_rollback_alarms(one(prod, ENDPOINT), "prod") == []
    config = prod.one(ENDPOINT, SERVING).inputs["deploymentConfig"]
    for broken in (
        mutated(prod, ENDPOINT, SERVING, without=("deploymentConfig",)),
        mutated(prod, ENDPOINT, SERVING, inputs={"deploymentConfig": config | {"autoRollbackConfiguration": {}}}),
    ):
        assert policies.endpoint_rollback_alarms(one(broken, ENDPOINT), "prod") == [
            f"{ENDPOINT} {SERVING}: no rollback alarms (deploymentConfig.autoRollbackConfiguration.alarms is empty)"
        ]


def test_endpoint_scalable_target(prod):
    assert policies.endpoints_have_scalable_targets(resources(prod), "prod") == []
    expected = [
        f"{ENDPOINT} {SERVING}: variant 'primary' has no scalable target "
        f"({TARGET} with resourceId 'endpoint/ml-platform-prod/variant/primary')"
    ]
    # The standby's target in us-west-2 has the same resourceId; it does not count here.
    assert prod.one(TARGET, STANDBY).inputs["resourceId"] == "endpoint/ml-platform-prod/variant/primary"
    missing = mutated(prod, TARGET, SERVING, drop=True)
    assert policies.endpoints_have_scalable_targets(resources(missing), "prod") == expected
    other = mutated(prod, TARGET, SERVING, inputs={"resourceId": "endpoint/other/variant/primary"})
    assert policies.endpoints_have_scalable_targets(resources(other), "prod") == expected


def without_all(synthesis, type_: str, names: tuple[str, ...]):
    for name in names:
        synthesis = mutated(synthesis, type_, name, drop=True)
    return synthesis


def test_endpoint_latency_and_error_alarms(prod):
    assert policies.endpoints_have_latency_and_error_alarms(resources(prod), "prod") == []
    # The standby's alarms in us-west-2 watch an endpoint of the same name; they do not count.
    no_latency = without_all(prod, ALARM, primary_alarms(prod, "Latency"))
    assert policies.endpoints_have_latency_and_error_alarms(resources(no_latency), "prod") == [
        f"{ENDPOINT} {SERVING}: no latency alarm ({ALARM} on a latency metric with dimension "
        "EndpointName 'ml-platform-prod')"
    ]
    no_errors = without_all(prod, ALARM, primary_alarms(prod, "Error"))
    assert policies.endpoints_have_latency_and_error_alarms(resources(no_errors), "prod") == [
        f"{ENDPOINT} {SERVING}: no error alarm ({ALARM} on a error metric with dimension "
        "EndpointName 'ml-platform-prod')"
    ]


def test_alarms_naming_another_endpoint_do_not_count(prod):
    synthesis = prod
    for name in primary_alarms(prod, "Latency"):
        queries = prod.one(ALARM, name).inputs.get("metricQueries", [])
        if "dimensions" in prod.one(ALARM, name).inputs:
            synthesis = mutated(synthesis, ALARM, name, inputs={"dimensions": {"EndpointName": "other"}})
            continue
        moved = [q | {"metric": q["metric"] | {"dimensions": {"EndpointName": "other"}}} for q in queries]
        synthesis = mutated(synthesis, ALARM, name, inputs={"metricQueries": moved})
    assert policies.endpoints_have_latency_and_error_alarms(resources(synthesis), "prod") == [
        f"{ENDPOINT} {SERVING}: no latency alarm ({ALARM} on a latency metric with dimension "
        "EndpointName 'ml-platform-prod')"
    ]


def test_metric_alarms_have_actions(prod):
    assert [m for r in resources(prod) for m in policies.metric_alarms_have_actions(r, "prod")] == []
    name = primary_alarms(prod, "ModelLatency")[0]
    silent = mutated(prod, ALARM, name, without=("alarmActions",))
    assert [m for r in resources(silent) for m in policies.metric_alarms_have_actions(r, "prod")] == [
        f"{ALARM} {name}: no alarmActions (the alarm would change state and notify nobody)"
    ]


# ---------------------------------------------------------------------------------------------
# Training


def test_training_job_uses_spot_with_checkpoints(prod):
    for synthesis in (prod, training_job_synthesis("prod")):
        assert [m for r in resources(synthesis) for m in policies.training_uses_spot_with_checkpoints(r, "prod")] == []


def test_training_job_on_demand_without_checkpoints():
    broken = mutated(
        training_job_synthesis("prod"),
        TRAINING,
        "training",
        inputs={"enableManagedSpotTraining": False},
        without=("checkpointConfig",),
    )
    assert [m for r in resources(broken) for m in policies.training_uses_spot_with_checkpoints(r, "prod")] == [
        f"{TRAINING} training: enableManagedSpotTraining is not true (got false; expected true)",
        f"{TRAINING} training: no checkpointConfig.s3Uri (an interrupted spot job would start over)",
    ]


def test_training_rule_is_advisory_in_dev_and_mandatory_in_prod():
    for name, level in (("dev", ADVISORY), ("prod", MANDATORY)):
        broken = mutated(training_job_synthesis(name), TRAINING, "training", without=("checkpointConfig",))
        found = [v for v in check(name, broken) if v.rule == "training-spot-with-checkpoints"]
        assert [(v.level, v.resource) for v in found] == [(level, f"{TRAINING} training")]


def test_pipeline_training_step(pending):
    pipeline = "aws:sagemaker/pipeline:Pipeline"
    assert [m for r in resources(pending) for m in policies.training_uses_spot_with_checkpoints(r, "prod")] == []
    definition = json.loads(pending.one(pipeline, "retrain").inputs["pipelineDefinition"])
    definition["Steps"][0]["Arguments"] = {"EnableManagedSpotTraining": False}
    broken = mutated(pending, pipeline, "retrain", inputs={"pipelineDefinition": json.dumps(definition)})
    step = f"{pipeline} retrain: pipeline step 'Train'"
    assert [m for r in resources(broken) for m in policies.training_uses_spot_with_checkpoints(r, "prod")] == [
        f"{step}: EnableManagedSpotTraining is not true (got false; expected true)",
        f"{step}: no CheckpointConfig.S3Uri (an interrupted spot job would start over)",
    ]


# ---------------------------------------------------------------------------------------------
# Backup, protection, tags

VAULT = "aws:backup/vault:Vault"
LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
SELECTION = "aws:backup/selection:Selection"


def test_backup_vault_kms(prod):
    assert [m for r in resources(prod) for m in policies.backup_vaults_use_kms(r, "prod")] == []
    broken = mutated(prod, VAULT, "vault-secondary", without=("kmsKeyArn",))
    assert [m for r in resources(broken) for m in policies.backup_vaults_use_kms(r, "prod")] == [
        f"{VAULT} vault-secondary: no kmsKeyArn (recovery points would use the AWS-managed key)"
    ]


def test_backup_vault_locked_in_prod_only(prod):
    assert policies.backup_vaults_locked_in_prod(resources(prod), "prod") == []
    unlocked = resources(mutated(prod, LOCK, "vault-primary", drop=True))
    assert policies.backup_vaults_locked_in_prod(unlocked, "prod") == [
        f"{VAULT} vault-primary: not locked in prod (no {LOCK} for it)"
    ]
    assert policies.backup_vaults_locked_in_prod(unlocked, "dev") == []


def test_prod_buckets_in_a_backup_selection(prod):
    assert policies.prod_buckets_in_backup_selection(resources(prod), "prod") == []
    listed = prod.one(SELECTION, "backup-primary").inputs["resources"]
    assert listed[0] == "arn:aws:s3:::datasets-primary-mock"
    partial = mutated(prod, SELECTION, "backup-primary", inputs={"resources": listed[1:]})
    assert policies.prod_buckets_in_backup_selection(resources(partial), "prod") == [
        f"{BUCKET} datasets-primary: not in any backup selection in prod "
        f"(no {SELECTION} lists arn:aws:s3:::datasets-primary-mock)"
    ]
    assert policies.prod_buckets_in_backup_selection(resources(partial), "dev") == []
    wildcard = mutated(partial, SELECTION, "backup-primary", inputs={"resources": ["arn:aws:s3:::*"]})
    assert policies.prod_buckets_in_backup_selection(resources(wildcard), "prod") == []


def test_stateful_resources_protected_in_prod(prod, stack):
    assert [m for r in resources(prod) for m in policies.stateful_protected_in_prod(r, "prod")] == []
    assert [m for r in resources(stack("dev")) for m in policies.stateful_protected_in_prod(r, "dev")] == []
    for type_, name in ((BUCKET, "datasets-secondary"), ("aws:kms/key:Key", "key-primary")):
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
    broken = mutated(prod, BUCKET, "datasets-primary", protect=False)
    assert [v.rule for v in evaluate(resources(broken), "qa") if v.level == MANDATORY] == ["stateful-protected-in-prod"]


# ---------------------------------------------------------------------------------------------
# Access records, WAF, tracing, prod API log retention

LOGGING = "aws:s3/bucketLogging:BucketLogging"
STAGE = "aws:apigateway/stage:Stage"
ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def test_access_log_target_passes_with_sse_s3_and_is_exempt_from_backup(prod):
    # The committed prod stack: SSE-S3 log buckets, not in any backup selection, no violation.
    assert policies.s3_buckets_hardened(resources(prod), "prod") == []
    assert policies.prod_buckets_in_backup_selection(resources(prod), "prod") == []
    assert policies.buckets_have_access_records(resources(prod), "prod") == []
    assert sorted(b.name for b in policies.log_targets(resources(prod))) == [
        "access-logs-primary",
        "access-logs-secondary",
    ]


def test_access_log_target_on_sse_kms_loses_its_logs(prod):
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "k"}}]
    broken = mutated(prod, SSE, "access-logs-primary", inputs={"rules": rules})
    assert policies.s3_buckets_hardened(resources(broken), "prod") == [
        "aws:s3/bucket:Bucket access-logs-primary: a server access log target must use SSE-S3, which S3 log "
        "delivery requires (got sseAlgorithm 'aws:kms'; expected 'AES256')"
    ]


def test_bucket_without_an_access_record_or_logging_to_itself(prod):
    unlogged = mutated(prod, LOGGING, "capture-secondary", drop=True)
    assert policies.buckets_have_access_records(resources(unlogged), "prod") == [
        f"{BUCKET} capture-secondary: no access record of who read or changed it (no {LOGGING} names it)"
    ]
    to_itself = mutated(prod, LOGGING, "datasets-primary", inputs={"targetBucket": "datasets-primary-mock"})
    assert policies.buckets_have_access_records(resources(to_itself), "prod") == [
        f"{BUCKET} datasets-primary: logs its server access records to itself (expected another bucket)"
    ]


def test_api_stage_without_waf_or_tracing(prod):
    assert policies.api_stages_behind_waf(resources(prod), "prod") == []
    unguarded = mutated(prod, ASSOCIATION, "api-secondary", drop=True)
    assert policies.api_stages_behind_waf(resources(unguarded), "prod") == [
        f"{STAGE} api-secondary: no WAF web ACL (no {ASSOCIATION} names the stage's ARN)"
    ]
    untraced = mutated(prod, STAGE, "api-primary", without=("xrayTracingEnabled",))
    assert [v.message for v in evaluate(resources(untraced), "dev") if v.rule == "api-stage-tracing"] == [
        f"{STAGE} api-primary: X-Ray tracing is off (got xrayTracingEnabled null; expected true)"
    ]


def test_prod_api_access_logs_are_kept_a_year(prod):
    assert policies.prod_api_access_logs_kept_a_year(resources(prod), "prod") == []
    short = mutated(prod, LOG_GROUP, "api-primary-access", inputs={"retentionInDays": 90})
    assert policies.prod_api_access_logs_kept_a_year(resources(short), "prod") == [
        f"{LOG_GROUP} api-primary-access: API access log of api-primary kept 90 days in prod "
        "(expected retentionInDays >= 365)"
    ]
    assert policies.prod_api_access_logs_kept_a_year(resources(short), "dev") == []
    forever = mutated(prod, LOG_GROUP, "api-primary-access", without=("retentionInDays",))
    assert policies.prod_api_access_logs_kept_a_year(resources(forever), "prod") == []
    unlogged = mutated(prod, STAGE, "api-secondary", inputs={"accessLogSettings": None})
    assert policies.prod_api_access_logs_kept_a_year(resources(unlogged), "prod") == [
        f"{STAGE} api-secondary: no access log in prod (accessLogSettings names no log group)"
    ]


def test_prod_api_log_retention_in_a_preview_joins_through_dependencies():
    group = Resource(LOG_GROUP, "api-primary-access", inputs={"retentionInDays": 30}, urn="urn:lg")
    stage = Resource(
        STAGE,
        "api-primary",
        inputs={"accessLogSettings": {"destinationArn": UNKNOWN}},
        urn="urn:stage",
        dependencies={"accessLogSettings": ("urn:lg",)},
    )
    assert policies.prod_api_access_logs_kept_a_year([group, stage], "prod") == [
        f"{LOG_GROUP} api-primary-access: API access log of api-primary kept 30 days in prod "
        "(expected retentionInDays >= 365)"
    ]
    unseen = Resource(STAGE, "api-primary", inputs={"accessLogSettings": {"destinationArn": UNKNOWN}}, urn="urn:s")
    assert policies.prod_api_access_logs_kept_a_year([group, unseen], "prod") == []
