"""Serving on Kubernetes (`serving.platform: kubernetes`): the config rules, the IRSA role's
documents, the rollout deadlines and the EKS calendar, and the assembly's mapping of the section onto
the component's Args. The whole `k8s` stack: tests/test_kubernetes_stack.py; the component alone with
plain args: tests/test_kubernetes_server_isolated.py.
"""

from __future__ import annotations

import datetime
import json

import kubernetes_validate
import pytest
from moto.iam.policy_validation import IAMPolicyDocumentValidator, IAMTrustPolicyDocumentValidator

from ml_platform.assembly_edge import kubernetes_server_args
from ml_platform.components.kubernetes_serving import (
    RolloutTiming,
    eks_support,
    irsa_trust_policy,
    model_reader_policy,
    rollout_timing,
    termination_grace_seconds,
)
from ml_platform.config import KUBERNETES_VERSIONS, StackConfigError, check_secrets, parse_stack_config
from offline.engine import ROOT, read_stack_config
from tests.test_config import VALID, problems

OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
CLUSTER = {
    "cluster_version": "1.35",
    "namespace": "models",
    "oidc_provider_arn": OIDC,
    "autoscaling": {"min_replicas": 2, "max_replicas": 4},
    "allowed_namespaces": ["traefik"],
}
NAMESPACE = "ml-platform-k8s"
LABELS = {
    "app.kubernetes.io/name": "model-server",
    "app.kubernetes.io/part-of": "ml-platform",
    "app.kubernetes.io/managed-by": "pulumi",
    "environment": "staging",
}
SELECTOR = {"app.kubernetes.io/name": "model-server"}


def on_kubernetes(**cluster_changes) -> list[str]:
    return problems(serving={"platform": "kubernetes"}, kubernetes={**CLUSTER, **cluster_changes})


def server_args(cluster, *, image_uri="i", model_data_url="s3://b/k", environment=None, labels=None):
    """The assembly's mapping of a `kubernetes` section onto the component's Args (plain values only)."""
    return kubernetes_server_args(
        cluster,
        image_uri=image_uri,
        model_data_url=model_data_url,
        artifacts_bucket_arn="arn:aws:s3:::b",
        key_arn="k",
        region="us-east-1",
        environment=environment,
        labels=labels,
    )


# --------------------------------------------------------------------------------------------
# Config rules


def test_a_kubernetes_config_parses_with_documented_defaults():
    config = parse_stack_config({**VALID, "serving": {"platform": "kubernetes"}, "kubernetes": CLUSTER})
    cluster = config.kubernetes
    assert (config.serving.platform, config.serving.instance) == ("kubernetes", None)
    assert cluster.resources.model_dump() == {
        "cpu_request": "500m",
        "cpu_limit": "1",
        "memory_request": "512Mi",
        "memory_limit": "512Mi",
    }
    assert (cluster.kubeconfig, cluster.max_unavailable, cluster.zone_spread, cluster.ingress) == (
        None,
        1,
        "ScheduleAnyway",
        None,
    )
    assert (cluster.max_surge, cluster.model_fetch_timeout_seconds, cluster.pod_monitor) == (1, 120, None)
    assert termination_grace_seconds(server_args(cluster)) == 5 + 20 + 5


def test_the_platform_and_the_kubernetes_section_come_together():
    assert problems(serving={"platform": "kubernetes"}) == [
        "kubernetes: required with serving.platform kubernetes (got null; expected a kubernetes section)"
    ]
    assert problems(kubernetes=CLUSTER) == [
        "kubernetes: only used with serving.platform kubernetes (got 'set'; expected no kubernetes section, or "
        "serving.platform kubernetes)"
    ]


def test_sagemaker_settings_are_refused_on_kubernetes():
    assert problems(
        serving={
            "platform": "kubernetes",
            "instance": {"instance_type": "ml.m5.large", "initial_instance_count": 1},
            "autoscaling": {"min_capacity": 1, "max_capacity": 2},
        },
        kubernetes=CLUSTER,
    ) == [
        "serving.instance: only used with platform sagemaker (got 'set'; expected no value with platform kubernetes "
        "(see kubernetes))",
        "serving.autoscaling: only used with platform sagemaker (got 'set'; expected no value with platform "
        "kubernetes (see kubernetes))",
    ]
    assert problems(
        regions={"primary": "us-east-1", "secondary": "us-west-2"},
        serving={"platform": "kubernetes"},
        kubernetes=CLUSTER,
        standby={},
        api={},
    ) == [
        "standby: only used with SageMaker endpoints; serving.platform kubernetes has none (got 'set'; expected "
        "no standby section)",
        "api: only used with SageMaker endpoints; serving.platform kubernetes has none (got 'set'; expected no "
        "api section)",
    ]


