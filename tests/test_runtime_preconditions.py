"""AWS's run-time preconditions, asserted over the dependency graph the program records.

Pulumi creates a resource only after everything it depends on (its inputs' resources and
`depends_on`), and in parallel with everything else. Where AWS checks at create time that
something else already exists or is configured, that something must be upstream in the
graph, or the first `pulumi up` on a fresh account fails (or silently does less) depending on
scheduling. The mock engine records each registration's dependencies (`Registration.depends_on`,
from the SDK's RegisterResource request: explicit `depends_on` plus every resource an input
Output came from); `depends` follows them transitively, components expanded to their children.

Preconditions (AWS source for each):

1. S3 replication needs versioning on the source and the destination bucket: "Both source and
   destination buckets must have versioning enabled"
   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-requirements.html);
   PutBucketReplication fails otherwise.
2. A lifecycle configuration with noncurrent-version rules depends on the bucket's versioning
   (terraform-provider-aws `website/docs/r/s3_bucket_lifecycle_configuration.html.markdown`:
   "Must have bucket versioning enabled first", `depends_on` the versioning resource).
3. AWS Backup of S3 needs versioning: "You must activate S3 Versioning on your S3 bucket"
   (https://docs.aws.amazon.com/aws-backup/latest/devguide/s3-backups.html, prerequisites).
   A backup selection naming a bucket depends on that bucket's versioning.
4. A scalable target depends on its endpoint: RegisterScalableTarget validates that
   `endpoint/<name>/variant/<variant>` exists
   (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-code-register.html).
5. Scaling policies and scheduled actions depend on their scalable target: PutScalingPolicy and
   PutScheduledAction fail with ObjectNotFoundException when the target is not registered
   (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScalingPolicy.html).
6. Rollback alarms exist before the endpoint: the endpoint names them in
   `AutoRollbackConfiguration` and SageMaker monitors them from the first deployment
   (https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html).
7. A restore testing plan depends on the vaults it selects recovery points from, and a restore
   testing selection on its plan
   (https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing.html).
8. A SageMaker Model depends on its execution role's inline policy: CreateModel assumes the
   role and checks access to the image (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModel.html,
   ExecutionRoleArn); a role without its policy yet fails the check.
9. An API Gateway stage that writes access logs depends on the account's CloudWatch role in
   its region: "CloudWatch Logs role ARN must be set in account settings to enable logging"
   (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html).

(The Model's artifact and image being in its region is asserted with the model lifecycle.)
What this cannot see: AWS's own eventual consistency after a create (IAM, S3 versioning takes
effect "within 15 minutes" for some operations), which no ordering fixes.
"""

from __future__ import annotations

import functools
import json

import pytest

from offline.engine import Registration, Synthesis

STACKS = ("dev", "prod")
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"


class Graph:
    def __init__(self, synthesis: Synthesis):
        self.s = synthesis
        self.by_urn = {r.urn: r for r in synthesis.resources}

    def _expand(self, urn: str) -> set[str]:
        """A component stands for all its descendants."""
        found = {urn}
        resource = self.by_urn.get(urn)
        if resource is not None and not resource.custom:
            for child in self.s.children(resource):
                found |= self._expand(child.urn)
        return found

    @functools.cache  # noqa: B019 (one graph per synthesis, kept for the session)
    def upstream(self, urn: str) -> frozenset[str]:
        seen: set[str] = set()
        stack = [d for dep in self.by_urn[urn].depends_on for d in self._expand(dep)]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if current in self.by_urn:
                stack += [d for dep in self.by_urn[current].depends_on for d in self._expand(dep)]
        return frozenset(seen)

    def depends(self, resource: Registration, on: Registration) -> bool:
        return on.urn in self.upstream(resource.urn)

    def versioning_of(self, bucket: str) -> Registration:
        (found,) = [r for r in self.s.of_type(VERSIONING) if r.inputs["bucket"] == bucket]
        return found


@pytest.fixture(scope="module")
def graphs():
    return {}


@pytest.fixture
def graph(stack, graphs, request):
    name = request.param
    if name not in graphs:
        graphs[name] = Graph(stack(name))
    return graphs[name]


def missing(pairs: list[tuple[Registration, Registration]], graph: Graph) -> list[str]:
    return [f"{a.type} {a.name} does not depend on {b.type} {b.name}" for a, b in pairs if not graph.depends(a, b)]


def bucket_name(arn: str) -> str:
    return arn.removeprefix("arn:aws:s3:::")


def each(graph: Graph, type_: str) -> list[Registration]:
    found = graph.s.of_type(type_)
    assert found, f"stack {graph.s.stack} declares no {type_}: the precondition would pass vacuously"
    return found


@pytest.mark.parametrize("graph", ["prod"], indirect=True)
def test_replication_depends_on_versioning_of_both_buckets(graph):
    pairs = []
    for replication in each(graph, "aws:s3/bucketReplicationConfig:BucketReplicationConfig"):
        pairs.append((replication, graph.versioning_of(replication.inputs["bucket"])))
        for rule in replication.inputs["rules"]:
            pairs.append((replication, graph.versioning_of(bucket_name(rule["destination"]["bucket"]))))
    # Each replication of prod (datasets, artifacts) against its source's and its replica's versioning.
    assert sorted((r.name, v.name) for r, v in pairs) == [
        ("artifacts-replication", "primary-artifacts"),
        ("artifacts-replication", "secondary-artifacts"),
        ("datasets-replication", "primary-datasets"),
        ("datasets-replication", "secondary-datasets"),
    ]
    assert missing(pairs, graph) == []


