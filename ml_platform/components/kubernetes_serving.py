"""Serving the model's image on an existing Kubernetes cluster (EKS): the `serving.platform:
kubernetes` path, in place of the SageMaker endpoint.

One namespace per stack holds a ServiceAccount bound through IRSA to an IAM role that may read
only the served model version's artifact (and, during a rollout, the previous version's); a
Deployment whose init container (`fetch-model`, the same image) puts the model into an
`emptyDir` before the server starts; a Service; a CPU-based HorizontalPodAutoscaler; a
PodDisruptionBudget; a NetworkPolicy that admits only the configured namespaces; optionally an
Ingress for /invocations and /ping, with a cert-manager Certificate for its TLS Secret; and
optionally a Prometheus Operator PodMonitor.

The model is a registry version's artifact: an S3 object that exists before `pulumi up` starts
(the caller resolves the version at preview time), so the init container never waits for a
training job.

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

import datetime
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from ml_platform.components.iam import allow, document, kms_via_s3
from ml_platform.config import (
    PROJECT,
    KubernetesAutoscalingConfig,
    KubernetesConfig,
    KubernetesIngressConfig,
    KubernetesPodMonitorConfig,
)

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
# A cold pull of the image by digest from ECR in the node's region; a node that has it needs none.
IMAGE_PULL_ALLOWANCE_SECONDS = 120
ROLLOUT_MARGIN_SECONDS = 60
# cert-manager's time to get a certificate issued: an ACME HTTP-01 order takes well under a minute,
# a DNS-01 order waits for the TXT record to propagate (minutes).
CERTIFICATE_READY_TIMEOUT_SECONDS = 600
# pulumi-kubernetes await annotations (pulumi-kubernetes provider/pkg/metadata/overrides.go):
# `timeoutSeconds` replaces the provider's default wait on create and update (a Deployment's is 10
# minutes, provider/pkg/await/deployment.go) unless the resource options set customTimeouts, which
# win; `waitFor` gives a custom resource (otherwise ready at once) a readiness condition (4.18+).
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"

# Amazon EKS Kubernetes release calendar (UTC): end of standard support, end of extended support.
# https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html#kubernetes-release-calendar
# ("Billing for extended support starts at the beginning of the day that the version reaches end of
# standard support"); 1.35's dates as the same table gives them (EKS release 2026-01-27), also at
# https://endoflife.date/amazon-eks. Past the end of extended support EKS upgrades the control plane itself.
EKS_SUPPORT_ENDS: dict[str, tuple[datetime.date, datetime.date]] = {
    "1.29": (datetime.date(2025, 3, 23), datetime.date(2026, 3, 23)),
    "1.30": (datetime.date(2025, 7, 23), datetime.date(2026, 7, 23)),
    "1.31": (datetime.date(2025, 11, 26), datetime.date(2026, 11, 26)),
    "1.32": (datetime.date(2026, 3, 23), datetime.date(2027, 3, 23)),
    "1.33": (datetime.date(2026, 7, 29), datetime.date(2027, 7, 29)),
    "1.34": (datetime.date(2026, 12, 2), datetime.date(2027, 12, 2)),
    "1.35": (datetime.date(2027, 3, 27), datetime.date(2028, 3, 27)),
}


def eks_support(cluster_version: str, on: datetime.date) -> str:
    """`standard`, `extended` (billed extra per cluster hour) or `unsupported` on EKS on that day;
    `unknown` for a version the calendar above does not list."""
    if cluster_version not in EKS_SUPPORT_ENDS:
        return "unknown"
    standard_ends, extended_ends = EKS_SUPPORT_ENDS[cluster_version]
    if on < standard_ends:
        return "standard"
    return "extended" if on < extended_ends else "unsupported"


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


def artifact_object_arn(model_data_url: str, artifacts_bucket_arn: str, field_name: str = "model_data_url") -> str:
    """`s3://<bucket>/<key>` in the artifacts bucket -> the object's ARN."""
    bucket, _, key = model_data_url.removeprefix("s3://").partition("/")
    expected = artifacts_bucket_arn.rpartition(":")[2]
    if not model_data_url.startswith("s3://") or bucket != expected or not key:
        raise ValueError(
            f"{field_name}: not an object in the artifacts bucket (got {model_data_url!r}; expected "
            f"s3://{expected}/<key>)"
        )
    return f"{artifacts_bucket_arn}/{key}"


