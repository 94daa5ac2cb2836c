"""Run the Pulumi program (or one component) under the SDK's mock engine and record it.

No CLI, no provider plugins, no credentials: every resource registration is captured with
its type, logical name, inputs (in the provider's wire names, e.g. `enableKeyRotation`),
parent, options, and the region it lands in, resolved through its provider. Stack exports
are captured too. Both the test suite and `offline.plan` use this one engine.

What mocks cannot prove: that AWS accepts the inputs, which changes force replacement, and
anything computed by the provider (ARNs and ids here are deterministic stand-ins).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import runpy
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import run_in_stack

from ml_platform import pulumi_compat
from ml_platform.config import PROJECT

ROOT = Path(__file__).resolve().parent.parent
MOCK_ACCOUNT_ID = "123456789012"
DEFAULT_TIMEOUT_SECONDS = 30.0


class SynthesisError(Exception):
    """The program could not be synthesized (bad stack file, hang, or program error)."""


@dataclass(frozen=True)
class Registration:
    """One registered resource, as the engine saw it."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    parent: str | None
    provider: str | None
    region: str | None
    protect: bool
    retain_on_delete: bool
    depends_on: tuple[str, ...]
    outputs: dict[str, Any] = field(default_factory=dict)
    # Top-level inputs the program marked secret (encrypted in state by the real engine).
    secret_inputs: tuple[str, ...] = ()

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")


@dataclass
class Synthesis:
    """Everything one run registered, in registration order, plus the stack's exports."""

    stack: str
    resources: list[Registration]
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str) -> Registration:
        found = [r for r in self.resources if r.type == type_ and r.name == name]
        if len(found) != 1:
            names = sorted(r.name for r in self.of_type(type_))
            raise LookupError(f"expected one {type_} named {name!r}; found {len(found)} (names: {names})")
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise LookupError(f"no resource with urn {urn}")

    def children(self, parent: Registration) -> list[Registration]:
        return [r for r in self.resources if r.parent == parent.urn]

    def component_of(self, resource: Registration) -> Registration | None:
        """The nearest enclosing component resource (the stack itself is not recorded)."""
        urn = resource.parent
        while urn:
            parent = self.by_urn(urn)
            if not parent.custom:
                return parent
            urn = parent.parent
        return None

    def type_counts(self) -> Counter:
        return Counter(r.type for r in self.resources)


# ---------------------------------------------------------------------------------------------
# Mocked provider behaviour


def _service(type_: str) -> str:
    """`aws:kms/key:Key` -> `kms`."""
    return type_.split(":")[1].split("/")[0]


def _physical_name(args: pulumi_mocks.MockResourceArgs) -> str:
    inputs = args.inputs
    for key in ("name", "bucket", "functionName", "endpointName", "roleName"):
        if isinstance(inputs.get(key), str):
            return inputs[key]
    # Pulumi auto-names with a random suffix; a fixed one keeps runs reproducible.
    return f"{args.name}-mock"


def mock_state(args: pulumi_mocks.MockResourceArgs, region: str | None, account: str) -> tuple[str, dict]:
    """A physical id and the output state the provider would return (inputs plus the
    computed attributes other resources read)."""
    if args.typ.startswith("kubernetes:"):
        # Kubernetes objects: the manifest as applied, auto-named like the provider when unnamed.
        state = dict(args.inputs)
        meta = {"name": f"{args.name}-mock", **(state.get("metadata") or {})}
        state["metadata"] = meta
        return "/".join(part for part in (meta.get("namespace"), meta["name"]) if part), state
    region = region or "us-east-1"
    name = _physical_name(args)
    service = _service(args.typ)
    state = dict(args.inputs)
    if args.typ == "aws:kms/key:Key":
        key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{region}/{args.name}"))
        state.update(keyId=key_id, arn=f"arn:aws:kms:{region}:{account}:key/{key_id}")
        return key_id, state
    if args.typ == "docker-build:index:Image":
        tags = ",".join(args.inputs.get("tags") or [])
        state["digest"] = "sha256:" + hashlib.sha256(f"{args.name}|{tags}".encode()).hexdigest()
        state["ref"] = f"{(args.inputs.get('tags') or [name])[0]}@{state['digest']}"
        return f"{args.name}-image", state
    if args.typ == "aws:ecr/repository:Repository":
        state.update(
            name=name,
            registryId=account,
            arn=f"arn:aws:ecr:{region}:{account}:repository/{name}",
            repositoryUrl=f"{account}.dkr.ecr.{region}.amazonaws.com/{name}",
        )
        return name, state
    if args.typ == "aws:acm/certificate:Certificate":
        domain = args.inputs.get("domainName", "example.com")
        state.update(
            arn=f"arn:aws:acm:{region}:{account}:certificate/{name}",
            domainValidationOptions=[
                {
                    "domainName": domain,
                    "resourceRecordName": f"_mock.{domain}.",
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": "_mock.acm-validations.aws.",
                }
            ],
        )
        return name, state
    if args.typ == "aws:apigateway/restApi:RestApi":
        state.update(rootResourceId=f"{name}-root", arn=f"arn:aws:apigateway:{region}::/restapis/{name}")
        return name, state
    if args.typ == "aws:apigateway/domainName:DomainName":
        state.update(regionalDomainName=f"d-{name}.execute-api.{region}.amazonaws.com", regionalZoneId="ZMOCKAPIGW")
        return name, state
    if args.typ == "aws:route53/record:Record":
        state.setdefault("fqdn", args.inputs.get("name", name))
        return name, state
    if service == "s3":
        state.setdefault("bucket", name)
        state.setdefault("arn", f"arn:aws:s3:::{name}")
        state.setdefault("bucketRegionalDomainName", f"{name}.s3.{region}.amazonaws.com")
        return name, state
    if service == "iam":
        kind = args.typ.rsplit(":", 1)[1].lower()
        state.setdefault("name", name)
        state.setdefault("arn", f"arn:aws:iam::{account}:{kind}/{name}")
        return name, state
    kind = args.typ.rsplit(":", 1)[1].lower()
    state.setdefault("name", name)
    state.setdefault("arn", f"arn:aws:{service}:{region}:{account}:{kind}/{name}")
    return name, state


