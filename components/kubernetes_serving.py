"""Serving the model's image on an existing Kubernetes cluster (EKS): the `serving.platform:
kubernetes` path, in place of the SageMaker endpoint.

One namespace per stack holds a ServiceAccount bound through IRSA to an IAM role that may read
only the model artifact; a Deployment whose init container (`fetch-model`, the same image)
puts the model into an `emptyDir` before the server starts; a Service; a CPU-based
HorizontalPodAutoscaler; a PodDisruptionBudget; a NetworkPolicy that admits only the
configured namespaces; and optionally an Ingress for /invocations and /ping.

The pods are hardened to the `restricted` Pod Security Standard, which the namespace enforces:
non-root, read-only root filesystem (the model and /tmp are volumes), no capabilities, no
privilege escalation, seccomp RuntimeDefault. Only the init container gets AWS credentials
(`eks.amazonaws.com/skip-containers`); the server needs none.

Manifests are pure builders returning plain, camelCase Kubernetes objects (Pulumi inputs may
stand in for strings); the component declares one pulumi-kubernetes resource per manifest.
Object names are the component's name inside the stack's namespace: stable, because the IAM
role's trust names the service account and clients resolve the Service by name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.config import PROJECT, KubernetesAutoscalingConfig, KubernetesConfig, KubernetesIngressConfig
from components.iam import allow, document, kms_via_s3

SERVER_CONTAINER = "model-server"
FETCH_CONTAINER = "fetch-model"
SERVER_PORT = 8080
SERVICE_PORT = 80
MODEL_DIR = "/opt/ml/model"
# The image's `model` user (model_code/Dockerfile).
RUN_AS = 10001
IRSA_AUDIENCE = "sts.amazonaws.com"
PROBE_PERIOD_SECONDS = 5
# After the drain the server gives workers still running 3 s before it kills them, then exits;
# the rest is slack before the kubelet's SIGKILL.
TERMINATION_MARGIN_SECONDS = 5
TMP_SIZE_LIMIT = "64Mi"


# ---------------------------------------------------------------------------------------------
# Pure builders: IAM


def oidc_issuer(oidc_provider_arn: str) -> str:
    """`arn:aws:iam::<account>:oidc-provider/<issuer host/path>` -> the issuer IAM keys conditions on."""
    return oidc_provider_arn.split(":oidc-provider/", 1)[1]


def irsa_trust_policy(oidc_provider_arn: str, namespace: str, service_account: str) -> dict[str, Any]:
    """Only the one service account's projected token, issued for STS, may assume the role."""
    issuer = oidc_issuer(oidc_provider_arn)
    return document(
        {
            "Sid": "ServiceAccountAssumesRoleWithWebIdentity",
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                    f"{issuer}:aud": IRSA_AUDIENCE,
                }
            },
        }
    )


def model_reader_policy(model_data_url: str, artifacts_bucket_arn: str, key_arn: str, region: str) -> dict[str, Any]:
    """Read the one model artifact, and decrypt it with the region key only through S3."""
    key = model_data_url.split("/", 3)[3]
    return document(
        allow("ReadModelArtifact", ["s3:GetObject"], f"{artifacts_bucket_arn}/{key}"),
        kms_via_s3(key_arn, region, ["kms:Decrypt"], [artifacts_bucket_arn], "DecryptModelArtifact"),
    )


# ---------------------------------------------------------------------------------------------
# Pure builders: manifests


def labels(name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": PROJECT,
        "app.kubernetes.io/managed-by": "pulumi",
        **(extra or {}),
    }


def selector(name: str) -> dict[str, str]:
    """The pods' identity for the Deployment, Service, PDB and policies (immutable on a Deployment)."""
    return {"app.kubernetes.io/name": name}


def metadata(name: str, namespace: str, extra_labels: Mapping[str, str] | None = None, **more: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels(name, extra_labels), **more}


