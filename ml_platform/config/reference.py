"""The stack config's reference, generated from the models: the README's config tables and the
JSON schema of `Pulumi.<stack>.yaml`.

    python -m ml_platform.config.reference           # rewrite both
    python -m ml_platform.config.reference --check   # exit 1 when either is stale

Every row comes from a `Field`: key path, type and range, default, description. The tables sit
in the README between marker comments, one table per section, beside the prose about that
section (which stays hand-written); tests/test_config_reference.py fails when they are stale.

The schema lets editors check stack files as they are typed (yaml-language-server, VS Code's
YAML extension, JetBrains IDEs). It is StackConfig's own JSON schema under `config:` as
`ml-platform:<key>`, loosened only where Pulumi writes a value differently from the program's
view of it: scalars the CLI stores as text (`"true"`, `"3"`), and `secure:` ciphertext at the
keys that are secrets. Other namespaces (`aws:`, `pulumi:`) are left to their owners.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ml_platform.config.errors import _section_type
from ml_platform.config.kubernetes import (
    CPU_QUANTITY_PATTERN,
    DNS_LABEL_PATTERN,
    DNS_NAME_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    MEMORY_QUANTITY_PATTERN,
    OIDC_PROVIDER_ARN_PATTERN,
)
from ml_platform.config.patterns import (
    ACCOUNT_ID_PATTERN,
    DATASET_PREFIX_PATTERN,
    DATASET_VERSION_PATTERN,
    METRICS_NAMESPACE_PATTERN,
    TAG_VALUE_PATTERN,
)
from ml_platform.config.stack import PROJECT, SECRET_KEYS, StackConfig
from ml_platform.config.storage import BUCKET_CLASSES, LIFECYCLE_DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SCHEMA = ROOT / "schema" / "pulumi-stack.schema.json"
COMMAND = "python -m ml_platform.config.reference"

# Sections documented inside another table: `regions` is part of the README's first table.
INLINE_SECTIONS = ("regions",)
STACK_TABLE = "stack"

# Short names for formats the reader knows by name; other patterns are shown as they are.
FORMAT_NAMES = {
    TAG_VALUE_PATTERN: "tag value",
    ACCOUNT_ID_PATTERN: "12 digits",
    DATASET_PREFIX_PATTERN: "S3 key prefix",
    DATASET_VERSION_PATTERN: "path segment",
    METRICS_NAMESPACE_PATTERN: "CloudWatch namespace",
    DNS_LABEL_PATTERN: "DNS label",
    DNS_NAME_PATTERN: "DNS name",
    DNS_SUBDOMAIN_PATTERN: "DNS subdomain",
    CPU_QUANTITY_PATTERN: "CPU quantity (`500m`, `1.5`)",
    MEMORY_QUANTITY_PATTERN: "memory quantity (`512Mi`, `1G`)",
    OIDC_PROVIDER_ARN_PATTERN: "IAM OIDC provider ARN",
}


# ---------------------------------------------------------------------------------------------
# Tables


@dataclass(frozen=True)
class Row:
    key: str
    type: str
    default: str
    meaning: str

    def markdown(self) -> str:
        cells = (f"`{self.key}`", self.type, self.default, self.meaning)
        return "| " + " | ".join(cells) + " |"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return "`" + text.replace("|", "\\|") + "`"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _constraints(field: FieldInfo) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in field.metadata:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
    return found


def _kind(annotation: Any) -> str:
    """The type of a value in words: `int`, `list of string`, `` `a` \\| `b` ``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(_code(arg) for arg in args)
    if origin in (Union, typing.get_origin(int | None)):
        return " or ".join(_kind(arg) for arg in args if arg is not type(None))
    if origin is list:
        return f"list of {_kind(args[0])}"
    if origin is dict:
        return f"map of {_kind(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return {bool: "bool", int: "int", float: "number", str: "string"}.get(annotation, str(annotation))