class AwsMocks(pulumi.runtime.Mocks):
    """Deterministic stand-ins for the AWS provider's resources and invokes."""

    def __init__(self, regions_by_provider: Callable[[str | None], str | None], account: str = MOCK_ACCOUNT_ID):
        self._region_of = regions_by_provider
        self.account = account

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", dict(args.inputs)
        region = args.inputs.get("region") or self._region_of(args.provider)
        return mock_state(args, region, self.account)

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict:
        region = self._region_of(args.provider) or "us-east-1"
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account,
                "arn": f"arn:aws:iam::{self.account}:user/mock",
                "userId": "AIDAMOCK",
                "id": self.account,
            }
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            registry = args.args.get("registryId") or self.account
            return {
                "authorizationToken": "QVdTOm1vY2s=",
                "userName": "AWS",
                "password": "mock-ecr-password",
                "proxyEndpoint": f"https://{registry}.dkr.ecr.{region}.amazonaws.com",
                "expiresAt": "2100-01-01T00:00:00Z",
                "id": registry,
            }
        if args.token == "aws:index/getPartition:getPartition":
            return {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": "aws",
            }
        raise NotImplementedError(
            f"the program calls {args.token}, which offline/engine.py does not mock; add it to AwsMocks.call"
        )


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also recording parent, provider, options and stack outputs."""

    def __init__(self, mocks: AwsMocks | None = None):
        super().__init__(mocks or AwsMocks(self.region_of))
        self.registrations: list[dict] = []
        self.provider_regions: dict[str, str | None] = {}
        self.stack_outputs: dict[str, Any] = {}

    def region_of(self, provider_ref: str | None) -> str | None:
        if not provider_ref:
            return None
        return self.provider_regions.get(_provider_urn(provider_ref))

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = rpc.deserialize_properties(request.object)
        provider = request.provider or dict(request.providers).get("aws") or None
        self.registrations.append(
            {
                "urn": response.urn,
                "type": request.type,
                "name": request.name,
                "inputs": _plain(inputs),
                "custom": bool(request.custom),
                "parent": request.parent
                if request.parent and "::pulumi:pulumi:Stack::" not in request.parent
                else None,
                "provider": _provider_urn(provider) if provider else None,
                "protect": bool(request.protect),
                "retain_on_delete": bool(request.retainOnDelete),
                "depends_on": tuple(request.dependencies),
                "own_region": inputs.get("region") if isinstance(inputs.get("region"), str) else None,
                "outputs": _plain(dict(self.resources[response.urn].state)) if response.urn in self.resources else {},
                "secret_inputs": tuple(sorted(k for k, v in inputs.items() if _is_secret(v))),
            }
        )
        if request.type.startswith("pulumi:providers:"):
            self.provider_regions[response.urn] = inputs.get("region")
        return response

    def RegisterResourceOutputs(self, request):  # noqa: N802 (gRPC method name)
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.stack_outputs = _plain(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)

    def resolved(self) -> list[Registration]:
        by_urn = {r["urn"]: r for r in self.registrations}

        def region(record: dict) -> str | None:
            if record["type"].startswith("pulumi:providers:"):
                return self.provider_regions.get(record["urn"])
            if record["own_region"]:
                return record["own_region"]
            if record["provider"]:
                return self.provider_regions.get(record["provider"])
            parent = by_urn.get(record["parent"]) if record["parent"] else None
            return region(parent) if parent else None

        return [
            Registration(
                urn=r["urn"],
                type=r["type"],
                name=r["name"],
                inputs=r["inputs"],
                custom=r["custom"],
                parent=r["parent"],
                provider=r["provider"],
                region=region(r),
                protect=r["protect"],
                retain_on_delete=r["retain_on_delete"],
                depends_on=r["depends_on"],
                outputs=r["outputs"],
                secret_inputs=r["secret_inputs"],
            )
            for r in self.registrations
        ]


def _provider_urn(ref: str) -> str:
    """Provider references are `<urn>::<id>`; the urn itself contains `::`."""
    return ref.rsplit("::", 1)[0]


def _is_secret(value: Any) -> bool:
    return pulumi_compat.is_secret_envelope(value)


def _plain(value: Any) -> Any:
    """Deserialized properties with secrets unwrapped to their values, for assertions."""
    if isinstance(value, dict):
        if pulumi_compat.is_secret_envelope(value):
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# Stack files


def stack_file(stack: str, root: Path = ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def available_stacks(root: Path = ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def read_stack_config(path: Path) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as the CLI hands it to a program: `ns:key` -> text (structured
    values as JSON), plus the keys marked secret. Secure values become a placeholder: the
    mock engine has no secrets provider to decrypt them with. Like the CLI, a structured value
    holding a secure value anywhere inside (`pulumi config set --secret --path a.b`) makes its
    whole top-level key secret."""
    if not path.is_file():
        stacks = ", ".join(available_stacks(path.parent)) or "none"
        raise SynthesisError(f"no stack file {path.name} (stacks here: {stacks})")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SynthesisError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise SynthesisError(f"{path.name}: expected a top-level `config:` mapping")
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (document.get("config") or {}).items():
        key = key if ":" in key else f"{PROJECT}:{key}"
        value, secure = _placeholders(value, key)
        if secure:
            secret_keys.append(key)
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return config, secret_keys


