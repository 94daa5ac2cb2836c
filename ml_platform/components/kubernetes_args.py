"""Inputs of `KubernetesModelServer` (ml_platform/components/kubernetes_serving.py), in Kubernetes' and
AWS's own terms: plain values and `pulumi.Input`s, units in the names. The stack's `kubernetes`
config section is mapped onto these by the assembly (ml_platform/assembly_edge.py); another program
fills them in directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi


@dataclass(frozen=True)
class ContainerResources:
    """Requests and limits of the server container (the init container gets the same), as
    Kubernetes quantities (`500m`, `512Mi`)."""

    cpu_request: str = "500m"
    cpu_limit: str = "1"
    memory_request: str = "512Mi"
    memory_limit: str = "512Mi"


@dataclass(frozen=True)
class PodAutoscaling:
    """The HorizontalPodAutoscaler (autoscaling/v2) on CPU utilization, as a share of `cpu_request`."""

    min_replicas: int
    max_replicas: int
    target_cpu_utilization_percent: int = 60
    scale_down_stabilization_seconds: int = 300

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError(
                f"PodAutoscaling: min_replicas and max_replicas out of order (got {self.min_replicas} and "
                f"{self.max_replicas}; expected 1 <= min_replicas <= max_replicas)"
            )


@dataclass(frozen=True)
class CertificateIssuer:
    """The cert-manager Issuer or ClusterIssuer that signs the Ingress host's certificate."""

    name: str
    kind: Literal["ClusterIssuer", "Issuer"] = "ClusterIssuer"


@dataclass(frozen=True)
class IngressArgs:
    """An Ingress for POST /invocations and GET /ping (never /metrics).

    class_name: the IngressClass; None uses the cluster's default class.
    tls_secret_name / certificate_issuer: both or neither. With both, a cert-manager Certificate
        writes the Secret and the Ingress serves https; with neither, plain http at the controller.
    """

    host: str
    class_name: str | None = None
    tls_secret_name: str | None = None
    certificate_issuer: CertificateIssuer | None = None

    def __post_init__(self) -> None:
        # A Secret nothing writes makes the controller serve its own default (self-signed) certificate.
        if (self.tls_secret_name is None) != (self.certificate_issuer is None):
            raise ValueError(
                "IngressArgs: set tls_secret_name and certificate_issuer together or neither "
                f"(got tls_secret_name={self.tls_secret_name!r}, certificate_issuer={self.certificate_issuer!r})"
            )


@dataclass(frozen=True)
class PodMonitorArgs:
    """A Prometheus Operator PodMonitor for /metrics. labels: what the Prometheus resource's
    `podMonitorSelector` matches, e.g. `{"release": "kube-prometheus-stack"}`."""

    labels: Mapping[str, str] = field(default_factory=dict)
    interval_seconds: int = 30


@dataclass(frozen=True)
class KubernetesModelServerArgs:
    """Inputs of `KubernetesModelServer`.

    namespace: the namespace the component creates and serves in (one per server).
    cluster_version: the cluster's Kubernetes minor version, e.g. `"1.35"` (the namespace enforces
      the `restricted` Pod Security Standard at that version).
    oidc_provider_arn: the cluster's IAM OIDC provider (IRSA); the pods' role trusts only their
      service account.
    image_uri: the image, `<repository>@sha256:<digest>` (never a tag).
    model_data_url: `s3://<artifacts bucket>/<key>` of the model version to serve: an object that
      already exists (the caller resolves the version before `pulumi up` declares anything), never an
      output of something in the same update.
    previous_model_data_url: the artifact of the version the Deployment served before this update,
      or None (first deploy, or unchanged). The pods' role may read it too, so pods of the old
      ReplicaSet created during the rollout, or after `kubectl rollout undo`, still get their model.
    artifacts_bucket_arn, key_arn: the bucket holding it and the KMS key it is encrypted with.
    region: the bucket's region (the init container's AWS_REGION and the KMS condition).
    autoscaling, resources: pod count bounds and per-pod requests and limits.
    allowed_namespaces: namespaces whose pods may connect (NetworkPolicy): clients, the ingress
      controller, Prometheus.
    max_unavailable: PodDisruptionBudget. zone_spread: `whenUnsatisfiable` of the zone spread.
    drain_timeout_seconds / pre_stop_delay_seconds: graceful shutdown; startup_timeout_seconds: model
      load; model_fetch_timeout_seconds: the init container; max_surge: pods a rollout adds at once.
    model_volume_size_limit: size limit of the model's emptyDir.
    ingress: an Ingress; None creates none. pod_monitor: a PodMonitor; None puts `prometheus.io/*`
      scrape annotations on the pods instead.
    environment: extra environment variables of the server. labels: extra labels on every object.
    part_of: the `app.kubernetes.io/part-of` label.

    The caller passes both an `aws` provider (for the IAM role) and a `kubernetes` provider
    in `opts.providers`.
    """

    namespace: str
    cluster_version: str
    oidc_provider_arn: str
    image_uri: pulumi.Input[str]
    model_data_url: pulumi.Input[str]
    artifacts_bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    region: str
    autoscaling: PodAutoscaling
    allowed_namespaces: tuple[str, ...]
    resources: ContainerResources = field(default_factory=ContainerResources)
    previous_model_data_url: pulumi.Input[str] | None = None
    max_unavailable: int = 1
    zone_spread: Literal["DoNotSchedule", "ScheduleAnyway"] = "ScheduleAnyway"
    drain_timeout_seconds: int = 20
    pre_stop_delay_seconds: int = 5
    startup_timeout_seconds: int = 120
    model_fetch_timeout_seconds: int = 120
    max_surge: int = 1
    model_volume_size_limit: str = "1Gi"
    ingress: IngressArgs | None = None
    pod_monitor: PodMonitorArgs | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    part_of: str = "ml-platform"