def type_text(field: FieldInfo) -> str:
    """Type, allowed values and range of a field, e.g. `int, 1 to 100` or `number, > 0, <= 1`."""
    kind = _kind(field.annotation)
    found = _constraints(field)
    limits = []
    if "ge" in found and "le" in found:
        limits.append(f"{_number(found['ge'])} to {_number(found['le'])}")
    else:
        for name, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if name in found:
                limits.append(f"{sign} {_number(found[name])}")
    unit = "item" if typing.get_origin(field.annotation) is list else "character"
    for name, bound in (("min_length", "at least"), ("max_length", "at most")):
        if name in found:
            limits.append(f"{bound} {found[name]} {unit}{'' if found[name] == 1 else 's'}")
    if "pattern" in found:
        name = FORMAT_NAMES.get(found["pattern"])
        if name:
            kind = kind.replace("string", name, 1)
        else:
            limits.append(f"matching {_code(found['pattern'])}")
    return ", ".join([kind, *limits])


def default_text(field: FieldInfo, required_with: str | None) -> str:
    if field.is_required():
        return f"required with `{required_with}`" if required_with else "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "see its keys"
    if value is None:
        return "none"
    return _code(value)


def _class_default(path: tuple[str, ...], field: FieldInfo) -> str:
    """Default of a `storage.<class>` key: the same for every class, or `per class`."""
    values = []
    for cls in BUCKET_CLASSES:
        node: Any = LIFECYCLE_DEFAULTS[cls]
        for part in path:
            node = node.get(part, field.default) if isinstance(node, dict) else field.default
        values.append(node)
    if any(value != values[0] for value in values):
        return "per class"
    return "none" if values[0] is None else _code(values[0])


def rows(
    model: type[BaseModel], prefix: str = "", required_with: str | None = None, class_path: tuple[str, ...] = ()
) -> Iterator[Row]:
    """One row per key below `model`, depth first, in declaration order. Sections get a row of
    their own below the top level; the three bucket classes share one set of `<class>` rows."""
    seen_class = False
    for name, field in model.model_fields.items():
        section = _section_type(field.annotation)
        is_section = isinstance(section, type) and issubclass(section, BaseModel)
        if model.__name__ == "StorageConfig" and name in BUCKET_CLASSES:
            if not seen_class:
                seen_class = True
                yield from rows(section, f"{prefix}<class>.", required_with, ("",))
            continue
        key = prefix + name
        in_class = class_path and not is_section
        default = _class_default((*class_path[1:], name), field) if in_class else default_text(field, required_with)
        if not is_section:
            yield Row(key, type_text(field), default, _cell(field.description or ""))
            continue
        is_list = typing.get_origin(field.annotation) is list
        if prefix:
            kind = "list of sections" if is_list else "section"
            yield Row(key, kind, default, _cell(field.description or ""))
        optional = field.is_required() is False and field.get_default(call_default_factory=True) is None
        inner_required_with = None if is_list else (key if optional else required_with)
        inner_path = (*class_path, name) if class_path else ()
        yield from rows(section, f"{key}{'[]' if is_list else ''}.", inner_required_with, inner_path)


def tables() -> dict[str, list[Row]]:
    """The README's tables by name: `stack` (top-level keys and `regions`), then one per section."""
    found: dict[str, list[Row]] = {STACK_TABLE: []}
    for name, field in StackConfig.model_fields.items():
        section = _section_type(field.annotation)
        if not (isinstance(section, type) and issubclass(section, BaseModel)):
            found[STACK_TABLE].append(Row(name, type_text(field), default_text(field, None), _cell(field.description)))
        elif name in INLINE_SECTIONS:
            found[STACK_TABLE] += rows(section, f"{name}.", None)
        else:
            optional = field.get_default(call_default_factory=True) is None and not field.is_required()
            found[name] = list(rows(section, f"{name}.", name if optional else None))
    return found


def markdown_table(table: list[Row]) -> str:
    return "\n".join(
        ["| key | type | default | meaning |", "| --- | --- | --- | --- |", *(r.markdown() for r in table)]
    )


def begin_marker(name: str) -> str:
    return f"<!-- generated: config table `{name}` ({COMMAND}); edit the Field descriptions, not this table -->"


def end_marker(name: str) -> str:
    return f"<!-- end of generated config table `{name}` -->"


