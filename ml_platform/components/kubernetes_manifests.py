"""Pure builders of the Kubernetes objects `KubernetesModelServer` declares: plain, camelCase
Kubernetes objects (Pulumi inputs may stand in for strings), from `KubernetesModelServerArgs`;
plus the rollout deadlines they carry and the EKS version calendar.

Object names are the server's name inside its namespace: stable, because the IAM role's trust
names the service account and clients resolve the Service by name.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Any

import pulumi

from ml_platform.components.kubernetes_args import KubernetesModelServerArgs

SERVER_CONTAINER = "model-server"
FETCH_CONTAINER = "fetch-model"
SERVER_PORT = 8080
SERVICE_PORT = 80
MODEL_DIR = "/opt/ml/model"
# The image's `model` user (model_code/Dockerfile).
RUN_AS = 10001
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


def labels(name: str, args: KubernetesModelServerArgs) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": args.part_of,
        "app.kubernetes.io/managed-by": "pulumi",
        **args.labels,
    }


def selector(name: str) -> dict[str, str]:
    """The pods' identity for the Deployment, Service, PDB and policies (immutable on a Deployment)."""
    return {"app.kubernetes.io/name": name}


def metadata(name: str, args: KubernetesModelServerArgs, **more: Any) -> dict[str, Any]:
    return {"name": name, "namespace": args.namespace, "labels": labels(name, args), **more}


def namespace_manifest(args: KubernetesModelServerArgs) -> dict[str, Any]:
    """The namespace enforces the `restricted` Pod Security Standard at the cluster's version."""
    pod_security = {}
    for mode in ("enforce", "audit", "warn"):
        pod_security[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        pod_security[f"pod-security.kubernetes.io/{mode}-version"] = f"v{args.cluster_version}"
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": args.namespace, "labels": {**labels(args.namespace, args), **pod_security}},
    }


def service_account_manifest(name: str, args: KubernetesModelServerArgs, role_arn: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(
            name,
            args,
            annotations={"eks.amazonaws.com/role-arn": role_arn, "eks.amazonaws.com/sts-regional-endpoints": "true"},
        ),
        # The pods talk to AWS (through IRSA's own projected token), never to the Kubernetes API.
        "automountServiceAccountToken": False,
    }


def termination_grace_seconds(args: KubernetesModelServerArgs) -> int:
    """preStop delay, then the server's drain, then the margin for its workers to exit."""
    return args.pre_stop_delay_seconds + args.drain_timeout_seconds + TERMINATION_MARGIN_SECONDS


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


def server_rollout_timing(args: KubernetesModelServerArgs) -> RolloutTiming:
    return rollout_timing(
        replicas=args.autoscaling.max_replicas,
        max_surge=args.max_surge,
        model_fetch_timeout_seconds=args.model_fetch_timeout_seconds,
        startup_timeout_seconds=args.startup_timeout_seconds,
        termination_grace_seconds=termination_grace_seconds(args),
    )


def _probe(period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/ping", "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def probes(args: KubernetesModelServerArgs) -> dict[str, Any]:
    """All on /ping, which answers 200 only once the model is loaded: the startup probe gives the
    load `startup_timeout_seconds`; readiness takes a pod out of the Service within 10 s; liveness
    restarts a server that stopped answering for 30 s (or whose model failed to load)."""
    return {
        "startupProbe": _probe(PROBE_PERIOD_SECONDS, 2, math.ceil(args.startup_timeout_seconds / PROBE_PERIOD_SECONDS)),
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


def resources(args: KubernetesModelServerArgs) -> dict[str, Any]:
    r = args.resources
    return {
        "requests": {"cpu": r.cpu_request, "memory": r.memory_request},
        "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit},
    }


def server_environment(args: KubernetesModelServerArgs) -> list[dict[str, str]]:
    """The caller's `environment`, then the settings this Deployment depends on (they win)."""
    ours = {
        "ML_PLATFORM_SERVE_MODEL_DIR": MODEL_DIR,
        "ML_PLATFORM_SERVE_METRICS": "true",
        "ML_PLATFORM_SERVE_DRAIN_TIMEOUT_SECONDS": str(args.drain_timeout_seconds),
    }
    merged = {**args.environment, **ours}
    return [{"name": key, "value": merged[key]} for key in sorted(merged)]


def deployment_manifest(name: str, args: KubernetesModelServerArgs) -> dict[str, Any]:
    """The server pods. No `replicas`: the HorizontalPodAutoscaler owns the count, and a declared
    one would reset it on every update."""
    timing = server_rollout_timing(args)
    volume_mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    fetch = {
        "name": FETCH_CONTAINER,
        "image": args.image_uri,
        "args": [
            "fetch-model",
            "--source",
            args.model_data_url,
            "--model-dir",
            MODEL_DIR,
            "--timeout-seconds",
            str(args.model_fetch_timeout_seconds),
        ],
        "env": [
            {"name": "AWS_REGION", "value": args.region},
            {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
        ],
        "resources": resources(args),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "model", "mountPath": MODEL_DIR}, *volume_mounts],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    server: dict[str, Any] = {
        "name": SERVER_CONTAINER,
        "image": args.image_uri,
        "args": ["serve"],
        "ports": [{"name": "http", "containerPort": SERVER_PORT, "protocol": "TCP"}],
        "env": server_environment(args),
        "resources": resources(args),
        **probes(args),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "model", "mountPath": MODEL_DIR, "readOnly": True}, *volume_mounts],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if args.pre_stop_delay_seconds:
        # Endpoints and Ingress controllers drop a terminating pod asynchronously; keep serving meanwhile.
        server["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(args.pre_stop_delay_seconds)]}}}
    match = selector(name)
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": args.zone_spread,
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
    if args.pod_monitor is None:
        # For annotation-driven scrape configs; the Prometheus Operator ignores these (PodMonitor instead).
        pod_annotations.update(
            {"prometheus.io/scrape": "true", "prometheus.io/port": str(SERVER_PORT), "prometheus.io/path": "/metrics"}
        )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, args, annotations={TIMEOUT_ANNOTATION: str(timing.await_seconds)}),
        "spec": {
            "selector": {"matchLabels": match},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": args.max_surge},
            },
            "progressDeadlineSeconds": timing.progress_deadline_seconds,
            "template": {
                "metadata": {"labels": labels(name, args), "annotations": pod_annotations},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(),
                    "initContainers": [fetch],
                    "containers": [server],
                    "volumes": [
                        {"name": "model", "emptyDir": {"sizeLimit": args.model_volume_size_limit}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}},
                    ],
                    "topologySpreadConstraints": spread,
                    "terminationGracePeriodSeconds": termination_grace_seconds(args),
                },
            },
        },
    }


