"""`regions`: where the stack runs."""

from __future__ import annotations

from pydantic import Field, field_validator

from ml_platform.config.rules import Section, check_region, fail, rule


class RegionsConfig(Section):
    """Where the stack runs. The secondary region holds replicas and the warm standby."""

    primary: str = Field(
        description="Primary region. Must be a region where SageMaker is offered (botocore's endpoint data)."
    )
    secondary: str | None = Field(
        default=None,
        description="Second region for replicas, backup copies and the warm standby. Must differ from the primary.",
    )

    @field_validator("primary")
    @classmethod
    def _known_primary(cls, value: str) -> str:
        return check_region(value)

    @field_validator("secondary")
    @classmethod
    def _known_secondary(cls, value: str | None) -> str | None:
        return value if value is None else check_region(value)

    @rule("primary", "secondary")
    def _secondary_other_than_primary(v):
        if v.secondary is not None and v.secondary == v.primary:
            fail("must differ from regions.primary", v.secondary, f"a region other than {v.primary!r}, or no secondary")

    def by_role(self) -> dict[str, str]:
        """`{"primary": region, "secondary": region}`, the secondary only when configured."""
        roles = {"primary": self.primary}
        if self.secondary is not None:
            roles["secondary"] = self.secondary
        return roles
