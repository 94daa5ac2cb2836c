"""`backup`: AWS Backup vaults, Vault Lock, the plan and restore tests."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ml_platform.config.rules import ConfigRuleError, Section, fail, not_below, problem, rule


class VaultLockConfig(Section):
    """AWS Backup Vault Lock. COMPLIANCE mode cannot be undone once `changeable_for_days`
    have passed: not even the root user can then shorten retention or delete the vault."""

    mode: Literal["governance", "compliance"] = Field(
        description=(
            "`governance`: privileged users can still remove the lock; `compliance`: immutable after the grace period."
        )
    )
    min_retention_days: int = Field(
        default=7, ge=1, le=36500, description="Shortest retention any recovery point in the vault may have."
    )
    max_retention_days: int = Field(
        default=400, ge=1, le=36500, description="Longest retention any recovery point in the vault may have."
    )
    changeable_for_days: int | None = Field(
        default=None,
        ge=3,
        le=36500,
        description="compliance: grace days before the lock becomes permanent (>= 3).",
    )

    @rule("min_retention_days", "max_retention_days")
    def _ordered(v):
        not_below(v.max_retention_days, v.min_retention_days, "min_retention_days")

    @rule("mode", "changeable_for_days")
    def _grace_period(v):
        if v.mode == "compliance" and v.changeable_for_days is None:
            fail("compliance mode needs a grace period before the lock is permanent", None, "3 or more days")
        if v.mode == "governance" and v.changeable_for_days is not None:
            fail(
                "only used in compliance mode (it makes the lock permanent)",
                v.changeable_for_days,
                "no value in governance mode",
            )


class RestoreTestingConfig(Section):
    schedule: str = Field(
        default="cron(0 6 ? * SUN *)",
        pattern=r"^cron\(.+\)$",
        description="When AWS Backup restores the latest recovery points to prove they work.",
    )
    selection_window_days: int = Field(
        default=7, ge=1, le=365, description="Recovery points from this many recent days are eligible."
    )
    validation_window_hours: int = Field(
        default=24, ge=1, le=168, description="Hours a restored copy is kept for validation before cleanup."
    )


class BackupConfig(Section):
    """AWS Backup of the stateful buckets: vault per region, plan, copies to the other region."""

    vault_lock: VaultLockConfig = Field(description="Vault Lock of every vault of the stack.")
    daily_schedule: str = Field(
        default="cron(0 5 * * ? *)", pattern=r"^cron\(.+\)$", description="Daily backup schedule (UTC)."
    )
    daily_retention_days: int = Field(default=35, ge=1, le=36500, description="Days a daily recovery point is kept.")
    monthly_schedule: str = Field(
        default="cron(0 5 1 * ? *)", pattern=r"^cron\(.+\)$", description="Monthly backup schedule (UTC)."
    )
    monthly_retention_days: int = Field(
        default=365, ge=1, le=36500, description="Days a monthly recovery point is kept."
    )
    monthly_cold_storage_after_days: int | None = Field(
        default=90,
        ge=1,
        le=36500,
        description="Days before a monthly recovery point moves to cold storage, for resources that support it.",
    )
    continuous_retention_days: int = Field(
        default=14, ge=1, le=35, description="Point-in-time restore window of the continuous S3 backup."
    )
    copy_retention_days: int = Field(
        default=35, ge=1, le=36500, description="Days a copy in the other region's vault is kept."
    )
    restore_testing: RestoreTestingConfig | None = Field(
        default=None, description="Scheduled restore tests; none disables them."
    )

    @model_validator(mode="after")
    def _within_lock(self) -> BackupConfig:
        problems = []
        lock = self.vault_lock
        for key in (
            "daily_retention_days",
            "monthly_retention_days",
            "continuous_retention_days",
            "copy_retention_days",
        ):
            days = getattr(self, key)
            if not lock.min_retention_days <= days <= lock.max_retention_days:
                problems.append(
                    (
                        key,
                        problem(
                            "outside the vault lock's retention range",
                            days,
                            f"{lock.min_retention_days} to {lock.max_retention_days}",
                        ),
                    )
                )
        cold = self.monthly_cold_storage_after_days
        if cold is not None and self.monthly_retention_days < cold + 90:
            problems.append(
                (
                    "monthly_retention_days",
                    problem(
                        "recovery points stay at least 90 days in cold storage",
                        self.monthly_retention_days,
                        f">= monthly_cold_storage_after_days + 90 ({cold + 90})",
                    ),
                )
            )
        if problems:
            raise ConfigRuleError(problems)
        return self
