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

Modules: the Args (kubernetes_args.py), the pure manifest builders and rollout deadlines
(kubernetes_manifests.py), the IAM documents and the component (here).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from ml_platform.components.iam import allow, document, kms_via_s3
from ml_platform.components.kubernetes_args import (
    CertificateIssuer,
    ContainerResources,
    IngressArgs,
    KubernetesModelServerArgs,
    PodAutoscaling,
    PodMonitorArgs,
)
from ml_platform.components.kubernetes_manifests import (
    EKS_SUPPORT_ENDS,
    RolloutTiming,
    eks_support,
    manifests,
    rollout_timing,
    server_rollout_timing,
    termination_grace_seconds,
)

__all__ = [
    "EKS_SUPPORT_ENDS",
    "CertificateIssuer",
    "ContainerResources",
    "IngressArgs",
    "KubernetesModelServer",
    "KubernetesModelServerArgs",
    "PodAutoscaling",
    "PodMonitorArgs",
    "RolloutTiming",
    "eks_support",
    "irsa_trust_policy",
    "manifests",
    "model_reader_policy",
    "rollout_timing",
    "server_rollout_timing",
    "termination_grace_seconds",
]

IRSA_AUDIENCE = "sts.amazonaws.com"

# ---------------------------------------------------------------------------------------------
# Pure builders: IAM


def oidc_issuer(oidc_provider_arn: str) -> str:
    """`arn:<partition>:iam::<account>:oidc-provider/<issuer host/path>` -> the issuer IAM keys conditions on."""
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
# Component


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
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            name,
            assume_role_policy=json.dumps(irsa_trust_policy(args.oidc_provider_arn, args.namespace, name)),
            description=f"IRSA role of {args.namespace}/{name}: reads the served model artifact",
            opts=child,
        )
        policy = pulumi.Output.all(
            model_data_url=args.model_data_url,
            previous_model_data_url=args.previous_model_data_url,
            artifacts_bucket_arn=args.artifacts_bucket_arn,
            key_arn=args.key_arn,
        ).apply(lambda a: json.dumps(model_reader_policy(**a, region=args.region)))
        self.reader_policy = aws.iam.RolePolicy(name, role=self.role.id, policy=policy, opts=child)

        objects = manifests(name, args, role_arn=self.role.arn)
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

        self.service_url = f"http://{name}.{args.namespace}.svc.cluster.local"
        self.outputs = {
            "namespace": args.namespace,
            "service_url": self.service_url,
            "role_arn": self.role.arn,
            "ingress_url": _ingress_url(args.ingress),
            # The artifact served after this update: the next update's previous_model_data_url.
            "model_data_url": args.model_data_url,
        }
        self.register_outputs(self.outputs)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _ingress_url(ingress: IngressArgs | None) -> str | None:
    if ingress is None:
        return None
    # https only with a certificate the stack itself has issued (IngressArgs refuses a Secret without one).
    return f"{'https' if ingress.certificate_issuer else 'http'}://{ingress.host}"