def model_reader_policy(
    model_data_url: str,
    previous_model_data_url: str | None,
    artifacts_bucket_arn: str,
    key_arn: str,
    region: str,
) -> dict[str, Any]:
    """Read the served version's artifact, and the previous version's while one is given, and
    decrypt them with the region key only through S3.

    The previous version stays readable because the policy changes in the same `pulumi up` as the
    Deployment: until the rollout ends (and after a `kubectl rollout undo`), pods of the old
    ReplicaSet are still created (a node drained, a pod evicted) and fetch the old artifact."""
    objects = [artifact_object_arn(model_data_url, artifacts_bucket_arn)]
    if previous_model_data_url is not None:
        previous = artifact_object_arn(previous_model_data_url, artifacts_bucket_arn, "previous_model_data_url")
        if previous not in objects:
            objects.append(previous)
    return document(
        allow("ReadModelArtifact", ["s3:GetObject"], objects[0] if len(objects) == 1 else objects),
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


@dataclass(frozen=True)
class RolloutTiming:
    """How long a rollout may take, worst case.

    pod_ready_seconds: one new pod from creation to Ready: image pull, model fetch (its own
      timeout), model load (the startup probe's limit), one readiness period.
    progress_deadline_seconds: the Deployment's `progressDeadlineSeconds`. The controller reports
      `ProgressDeadlineExceeded` when no new pod became available for this long; one wave of
      surge pods starts together, so one pod's time plus a margin.
    await_seconds: how long `pulumi up` waits for the whole rollout (`pulumi.com/timeoutSeconds`):
      with `maxUnavailable: 0`, pods are replaced `max_surge` at a time, so ceil(replicas /
      surge) waves, then the last old pods' termination grace, plus the margin.
    """

    pod_ready_seconds: int
    progress_deadline_seconds: int
    await_seconds: int


def rollout_timing(
    *,
    replicas: int,
    max_surge: int,
    model_fetch_timeout_seconds: int,
    startup_timeout_seconds: int,
    termination_grace_seconds: int,
) -> RolloutTiming:
    """The rollout's deadlines from its shape. `replicas` is the most the autoscaler may run
    (a rollout replaces all of them). Deployment semantics:
    https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#max-surge and
    #progress-deadline-seconds; the provider's Deployment await: pulumi-kubernetes
    `provider/pkg/await/deployment.go` (waits for the new ReplicaSet to be available:
    `Progressing` with reason `NewReplicaSetAvailable`, and `Available`)."""
    for name, value in (
        ("replicas", replicas),
        ("max_surge", max_surge),
        ("model_fetch_timeout_seconds", model_fetch_timeout_seconds),
        ("startup_timeout_seconds", startup_timeout_seconds),
    ):
        if value < 1:
            raise ValueError(f"{name}: must be at least 1 (got {value}; expected an integer >= 1)")
    pod = IMAGE_PULL_ALLOWANCE_SECONDS + model_fetch_timeout_seconds + startup_timeout_seconds + PROBE_PERIOD_SECONDS
    waves = math.ceil(replicas / max_surge)
    return RolloutTiming(
        pod_ready_seconds=pod,
        progress_deadline_seconds=pod + ROLLOUT_MARGIN_SECONDS,
        await_seconds=waves * pod + termination_grace_seconds + ROLLOUT_MARGIN_SECONDS,
    )


def config_rollout_timing(config: KubernetesConfig) -> RolloutTiming:
    return rollout_timing(
        replicas=config.autoscaling.max_replicas,
        max_surge=config.max_surge,
        model_fetch_timeout_seconds=config.model_fetch_timeout_seconds,
        startup_timeout_seconds=config.startup_timeout_seconds,
        termination_grace_seconds=termination_grace_seconds(config),
    )


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
    timing = config_rollout_timing(config)
    volume_mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    fetch = {
        "name": FETCH_CONTAINER,
        "image": image,
        "args": [
            "fetch-model",
            "--source",
            model_data_url,
            "--model-dir",
            MODEL_DIR,
            "--timeout-seconds",
            str(config.model_fetch_timeout_seconds),
        ],
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
    pod_annotations = {
        # IRSA credentials for the init container only.
        "eks.amazonaws.com/skip-containers": SERVER_CONTAINER,
    }
    if config.pod_monitor is None:
        # For annotation-driven scrape configs; the Prometheus Operator ignores these (PodMonitor instead).
        pod_annotations.update(
            {"prometheus.io/scrape": "true", "prometheus.io/port": str(SERVER_PORT), "prometheus.io/path": "/metrics"}
        )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(
            name, config.namespace, extra_labels, annotations={TIMEOUT_ANNOTATION: str(timing.await_seconds)}
        ),
        "spec": {
            "selector": {"matchLabels": match},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": config.max_surge},
            },
            "progressDeadlineSeconds": timing.progress_deadline_seconds,
            "template": {
                "metadata": {"labels": labels(name, extra_labels), "annotations": pod_annotations},
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


def certificate_manifest(
    name: str, namespace: str, ingress: KubernetesIngressConfig, extra_labels: Mapping[str, str]
) -> dict[str, Any]:
    """cert-manager writes the Ingress's TLS Secret for the host and renews it
    (https://cert-manager.io/docs/usage/certificate/, API cert-manager.io/v1). `pulumi up` waits
    for the Ready condition, so the https URL it outputs is served with this certificate."""
    issuer = ingress.certificate_issuer
    assert issuer is not None and ingress.tls_secret_name is not None  # the config requires both together
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": metadata(
            name,
            namespace,
            extra_labels,
            annotations={
                WAIT_FOR_ANNOTATION: "condition=Ready",
                TIMEOUT_ANNOTATION: str(CERTIFICATE_READY_TIMEOUT_SECONDS),
            },
        ),
        "spec": {
            "secretName": ingress.tls_secret_name,
            "secretTemplate": {"labels": labels(name, extra_labels)},
            "dnsNames": [ingress.host],
            "issuerRef": {"name": issuer.name, "kind": issuer.kind, "group": "cert-manager.io"},
            # A fresh key on every renewal (cert-manager's default since 1.18, explicit here).
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        },
    }


def pod_monitor_manifest(
    name: str, namespace: str, monitor: KubernetesPodMonitorConfig, extra_labels: Mapping[str, str]
) -> dict[str, Any]:
    """The Prometheus Operator scrapes /metrics on the pods' `http` port
    (https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.PodMonitor).
    Its labels must match the Prometheus resource's `podMonitorSelector`."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": name, "namespace": namespace, "labels": {**labels(name, extra_labels), **monitor.labels}},
        "spec": {
            "selector": {"matchLabels": selector(name)},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": f"{monitor.interval_seconds}s"}],
        },
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
    """Every object the component declares, by kind (Ingress, Certificate, PodMonitor only when configured)."""
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
        if config.ingress.certificate_issuer is not None:
            found["Certificate"] = certificate_manifest(name, ns, config.ingress, extra_labels)
    if config.pod_monitor is not None:
        found["PodMonitor"] = pod_monitor_manifest(name, ns, config.pod_monitor, extra_labels)
    return found


# ---------------------------------------------------------------------------------------------
# Component


@dataclass(frozen=True)
class KubernetesModelServerArgs:
    """Inputs of `KubernetesModelServer`.

    config: the `kubernetes` section (cluster, namespace, IRSA provider, sizing, policies).
    image_uri: the stack's image, `<repository>@sha256:<digest>` (never a tag).
    model_data_url: `s3://<artifacts bucket>/<key>` of the model version to serve: a Model Registry
      version's artifact, an object that already exists (the caller resolves the version before
      `pulumi up` declares anything), never an output of something in the same update.
    previous_model_data_url: the artifact of the version the Deployment served before this update,
      or None (first deploy, or unchanged). The pods' role may read it too, so pods of the old
      ReplicaSet created during the rollout, or after `kubectl rollout undo`, still get their model.
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
    previous_model_data_url: pulumi.Input[str] | None = None
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
# Custom resources (their CRDs come with cert-manager and the Prometheus Operator).
CUSTOM_KINDS = ("Certificate", "PodMonitor")


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
        policy = pulumi.Output.all(
            args.model_data_url, args.previous_model_data_url, args.artifacts_bucket_arn, args.key_arn
        ).apply(lambda a: json.dumps(model_reader_policy(a[0], a[1], a[2], a[3], args.region)))
        self.reader_policy = aws.iam.RolePolicy(name, role=self.role.id, policy=policy, opts=child)

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
        self.objects: dict[str, pulumi.CustomResource] = {}
        # Custom resources first, so the Ingress can wait for the Certificate.
        for kind in sorted(objects, key=lambda k: k not in CUSTOM_KINDS):
            manifest = objects[kind]
            waits: list[pulumi.Resource] = [self.namespace]
            if kind == "Deployment":
                # New pods fetch the new artifact: their role may read it first.
                waits.append(self.reader_policy)
            if kind == "Ingress" and "Certificate" in self.objects:
                # The TLS Secret the Ingress names exists once the Certificate is Ready.
                waits.append(self.objects["Certificate"])
            opts_kind = pulumi.ResourceOptions(parent=self, depends_on=waits)
            if kind in CUSTOM_KINDS:
                self.objects[kind] = k8s.apiextensions.CustomResource(
                    f"{name}-{kind.lower()}",
                    api_version=manifest["apiVersion"],
                    kind=kind,
                    metadata=manifest["metadata"],
                    spec=manifest["spec"],
                    opts=opts_kind,
                )
                continue
            # Top-level fields become keyword arguments (snake_case); everything below stays camelCase.
            body = {_snake(key): value for key, value in manifest.items() if key not in ("apiVersion", "kind")}
            self.objects[kind] = RESOURCE_CLASSES[kind](f"{name}-{kind.lower()}", **body, opts=opts_kind)

        self.service_url = f"http://{name}.{config.namespace}.svc.cluster.local"
        self.outputs = {
            "namespace": config.namespace,
            "service_url": self.service_url,
            "role_arn": self.role.arn,
            "ingress_url": _ingress_url(config.ingress),
            # The artifact served after this update: the next update's previous_model_data_url.
            "model_data_url": args.model_data_url,
        }
        self.register_outputs(self.outputs)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _ingress_url(ingress: KubernetesIngressConfig | None) -> str | None:
    if ingress is None:
        return None
    # https only with a certificate the stack itself has issued (the config refuses a Secret without one).
    return f"{'https' if ingress.certificate_issuer else 'http'}://{ingress.host}"
