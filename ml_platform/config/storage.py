"""`storage`: lifecycle tiers per bucket class, laid over each class's defaults."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ml_platform.config.rules import ConfigRuleError, Section, problem


def _day_rules(prefix_ia: str, transitions: list[tuple[str, int | None, int]], expiry: tuple[str, int | None]):
    """Problems with a chain of (field, days, minimum gap after the previous tier) transitions
    and an expiry: each tier after the one before it, expiry after the last."""
    problems: list[tuple[str, str]] = []
    previous: tuple[str, int] | None = None
    for name, days, gap in transitions:
        if days is None:
            continue
        if previous is not None and days < previous[1] + gap:
            need = f">= {previous[1] + gap}" if gap > 1 else f"> {previous[1]}"
            why = f"at least {gap} days after {previous[0]}" if gap > 1 else f"after {previous[0]}"
            problems.append((name, problem(f"tiers must come in order: {why}", days, need)))
        previous = (name, days)
    name, days = expiry
    if days is not None and previous is not None and days <= previous[1]:
        problems.append(
            (name, problem(f"expiry must come after the last transition ({previous[0]})", days, f"> {previous[1]}"))
        )
    return problems


class NoncurrentVersions(Section):
    """What happens to versions once a newer one replaces them."""

    standard_ia_days: int | None = Field(
        default=None, ge=0, description="Days after a version becomes noncurrent to move it to STANDARD_IA (>= 30)."
    )
    glacier_days: int | None = Field(
        default=None, ge=0, description="Days after a version becomes noncurrent to move it to GLACIER_IR."
    )
    expiration_days: int | None = Field(
        default=None, ge=1, description="Days after a version becomes noncurrent to delete it."
    )
    keep_newest: int | None = Field(
        default=None, ge=1, le=100, description="Noncurrent versions always kept, whatever their age."
    )

    @model_validator(mode="after")
    def _ordered(self) -> NoncurrentVersions:
        problems = []
        if self.standard_ia_days is not None and self.standard_ia_days < 30:
            problems.append(
                (
                    "standard_ia_days",
                    problem("STANDARD_IA needs objects at least 30 days old", self.standard_ia_days, ">= 30"),
                )
            )
        problems += _day_rules(
            "standard_ia_days",
            [("standard_ia_days", self.standard_ia_days, 1), ("glacier_days", self.glacier_days, 30)],
            ("expiration_days", self.expiration_days),
        )
        if problems:
            raise ConfigRuleError(problems)
        return self


class LifecycleTiers(Section):
    """Lifecycle of one bucket class: tiered transitions, or Intelligent-Tiering."""

    mode: Literal["tiered", "intelligent_tiering"] = Field(
        default="tiered",
        description=(
            "`tiered`: fixed-age transitions; `intelligent_tiering`: objects move to INTELLIGENT_TIERING on day 0 and "
            "S3 tiers them by access (the class's default tier days are dropped)."
        ),
    )
    standard_ia_days: int | None = Field(default=None, ge=0, description="Days to STANDARD_IA (>= 30).")
    glacier_days: int | None = Field(default=None, ge=0, description="Days to the Glacier class below.")
    glacier_storage_class: Literal["GLACIER_IR", "GLACIER"] = Field(
        default="GLACIER_IR", description="`GLACIER_IR` (millisecond reads) or `GLACIER` (flexible retrieval)."
    )
    deep_archive_days: int | None = Field(default=None, ge=0, description="Days to DEEP_ARCHIVE.")
    expiration_days: int | None = Field(
        default=None, ge=1, description="Days until current objects expire; none keeps them."
    )
    archive_access_days: int | None = Field(
        default=None, ge=90, le=730, description="Intelligent-Tiering: days without access before ARCHIVE_ACCESS."
    )
    deep_archive_access_days: int | None = Field(
        default=None, ge=180, le=730, description="Intelligent-Tiering: days without access before DEEP_ARCHIVE_ACCESS."
    )
    noncurrent: NoncurrentVersions = Field(
        default_factory=NoncurrentVersions, description="Noncurrent-version transitions and expiry."
    )
    abort_incomplete_multipart_upload_days: int = Field(
        default=7, ge=1, le=365, description="Days before incomplete multipart uploads are aborted."
    )
    transition_default_minimum_object_size: Literal["all_storage_classes_128K", "varies_by_storage_class"] = Field(
        default="all_storage_classes_128K",
        description="Objects smaller than this are not transitioned (S3's default, made explicit).",
    )

    @model_validator(mode="after")
    def _tiers(self) -> LifecycleTiers:
        problems = []
        tiered = ("standard_ia_days", "glacier_days", "deep_archive_days")
        archive = ("archive_access_days", "deep_archive_access_days")
        if self.mode == "intelligent_tiering":
            for name in tiered:
                if getattr(self, name) is not None:
                    problems.append(
                        (
                            name,
                            problem(
                                "only used in tiered mode",
                                getattr(self, name),
                                "no value when mode is intelligent_tiering",
                            ),
                        )
                    )
            if (
                self.archive_access_days
                and self.deep_archive_access_days
                and self.deep_archive_access_days <= self.archive_access_days
            ):
                problems.append(
                    (
                        "deep_archive_access_days",
                        problem(
                            "tiers must come in order: after archive_access_days",
                            self.deep_archive_access_days,
                            f"> {self.archive_access_days}",
                        ),
                    )
                )
        else:
            for name in archive:
                if getattr(self, name) is not None:
                    problems.append(
                        (
                            name,
                            problem(
                                "only used in intelligent_tiering mode",
                                getattr(self, name),
                                "no value when mode is tiered",
                            ),
                        )
                    )
            if self.standard_ia_days is not None and self.standard_ia_days < 30:
                problems.append(
                    (
                        "standard_ia_days",
                        problem("STANDARD_IA needs objects at least 30 days old", self.standard_ia_days, ">= 30"),
                    )
                )
            glacier_gap = 30 if self.glacier_storage_class == "GLACIER_IR" else 1
            problems += _day_rules(
                "standard_ia_days",
                [
                    ("standard_ia_days", self.standard_ia_days, 1),
                    ("glacier_days", self.glacier_days, glacier_gap),
                    ("deep_archive_days", self.deep_archive_days, 1),
                ],
                ("expiration_days", self.expiration_days),
            )
        if problems:
            raise ConfigRuleError(problems)
        return self


BUCKET_CLASSES = ("datasets", "artifacts", "capture")

# Defaults per bucket class; a stack's `storage.<class>` keys are laid over these.
LIFECYCLE_DEFAULTS: dict[str, dict[str, Any]] = {
    # Training reads datasets for months: keep them readable in milliseconds.
    "datasets": {
        "standard_ia_days": 30,
        "glacier_days": 180,
        "noncurrent": {"standard_ia_days": 30, "expiration_days": 365, "keep_newest": 3},
    },
    # Models stay deployable: GLACIER_IR keeps rollbacks instant.
    "artifacts": {"standard_ia_days": 30, "glacier_days": 90, "noncurrent": {"expiration_days": 90, "keep_newest": 5}},
    # Capture is read by the drift job within days, then kept for audit and expired.
    "capture": {
        "standard_ia_days": 30,
        "glacier_days": 90,
        "glacier_storage_class": "GLACIER",
        "deep_archive_days": 180,
        "expiration_days": 730,
        "noncurrent": {"expiration_days": 30},
    },
}


class StorageConfig(Section):
    """The three bucket classes every region has, and replication between regions."""

    datasets: LifecycleTiers = Field(description="Lifecycle of the datasets bucket.")
    artifacts: LifecycleTiers = Field(description="Lifecycle of the artifacts bucket (models, checkpoints).")
    capture: LifecycleTiers = Field(description="Lifecycle of the capture bucket (inference capture, drift reports).")
    replication_time_control: bool = Field(
        default=False,
        description=(
            "S3 Replication Time Control (15-minute replication SLA, replication metrics) on replication to the "
            "secondary region."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        """Lay each class's given keys over its defaults; `intelligent_tiering` drops the
        default tier days, which only apply to tiered mode."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, defaults in LIFECYCLE_DEFAULTS.items():
            given = data.get(name, {})
            if not isinstance(given, dict):
                continue
            base = dict(defaults)
            if given.get("mode") == "intelligent_tiering":
                for key in ("standard_ia_days", "glacier_days", "glacier_storage_class", "deep_archive_days"):
                    base.pop(key, None)
            layered = {**base, **given}
            if isinstance(given.get("noncurrent"), dict):
                layered["noncurrent"] = {**base.get("noncurrent", {}), **given["noncurrent"]}
            merged[name] = layered
        return merged