def _placeholders(value: Any, path: str) -> tuple[Any, bool]:
    """`value` with every `{secure: ...}` inside replaced by `mock-secret-for-<path>`, and whether there was one."""
    if isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str):
        return f"mock-secret-for-{path}", True
    if isinstance(value, dict):
        pairs = {k: _placeholders(v, f"{path}.{k}") for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(secure for _, secure in pairs.values())
    if isinstance(value, list):
        items = [_placeholders(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return [v for v, _ in items], any(secure for _, secure in items)
    return value, False


# ---------------------------------------------------------------------------------------------
# Running


def run_under_mocks(
    program: Callable[[], Any],
    *,
    stack: str = "test",
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> Synthesis:
    """Run `program` under fresh mock runtime state and return what it registered.

    Every output the program creates is awaited, so an exception inside an `apply` fails the
    run; an output that never resolves fails it after `timeout_seconds` instead of hanging.
    """
    import time

    started = time.perf_counter()
    pulumi_compat.reset_root_stack()
    runtime_config.set_all_config(dict(config or {}), list(secret_keys or []))
    monitor = RecordingMonitor()
    pulumi_mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    # set_mocks creates and finishes a root stack; replace it with one whose exports we capture.
    pulumi_compat.reset_root_stack()
    pulumi_compat.clear_pending_work()

    async def bounded() -> None:
        try:
            await asyncio.wait_for(run_in_stack(program), timeout_seconds)
        except TimeoutError:
            stuck = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
            raise SynthesisError(
                f"program did not finish within {timeout_seconds:g} s: {len(stuck)} task(s) still "
                "waiting, e.g. an Output built on a future that nothing completes"
            ) from None

    try:
        pulumi_compat.sync_await(bounded())
    finally:
        pulumi_compat.reset_root_stack()
        runtime_config.set_all_config({}, [])
    return Synthesis(
        stack=stack,
        resources=monitor.resolved(),
        outputs=monitor.stack_outputs,
        seconds=time.perf_counter() - started,
    )


def synthesize_stack(
    stack: str,
    *,
    root: Path = ROOT,
    overrides: Mapping[str, Any] | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> Synthesis:
    """Run the whole program (`__main__.py`) for `Pulumi.<stack>.yaml` under mocks.

    `overrides` replaces top-level project keys (e.g. `{"image": {...}}`; None removes the
    key), for tests that compare a stack with a variation of itself."""
    config, secret_keys = read_stack_config(stack_file(stack, root))
    for key, value in (overrides or {}).items():
        if value is None:
            config.pop(f"{PROJECT}:{key}", None)
        else:
            config[f"{PROJECT}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    main = root / "__main__.py"

    def program() -> None:
        added = str(root) not in sys.path
        if added:
            sys.path.insert(0, str(root))
        cwd = os.getcwd()
        os.chdir(root)
        try:
            runpy.run_path(str(main), run_name="__main__")
        finally:
            os.chdir(cwd)
            if added:
                sys.path.remove(str(root))

    return run_under_mocks(
        program, stack=stack, config=config, secret_keys=secret_keys, timeout_seconds=timeout_seconds
    )
