"""Serving on Kubernetes (`serving.platform: kubernetes`, the `k8s` stack): config rules, the IRSA
role's documents, the whole program's manifests, and every manifest against the Kubernetes
OpenAPI schema.

Under the mock engine pulumi-kubernetes inputs arrive as the manifest's own camelCase fields
(numbers as floats, which compare equal to the ints written here). What mocks cannot prove:
that the cluster admits the objects (admission webhooks, the `restricted` Pod Security
Standard, quotas), that the IRSA webhook injects credentials, that the pods become ready, or
what `pulumi up` would replace. The schema check is kubernetes-validate's offline copy of the
API's OpenAPI schema in strict mode (unknown fields are errors), for the configured version.
"""

from __future__ import annotations

import datetime
import json
import os
import runpy
from pathlib import Path

import kubernetes_validate
import pytest
from moto.iam.policy_validation import IAMPolicyDocumentValidator, IAMTrustPolicyDocumentValidator
from pulumi.runtime import config as runtime_config

from ml_platform.components.kubernetes_serving import (
    RolloutTiming,
    eks_support,
    irsa_trust_policy,
    manifests,
    model_reader_policy,
    rollout_timing,
    termination_grace_seconds,
)
from ml_platform.config import KUBERNETES_VERSIONS, StackConfigError, check_secrets, parse_stack_config
from offline.engine import ROOT, Registration, SynthesisError, read_stack_config, run_under_mocks
from tests.harness import decoded
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
    assert termination_grace_seconds(cluster) == 5 + 20 + 5


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
    bucket = "arn:aws:s3:::artifacts-primary-mock"
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    policy = model_reader_policy(
        "s3://artifacts-primary-mock/models/job-1/output/model.tar.gz", None, bucket, key, "us-east-1"
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
    bucket = "arn:aws:s3:::artifacts-primary-mock"
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    new, old = (
        "s3://artifacts-primary-mock/models/v7/model.tar.gz",
        "s3://artifacts-primary-mock/models/v6/model.tar.gz",
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
    bucket = "arn:aws:s3:::artifacts-primary-mock"
    with pytest.raises(ValueError) as caught:
        model_reader_policy("s3://artifacts-primary-mock/v7/model.tar.gz", "s3://elsewhere/v6.tar.gz", bucket, "k", "r")
    assert str(caught.value) == (
        "previous_model_data_url: not an object in the artifacts bucket (got 's3://elsewhere/v6.tar.gz'; expected "
        "s3://artifacts-primary-mock/<key>)"
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


# --------------------------------------------------------------------------------------------
# The k8s stack, whole program


@pytest.fixture(scope="module")
def k8s(stack):
    return stack("k8s")


def kube(synthesis, kind: str) -> Registration:
    [found] = [r for r in synthesis.resources if r.type.startswith("kubernetes:") and r.inputs.get("kind") == kind]
    return found


def test_no_sagemaker_endpoint_alarm_dashboard_or_front_door_is_declared(k8s):
    types = {r.type for r in k8s.resources}
    for absent in (
        "aws:sagemaker/endpoint:Endpoint",
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        "aws:sagemaker/model:Model",
        "aws:appautoscaling/target:Target",
        "aws:cloudwatch/dashboard:Dashboard",
        "aws:apigateway/restApi:RestApi",
    ):
        assert absent not in types
    assert k8s.outputs["endpoints"] == {}
    assert k8s.outputs["kubernetes"] == {
        "namespace": NAMESPACE,
        "service_url": f"http://model-server.{NAMESPACE}.svc.cluster.local",
        "role_arn": "arn:aws:iam::123456789012:role/model-server-mock",
        "ingress_url": "https://model.k8s.ml.example.com",
        "model_data_url": k8s.outputs["model_data_url"],
    }


def test_every_kubernetes_object_goes_through_the_explicit_provider(k8s):
    [provider] = k8s.of_type("pulumi:providers:kubernetes")
    assert provider.inputs == {}  # no kubeconfig in the stack file: the ambient one
    objects = [r for r in k8s.resources if r.type.startswith("kubernetes:")]
    assert sorted(r.inputs["kind"] for r in objects) == [
        "Certificate",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Namespace",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "PodMonitor",
        "Service",
        "ServiceAccount",
    ]
    assert {r.provider for r in objects} == {provider.urn}
    assert {r.inputs["metadata"].get("namespace", NAMESPACE) for r in objects} == {NAMESPACE}


def test_the_namespace_enforces_the_restricted_pod_security_standard(k8s):
    labels = kube(k8s, "Namespace").inputs["metadata"]["labels"]
    assert {k: v for k, v in labels.items() if k.startswith("pod-security")} == {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "audit", "warn")
        for suffix, value in (("", "restricted"), ("-version", "v1.35"))
    }


def test_the_service_account_carries_the_irsa_role(k8s):
    role = k8s.one("aws:iam/role:Role", "model-server")
    account = kube(k8s, "ServiceAccount").inputs
    assert account["metadata"] == {
        "name": "model-server",
        "namespace": NAMESPACE,
        "labels": LABELS,
        "annotations": {
            "eks.amazonaws.com/role-arn": role.outputs["arn"],
            "eks.amazonaws.com/sts-regional-endpoints": "true",
        },
    }
    assert account["automountServiceAccountToken"] is False
    assert decoded(role.inputs["assumeRolePolicy"]) == irsa_trust_policy(OIDC, NAMESPACE, "model-server")
    bucket = k8s.one("aws:s3/bucket:Bucket", "artifacts-primary").outputs["arn"]
    key = k8s.one("aws:kms/key:Key", "key-primary").outputs["arn"]
    policy = k8s.one("aws:iam/rolePolicy:RolePolicy", "model-server")
    # No previous version is passed yet: the served artifact only.
    # The served version and the approved one before it (a pod of the old version recreated
    # mid-rollout still fetches its model).
    served = k8s.outputs["model_version"]["model_data_url"]
    assert served.endswith("/models/example-execution-2/pipelines-example2-Train/output/model.tar.gz")
    previous = served.replace("execution-2/pipelines-example2", "execution-1/pipelines-example1")
    assert decoded(policy.inputs["policy"]) == model_reader_policy(served, previous, bucket, key, "us-east-1")


def test_the_deployment_pods(k8s):
    deployment = kube(k8s, "Deployment").inputs
    spec = deployment["spec"]
    # The served model version's image (serving.model), not the model-build pipeline's.
    image = k8s.outputs["model_version"]["image_uri"]
    assert "@sha256:" in image
    assert "replicas" not in spec  # the autoscaler owns the count
    assert spec["selector"] == {"matchLabels": SELECTOR}
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 2}}
    # Up to 6 pods, 2 at a time: 3 waves of (120 s pull + 120 s fetch + 120 s load + 5 s readiness),
    # then the old pods' 30 s grace, plus 60 s: pulumi waits 1185 s instead of its fixed 600 s.
    # The controller fails the rollout when no pod became available for one pod's time + 60 s.
    assert spec["progressDeadlineSeconds"] == 425
    assert deployment["metadata"]["annotations"] == {"pulumi.com/timeoutSeconds": "1185"}
    template = spec["template"]
    # With a PodMonitor there are no prometheus.io/* annotations (the operator ignores them).
    assert template["metadata"] == {
        "labels": LABELS,
        "annotations": {"eks.amazonaws.com/skip-containers": "model-server"},
    }
    pod = template["spec"]
    hardened = {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    resources = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}}
    assert {k: v for k, v in pod.items() if k not in ("initContainers", "containers")} == {
        "serviceAccountName": "model-server",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # Writable paths are volumes only: the model and /tmp (the server's metric files).
        "volumes": [
            {"name": "model", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": SELECTOR},
            },
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": SELECTOR},
            },
        ],
        # preStop 5 s + the server's 20 s drain + 5 s for its workers to exit.
        "terminationGracePeriodSeconds": 30,
    }
    assert pod["initContainers"] == [
        {
            "name": "fetch-model",
            "image": image,
            "args": [
                "fetch-model",
                "--source",
                k8s.outputs["model_data_url"],
                "--model-dir",
                "/opt/ml/model",
                "--timeout-seconds",
                "120",
            ],
            "env": [
                {"name": "AWS_REGION", "value": "us-east-1"},
                {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
            ],
            "resources": resources,
            "securityContext": hardened,
            "volumeMounts": [{"name": "model", "mountPath": "/opt/ml/model"}, {"name": "tmp", "mountPath": "/tmp"}],
            "terminationMessagePolicy": "FallbackToLogsOnError",
        }
    ]

    def ping(period: int, timeout: int, failures: int) -> dict:
        return {
            "httpGet": {"path": "/ping", "port": "http"},
            "periodSeconds": period,
            "timeoutSeconds": timeout,
            "failureThreshold": failures,
        }

    assert pod["containers"] == [
        {
            "name": "model-server",
            "image": image,
            "args": ["serve"],
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": [
                {"name": "ML_PLATFORM_SERVE_DRAIN_TIMEOUT_SECONDS", "value": "20"},
                {"name": "ML_PLATFORM_SERVE_METRICS", "value": "true"},
                {"name": "ML_PLATFORM_SERVE_MODEL_DIR", "value": "/opt/ml/model"},
            ],
            "resources": resources,
            "startupProbe": ping(5, 2, 24),  # 120 s to load the model
            "readinessProbe": ping(5, 2, 2),
            "livenessProbe": ping(10, 5, 3),
            "securityContext": hardened,
            "volumeMounts": [
                {"name": "model", "mountPath": "/opt/ml/model", "readOnly": True},
                {"name": "tmp", "mountPath": "/tmp"},
            ],
            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
            "terminationMessagePolicy": "FallbackToLogsOnError",
        }
    ]