def test_replica_bounds_and_resources_are_ordered():
    assert on_kubernetes(
        autoscaling={"min_replicas": 3, "max_replicas": 2},
        resources={"cpu_request": "1", "cpu_limit": "500m", "memory_request": "1G", "memory_limit": "512Mi"},
    ) == [
        "kubernetes.resources.cpu_limit: below cpu_request (got '500m'; expected a quantity >= '1')",
        "kubernetes.resources.memory_limit: below memory_request (got '512Mi'; expected a quantity >= '1G')",
        "kubernetes.autoscaling.max_replicas: below min_replicas (got 2; expected >= 3)",
    ]
    assert on_kubernetes(resources={"cpu_request": "half"}) == [
        "kubernetes.resources.cpu_request: not in the required format (got 'half'; expected "
        "^([1-9][0-9]*m|[0-9]+(\\.[0-9]{1,3})?)$)"
    ]


def test_the_cluster_version_must_have_a_schema_and_be_quoted():
    assert on_kubernetes(cluster_version="1.24") == [
        "kubernetes.cluster_version: no API schema to check the manifests against (got '1.24'; expected one of "
        "1.25, 1.26, 1.27, 1.28, 1.29, 1.30, 1.31, 1.32, 1.33, 1.34, 1.35, 1.36, 1.37)"
    ]
    assert on_kubernetes(cluster_version=1.3) == [
        "kubernetes.cluster_version: YAML reads an unquoted version as a number (got 1.3; expected the version in "
        'quotes, e.g. "1.35")'
    ]


def test_the_config_versions_are_exactly_those_kubernetes_validate_ships():
    shipped = {kubernetes_validate.utils.major_minor(v) for v in kubernetes_validate.utils.all_versions()}
    assert set(KUBERNETES_VERSIONS) == shipped


def test_network_policy_namespaces_and_the_ingress_controller():
    assert on_kubernetes(allowed_namespaces=[]) == [
        "kubernetes.allowed_namespaces: too short (got []; expected at least 1)"
    ]
    assert on_kubernetes(
        allowed_namespaces=["monitoring", "Traefik_Ingress"],
        ingress={"host": "model.example.com", "controller_namespace": "traefik"},
    ) == [
        "kubernetes.allowed_namespaces[1]: not a namespace name (got 'Traefik_Ingress'; expected a DNS label: "
        "lowercase letters, digits and -)"
    ]
    assert on_kubernetes(
        allowed_namespaces=["monitoring"],
        ingress={"host": "model.example.com", "controller_namespace": "traefik"},
    ) == [
        "kubernetes.ingress.controller_namespace: the NetworkPolicy would block the ingress controller (got "
        "'traefik'; expected one of allowed_namespaces (monitoring))"
    ]
    assert on_kubernetes(allowed_namespaces=["traefik"], pod_monitor={"prometheus_namespace": "monitoring"}) == [
        "kubernetes.pod_monitor.prometheus_namespace: the NetworkPolicy would block Prometheus (got 'monitoring'; "
        "expected one of allowed_namespaces (traefik))"
    ]
    assert on_kubernetes(pod_monitor={"prometheus_namespace": "traefik", "interval_seconds": 5}) == [
        "kubernetes.pod_monitor.interval_seconds: out of range (got 5; expected >= 10)"
    ]


def test_a_tls_secret_needs_the_certificate_that_writes_it():
    # The committed stack once named `model-tls`, which nothing created: the controller then serves its
    # own default certificate while the output says https.
    assert on_kubernetes(
        ingress={"host": "model.example.com", "controller_namespace": "traefik", "tls_secret_name": "model-tls"}
    ) == [
        "kubernetes.ingress.tls_secret_name: nothing creates this Secret, so the controller would serve its "
        "default certificate (got 'model-tls'; expected certificate_issuer set (a cert-manager Certificate then "
        "writes the Secret), or no tls_secret_name for plain HTTP)"
    ]
    assert on_kubernetes(
        ingress={
            "host": "model.example.com",
            "controller_namespace": "traefik",
            "certificate_issuer": {"name": "letsencrypt"},
        }
    ) == [
        "kubernetes.ingress.certificate_issuer: a certificate needs the Secret it is written to (got 'set'; "
        "expected tls_secret_name set, or no certificate_issuer)"
    ]
    assert on_kubernetes(
        ingress={
            "host": "model.example.com",
            "controller_namespace": "traefik",
            "tls_secret_name": "model-tls",
            "certificate_issuer": {"name": "letsencrypt", "kind": "Vault"},
        }
    ) == [
        "kubernetes.ingress.certificate_issuer.kind: not an allowed value (got 'Vault'; expected one of "
        "'ClusterIssuer' or 'Issuer')"
    ]