def render_readme(text: str) -> str:
    """`text` with every generated table replaced by the current one. Raises ValueError when a
    table's markers are missing or a marked table no longer exists."""
    for name, table in tables().items():
        begin, end = begin_marker(name), end_marker(name)
        if text.count(begin) != 1 or text.count(end) != 1:
            raise ValueError(f"README.md needs exactly one pair of markers for config table {name!r}:\n{begin}\n{end}")
        head, rest = text.split(begin)
        _, tail = rest.split(end)
        text = f"{head}{begin}\n{markdown_table(table)}\n{end}{tail}"
    stray = set(re.findall(r"<!-- generated: config table `([^`]+)`", text)) - set(tables())
    if stray:
        raise ValueError(f"README.md marks config tables that do not exist: {', '.join(sorted(stray))}")
    return text


# ---------------------------------------------------------------------------------------------
# JSON schema of Pulumi.<stack>.yaml

SECURE = {
    "type": "object",
    "description": "A secret: `pulumi config set --secret ...` writes its ciphertext here.",
    "properties": {"secure": {"type": "string"}},
    "required": ["secure"],
    "additionalProperties": False,
}
# What Pulumi may write as text for a scalar the program reads leniently (pydantic's lax mode).
TEXT_FORMS = {
    "boolean": "^(true|false)$",
    "integer": "^-?[0-9]+$",
    "number": "^-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$",
}


def _accept_text(node: Any) -> None:
    """Let booleans and numbers also arrive as the text the Pulumi CLI stores them as."""
    if isinstance(node, list):
        for item in node:
            _accept_text(item)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        _accept_text(value)
    kind = node.get("type")
    if kind in TEXT_FORMS:
        node["type"] = [kind, "string"]
        node["pattern"] = TEXT_FORMS[kind]
        if "enum" in node:
            node["enum"] = [*node["enum"], *(str(v) for v in node["enum"])]


def _property(schema: dict[str, Any], defs: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """(the properties dict holding the last key of dotted `path`, that key)."""
    *parents, last = path.split(".")
    node = schema
    for part in parents:
        node = _resolve(node["properties"][part], defs)
    return node["properties"], last


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    for option in [node, *node.get("anyOf", [])]:
        if "$ref" in option:
            return defs[option["$ref"].rsplit("/", 1)[-1]]
    return node


def _may_be_secret(node: dict[str, Any]) -> dict[str, Any]:
    if node.get("type") == "array":
        node["items"] = {"anyOf": [node["items"], SECURE]}
        return node
    options = node.pop("anyOf", None) or [{k: node.pop(k) for k in list(node) if k not in ("description", "title")}]
    node["anyOf"] = [*options, SECURE]
    return node


def stack_file_schema(project: str = PROJECT) -> dict[str, Any]:
    config = StackConfig.model_json_schema()
    defs = config.pop("$defs")
    # `storage.<class>` keys are laid over each class's defaults (StorageConfig._over_defaults):
    # none has to be given.
    defs["StorageConfig"].pop("required", None)
    for path in SECRET_KEYS:
        holder, key = _property(config, defs, path)
        holder[key] = _may_be_secret(holder[key])
    _accept_text(config)
    _accept_text(defs)
    top_secret = {path.split(".")[0] for path in SECRET_KEYS}
    properties = {
        f"{project}:{key}": ({"anyOf": [value, SECURE]} if key in top_secret else value)
        for key, value in config["properties"].items()
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Pulumi.<stack>.yaml of the {project} project",
        "description": f"Generated by `{COMMAND}` from StackConfig; see README.md, Stack config.",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "description": f"`{project}:<key>` keys are checked; other namespaces belong to their providers.",
                "properties": properties,
                "required": [f"{project}:{key}" for key in config.get("required", [])],
                # ECMAScript regex, as editors run it: escape `.` only (project names are [A-Za-z0-9_.-]).
                "patternProperties": {f"^(?!{project.replace('.', '[.]')}:)[^:]+:.+$": True},
                "additionalProperties": False,
            },
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
            "environment": {"description": "Pulumi ESC environments the stack imports."},
        },
        "$defs": defs,
    }


def render_schema() -> str:
    return json.dumps(stack_file_schema(), indent=2) + "\n"


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md or the schema is stale")
    args = parser.parse_args(argv)
    wanted = {README: render_readme(README.read_text()), SCHEMA: render_schema()}
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run `{COMMAND}`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
