"""`kubernetes`: serving the same image on an existing cluster (`serving.platform: kubernetes`)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ml_platform.config.rules import ConfigRuleError, Section, fail, not_below, problem, rule

# The Kubernetes versions the manifests are checked against: the schemas kubernetes-validate
# ships (1.37.0 carries 1.25 to 1.37). tests/test_kubernetes_serving.py keeps the two in step.
KUBERNETES_VERSIONS = tuple(f"1.{minor}" for minor in range(25, 38))
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_NAME_PATTERN = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CPU_QUANTITY_PATTERN = r"^([1-9][0-9]*m|[0-9]+(\.[0-9]{1,3})?)$"
MEMORY_QUANTITY_PATTERN = r"^[1-9][0-9]*(Ki|Mi|Gi|Ti|k|M|G|T)?$"
OIDC_PROVIDER_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/[A-Za-z0-9.-]+(/[A-Za-z0-9._-]+)*$"
_QUANTITY_SUFFIXES = {"m": 10**-3, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_QUANTITY_SUFFIXES.update({"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40})


def quantity(text: str) -> Any:
    """A Kubernetes quantity (`500m`, `1.5`, `512Mi`, `1G`) as an exact Decimal of base units."""
    from decimal import Decimal

    number = text.rstrip("kmKMGTi")
    suffix = text[len(number) :]
    return Decimal(number) * Decimal(_QUANTITY_SUFFIXES.get(suffix, 1))


def _limit_covers_request(limit: str, request: str, request_key: str) -> None:
    if quantity(limit) < quantity(request):
        fail(f"below {request_key}", limit, f"a quantity >= {request!r}")


class KubernetesResourcesConfig(Section):
    """Requests and limits of the server container (the init container gets the same)."""

    cpu_request: str = Field(
        default="500m",
        pattern=CPU_QUANTITY_PATTERN,
        description="CPU reserved per pod, e.g. `500m`; the autoscaler's CPU target is a share of it.",
    )
    cpu_limit: str = Field(
        default="1",
        pattern=CPU_QUANTITY_PATTERN,
        description="CPU cap per pod (>= cpu_request); the server runs one worker per whole CPU of it.",
    )
    memory_request: str = Field(
        default="512Mi", pattern=MEMORY_QUANTITY_PATTERN, description="Memory reserved per pod, e.g. `512Mi`."
    )
    memory_limit: str = Field(
        default="512Mi",
        pattern=MEMORY_QUANTITY_PATTERN,
        description="Memory cap per pod (>= memory_request); above it the pod is OOM-killed.",
    )

    @rule("cpu_request", "cpu_limit")
    def _cpu_covers_request(v):
        _limit_covers_request(v.cpu_limit, v.cpu_request, "cpu_request")

    @rule("memory_request", "memory_limit")
    def _memory_covers_request(v):
        _limit_covers_request(v.memory_limit, v.memory_request, "memory_request")


class KubernetesAutoscalingConfig(Section):
    """The HorizontalPodAutoscaler (autoscaling/v2) on CPU utilization."""

    min_replicas: int = Field(ge=1, le=1000, description="Fewest pods.")
    max_replicas: int = Field(
        ge=1,
        le=1000,
        description="Most pods (>= min_replicas); the rollout deadlines assume a rollout replaces this many.",
    )
    target_cpu_utilization_percent: int = Field(
        default=60, ge=1, le=100, description="Average CPU use the autoscaler aims for, as a share of cpu_request."
    )
    scale_down_stabilization_seconds: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="Scale down only to the highest recommendation of this trailing window (no flapping).",
    )

    @rule("min_replicas", "max_replicas")
    def _ordered(v):
        not_below(v.max_replicas, v.min_replicas, "min_replicas")


class KubernetesCertificateIssuerConfig(Section):
    """The cert-manager issuer that signs the Ingress host's certificate."""

    name: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="cert-manager Issuer or ClusterIssuer that signs the host's certificate, e.g. `letsencrypt`.",
    )
    kind: Literal["ClusterIssuer", "Issuer"] = Field(
        default="ClusterIssuer",
        description="`ClusterIssuer` (cluster-wide) or `Issuer` (one in the stack's namespace).",
    )