@pytest.mark.parametrize("graph", STACKS, indirect=True)
def test_lifecycle_depends_on_versioning(graph):
    pairs = [
        (lifecycle, graph.versioning_of(lifecycle.inputs["bucket"]))
        for lifecycle in each(graph, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    ]
    assert missing(pairs, graph) == []


@pytest.mark.parametrize("graph", STACKS, indirect=True)
def test_backup_selections_depend_on_versioning_of_every_bucket_they_name(graph):
    pairs = [
        (selection, graph.versioning_of(bucket_name(arn)))
        for selection in each(graph, "aws:backup/selection:Selection")
        for arn in selection.inputs.get("resources", [])
        if arn.startswith("arn:aws:s3:::")
    ]
    assert pairs
    assert missing(pairs, graph) == []


@pytest.mark.parametrize("graph", STACKS, indirect=True)
def test_scalable_targets_depend_on_their_endpoint(graph):
    pairs = []
    for target in each(graph, "aws:appautoscaling/target:Target"):
        endpoint_name = target.inputs["resourceId"].split("/")[1]
        (endpoint,) = [
            e
            for e in graph.s.of_type("aws:sagemaker/endpoint:Endpoint")
            if e.inputs["name"] == endpoint_name and e.region == target.region
        ]
        pairs.append((target, endpoint))
    assert missing(pairs, graph) == []


@pytest.mark.parametrize("graph", STACKS, indirect=True)
def test_scaling_policies_and_schedules_depend_on_their_target(graph):
    targets = graph.s.of_type("aws:appautoscaling/target:Target")
    pairs = []
    for type_ in ("aws:appautoscaling/policy:Policy", "aws:appautoscaling/scheduledAction:ScheduledAction"):
        for action in graph.s.of_type(type_):
            (target,) = [
                t
                for t in targets
                if t.region == action.region
                and (t.inputs["resourceId"], t.inputs["scalableDimension"])
                == (action.inputs["resourceId"], action.inputs["scalableDimension"])
            ]
            pairs.append((action, target))
    assert pairs
    assert missing(pairs, graph) == []


@pytest.mark.parametrize("graph", STACKS, indirect=True)
def test_rollback_alarms_exist_before_the_endpoint(graph):
    alarms = graph.s.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    pairs = []
    for endpoint in each(graph, "aws:sagemaker/endpoint:Endpoint"):
        names = [a["alarmName"] for a in endpoint.inputs["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]]
        assert names
        for name in names:
            (alarm,) = [a for a in alarms if a.inputs["name"] == name and a.region == endpoint.region]
            pairs.append((endpoint, alarm))
    assert missing(pairs, graph) == []


@pytest.mark.parametrize("graph", ["prod"], indirect=True)
def test_restore_testing_depends_on_its_vault_and_plan(graph):
    vaults = graph.s.of_type("aws:backup/vault:Vault")
    plans = each(graph, "aws:backup/restoreTestingPlan:RestoreTestingPlan")
    pairs = []
    for plan in plans:
        for arn in plan.inputs["recoveryPointSelection"]["includeVaults"]:
            (vault,) = [v for v in vaults if v.outputs.get("arn") == arn]
            pairs.append((plan, vault))
    for selection in each(graph, "aws:backup/restoreTestingSelection:RestoreTestingSelection"):
        (plan,) = [p for p in plans if p.inputs["name"] == selection.inputs["restoreTestingPlanName"]]
        pairs.append((selection, plan))
    assert missing(pairs, graph) == []


@pytest.mark.parametrize("graph", STACKS, indirect=True)
def test_models_depend_on_their_execution_role_policy(graph):
    roles = {r.outputs.get("arn"): r for r in graph.s.of_type("aws:iam/role:Role")}
    policies = graph.s.of_type("aws:iam/rolePolicy:RolePolicy")
    pairs = []
    for model in each(graph, "aws:sagemaker/model:Model"):
        role = roles[model.inputs["executionRoleArn"]]
        attached = [p for p in policies if p.inputs["role"] in (role.outputs.get("id"), role.outputs.get("name"))]
        assert attached, f"no inline policy on {role.name}"
        pairs += [(model, policy) for policy in attached]
    assert missing(pairs, graph) == []


@pytest.mark.parametrize("graph", STACKS, indirect=True)
def test_stages_that_log_depend_on_the_account_cloudwatch_role(graph):
    accounts = graph.s.of_type("aws:apigateway/account:Account")
    pairs = []
    for stage in each(graph, "aws:apigateway/stage:Stage"):
        if not stage.inputs.get("accessLogSettings"):
            continue
        (account,) = [a for a in accounts if a.region == stage.region]
        pairs.append((stage, account))
    for settings in graph.s.of_type("aws:apigateway/methodSettings:MethodSettings"):
        logging = json.dumps(settings.inputs.get("settings", {}))
        if '"loggingLevel": "ERROR"' in logging or '"loggingLevel": "INFO"' in logging:
            (account,) = [a for a in accounts if a.region == settings.region]
            pairs.append((settings, account))
    assert pairs
    assert missing(pairs, graph) == []
