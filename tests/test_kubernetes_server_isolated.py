"""`KubernetesModelServer` built alone, from plain args (no stack file, no StackConfig): the IAM role
and its reader policy, one pulumi-kubernetes resource per manifest with its name and provider, the
waits between them, and the optional Ingress, Certificate and PodMonitor left out or declared.

The k8s stack's own manifests, checked against the Kubernetes schema: tests/test_kubernetes_stack.py.
What mocks cannot prove: that the cluster admits the objects or that the pods become ready.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_kubernetes as k8s
import pytest

from ml_platform.components.kubernetes_serving import (
    CertificateIssuer,
    IngressArgs,
    KubernetesModelServer,
    KubernetesModelServerArgs,
    PodAutoscaling,
    PodMonitorArgs,
    irsa_trust_policy,
    manifests,
    model_reader_policy,
)
from tests.harness import decoded, in_region, run_component

OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
BUCKET = "arn:aws:s3:::team-artifacts"
KEY = "arn:aws:kms:eu-west-1:111122223333:key/k"
SERVED = "s3://team-artifacts/models/v2/model.tar.gz"
PREVIOUS = "s3://team-artifacts/models/v1/model.tar.gz"
ARGS = KubernetesModelServerArgs(
    namespace="team",
    cluster_version="1.33",
    oidc_provider_arn=OIDC,
    image_uri="111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/model@sha256:" + "1" * 64,
    model_data_url=SERVED,
    artifacts_bucket_arn=BUCKET,
    key_arn=KEY,
    region="eu-west-1",
    autoscaling=PodAutoscaling(min_replicas=1, max_replicas=2),
    allowed_namespaces=("clients",),
    part_of="team-platform",
)
ALWAYS = [
    ("aws:iam/role:Role", "srv"),
    ("aws:iam/rolePolicy:RolePolicy", "srv"),
    ("kubernetes:apps/v1:Deployment", "srv-deployment"),
    ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "srv-horizontalpodautoscaler"),
    ("kubernetes:core/v1:Namespace", "srv"),
    ("kubernetes:core/v1:Service", "srv-service"),
    ("kubernetes:core/v1:ServiceAccount", "srv-serviceaccount"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "srv-networkpolicy"),
    ("kubernetes:policy/v1:PodDisruptionBudget", "srv-poddisruptionbudget"),
]


def build(args: KubernetesModelServerArgs):
    outputs = {}

    def program():
        aws_opts = in_region("eu-west-1")
        server = KubernetesModelServer(
            "srv", args, opts=pulumi.ResourceOptions(providers=[aws_opts.provider, k8s.Provider("cluster")])
        )
        outputs.update(server.outputs)

    return run_component(program), outputs


def children(run) -> list[tuple[str, str]]:
    component = run.one("ml-platform:kubernetes:ModelServer", "srv")
    return sorted((r.type, r.name) for r in run.children(component))


def test_without_ingress_or_pod_monitor_only_the_core_objects_are_declared():
    run, outputs = build(ARGS)
    assert children(run) == ALWAYS
    role = run.one("aws:iam/role:Role", "srv")
    assert decoded(role.inputs["assumeRolePolicy"]) == irsa_trust_policy(OIDC, "team", "srv")
    assert role.region == "eu-west-1"
    policy = run.one("aws:iam/rolePolicy:RolePolicy", "srv")
    assert decoded(policy.inputs["policy"]) == model_reader_policy(SERVED, None, BUCKET, KEY, "eu-west-1")
    cluster = run.one("pulumi:providers:kubernetes", "cluster")
    kube = [r for r in run.resources if r.type.startswith("kubernetes:")]
    assert {r.provider for r in kube} == {cluster.urn}
    # Each object is exactly the pure builder's manifest (no Ingress, Certificate or PodMonitor).
    built = manifests("srv", ARGS, role_arn=role.outputs["arn"])
    assert sorted(built) == sorted(r.inputs["kind"] for r in kube)
    for resource in kube:
        assert resource.inputs == built[resource.inputs["kind"]], resource.name
    labels = run.one("kubernetes:core/v1:Service", "srv-service").inputs["metadata"]["labels"]
    assert labels == {
        "app.kubernetes.io/name": "srv",
        "app.kubernetes.io/part-of": "team-platform",
        "app.kubernetes.io/managed-by": "pulumi",
    }
    assert outputs["namespace"] == "team"
    assert outputs["service_url"] == "http://srv.team.svc.cluster.local"
    assert outputs["ingress_url"] is None


def test_new_pods_wait_for_their_namespace_and_the_policy_that_lets_them_read_the_model():
    run, _ = build(ARGS)
    namespace = run.one("kubernetes:core/v1:Namespace", "srv").urn
    policy = run.one("aws:iam/rolePolicy:RolePolicy", "srv").urn
    deployment = run.one("kubernetes:apps/v1:Deployment", "srv-deployment")
    assert {namespace, policy} <= set(deployment.depends_on)
    for kind, name in ALWAYS[4:]:
        assert namespace in run.one(kind, name).depends_on or kind == "kubernetes:core/v1:Namespace"


def test_a_rollout_keeps_the_previous_artifact_readable():
    run, _ = build(dataclasses.replace(ARGS, previous_model_data_url=PREVIOUS))
    policy = run.one("aws:iam/rolePolicy:RolePolicy", "srv")
    assert decoded(policy.inputs["policy"]) == model_reader_policy(SERVED, PREVIOUS, BUCKET, KEY, "eu-west-1")
    assert decoded(policy.inputs["policy"])["Statement"][0]["Resource"] == [
        f"{BUCKET}/models/v2/model.tar.gz",
        f"{BUCKET}/models/v1/model.tar.gz",
    ]


def test_an_ingress_with_a_certificate_and_a_pod_monitor_are_declared_when_asked():
    args = dataclasses.replace(
        ARGS,
        ingress=IngressArgs(
            host="model.team.example",
            class_name="traefik",
            tls_secret_name="model-tls",
            certificate_issuer=CertificateIssuer(name="letsencrypt"),
        ),
        pod_monitor=PodMonitorArgs(labels={"release": "prom"}, interval_seconds=15),
    )
    run, outputs = build(args)
    assert children(run) == sorted(
        [
            *ALWAYS,
            ("kubernetes:networking.k8s.io/v1:Ingress", "srv-ingress"),
            ("kubernetes:cert-manager.io/v1:Certificate", "srv-certificate"),
            ("kubernetes:monitoring.coreos.com/v1:PodMonitor", "srv-podmonitor"),
        ]
    )
    certificate = run.one("kubernetes:cert-manager.io/v1:Certificate", "srv-certificate")
    assert certificate.inputs["spec"]["issuerRef"] == {
        "name": "letsencrypt",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    ingress = run.one("kubernetes:networking.k8s.io/v1:Ingress", "srv-ingress")
    assert certificate.urn in ingress.depends_on
    assert ingress.inputs["spec"]["ingressClassName"] == "traefik"
    assert ingress.inputs["spec"]["tls"] == [{"hosts": ["model.team.example"], "secretName": "model-tls"}]
    monitor = run.one("kubernetes:monitoring.coreos.com/v1:PodMonitor", "srv-podmonitor")
    assert monitor.inputs["metadata"]["labels"]["release"] == "prom"
    assert monitor.inputs["spec"]["podMetricsEndpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]
    # With a PodMonitor the pods carry no prometheus.io/* annotations.
    pod = run.one("kubernetes:apps/v1:Deployment", "srv-deployment").inputs["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"eks.amazonaws.com/skip-containers": "model-server"}
    assert outputs["ingress_url"] == "https://model.team.example"


def test_args_refuse_a_tls_secret_without_its_issuer_and_replicas_out_of_order():
    with pytest.raises(ValueError) as caught:
        IngressArgs(host="h", tls_secret_name="tls")
    assert str(caught.value) == (
        "IngressArgs: set tls_secret_name and certificate_issuer together or neither "
        "(got tls_secret_name='tls', certificate_issuer=None)"
    )
    with pytest.raises(ValueError) as caught:
        PodAutoscaling(min_replicas=3, max_replicas=2)
    assert str(caught.value) == (
        "PodAutoscaling: min_replicas and max_replicas out of order (got 3 and 2; expected 1 <= min_replicas "
        "<= max_replicas)"
    )