class KubernetesIngressConfig(Section):
    """An Ingress for POST /invocations and GET /ping (never /metrics) through the cluster's controller."""

    host: str = Field(pattern=DNS_NAME_PATTERN, description="Host name clients call, e.g. `model.example.com`.")
    class_name: str | None = Field(
        default=None,
        pattern=DNS_LABEL_PATTERN,
        description=(
            "IngressClass (a maintained controller's, e.g. `traefik`); none uses the cluster's default class."
        ),
    )
    tls_secret_name: str | None = Field(
        default=None,
        pattern=DNS_LABEL_PATTERN,
        description="TLS Secret (in the namespace) for the host, written by the cert-manager Certificate the stack "
        "declares (needs certificate_issuer); none serves plain HTTP at the controller.",
    )
    certificate_issuer: KubernetesCertificateIssuerConfig | None = Field(
        default=None,
        description="cert-manager issuer of the host's certificate; the stack declares a Certificate writing "
        "tls_secret_name and creates the Ingress once it is Ready.",
    )
    controller_namespace: str = Field(
        pattern=DNS_LABEL_PATTERN,
        description="Namespace of the ingress controller's pods; must be in allowed_namespaces.",
    )

    @model_validator(mode="after")
    def _tls_has_a_source(self) -> KubernetesIngressConfig:
        # A Secret nothing writes makes the controller serve its own default (self-signed) certificate
        # while the stack's output says https.
        if self.tls_secret_name is not None and self.certificate_issuer is None:
            fail(
                "nothing creates this Secret, so the controller would serve its default certificate",
                self.tls_secret_name,
                "certificate_issuer set (a cert-manager Certificate then writes the Secret), or no "
                "tls_secret_name for plain HTTP",
                at="tls_secret_name",
            )
        if self.certificate_issuer is not None and self.tls_secret_name is None:
            fail(
                "a certificate needs the Secret it is written to",
                "set",
                "tls_secret_name set, or no certificate_issuer",
                at="certificate_issuer",
            )
        return self


class KubernetesPodMonitorConfig(Section):
    """A Prometheus Operator PodMonitor for the server's /metrics (the operator ignores prometheus.io/* annotations)."""

    prometheus_namespace: str = Field(
        pattern=DNS_LABEL_PATTERN,
        description="Namespace of the Prometheus pods that scrape; must be in allowed_namespaces.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Labels on the PodMonitor that the Prometheus' `podMonitorSelector` matches (e.g. `release: "
            "kube-prometheus-stack`)."
        ),
    )
    interval_seconds: int = Field(default=30, ge=10, le=300, description="Scrape interval.")