def namespace_manifest(namespace: str, cluster_version: str, extra_labels: Mapping[str, str]) -> dict[str, Any]:
    """The namespace enforces the `restricted` Pod Security Standard at the cluster's version."""
    pod_security = {}
    for mode in ("enforce", "audit", "warn"):
        pod_security[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        pod_security[f"pod-security.kubernetes.io/{mode}-version"] = f"v{cluster_version}"
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {**labels(namespace, extra_labels), **pod_security}},
    }


def service_account_manifest(
    name: str, namespace: str, role_arn: pulumi.Input[str], extra_labels: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(
            name,
            namespace,
            extra_labels,
            annotations={"eks.amazonaws.com/role-arn": role_arn, "eks.amazonaws.com/sts-regional-endpoints": "true"},
        ),
        # The pods talk to AWS (through IRSA's own projected token), never to the Kubernetes API.
        "automountServiceAccountToken": False,
    }


def termination_grace_seconds(config: KubernetesConfig) -> int:
    """preStop delay, then the server's drain, then the margin for its workers to exit."""
    return config.pre_stop_delay_seconds + config.drain_timeout_seconds + TERMINATION_MARGIN_SECONDS


def _probe(period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/ping", "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def probes(config: KubernetesConfig) -> dict[str, Any]:
    """All on /ping, which answers 200 only once the model is loaded: the startup probe gives the
    load `startup_timeout_seconds`; readiness takes a pod out of the Service within 10 s; liveness
    restarts a server that stopped answering for 30 s (or whose model failed to load)."""
    return {
        "startupProbe": _probe(
            PROBE_PERIOD_SECONDS, 2, math.ceil(config.startup_timeout_seconds / PROBE_PERIOD_SECONDS)
        ),
        "readinessProbe": _probe(PROBE_PERIOD_SECONDS, 2, 2),
        "livenessProbe": _probe(10, 5, 3),
    }


def container_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(config: KubernetesConfig) -> dict[str, Any]:
    r = config.resources
    return {
        "requests": {"cpu": r.cpu_request, "memory": r.memory_request},
        "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit},
    }


def server_environment(config: KubernetesConfig, environment: Mapping[str, str]) -> list[dict[str, str]]:
    """`serving.environment`, then the settings this Deployment depends on (they win)."""
    ours = {
        "ML_PLATFORM_SERVE_MODEL_DIR": MODEL_DIR,
        "ML_PLATFORM_SERVE_METRICS": "true",
        "ML_PLATFORM_SERVE_DRAIN_TIMEOUT_SECONDS": str(config.drain_timeout_seconds),
    }
    merged = {**environment, **ours}
    return [{"name": key, "value": merged[key]} for key in sorted(merged)]


def deployment_manifest(
    name: str,
    config: KubernetesConfig,
    *,
    image: pulumi.Input[str],
    model_data_url: pulumi.Input[str],
    region: str,
    environment: Mapping[str, str],
    extra_labels: Mapping[str, str],
) -> dict[str, Any]:
    """The server pods. No `replicas`: the HorizontalPodAutoscaler owns the count, and a declared
    one would reset it on every update."""
    volume_mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    fetch = {
        "name": FETCH_CONTAINER,
        "image": image,
        "args": ["fetch-model", "--source", model_data_url, "--model-dir", MODEL_DIR],
        "env": [{"name": "AWS_REGION", "value": region}, {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"}],
        "resources": resources(config),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "model", "mountPath": MODEL_DIR}, *volume_mounts],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    server: dict[str, Any] = {
        "name": SERVER_CONTAINER,
        "image": image,
        "args": ["serve"],
        "ports": [{"name": "http", "containerPort": SERVER_PORT, "protocol": "TCP"}],
        "env": server_environment(config, environment),
        "resources": resources(config),
        **probes(config),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "model", "mountPath": MODEL_DIR, "readOnly": True}, *volume_mounts],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if config.pre_stop_delay_seconds:
        # Endpoints and Ingress controllers drop a terminating pod asynchronously; keep serving meanwhile.
        server["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(config.pre_stop_delay_seconds)]}}}
    match = selector(name)
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": config.zone_spread,
            "labelSelector": {"matchLabels": match},
        },
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": match},
        },
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, config.namespace, extra_labels),
        "spec": {
            "selector": {"matchLabels": match},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": labels(name, extra_labels),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(SERVER_PORT),
                        "prometheus.io/path": "/metrics",
                        # IRSA credentials for the init container only.
                        "eks.amazonaws.com/skip-containers": SERVER_CONTAINER,
                    },
                },
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(),
                    "initContainers": [fetch],
                    "containers": [server],
                    "volumes": [
                        {"name": "model", "emptyDir": {"sizeLimit": config.model_volume_size_limit}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}},
                    ],
                    "topologySpreadConstraints": spread,
                    "terminationGracePeriodSeconds": termination_grace_seconds(config),
                },
            },
        },
    }


