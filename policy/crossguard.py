"""The rules of `policies.py` as CrossGuard policies, for `pulumi preview --policy-pack policy`.

Each rule becomes one `ResourceValidationPolicy` or `StackValidationPolicy` that converts
what the engine hands over into `policies.Resource` and reports the rule's messages. A rule
that is advisory in some environments (`Rule.advisory_in`) becomes two policies: `<name>`
(mandatory, checks only the other environments) and `<name>-advisory` (advisory, checks only
those), because a CrossGuard policy's enforcement level is fixed when the pack starts.

The stack's environment is the program's own config, `ml-platform:environment` (the CLI
passes the stack's config to policy packs), else the `environment` default tag of its AWS
provider; a stack that states neither is held to the prod rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as policy_proxy

from . import policies

PROJECT = "ml-platform"
ADVISORY_SUFFIX = "-advisory"

_UNKNOWN_SENTINELS = frozenset(
    {
        policy_proxy.UNKNOWN_BOOLEAN_VALUE,
        policy_proxy.UNKNOWN_NUMBER_VALUE,
        policy_proxy.UNKNOWN_STRING_VALUE,
        policy_proxy.UNKNOWN_ARRAY_VALUE,
        policy_proxy.UNKNOWN_ASSET_VALUE,
        policy_proxy.UNKNOWN_ARCHIVE_VALUE,
        policy_proxy.UNKNOWN_OBJECT_VALUE,
    }
)


def plain(value: Any) -> Any:
    """Properties as plain dicts and lists, with values unknown during preview as
    `policies.UNKNOWN`. The SDK hands properties over behind proxies (Mappings and Sequences)
    whose item access raises `UnknownValueError` for an unknown value; reading item by item
    through that public interface turns each such value into UNKNOWN."""
    if isinstance(value, Mapping):
        return {key: _item(value, key) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_item(value, index) for index in range(len(value))]
    if isinstance(value, str) and value in _UNKNOWN_SENTINELS:
        return policies.UNKNOWN
    return value


def _item(container: Any, key: Any) -> Any:
    try:
        return plain(container[key])
    except policy_proxy.UnknownValueError:
        return policies.UNKNOWN


def _explicit_provider(provider: Any) -> tuple[str | None, dict]:
    """(name, configuration) of an explicit provider; (None, {}) for a default provider,
    which the engine names `default` or `default_<version>`."""
    if provider is None or provider.name.startswith("default"):
        return None, {}
    return provider.name, plain(provider.props)


def configured_environment() -> str | None:
    """`ml-platform:environment` from the stack config the CLI passes to the pack."""
    import pulumi

    try:
        return pulumi.Config(PROJECT).get("environment")
    except Exception:  # noqa: BLE001 (no runtime config: fall back to the provider's tags)
        return None


def environment_of(provider_configs: Sequence[Mapping[str, Any]], configured: str | None) -> str:
    if configured:
        return policies.normalize_environment(configured)
    for config in provider_configs:
        tagged = policies.dig(config.get("defaultTags"), "tags", "environment")
        if isinstance(tagged, str):
            return policies.normalize_environment(tagged)
    return policies.STRICTEST_ENVIRONMENT


def resource_of(args: ResourceValidationArgs) -> policies.Resource:
    provider, provider_inputs = _explicit_provider(args.provider)
    return policies.Resource(
        type=args.resource_type,
        name=args.name,
        inputs=plain(args.props),
        urn=args.urn,
        protect=bool(args.opts.protect),
        provider=provider,
        provider_inputs=provider_inputs,
    )


def stack_resource_of(resource: PolicyResource) -> policies.Resource:
    """A stack policy sees each resource's outputs, which repeat its inputs in the same names."""
    provider, provider_inputs = _explicit_provider(resource.provider)
    return policies.Resource(
        type=resource.resource_type,
        name=resource.name,
        inputs=plain(resource.props),
        urn=resource.urn,
        protect=bool(resource.opts.protect),
        provider=provider,
        provider_inputs=provider_inputs,
        depends_on=tuple(d.urn for d in resource.dependencies),
        dependencies={key: tuple(d.urn for d in deps) for key, deps in resource.property_dependencies.items()},
    )


def _resource_validator(rule: policies.Rule, environments: frozenset[str], configured: Callable[[], str | None]):
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        resource = resource_of(args)
        environment = environment_of([resource.provider_inputs], configured())
        if environment in environments:
            for message in rule.check(resource, environment):
                report_violation(message, None)

    return validate


def _stack_validator(rule: policies.Rule, environments: frozenset[str], configured: Callable[[], str | None]):
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [stack_resource_of(r) for r in args.resources]
        providers = [r.inputs for r in resources if r.type == policies.AWS_PROVIDER_TYPE]
        environment = environment_of(providers + [r.provider_inputs for r in resources], configured())
        if environment not in environments:
            return
        urns = {r.label: r.urn for r in resources}
        for message in rule.check(resources, environment):
            report_violation(message, urns.get(message.split(": ", 1)[0]))

    return validate


def pack_policies(
    rules: Sequence[policies.Rule] = policies.RULES, configured: Callable[[], str | None] = configured_environment
) -> list[Policy]:
    """One CrossGuard policy per rule and enforcement level."""
    built: list[Policy] = []
    everywhere = frozenset(policies.ENVIRONMENTS)
    for rule in rules:
        for suffix, level, environments in (
            ("", EnforcementLevel.MANDATORY, everywhere - rule.advisory_in),
            (ADVISORY_SUFFIX, EnforcementLevel.ADVISORY, everywhere & rule.advisory_in),
        ):
            if not environments:
                continue
            if rule.scope == "resource":
                built.append(
                    ResourceValidationPolicy(
                        name=rule.name + suffix,
                        description=rule.description,
                        enforcement_level=level,
                        validate=_resource_validator(rule, environments, configured),
                    )
                )
            else:
                built.append(
                    StackValidationPolicy(
                        name=rule.name + suffix,
                        description=rule.description,
                        enforcement_level=level,
                        validate=_stack_validator(rule, environments, configured),
                    )
                )
    return built