def test_the_service_autoscaler_and_disruption_budget(k8s):
    assert kube(k8s, "Service").inputs["spec"] == {
        "type": "ClusterIP",
        "selector": SELECTOR,
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
    }
    assert kube(k8s, "HorizontalPodAutoscaler").inputs["apiVersion"] == "autoscaling/v2"
    assert kube(k8s, "HorizontalPodAutoscaler").inputs["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "model-server"},
        "minReplicas": 2,
        "maxReplicas": 6,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
            }
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
    }
    assert kube(k8s, "PodDisruptionBudget").inputs["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": SELECTOR},
    }


def test_ingress_only_from_the_allowed_namespaces_and_only_invocations_and_ping_exposed(k8s):
    assert kube(k8s, "NetworkPolicy").inputs["spec"] == {
        "podSelector": {"matchLabels": SELECTOR},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/metadata.name",
                                    "operator": "In",
                                    "values": ["traefik", "monitoring"],
                                }
                            ]
                        }
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 8080}],
            }
        ],
    }
    backend = {"service": {"name": "model-server", "port": {"name": "http"}}}
    assert kube(k8s, "Ingress").inputs["spec"] == {
        "ingressClassName": "traefik",
        "tls": [{"hosts": ["model.k8s.ml.example.com"], "secretName": "model-tls"}],
        "rules": [
            {
                "host": "model.k8s.ml.example.com",
                "http": {
                    "paths": [
                        {"path": "/invocations", "pathType": "Exact", "backend": backend},
                        {"path": "/ping", "pathType": "Exact", "backend": backend},
                    ]
                },
            }
        ],
    }


