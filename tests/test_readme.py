"""README is the front door: its config table must list every key the config accepts."""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel

from ml_platform.config import BUCKET_CLASSES, StackConfig, _section_type

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        section = _section_type(field.annotation)
        if isinstance(section, type) and issubclass(section, BaseModel):
            is_list = typing.get_origin(field.annotation) is list
            keys += config_keys(section, f"{prefix}{name}{'[]' if is_list else ''}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def documented_form(key: str) -> str:
    """The three bucket classes share one set of keys, documented once as `storage.<class>`."""
    for cls in BUCKET_CLASSES:
        key = key.replace(f"storage.{cls}.", "storage.<class>.")
    return key


def test_every_config_key_is_documented():
    keys = dict.fromkeys(documented_form(key) for key in config_keys(StackConfig))
    missing = [key for key in keys if f"| `{key}` |" not in README]
    assert missing == []


def test_readme_gives_the_two_commands():
    assert "make plan " in README and "make test " in README
