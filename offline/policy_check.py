"""The policy pack's rules over a synthesized stack: what `make plan` enforces offline.

The rules are `policy/policies.py`, the same functions the CrossGuard pack runs under
`pulumi preview --policy-pack policy`; this module only turns the mock engine's registrations
into the plain resources they read, and reports what they find.

What this cannot prove: values AWS computes at deploy time (the mock engine invents ids and
ARNs), so joins between resources are checked on the stand-ins.
"""

from __future__ import annotations

from typing import Any

from offline.engine import Synthesis
from policy.policies import MANDATORY, RULES, Resource, Violation, evaluate


def resources_of(synthesis: Synthesis) -> list[Resource]:
    """Every custom resource (providers included; components are not cloud resources)."""
    providers = {r.urn: r for r in synthesis.resources if r.is_provider}
    resources = []
    for r in synthesis.resources:
        if not r.custom:
            continue
        provider = providers.get(r.provider) if r.provider else None
        resources.append(
            Resource(
                type=r.type,
                name=r.name,
                inputs=r.inputs,
                outputs=r.outputs,
                urn=r.urn,
                protect=r.protect,
                provider=provider.name if provider else None,
                provider_inputs=provider.inputs if provider else {},
                depends_on=r.depends_on,
            )
        )
    return resources


def check(environment: str, synthesis: Synthesis) -> list[Violation]:
    return evaluate(resources_of(synthesis), environment)


def policy_report(environment: str, synthesis: Synthesis) -> dict[str, Any]:
    """The plan document's `policy` section: violations split by enforcement level."""
    violations = check(environment, synthesis)
    return {
        "environment": environment,
        "rules": [rule.name for rule in RULES],
        "mandatory": [v.as_dict() for v in violations if v.level == MANDATORY],
        "advisory": [v.as_dict() for v in violations if v.level != MANDATORY],
    }


def render_policy(report: dict[str, Any]) -> list[str]:
    """Text lines for the plan: a summary, then one line per violation, mandatory first."""
    mandatory, advisory = report["mandatory"], report["advisory"]
    lines = [
        "",
        f"policy ({len(report['rules'])} rules, environment {report['environment']}): "
        f"{len(mandatory)} mandatory, {len(advisory)} advisory violation(s)",
    ]
    for violation in mandatory + advisory:
        lines.append(f"  {violation['level']:<9}  {violation['rule']}: {violation['message']}")
    return lines