def test_the_tls_secret_is_written_by_a_certificate_the_ingress_waits_for(k8s):
    certificate = kube(k8s, "Certificate")
    assert certificate.type == "kubernetes:cert-manager.io/v1:Certificate"
    assert certificate.inputs == {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {
            "name": "model-server",
            "namespace": NAMESPACE,
            "labels": LABELS,
            # pulumi up waits until cert-manager has the certificate issued (10 minutes at most).
            "annotations": {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "600"},
        },
        "spec": {
            "secretName": "model-tls",
            "secretTemplate": {"labels": LABELS},
            "dnsNames": ["model.k8s.ml.example.com"],
            "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        },
    }
    ingress = kube(k8s, "Ingress")
    assert ingress.inputs["spec"]["tls"] == [{"hosts": ["model.k8s.ml.example.com"], "secretName": "model-tls"}]
    assert certificate.urn in ingress.depends_on
    assert k8s.outputs["kubernetes"]["ingress_url"] == "https://model.k8s.ml.example.com"


def test_new_pods_start_only_after_their_role_may_read_the_new_version(k8s):
    policy = k8s.one("aws:iam/rolePolicy:RolePolicy", "model-server")
    assert policy.urn in kube(k8s, "Deployment").depends_on


def test_the_prometheus_operator_scrapes_through_a_pod_monitor(k8s):
    monitor = kube(k8s, "PodMonitor")
    assert monitor.type == "kubernetes:monitoring.coreos.com/v1:PodMonitor"
    assert monitor.inputs == {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {
            "name": "model-server",
            "namespace": NAMESPACE,
            "labels": {**LABELS, "release": "kube-prometheus-stack"},
        },
        "spec": {
            "selector": {"matchLabels": SELECTOR},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
    }


def test_without_pod_monitor_or_certificate_the_pods_carry_scrape_annotations_and_the_ingress_is_plain_http():
    cluster = parse_stack_config(
        {
            **VALID,
            "serving": {"platform": "kubernetes"},
            "kubernetes": {**CLUSTER, "ingress": {"host": "model.example.com", "controller_namespace": "traefik"}},
        }
    ).kubernetes
    built = manifests(
        "m",
        cluster,
        role_arn="r",
        image="i",
        model_data_url="s3://b/k",
        region="us-east-1",
        environment={},
        extra_labels={},
    )
    assert sorted(built) == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Namespace",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    assert "tls" not in built["Ingress"]["spec"]
    assert built["Deployment"]["spec"]["template"]["metadata"]["annotations"] == {
        "eks.amazonaws.com/skip-containers": "model-server",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics",
    }
    # Defaults: up to 4 pods one at a time.
    assert built["Deployment"]["metadata"]["annotations"] == {"pulumi.com/timeoutSeconds": str(4 * 365 + 30 + 60)}


# --------------------------------------------------------------------------------------------
# Schema validation (offline, kubernetes-validate, strict: unknown fields are errors)


# kubernetes-validate ships the API server's own schemas only: the Certificate and PodMonitor
# (custom resources) are checked above on exact inputs, not against their CRDs' schemas.
CUSTOM_TYPES = ("kubernetes:cert-manager.io/v1:Certificate", "kubernetes:monitoring.coreos.com/v1:PodMonitor")


def test_every_declared_manifest_is_valid_for_the_configured_cluster_version(k8s):
    objects = [r for r in k8s.resources if r.type.startswith("kubernetes:") and r.type not in CUSTOM_TYPES]
    assert sorted(r.type for r in objects) == [
        "kubernetes:apps/v1:Deployment",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:Service",
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:networking.k8s.io/v1:Ingress",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:policy/v1:PodDisruptionBudget",
    ]
    for resource in objects:
        assert kubernetes_validate.validate(resource.inputs, "1.35", strict=True) == "1.35", resource.name


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_manifests_are_valid_for_every_version_the_config_accepts(version):
    cluster = parse_stack_config(
        {
            **VALID,
            "serving": {"platform": "kubernetes", "environment": {"LOG": "1"}},
            "kubernetes": {
                **CLUSTER,
                "cluster_version": version,
                "pre_stop_delay_seconds": 0,
                "zone_spread": "DoNotSchedule",
                "ingress": {
                    "host": "model.example.com",
                    "controller_namespace": "traefik",
                    "tls_secret_name": "model-tls",
                    "certificate_issuer": {"name": "letsencrypt"},
                },
                "pod_monitor": {"prometheus_namespace": "traefik"},
            },
        }
    ).kubernetes
    built = manifests(
        "model-server",
        cluster,
        role_arn="arn:aws:iam::123456789012:role/r",
        image=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/m@sha256:{'ab' * 32}",
        model_data_url="s3://b/models/j/output/model.tar.gz",
        region="us-east-1",
        environment={"LOG": "1"},
        extra_labels={"environment": "dev"},
    )
    assert sorted(built) == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "Ingress",
            "Certificate",
            "PodMonitor",
        ]
    )
    for kind, manifest in built.items():
        if kind not in ("Certificate", "PodMonitor"):
            kubernetes_validate.validate(manifest, version, strict=True)


