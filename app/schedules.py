"""The clock's schedules: what periodic work it queues, and when.

A schedule names a topic (or a maintenance task run by the `maintain` topic), how often
(`30s`, `1h`, `daily 02:30`, `weekly sun 03:00`, all UTC, or `off`) and the intent's
payload. Adding one is one entry in SCHEDULES; `CLOCK_SCHEDULES=name=spec,…` changes
when any of them runs, or turns it off.

Times are cut into slots (every N seconds from an offset); the clock queues a schedule
once per slot it has not yet queued, so a schedule missed while no clock ran is queued
once when a clock returns, not once per slot missed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import ConfigError, Settings, parse_duration
from app.topics import MAINTAIN, RECONCILE, VERIFY_HOLDS, Topic

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a Thursday
DAY = 86400
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAILY = re.compile(r"^daily\s+(\d{1,2}):(\d{2})$")
WEEKLY = re.compile(r"^weekly\s+(mon|tue|wed|thu|fri|sat|sun)\s+(\d{1,2}):(\d{2})$")
# Rows deleted per prune intent: one short transaction each, never a long lock.
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class Every:
    """Slots of `seconds` starting at `offset` seconds after the epoch (UTC)."""

    seconds: float
    offset: float = 0.0

    def slot(self, now: datetime) -> datetime:
        """The start of the slot `now` falls in: the latest due time at or before `now`."""
        elapsed = (now - EPOCH).total_seconds() - self.offset
        return EPOCH + timedelta(seconds=(elapsed // self.seconds) * self.seconds + self.offset)


def parse_every(name: str, spec: str) -> Every | None:
    """`30s`, `1h`, `daily 02:30`, `weekly sun 03:00` (UTC) → Every; `off` → None."""
    spec = spec.strip().lower()
    if spec == "off":
        return None
    daily, weekly = DAILY.match(spec), WEEKLY.match(spec)
    if daily is not None:
        return Every(DAY, _time_of_day(name, spec, daily[1], daily[2]))
    if weekly is not None:
        # The epoch is a Thursday: Monday of that week is 3 days before it.
        day = (WEEKDAYS.index(weekly[1]) - WEEKDAYS.index("thu")) % 7
        return Every(7 * DAY, day * DAY + _time_of_day(name, spec, weekly[2], weekly[3]))
    try:
        seconds = parse_duration(f"CLOCK_SCHEDULES ({name})", spec.removeprefix("every "), 0)
    except ConfigError:
        seconds = 0
    if seconds < 1:
        raise ConfigError(
            f"CLOCK_SCHEDULES: {name}={spec!r} is not a schedule; use 30s, 1h, 1d, "
            "daily HH:MM, weekly sun HH:MM (UTC) or off"
        )
    return Every(seconds)


def _time_of_day(name: str, spec: str, hours: str, minutes: str) -> float:
    if int(hours) > 23 or int(minutes) > 59:
        raise ConfigError(f"CLOCK_SCHEDULES: {name}={spec!r} has no such time of day")
    return int(hours) * 3600.0 + int(minutes) * 60.0


def _always(_settings: Settings) -> bool:
    return True


def _no_params(_settings: Settings) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Schedule:
    """One periodic piece of work: a topic's intent, or a maintenance task's."""

    name: str
    every: str  # the default spec; CLOCK_SCHEDULES overrides it
    topic: Topic = MAINTAIN
    # For `maintain`: "module:function", called as f(session, *, now, **params) -> int.
    task: str | None = None
    key: str | None = None  # the intent's coalescing key (default `clock:{name}`)
    payload: dict[str, Any] = field(default_factory=dict)
    params: Callable[[Settings], dict[str, Any]] = _no_params
    enabled: Callable[[Settings], bool] = _always
    # A batched task returning `batch` (or more) is run again at once for the next batch.
    batched: bool = False

    @property
    def intent_key(self) -> str:
        return self.key or f"clock:{self.name}"

    def intent_payload(self, settings: Settings) -> dict[str, Any]:
        """The payload of the intent the clock queues."""
        if self.task is None:
            return dict(self.payload)
        return {**self.payload, "task": self.name, **self.params(settings)}


def _prune_params(settings: Settings) -> dict[str, Any]:
    return {"retention_seconds": settings.outbox_retention_seconds, "batch": PRUNE_BATCH}


def _snapshot_params(settings: Settings) -> dict[str, Any]:
    return {"max_age_seconds": 0}


SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        "prune_outbox",
        every="1h",
        task="app.services.outbox_prune:prune_batch",
        params=_prune_params,
        batched=True,
    ),
    # The dashboard (and /metrics) snapshot, health checks included.
    Schedule(
        "refresh_snapshot",
        every="30s",
        task="app.admin.queries.dashboard:refresh_task",
        params=_snapshot_params,
    ),
    Schedule(
        "verify_holds",
        every="weekly sun 03:00",
        topic=VERIFY_HOLDS,
        key="verify_holds:0",  # the key `hold_check.schedule()` uses: one check at a time
        payload={"after": 0, "fix": False},
        enabled=lambda settings: settings.s3_configured,
    ),
    # Stashes past STASH_RETENTION_SECONDS: their deleted datasets can no longer be restored.
    Schedule("prune_stashes", every="1h", task="app.services.stash:prune_expired"),
    # DataCite against the database, nightly (the same key and payload as
    # `reconcile_task.schedule()`, so a run by hand and the clock's never overlap).
    Schedule(
        "reconcile",
        every="daily 02:30",
        topic=RECONCILE,
        key="doi.reconcile",
        payload={"fix": False},
        enabled=lambda settings: settings.datacite_configured,
    ),
)

BY_NAME = {schedule.name: schedule for schedule in SCHEDULES}


@dataclass(frozen=True)
class Active:
    """A schedule the clock runs, with its effective timing."""

    schedule: Schedule
    every: Every


def active(settings: Settings) -> list[Active]:
    """The schedules to run under `settings`, overrides applied; ConfigError on a bad one."""
    overrides = dict(settings.clock_schedules)
    unknown = sorted(set(overrides) - set(BY_NAME))
    if unknown:
        raise ConfigError(
            f"CLOCK_SCHEDULES names no schedule {', '.join(unknown)} "
            f"(there are {', '.join(BY_NAME)})"
        )
    found = []
    for schedule in SCHEDULES:
        every = parse_every(schedule.name, overrides.get(schedule.name, schedule.every))
        if every is not None and schedule.enabled(settings):
            found.append(Active(schedule, every))
    return found


def named(name: str) -> Schedule:
    """The schedule called `name`; KeyError for an unknown one."""
    return BY_NAME[name]