def service_manifest(name: str, namespace: str, extra_labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, namespace, extra_labels),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(name),
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler_manifest(
    name: str, namespace: str, scaling: KubernetesAutoscalingConfig, extra_labels: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(name, namespace, extra_labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": scaling.target_cpu_utilization_percent},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": scaling.scale_down_stabilization_seconds}},
        },
    }


def disruption_budget_manifest(
    name: str, namespace: str, max_unavailable: int, extra_labels: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, namespace, extra_labels),
        "spec": {"maxUnavailable": max_unavailable, "selector": {"matchLabels": selector(name)}},
    }


def network_policy_manifest(
    name: str, namespace: str, allowed_namespaces: list[str], extra_labels: Mapping[str, str]
) -> dict[str, Any]:
    """Ingress to the server port only from pods in the allowed namespaces (kubelet probes are not
    subject to NetworkPolicy). Egress stays open: the init container reaches S3 and STS."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(name, namespace, extra_labels),
        "spec": {
            "podSelector": {"matchLabels": selector(name)},
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
                                        "values": list(allowed_namespaces),
                                    }
                                ]
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": SERVER_PORT}],
                }
            ],
        },
    }


def ingress_manifest(
    name: str, namespace: str, ingress: KubernetesIngressConfig, extra_labels: Mapping[str, str]
) -> dict[str, Any]:
    """Only POST /invocations and GET /ping are routed (exact paths); /metrics stays in the cluster."""
    backend = {"service": {"name": name, "port": {"name": "http"}}}
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": ingress.host,
                "http": {
                    "paths": [
                        {"path": path, "pathType": "Exact", "backend": backend} for path in ("/invocations", "/ping")
                    ]
                },
            }
        ]
    }
    if ingress.class_name is not None:
        spec["ingressClassName"] = ingress.class_name
    if ingress.tls_secret_name is not None:
        spec["tls"] = [{"hosts": [ingress.host], "secretName": ingress.tls_secret_name}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata(name, namespace, extra_labels),
        "spec": spec,
    }


def manifests(
    name: str,
    config: KubernetesConfig,
    *,
    role_arn: pulumi.Input[str],
    image: pulumi.Input[str],
    model_data_url: pulumi.Input[str],
    region: str,
    environment: Mapping[str, str],
    extra_labels: Mapping[str, str],
) -> dict[str, dict[str, Any]]:
    """Every object the component declares, by kind (Ingress only when configured)."""
    ns = config.namespace
    found = {
        "Namespace": namespace_manifest(ns, config.cluster_version, extra_labels),
        "ServiceAccount": service_account_manifest(name, ns, role_arn, extra_labels),
        "Deployment": deployment_manifest(
            name,
            config,
            image=image,
            model_data_url=model_data_url,
            region=region,
            environment=environment,
            extra_labels=extra_labels,
        ),
        "Service": service_manifest(name, ns, extra_labels),
        "HorizontalPodAutoscaler": autoscaler_manifest(name, ns, config.autoscaling, extra_labels),
        "PodDisruptionBudget": disruption_budget_manifest(name, ns, config.max_unavailable, extra_labels),
        "NetworkPolicy": network_policy_manifest(name, ns, config.allowed_namespaces, extra_labels),
    }
    if config.ingress is not None:
        found["Ingress"] = ingress_manifest(name, ns, config.ingress, extra_labels)
    return found


# ---------------------------------------------------------------------------------------------
# Component


@dataclass(frozen=True)
class KubernetesModelServerArgs:
    """Inputs of `KubernetesModelServer`.

    config: the `kubernetes` section (cluster, namespace, IRSA provider, sizing, policies).
    image_uri: the stack's image, `<repository>@sha256:<digest>` (never a tag).
    model_data_url: `s3://<artifacts bucket>/<key>` of the model.tar.gz to serve.
    artifacts_bucket_arn, key_arn: the bucket holding it and the region key it is encrypted with.
    region: the bucket's region (the init container's AWS_REGION and the KMS condition).
    environment: extra environment variables of the server (`serving.environment`).
    labels: extra labels on every object, e.g. `{"environment": "dev"}`.

    The caller passes both an `aws` provider (for the IAM role) and a `kubernetes` provider
    in `opts.providers`.
    """

    config: KubernetesConfig
    image_uri: pulumi.Input[str]
    model_data_url: pulumi.Input[str]
    artifacts_bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    region: str
    environment: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


# The pulumi-kubernetes resource class of each manifest kind.
RESOURCE_CLASSES: dict[str, Any] = {
    "ServiceAccount": k8s.core.v1.ServiceAccount,
    "Deployment": k8s.apps.v1.Deployment,
    "Service": k8s.core.v1.Service,
    "HorizontalPodAutoscaler": k8s.autoscaling.v2.HorizontalPodAutoscaler,
    "PodDisruptionBudget": k8s.policy.v1.PodDisruptionBudget,
    "NetworkPolicy": k8s.networking.v1.NetworkPolicy,
    "Ingress": k8s.networking.v1.Ingress,
}


class KubernetesModelServer(pulumi.ComponentResource):
    """The model server on Kubernetes, and the IAM role its pods read the model with."""

    def __init__(self, name: str, args: KubernetesModelServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:kubernetes:ModelServer", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            name,
            assume_role_policy=json.dumps(irsa_trust_policy(config.oidc_provider_arn, config.namespace, name)),
            description=f"IRSA role of {config.namespace}/{name}: reads the served model artifact",
            opts=child,
        )
        policy = pulumi.Output.all(args.model_data_url, args.artifacts_bucket_arn, args.key_arn).apply(
            lambda a: json.dumps(model_reader_policy(a[0], a[1], a[2], args.region))
        )
        aws.iam.RolePolicy(name, role=self.role.id, policy=policy, opts=child)

        objects = manifests(
            name,
            config,
            role_arn=self.role.arn,
            image=args.image_uri,
            model_data_url=args.model_data_url,
            region=args.region,
            environment=args.environment,
            extra_labels=args.labels,
        )
        namespace = objects.pop("Namespace")
        self.namespace = k8s.core.v1.Namespace(name, metadata=namespace["metadata"], opts=child)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        self.objects: dict[str, pulumi.CustomResource] = {}
        for kind, manifest in objects.items():
            # Top-level fields become keyword arguments (snake_case); everything below stays camelCase.
            body = {_snake(key): value for key, value in manifest.items() if key not in ("apiVersion", "kind")}
            self.objects[kind] = RESOURCE_CLASSES[kind](f"{name}-{kind.lower()}", **body, opts=in_namespace)

        self.service_url = f"http://{name}.{config.namespace}.svc.cluster.local"
        self.outputs = {
            "namespace": config.namespace,
            "service_url": self.service_url,
            "role_arn": self.role.arn,
            "ingress_url": _ingress_url(config.ingress),
        }
        self.register_outputs(self.outputs)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _ingress_url(ingress: KubernetesIngressConfig | None) -> str | None:
    if ingress is None:
        return None
    return f"{'https' if ingress.tls_secret_name else 'http'}://{ingress.host}"
