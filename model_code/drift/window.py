"""The time window a run covers, and the hourly prefixes SageMaker writes captures under.

A window is [start, end) in UTC on whole hours. Capture files are grouped by the hour SageMaker
wrote them (`yyyy/mm/dd/hh`), so a window selects whole hourly prefixes: the hours h with
start <= h < end. Records are not filtered again by their own `inferenceTime`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
# A month of hours: a longer window is almost certainly a typo, and lists thousands of prefixes.
MAX_WINDOW_HOURS = 744


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if moment.tzinfo is None or moment != floor_hour(moment):
                raise ValueError(f"window bounds must be whole UTC hours, got {moment.isoformat()}")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end.isoformat()} must be after its start {self.start.isoformat()}")

    @classmethod
    def ending_at(cls, end: datetime, hours: int) -> Window:
        return cls(end - hours * HOUR, end)

    def hours(self) -> list[datetime]:
        count = int((self.end - self.start) / HOUR)
        return [self.start + i * HOUR for i in range(count)]

    def earlier_by(self, hours: int) -> Window:
        """The same end, the start moved `hours` back (the predictions a late label may refer to)."""
        return Window(self.start - hours * HOUR, self.end)

    @property
    def label(self) -> str:
        """`20240501T10Z-20240501T11Z`: sortable, and safe in S3 keys and file names."""
        return f"{self.start:%Y%m%dT%HZ}-{self.end:%Y%m%dT%HZ}"

    def as_dict(self) -> dict[str, str]:
        return {"start": iso(self.start), "end": iso(self.end)}


def hour_prefix(hour: datetime) -> str:
    return f"{hour:%Y/%m/%d/%H}"


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_hour(text: str) -> datetime:
    """An ISO 8601 time on a whole hour; no offset means UTC. Raises ValueError with the reason."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if moment != floor_hour(moment):
        raise ValueError("not on a whole hour (capture files are grouped by hour)")
    return moment


def now_utc() -> datetime:
    return datetime.now(UTC)
