"""The period a dashboard page shows: whole UTC days, anchored on today unless ``from``/``to`` say.

``?days=14`` (the default) is the 14 days ending today; ``?from=2024-05-01&to=2024-05-03`` a
range of its own (``to`` defaults to today, ``from`` to 14 days before ``to``). Ranges of two days
or less are charted by the hour. Each period knows the one just before it, for comparisons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from .params import BadQuery, integer

DEFAULT_DAYS = 14
MAX_DAYS = 366
EARLIEST = date(2000, 1, 1)
PRESETS = (1, 2, 7, 14, 30, 90)


def today() -> date:
    return datetime.now(timezone.utc).date()


@dataclass(frozen=True)
class Period:
    start: date  # first day, included
    end: date  # last day, included

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def hourly(self) -> bool:
        return self.days <= 2

    @property
    def bucket_length(self) -> int:
        """Characters of a UTC timestamp that name a bucket: 13 (``2024-05-01T10``) or 10."""
        return 13 if self.hourly else 10

    @property
    def lower(self) -> str:
        """The first timestamp in the period, as stored (timestamps compare as strings)."""
        return f"{self.start.isoformat()}T"

    @property
    def upper(self) -> str:
        """The first timestamp after the period."""
        return f"{(self.end + timedelta(days=1)).isoformat()}T"

    @property
    def last_day(self) -> str:
        return self.end.isoformat()

    def previous(self) -> Period:
        length = timedelta(days=self.days)
        return Period(self.start - length, self.end - length)

    def buckets(self) -> list[str]:
        """Every bucket's key: ``2024-05-01T00`` ... for hourly periods, ``2024-05-01`` ... else."""
        days = [(self.start + timedelta(days=i)).isoformat() for i in range(self.days)]
        if not self.hourly:
            return days
        return [f"{day}T{hour:02d}" for day in days for hour in range(24)]

    def query(self) -> dict[str, str]:
        """The query-string values that select this period."""
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def _day(params: Mapping[str, str], name: str) -> date | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise BadQuery(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None
    latest = today() + timedelta(days=1)
    if not EARLIEST <= day <= latest:
        raise BadQuery(f"{name} must be between {EARLIEST} and {latest}, got {day}")
    return day


def parse_period(params: Mapping[str, str]) -> Period:
    """The period a request asks for; :class:`BadQuery` says what is wrong with a bad one."""
    start, end = _day(params, "from"), _day(params, "to")
    if start is None and end is None:
        days = integer(params, "days", DEFAULT_DAYS, 1, MAX_DAYS)
        assert days is not None
        end = today()
        return Period(end - timedelta(days=days - 1), end)
    if params.get("days"):
        raise BadQuery("give either days or from/to, not both")
    if end is None:
        end = today()
    if start is None:
        start = max(EARLIEST, end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise BadQuery(f"from ({start}) must not be after to ({end})")
    if (end - start).days + 1 > MAX_DAYS:
        raise BadQuery(f"a period can be at most {MAX_DAYS} days, got {(end - start).days + 1}")
    return Period(start, end)