def service_manifest(name: str, args: KubernetesModelServerArgs) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, args),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(name),
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler_manifest(name: str, args: KubernetesModelServerArgs) -> dict[str, Any]:
    scaling = args.autoscaling
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(name, args),
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


def disruption_budget_manifest(name: str, args: KubernetesModelServerArgs) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, args),
        "spec": {"maxUnavailable": args.max_unavailable, "selector": {"matchLabels": selector(name)}},
    }


def network_policy_manifest(name: str, args: KubernetesModelServerArgs) -> dict[str, Any]:
    """Ingress to the server port only from pods in the allowed namespaces (kubelet probes are not
    subject to NetworkPolicy). Egress stays open: the init container reaches S3 and STS."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(name, args),
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
                                        "values": list(args.allowed_namespaces),
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


def ingress_manifest(name: str, args: KubernetesModelServerArgs) -> dict[str, Any]:
    """Only POST /invocations and GET /ping are routed (exact paths); /metrics stays in the cluster."""
    ingress = args.ingress
    assert ingress is not None  # declared only with an ingress
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
        "metadata": metadata(name, args),
        "spec": spec,
    }


def certificate_manifest(name: str, args: KubernetesModelServerArgs) -> dict[str, Any]:
    """cert-manager writes the Ingress's TLS Secret for the host and renews it
    (https://cert-manager.io/docs/usage/certificate/, API cert-manager.io/v1). `pulumi up` waits
    for the Ready condition, so the https URL it outputs is served with this certificate."""
    ingress = args.ingress
    assert ingress is not None  # declared only with an ingress
    issuer = ingress.certificate_issuer
    assert issuer is not None and ingress.tls_secret_name is not None  # IngressArgs requires both together
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": metadata(
            name,
            args,
            annotations={
                WAIT_FOR_ANNOTATION: "condition=Ready",
                TIMEOUT_ANNOTATION: str(CERTIFICATE_READY_TIMEOUT_SECONDS),
            },
        ),
        "spec": {
            "secretName": ingress.tls_secret_name,
            "secretTemplate": {"labels": labels(name, args)},
            "dnsNames": [ingress.host],
            "issuerRef": {"name": issuer.name, "kind": issuer.kind, "group": "cert-manager.io"},
            # A fresh key on every renewal (cert-manager's default since 1.18, explicit here).
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        },
    }


def pod_monitor_manifest(name: str, args: KubernetesModelServerArgs) -> dict[str, Any]:
    """The Prometheus Operator scrapes /metrics on the pods' `http` port
    (https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.PodMonitor).
    Its labels must match the Prometheus resource's `podMonitorSelector`."""
    monitor = args.pod_monitor
    assert monitor is not None  # declared only with a pod monitor
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": name, "namespace": args.namespace, "labels": {**labels(name, args), **monitor.labels}},
        "spec": {
            "selector": {"matchLabels": selector(name)},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": f"{monitor.interval_seconds}s"}],
        },
    }


def manifests(name: str, args: KubernetesModelServerArgs, *, role_arn: pulumi.Input[str]) -> dict[str, dict[str, Any]]:
    """Every object the component declares, by kind (Ingress, Certificate, PodMonitor only when configured)."""
    found = {
        "Namespace": namespace_manifest(args),
        "ServiceAccount": service_account_manifest(name, args, role_arn),
        "Deployment": deployment_manifest(name, args),
        "Service": service_manifest(name, args),
        "HorizontalPodAutoscaler": autoscaler_manifest(name, args),
        "PodDisruptionBudget": disruption_budget_manifest(name, args),
        "NetworkPolicy": network_policy_manifest(name, args),
    }
    if args.ingress is not None:
        found["Ingress"] = ingress_manifest(name, args)
        if args.ingress.certificate_issuer is not None:
            found["Certificate"] = certificate_manifest(name, args)
    if args.pod_monitor is not None:
        found["PodMonitor"] = pod_monitor_manifest(name, args)
    return found