def test_a_kubeconfig_must_be_a_stack_secret():
    config = parse_stack_config(
        {**VALID, "serving": {"platform": "kubernetes"}, "kubernetes": {**CLUSTER, "kubeconfig": "apiVersion: v1"}}
    )
    with pytest.raises(StackConfigError) as caught:
        check_secrets(config, ["ml-platform:notifications"])
    assert caught.value.lines == [
        "kubernetes.kubeconfig: must be stored as a secret (got plain text; expected `pulumi config set --secret "
        '--path kubernetes.kubeconfig "$(cat kubeconfig)"`, or no kubeconfig to use the ambient one)'
    ]
    check_secrets(config, ["ml-platform:kubernetes"])  # the CLI marks the whole top-level key secret


# --------------------------------------------------------------------------------------------
# IAM documents


def test_the_irsa_role_trusts_exactly_one_service_account():
    policy = irsa_trust_policy(OIDC, "models", "model-server")
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ServiceAccountAssumesRoleWithWebIdentity",
                "Effect": "Allow",
                "Principal": {"Federated": OIDC},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{ISSUER}:sub": "system:serviceaccount:models:model-server",
                        f"{ISSUER}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }
    IAMTrustPolicyDocumentValidator(json.dumps(policy)).validate()


def test_the_pods_may_read_only_the_served_artifact():
    bucket = "arn:aws:s3:::primary-artifacts-mock"
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    policy = model_reader_policy(
        "s3://primary-artifacts-mock/models/job-1/output/model.tar.gz", None, bucket, key, "us-east-1"
    )
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadModelArtifact",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": f"{bucket}/models/job-1/output/model.tar.gz",
            },
            {
                "Sid": "DecryptModelArtifact",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": key,
                "Condition": {
                    "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket, f"{bucket}/*"]},
                },
            },
        ],
    }
    IAMPolicyDocumentValidator(json.dumps(policy)).validate()


def test_during_a_rollout_the_pods_may_read_the_previous_and_the_new_version():
    bucket = "arn:aws:s3:::primary-artifacts-mock"
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    new, old = (
        "s3://primary-artifacts-mock/models/v7/model.tar.gz",
        "s3://primary-artifacts-mock/models/v6/model.tar.gz",
    )
    policy = model_reader_policy(new, old, bucket, key, "us-east-1")
    assert policy["Statement"][0] == {
        "Sid": "ReadModelArtifact",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": [f"{bucket}/models/v7/model.tar.gz", f"{bucket}/models/v6/model.tar.gz"],
    }
    assert policy["Statement"][1] == model_reader_policy(new, None, bucket, key, "us-east-1")["Statement"][1]
    IAMPolicyDocumentValidator(json.dumps(policy)).validate()
    # An update that keeps the version reads one object.
    assert model_reader_policy(new, new, bucket, key, "us-east-1") == model_reader_policy(
        new, None, bucket, key, "us-east-1"
    )


def test_an_artifact_outside_the_artifacts_bucket_is_refused():
    bucket = "arn:aws:s3:::primary-artifacts-mock"
    with pytest.raises(ValueError) as caught:
        model_reader_policy("s3://primary-artifacts-mock/v7/model.tar.gz", "s3://elsewhere/v6.tar.gz", bucket, "k", "r")
    assert str(caught.value) == (
        "previous_model_data_url: not an object in the artifacts bucket (got 's3://elsewhere/v6.tar.gz'; expected "
        "s3://primary-artifacts-mock/<key>)"
    )


# --------------------------------------------------------------------------------------------
# Rollout deadlines and the EKS version calendar


def test_rollout_deadlines_follow_replicas_surge_and_start_up_time():
    # One pod: 120 s image pull allowance + 120 s fetch + 120 s model load + one 5 s readiness period.
    assert rollout_timing(
        replicas=6,
        max_surge=2,
        model_fetch_timeout_seconds=120,
        startup_timeout_seconds=120,
        termination_grace_seconds=30,
    ) == RolloutTiming(pod_ready_seconds=365, progress_deadline_seconds=425, await_seconds=3 * 365 + 30 + 60)
    # One at a time: six waves. A surge wider than the count: one wave.
    assert (
        rollout_timing(
            replicas=6,
            max_surge=1,
            model_fetch_timeout_seconds=120,
            startup_timeout_seconds=120,
            termination_grace_seconds=30,
        ).await_seconds
        == 6 * 365 + 90
    )
    assert rollout_timing(
        replicas=3,
        max_surge=5,
        model_fetch_timeout_seconds=60,
        startup_timeout_seconds=600,
        termination_grace_seconds=0,
    ) == RolloutTiming(pod_ready_seconds=785, progress_deadline_seconds=845, await_seconds=845)
    # A slower model load moves both deadlines; the provider's fixed 10 minutes would not.
    slow = rollout_timing(
        replicas=2,
        max_surge=1,
        model_fetch_timeout_seconds=300,
        startup_timeout_seconds=900,
        termination_grace_seconds=30,
    )
    assert (slow.progress_deadline_seconds, slow.await_seconds) == (1385, 2 * 1325 + 90)


def test_rollout_deadlines_refuse_an_empty_rollout():
    with pytest.raises(ValueError) as caught:
        rollout_timing(
            replicas=2,
            max_surge=0,
            model_fetch_timeout_seconds=1,
            startup_timeout_seconds=1,
            termination_grace_seconds=0,
        )
    assert str(caught.value) == "max_surge: must be at least 1 (got 0; expected an integer >= 1)"


def test_the_committed_cluster_version_is_in_eks_standard_support():
    # As of 2026-12-02 (the Amazon EKS release calendar): 1.30 is past extended support (2026-07-23),
    # 1.34 left standard support that day (extended support is billed from the start of that day).
    review = datetime.date(2026, 12, 2)
    assert [(v, eks_support(v, review)) for v in ("1.30", "1.33", "1.34", "1.35", "1.36")] == [
        ("1.30", "unsupported"),
        ("1.33", "extended"),
        ("1.34", "extended"),
        ("1.35", "standard"),
        ("1.36", "unknown"),
    ]
    config, _ = read_stack_config(ROOT / "Pulumi.k8s.yaml")
    version = json.loads(config["ml-platform:kubernetes"])["cluster_version"]
    assert (version, eks_support(version, review)) == ("1.35", "standard")
    assert eks_support(version, datetime.date(2027, 3, 27)) == "extended"


def test_the_assembly_maps_every_setting_of_the_section_onto_the_args():
    from ml_platform.components.kubernetes_serving import (
        CertificateIssuer,
        ContainerResources,
        IngressArgs,
        KubernetesModelServerArgs,
        PodAutoscaling,
        PodMonitorArgs,
    )

    cluster = parse_stack_config(
        {
            **VALID,
            "serving": {"platform": "kubernetes"},
            "kubernetes": {
                **CLUSTER,
                "resources": {"cpu_request": "250m", "cpu_limit": "2", "memory_request": "1Gi", "memory_limit": "2Gi"},
                "autoscaling": {
                    "min_replicas": 2,
                    "max_replicas": 6,
                    "target_cpu_utilization_percent": 70,
                    "scale_down_stabilization_seconds": 120,
                },
                "max_unavailable": 2,
                "zone_spread": "DoNotSchedule",
                "drain_timeout_seconds": 10,
                "pre_stop_delay_seconds": 3,
                "startup_timeout_seconds": 200,
                "model_fetch_timeout_seconds": 90,
                "max_surge": 2,
                "model_volume_size_limit": "2Gi",
                "allowed_namespaces": ["traefik", "monitoring"],
                "ingress": {
                    "host": "model.example.com",
                    "class_name": "traefik",
                    "controller_namespace": "traefik",
                    "tls_secret_name": "model-tls",
                    "certificate_issuer": {"name": "letsencrypt", "kind": "Issuer"},
                },
                "pod_monitor": {
                    "prometheus_namespace": "monitoring",
                    "labels": {"release": "prom"},
                    "interval_seconds": 15,
                },
            },
        }
    ).kubernetes
    assert server_args(cluster, environment={"LOG": "1"}, labels={"environment": "dev"}) == KubernetesModelServerArgs(
        namespace="models",
        cluster_version="1.35",
        oidc_provider_arn=OIDC,
        image_uri="i",
        model_data_url="s3://b/k",
        artifacts_bucket_arn="arn:aws:s3:::b",
        key_arn="k",
        region="us-east-1",
        autoscaling=PodAutoscaling(
            min_replicas=2, max_replicas=6, target_cpu_utilization_percent=70, scale_down_stabilization_seconds=120
        ),
        allowed_namespaces=("traefik", "monitoring"),
        resources=ContainerResources(cpu_request="250m", cpu_limit="2", memory_request="1Gi", memory_limit="2Gi"),
        max_unavailable=2,
        zone_spread="DoNotSchedule",
        drain_timeout_seconds=10,
        pre_stop_delay_seconds=3,
        startup_timeout_seconds=200,
        model_fetch_timeout_seconds=90,
        max_surge=2,
        model_volume_size_limit="2Gi",
        ingress=IngressArgs(
            host="model.example.com",
            class_name="traefik",
            tls_secret_name="model-tls",
            certificate_issuer=CertificateIssuer(name="letsencrypt", kind="Issuer"),
        ),
        pod_monitor=PodMonitorArgs(labels={"release": "prom"}, interval_seconds=15),
        environment={"LOG": "1"},
        labels={"environment": "dev"},
        part_of="ml-platform",
    )
