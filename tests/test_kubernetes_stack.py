"""Serving on Kubernetes, the whole `k8s` stack: the manifests the program declares, each against the
Kubernetes OpenAPI schema, and the kubeconfig secret. Config rules, IAM documents and rollout deadlines:
tests/test_kubernetes_serving.py; the component alone with plain args: tests/test_kubernetes_server_isolated.py.

Under the mock engine pulumi-kubernetes inputs arrive as the manifest's own camelCase fields
(numbers as floats, which compare equal to the ints written here). What mocks cannot prove:
that the cluster admits the objects (admission webhooks, the `restricted` Pod Security
Standard, quotas), that the IRSA webhook injects credentials, that the pods become ready, or
what `pulumi up` would replace. The schema check is kubernetes-validate's offline copy of the
API's OpenAPI schema in strict mode (unknown fields are errors), for the configured version.
"""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path

import kubernetes_validate
import pytest
from pulumi.runtime import config as runtime_config

from ml_platform.components.kubernetes_serving import irsa_trust_policy, manifests, model_reader_policy
from ml_platform.config import KUBERNETES_VERSIONS, parse_stack_config
from offline.engine import ROOT, Registration, SynthesisError, read_stack_config, run_under_mocks
from tests.harness import decoded
from tests.test_config import VALID
from tests.test_kubernetes_serving import CLUSTER, LABELS, NAMESPACE, OIDC, SELECTOR, server_args

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
    bucket = k8s.one("aws:s3/bucket:Bucket", "primary-artifacts").outputs["arn"]
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
    built = manifests("m", server_args(cluster, image_uri="i", model_data_url="s3://b/k"), role_arn="r")
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
        server_args(
            cluster,
            image_uri=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/m@sha256:{'ab' * 32}",
            model_data_url="s3://b/models/j/output/model.tar.gz",
            environment={"LOG": "1"},
            labels={"environment": "dev"},
        ),
        role_arn="arn:aws:iam::123456789012:role/r",
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
        server_args(
            parse_stack_config({**VALID, "serving": {"platform": "kubernetes"}, "kubernetes": CLUSTER}).kubernetes,
            image_uri="i",
            model_data_url="s3://b/k",
        ),
        role_arn="r",
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
