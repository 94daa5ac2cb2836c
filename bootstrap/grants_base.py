"""The shape of a row of the grants table (`grants.py`).

See `grants.py` for what each field means and how the roles use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Grant:
    """The permissions behind one or more Pulumi resource types."""

    sid: str
    policy: str  # the managed policy (by service) it lands in
    manage: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    arns: tuple[str, ...] = ()
    unscoped: tuple[str, ...] = ()
    unscoped_read: tuple[str, ...] = ()
    condition: dict = field(default_factory=dict)
    passes_role_to: str | None = None


THIS_ACCOUNT = {"StringEquals": {"aws:ResourceAccount": "{account}"}}
