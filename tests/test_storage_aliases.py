"""The renamed `Storage` children keep their URNs: what the SDK sends the engine at registration.

`Storage` names its children `<role>-<class>` and `<role>-access-logs`; they were `<class>-<role>`
and `access-logs-<role>`. Each child carries its old name as an alias (`renamed_from`); each
bucket component's own children are named after it and inherit its alias. The SDK sends aliases
in one of two forms, depending on the engine:

- alias specs (the pinned CLI, 3.272.0, and the SDK's mock monitor): a resource's own aliases
  only; the engine derives the alias of each child of an aliased parent
  (`generateAliases` / `inheritedChildAlias` in pulumi/pkg/resource/deploy/step_generator.go:
  a child named `<parent name><suffix>` is also matched as `<parent's old name><suffix>` under
  the parent's old URN). The SDK's `inherited_child_alias` is the same rule; the second test
  applies it to every bucket resource.
- full URNs (engines without alias specs), computed by the SDK (`all_aliases`).

What mocks cannot prove: the engine's own matching against a deployed stack's state.
"""

from __future__ import annotations

import pytest
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.resource import inherited_child_alias

from ml_platform.config import PROJECT
from ml_platform.pulumi_compat import sync_await
from offline import engine
from offline.engine import Synthesis, synthesize_stack

STORAGE = "ml-platform:storage:Storage"
CLASSES = ("datasets", "artifacts", "capture", "access-logs")


def synthesize_recording_aliases(
    monkeypatch: pytest.MonkeyPatch, alias_specs: bool
) -> tuple[Synthesis, dict[str, list]]:
    """The prod program under mocks, and each registration's aliases as the SDK sent them: specs
    `(name, parentUrn, noParent)` when the monitor supports alias specs, else URNs."""
    sent: dict[str, list] = {}

    class Monitor(engine.RecordingMonitor):
        def GetDeploymentInfo(self, request):  # noqa: N802 (gRPC method name)
            info = super().GetDeploymentInfo(request)
            if not alias_specs:
                features = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS]
                del info.supportedFeatures[:]
                info.supportedFeatures.extend(features)
            return info

        def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
            response = super().RegisterResource(request)
            specs = [(a.spec.name, a.spec.type, a.spec.parentUrn, a.spec.noParent) for a in request.aliases]
            sent[response.urn] = sorted(specs) if alias_specs else sorted(request.aliasURNs)
            return response

    monkeypatch.setattr(engine, "RecordingMonitor", Monitor)
    return synthesize_stack("prod"), sent


def descendants(synthesis: Synthesis, urn: str) -> list:
    found = [r for r in synthesis.resources if r.parent == urn]
    return found + [d for r in found for d in descendants(synthesis, r.urn)]


def old_name(name: str, role: str) -> str:
    """`primary-datasets` -> `datasets-primary` (the names before the child naming scheme)."""
    cls = name.removeprefix(f"{role}-")
    assert cls in CLASSES, name
    return f"{cls}-{role}"


def test_each_storage_child_sends_its_old_name_and_its_own_children_are_named_after_it(monkeypatch):
    """What the Pulumi CLI's engine receives (alias specs)."""
    synthesis, sent = synthesize_recording_aliases(monkeypatch, alias_specs=True)
    components = 0
    for storage in synthesis.of_type(STORAGE):
        role = storage.name
        assert sent[storage.urn] == []  # the component itself keeps its name
        for child in synthesis.children(storage):
            # pulumi_aws declares type aliases of its own (`aws:s3/bucketV2:BucketV2` -> Bucket): no name.
            assert [s for s in sent[child.urn] if not s[0]] == [s for s in sent[child.urn] if not s[0] and s[1]]
            # Empty parentUrn, noParent false: the old URN is under the child's current parent.
            named = [s for s in sent[child.urn] if s[0]]
            expected = [(old_name(child.name, role), "", "", False)]
            assert (child.type, child.name, named) == (child.type, child.name, expected)
            grandchildren = descendants(synthesis, child.urn)
            components += bool(grandchildren)
            for grandchild in grandchildren:
                # No alias of ours: the engine derives it from the component's (next test).
                assert (grandchild.parent, grandchild.name) == (child.urn, child.name)
                assert [s for s in sent[grandchild.urn] if s[0] or not s[1]] == []
    assert components == 2 * 4  # per region, 3 data buckets and the access log bucket


def test_the_engine_derives_each_bucket_childs_old_urn_from_its_components_alias(stack):
    """The engine's rule for a child of an aliased parent (`inheritedChildAlias`), as the SDK's
    `inherited_child_alias` computes it, on URNs as the engine writes them to state (no root stack
    type in the chain, unlike the mock monitor's): every resource of each bucket component is
    matched under its old name, so `pulumi up` updates it in place."""
    prod = stack("prod")
    checked = []
    for storage in prod.of_type(STORAGE):
        role = storage.name
        for component in prod.children(storage):
            old = old_name(component.name, role)
            component_old = f"urn:pulumi:prod::{PROJECT}::{STORAGE}${component.type}::{old}"
            for resource in descendants(prod, component.urn):
                derived = sync_await(
                    inherited_child_alias(resource.name, component.name, component_old, resource.type).future()
                )
                assert derived == f"urn:pulumi:prod::{PROJECT}::{STORAGE}${component.type}${resource.type}::{old}"
                checked.append(derived)
    assert (
        "urn:pulumi:prod::ml-platform::ml-platform:storage:Storage$ml-platform:storage:DataBucket$aws:s3/bucket:Bucket"
        "::datasets-primary"
    ) in checked
    assert (
        "urn:pulumi:prod::ml-platform::ml-platform:storage:Storage$ml-platform:storage:AccessLogBucket"
        "$aws:s3/bucket:Bucket::access-logs-secondary"
    ) in checked
    # 2 regions x 4 bucket components x (the bucket and its 6 settings resources).
    assert len(checked) == 2 * 4 * 7


def test_without_alias_specs_the_sdk_sends_each_bucket_its_old_urn(monkeypatch):
    """An engine without alias specs gets full URNs the SDK computes (`all_aliases`): the bucket
    components' and, inherited through them, the buckets'. (On this path the SDK computes
    inherited aliases only for a resource with aliases of its own; the pinned CLI, 3.272.0 in
    .github/workflows/pulumi.yml, takes alias specs and derives them for every child.)"""
    synthesis, sent = synthesize_recording_aliases(monkeypatch, alias_specs=False)
    for storage in synthesis.of_type(STORAGE):
        role = storage.name
        for component in [c for c in synthesis.children(storage) if not c.custom]:
            # The mock monitor's URNs carry the root stack's type in the chain (MockMonitor.make_urn).
            old = old_name(component.name, role)
            component_old = f"urn:pulumi:prod::{PROJECT}::pulumi:pulumi:Stack${STORAGE}${component.type}::{old}"
            assert sent[component.urn] == [component_old]
            bucket = next(r for r in synthesis.children(component) if r.type == "aws:s3/bucket:Bucket")
            assert f"{component_old.rsplit('::', 1)[0]}$aws:s3/bucket:Bucket::{old}" in sent[bucket.urn]
