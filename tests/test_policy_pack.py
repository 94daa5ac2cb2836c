"""The CrossGuard pack: `policy/__main__.py` builds it from the rules, and the Policy SDK's
own analyzer service, fed requests shaped like the engine's, reports the rules' messages.

No Pulumi CLI here, so the gRPC server is not started: requests go straight to the SDK's
servicer (a private class of pulumi-policy 1.21.0, pinned), which is what the server would
call. What this cannot prove: how the CLI wires the pack up (`pulumi preview --policy-pack
policy` in preview.yml does that).
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from ml_platform import pulumi_compat
from policy import crossguard, policies
from tests.policy_support import mutated, training_job_synthesis

ROOT = Path(__file__).resolve().parent.parent
TRAINING = "aws:sagemaker/trainingJob:TrainingJob"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
MANDATORY_LEVEL = proto.analyzer_pb2.EnforcementLevel.Value("MANDATORY")
ADVISORY_LEVEL = proto.analyzer_pb2.EnforcementLevel.Value("ADVISORY")
# Every module of the pack, loaded inside it as the package `ml_platform_policy`.
PACK = "ml_platform_policy"
PACK_MODULES = ("crossguard", "policies", "policy_types", "rules_governance", "rules_serving", "rules_storage")


def test_main_builds_one_mandatory_pack_of_every_rule(monkeypatch):
    built = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.update(kwargs))
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        runpy.run_path(str(ROOT / "policy"), run_name="__main__")  # as the CLI runs it
        # The pack's modules load from its own directory, as one package, not from the repository.
        assert sys.modules[PACK].__path__ == [str(ROOT / "policy")]
        for module in PACK_MODULES:
            assert sys.modules[f"{PACK}.{module}"].__file__ == str(ROOT / "policy" / f"{module}.py")
        # One copy of the shared types inside the pack: the rules' Resource is the pack's.
        assert sys.modules[f"{PACK}.rules_storage"].Resource is sys.modules[f"{PACK}.policy_types"].Resource
        assert (
            sys.modules[f"{PACK}.policies"].RULES[0].check is sys.modules[f"{PACK}.rules_storage"].s3_buckets_hardened
        )
        # Nothing was loaded under the bare module names a sys.path-based pack would use.
        assert [name for name in ("policies", "crossguard", "policy_types") if name in sys.modules] == []
    finally:
        for module in (PACK, *(f"{PACK}.{m}" for m in PACK_MODULES)):
            sys.modules.pop(module, None)

    assert built["name"] == "ml-platform"
    assert built["enforcement_level"] == EnforcementLevel.MANDATORY
    levels = {p.name: (type(p).__name__, p.enforcement_level) for p in built["policies"]}
    mandatory = EnforcementLevel.MANDATORY
    advisory = EnforcementLevel.ADVISORY
    assert levels == {
        "s3-buckets-hardened": ("StackValidationPolicy", mandatory),
        "iam-no-wildcard-grants": ("ResourceValidationPolicy", mandatory),
        "endpoint-config-kms-and-capacity": ("ResourceValidationPolicy", mandatory),
        "endpoint-rollback-alarms": ("ResourceValidationPolicy", mandatory),
        "endpoint-scalable-target": ("StackValidationPolicy", mandatory),
        "training-spot-with-checkpoints": ("ResourceValidationPolicy", mandatory),
        "training-spot-with-checkpoints-advisory": ("ResourceValidationPolicy", advisory),
        "metric-alarm-actions": ("ResourceValidationPolicy", mandatory),
        "backup-vault-kms": ("ResourceValidationPolicy", mandatory),
        "backup-vault-locked-in-prod": ("StackValidationPolicy", mandatory),
        "stateful-protected-in-prod": ("ResourceValidationPolicy", mandatory),
        "required-default-tags": ("ResourceValidationPolicy", mandatory),
        "endpoint-latency-and-error-alarms": ("StackValidationPolicy", mandatory),
        "prod-buckets-in-backup-selection": ("StackValidationPolicy", mandatory),
        "s3-access-records": ("StackValidationPolicy", mandatory),
        "api-stage-waf": ("StackValidationPolicy", mandatory),
        "api-stage-tracing": ("ResourceValidationPolicy", mandatory),
        "prod-api-access-log-retention": ("StackValidationPolicy", mandatory),
    }


def test_policy_requirements_pin_the_sdk_the_tests_use():
    pins = dict(
        line.split("==")
        for line in (ROOT / "policy" / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["pulumi-policy"] == pulumi_policy.version.VERSION == "1.21.0"
    assert pins["protobuf"].startswith("5.29.")


# ---------------------------------------------------------------------------------------------
# Through the SDK's analyzer service


def servicer(environment: str | None) -> Any:
    policies_ = crossguard.pack_policies(configured=lambda: environment)
    return pulumi_compat.policy_analyzer_servicer()("ml-platform", "0.1.0", policies_, EnforcementLevel.MANDATORY)


def struct(values: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def provider_of(synthesis, registration) -> proto.analyzer_pb2.AnalyzerProviderResource:
    provider = synthesis.by_urn(registration.provider)
    return proto.analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, name=provider.name, urn=provider.urn, properties=struct(provider.inputs)
    )


def analyze(synthesis, registration, environment: str | None, properties: dict | None = None):
    request = proto.analyzer_pb2.AnalyzeRequest(
        type=registration.type,
        name=registration.name,
        urn=registration.urn,
        properties=struct(registration.inputs if properties is None else properties),
        options=proto.analyzer_pb2.AnalyzerResourceOptions(protect=registration.protect),
        provider=provider_of(synthesis, registration),
    )
    return servicer(environment).Analyze(request, None).diagnostics


def levels_and_messages(diagnostics) -> list[tuple[str, int, str]]:
    return [(d.policyName, d.enforcementLevel, d.message.split("\n", 1)[1]) for d in diagnostics]


def test_resource_policy_reports_the_rule_message_at_the_environment_level():
    for name, policy, level in (
        ("prod", "training-spot-with-checkpoints", MANDATORY_LEVEL),
        ("dev", "training-spot-with-checkpoints-advisory", ADVISORY_LEVEL),
    ):
        synthesis = mutated(training_job_synthesis(name), TRAINING, "training", without=("checkpointConfig",))
        diagnostics = analyze(synthesis, synthesis.one(TRAINING, "training"), environment=name)
        assert levels_and_messages(diagnostics) == [
            (
                policy,
                level,
                f"{TRAINING} training: no checkpointConfig.s3Uri (an interrupted spot job would start over)",
            )
        ]


def test_compliant_resources_pass_and_the_environment_falls_back_to_the_provider_tag(stack):
    prod = stack("prod")
    for registration in prod.resources:
        # Resources of other packages (the image check is a dynamic resource) reach no AWS policy.
        if registration.custom and not registration.is_provider and registration.type.startswith("aws:"):
            assert list(analyze(prod, registration, environment=None)) == [], registration.name
    # No stack config: the provider's `environment` tag says prod, so an unprotected bucket fails.
    bucket = prod.one("aws:s3/bucket:Bucket", "primary-capture")
    unprotected = mutated(prod, bucket.type, bucket.name, protect=False)
    diagnostics = analyze(unprotected, unprotected.one(bucket.type, bucket.name), environment=None)
    assert [d.policyName for d in diagnostics] == ["stateful-protected-in-prod"]


def test_values_unknown_in_preview_are_not_violations():
    prod = training_job_synthesis("prod")
    job = prod.one(TRAINING, "training")
    properties = job.inputs | {"enableManagedSpotTraining": "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"}
    properties["checkpointConfig"] = {"s3Uri": UNKNOWN_STRING_VALUE, "localPath": "/opt/ml/checkpoints"}
    assert list(analyze(prod, job, "prod", properties)) == []


def test_stack_policy_names_the_bucket_and_its_urn(stack):
    prod = stack("prod")
    broken = mutated(prod, SSE, "primary-datasets", drop=True)
    resources = [
        proto.analyzer_pb2.AnalyzerResource(
            type=r.type,
            name=r.name,
            urn=r.urn,
            properties=struct(r.outputs),
            options=proto.analyzer_pb2.AnalyzerResourceOptions(protect=r.protect),
            provider=provider_of(broken, r) if r.provider else None,
            dependencies=list(r.depends_on),
        )
        for r in broken.resources
        if r.custom
    ]
    diagnostics = servicer("prod").AnalyzeStack(proto.analyzer_pb2.AnalyzeStackRequest(resources=resources), None)
    mandatory = [d for d in diagnostics.diagnostics if d.enforcementLevel == MANDATORY_LEVEL]
    bucket = prod.one("aws:s3/bucket:Bucket", "primary-datasets")
    assert [(d.policyName, d.urn, d.message.split("\n", 1)[1]) for d in mandatory] == [
        (
            "s3-buckets-hardened",
            bucket.urn,
            "aws:s3/bucket:Bucket primary-datasets: no server-side encryption configuration with aws:kms",
        )
    ]


@pytest.mark.parametrize(
    ("configured", "tags", "expected"),
    [("dev", "prod", "dev"), (None, "staging", "staging"), (None, None, "prod"), ("qa", None, "prod")],
)
def test_environment_comes_from_config_then_provider_tag_then_prod(configured, tags, expected):
    providers = [{"defaultTags": json.dumps({"tags": {"environment": tags}})}] if tags else [{}]
    assert crossguard.environment_of(providers, configured) == expected


def test_plain_turns_sdk_proxies_and_unknowns_into_plain_data():
    from pulumi_policy.proxy import unknown_checking_proxy

    proxied = unknown_checking_proxy({"a": [{"b": UNKNOWN_STRING_VALUE}], "c": {"d": 1}})
    assert crossguard.plain(proxied) == {"a": [{"b": policies.UNKNOWN}], "c": {"d": 1}}


def test_every_rule_becomes_a_policy_of_its_scope():
    built = {p.name: p for p in crossguard.pack_policies()}
    for rule in policies.RULES:
        policy = built.get(rule.name) or built[rule.name + crossguard.ADVISORY_SUFFIX]
        kind = ResourceValidationPolicy if rule.scope == "resource" else StackValidationPolicy
        assert isinstance(policy, kind)
        assert policy.description == rule.description


def test_configured_environment_reads_the_stack_config_the_cli_passes():
    from pulumi.runtime import config as runtime_config

    runtime_config.set_all_config({}, [])
    try:
        assert crossguard.configured_environment() is None
        runtime_config.set_all_config({"ml-platform:environment": "staging"}, [])
        assert crossguard.configured_environment() == "staging"
    finally:
        runtime_config.set_all_config({}, [])