def test_the_schema_check_catches_a_misspelt_field():
    deployment = manifests(
        "m",
        parse_stack_config({**VALID, "serving": {"platform": "kubernetes"}, "kubernetes": CLUSTER}).kubernetes,
        role_arn="r",
        image="i",
        model_data_url="s3://b/k",
        region="us-east-1",
        environment={},
        extra_labels={},
    )["Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, "1.35", strict=True)


# --------------------------------------------------------------------------------------------
# The kubeconfig secret, through the harness


def run_stack_file(path: Path):
    """The whole program for a stack file outside the repository (the harness runs __main__.py)."""
    config, secret_keys = read_stack_config(path)

    def program() -> None:
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        finally:
            os.chdir(cwd)

    return run_under_mocks(program, stack="k8s", config=config, secret_keys=secret_keys), secret_keys


def k8s_stack_with_kubeconfig(tmp_path: Path, kubeconfig: str) -> Path:
    text = (ROOT / "Pulumi.k8s.yaml").read_text()
    anchor = "  ml-platform:kubernetes:\n"
    assert text.count(anchor) == 1
    path = tmp_path / "Pulumi.k8s.yaml"
    path.write_text(text.replace(anchor, anchor + kubeconfig))
    return path


def test_a_secret_kubeconfig_reaches_the_provider_as_a_secret(tmp_path: Path):
    path = k8s_stack_with_kubeconfig(tmp_path, "    kubeconfig:\n      secure: v1:bm90LWEtcmVhbC1jaXBoZXJ0ZXh0\n")
    synthesis, secret_keys = run_stack_file(path)
    assert secret_keys == ["ml-platform:kubernetes"]
    [provider] = synthesis.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "mock-secret-for-ml-platform:kubernetes.kubeconfig"
    assert provider.secret_inputs == ("kubeconfig",)
    assert (
        runtime_config.is_config_secret("ml-platform:kubernetes") is False
    )  # the harness reset the runtime afterwards


def test_a_plain_text_kubeconfig_stops_the_program(tmp_path: Path):
    path = k8s_stack_with_kubeconfig(tmp_path, "    kubeconfig: 'apiVersion: v1'\n")
    with pytest.raises(Exception, match=r"kubernetes\.kubeconfig: must be stored as a secret") as caught:
        run_stack_file(path)
    assert not isinstance(caught.value, SynthesisError)


def test_read_stack_config_marks_a_key_with_a_nested_secure_value_secret(tmp_path: Path):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(
        "config:\n"
        "  ml-platform:notifications:\n    webhooks:\n      - secure: v1:abc\n"
        "  ml-platform:regions:\n    primary: us-east-1\n"
    )
    config, secret_keys = read_stack_config(path)
    assert secret_keys == ["ml-platform:notifications"]
    assert json.loads(config["ml-platform:notifications"]) == {
        "webhooks": ["mock-secret-for-ml-platform:notifications.webhooks[0]"]
    }
    assert json.loads(config["ml-platform:regions"]) == {"primary": "us-east-1"}
