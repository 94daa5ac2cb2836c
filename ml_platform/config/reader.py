"""The only part of the config that knows Pulumi: reading the running program's config.

The namespace of the keys is the project's name, `name:` in `Pulumi.yaml`, which the program
reads from the Pulumi runtime (`pulumi.get_project()`), so a copy of the project under another
name reads its own keys. Where no Pulumi engine runs (the offline plan, tests, ops tools
reading stack files) there is no runtime to ask, and `PROJECT` is the default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ml_platform.config.errors import StackConfigError
from ml_platform.config.stack import PROJECT, StackConfig, validate_stack_config


def project_name() -> str:
    """The running program's project name; `PROJECT` when no Pulumi engine (or mock engine) runs,
    where the SDK would answer its placeholder `project`."""
    import pulumi
    from pulumi.runtime import settings

    if settings.get_monitor() is None:
        return PROJECT
    return pulumi.get_project()


def decode_config_value(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON text; scalars stay strings."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        return json.loads(value)
    return value


def project_values(config: Mapping[str, Any], project: str = PROJECT) -> dict[str, Any]:
    """Every `<project>:<key>` value of a config map as the CLI hands it over, namespace
    stripped and structured values decoded."""
    prefix = f"{project}:"
    return {key[len(prefix) :]: decode_config_value(value) for key, value in config.items() if key.startswith(prefix)}


def _runtime_config() -> dict[str, Any]:
    """Every config value of the running program, namespaced keys (`<project>:<key>`), as the
    CLI hands them over (environment first, then values set in-process)."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def read_project_config(project: str | None = None) -> dict[str, Any]:
    """Every `<project>:<key>` value of the running program, namespace stripped (default
    namespace: `project_name()`).

    `pulumi.Config` can only fetch keys it is asked for; listing the namespace is what lets a
    misspelt key be reported instead of silently ignored.
    """
    return project_values(_runtime_config(), project or project_name())


def load_stack_config(project: str | None = None) -> StackConfig:
    """Read and validate the running program's config; problems become one `pulumi.RunError`."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    project = project or project_name()
    try:
        values = _runtime_config()
        secret_keys = {key for key in values if runtime_config.is_config_secret(key)}
        secret_keys |= set(runtime_config.get_config_secret_keys_env())
        return validate_stack_config(project_values(values, project), secret_keys, project, pulumi.get_stack())
    except StackConfigError as exc:
        listing = "\n".join(f"  - {line}" for line in exc.lines)
        raise pulumi.RunError(f"stack config has {len(exc.lines)} problem(s):\n{listing}") from None