class KubernetesConfig(Section):
    """Serving the same image on an existing Kubernetes cluster (EKS, for IRSA) instead of SageMaker."""

    cluster_version: str = Field(
        description=(
            'Kubernetes minor version of the cluster, quoted (`"1.35"`), 1.25 to 1.37; manifests are checked against '
            "its API schema. Pick one in EKS standard support."
        )
    )
    kubeconfig: str | None = Field(
        default=None,
        description="Kubeconfig of the cluster, set with `pulumi config set --secret --path kubernetes.kubeconfig`; "
        "none uses the ambient kubeconfig (KUBECONFIG or ~/.kube/config).",
    )
    context: str | None = Field(default=None, description="Kubeconfig context to use; none uses its current context.")
    namespace: str = Field(
        pattern=DNS_LABEL_PATTERN, description="Namespace the stack creates and serves in (one per stack)."
    )
    oidc_provider_arn: str = Field(
        pattern=OIDC_PROVIDER_ARN_PATTERN,
        description="IAM OIDC provider of the cluster (IRSA); the pods' role trusts only their service account.",
    )
    resources: KubernetesResourcesConfig = Field(
        default_factory=KubernetesResourcesConfig, description="Requests and limits per pod."
    )
    autoscaling: KubernetesAutoscalingConfig = Field(description="Replica bounds and the CPU target.")
    max_unavailable: int = Field(
        default=1,
        ge=1,
        le=100,
        description="PodDisruptionBudget: pods a voluntary disruption (drain, upgrade) may take down at once.",
    )
    zone_spread: Literal["DoNotSchedule", "ScheduleAnyway"] = Field(
        default="ScheduleAnyway",
        description=(
            "Zone spread (max skew 1): `DoNotSchedule` holds a pod back rather than skew; `ScheduleAnyway` only "
            "prefers the spread."
        ),
    )
    drain_timeout_seconds: int = Field(
        default=20,
        ge=1,
        le=25,
        description="After SIGTERM, how long requests in flight may take (the server's own limit is 25 s).",
    )
    pre_stop_delay_seconds: int = Field(
        default=5,
        ge=0,
        le=30,
        description="Wait before SIGTERM so Services and Ingresses stop routing to a terminating pod first.",
    )
    startup_timeout_seconds: int = Field(
        default=120,
        ge=10,
        le=3600,
        description="Time a started server has to load the model (startup probe) before it is restarted.",
    )
    model_fetch_timeout_seconds: int = Field(
        default=120,
        ge=10,
        le=3600,
        description=(
            "Time the init container has to fetch and check the model before it fails (the kubelet retries it with "
            "back-off)."
        ),
    )
    max_surge: int = Field(
        default=1,
        ge=1,
        le=100,
        description=(
            "Pods a rollout starts above the current count at once (none is taken down first); more is faster and "
            "needs room for more pods."
        ),
    )
    model_volume_size_limit: str = Field(
        default="1Gi", pattern=MEMORY_QUANTITY_PATTERN, description="Size limit of the `emptyDir` the model is put in."
    )
    allowed_namespaces: list[str] = Field(
        min_length=1,
        description="Namespaces whose pods may connect to the server (NetworkPolicy): clients, the ingress "
        "controller, Prometheus.",
    )
    ingress: KubernetesIngressConfig | None = Field(default=None, description="An Ingress; none creates none.")
    pod_monitor: KubernetesPodMonitorConfig | None = Field(
        default=None,
        description="A Prometheus Operator PodMonitor for /metrics; none puts prometheus.io/* scrape annotations on "
        "the pods instead.",
    )

    @field_validator("cluster_version", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> Any:
        if isinstance(value, float):
            fail("YAML reads an unquoted version as a number", value, 'the version in quotes, e.g. "1.35"')
        if isinstance(value, str) and value not in KUBERNETES_VERSIONS:
            fail("no API schema to check the manifests against", value, f"one of {', '.join(KUBERNETES_VERSIONS)}")
        return value

    @field_validator("allowed_namespaces")
    @classmethod
    def _namespace_names(cls, value: list[str]) -> list[str]:
        bad = [
            (f"[{i}]", problem("not a namespace name", name, "a DNS label: lowercase letters, digits and -"))
            for i, name in enumerate(value)
            if not re.fullmatch(DNS_LABEL_PATTERN, name)
        ]
        if bad:
            raise ConfigRuleError(bad)
        return value

    @rule("allowed_namespaces", "ingress")
    def _controller_allowed_in(v):
        if v.ingress is not None:
            reachable_through_network_policy(
                "controller_namespace", v.ingress.controller_namespace, "the ingress controller", v.allowed_namespaces
            )

    @rule("allowed_namespaces", "pod_monitor")
    def _prometheus_allowed_in(v):
        if v.pod_monitor is not None:
            reachable_through_network_policy(
                "prometheus_namespace", v.pod_monitor.prometheus_namespace, "Prometheus", v.allowed_namespaces
            )


def reachable_through_network_policy(key: str, namespace: str, who: str, allowed: list[str]) -> None:
    """`namespace` (of `who`, at `key`) must be one the NetworkPolicy admits."""
    if namespace not in allowed:
        fail(
            f"the NetworkPolicy would block {who}",
            namespace,
            f"one of allowed_namespaces ({', '.join(allowed)})",
            at=key,
        )
