"""The clock's schedule registry: specs, slots, overrides from CLOCK_SCHEDULES."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.config import ConfigError, load_settings
from app.schedules import SCHEDULES, Every, active, parse_every
from app.topics import MAINTAIN, VERIFY_HOLDS

BASE = {"DATABASE_URL": "postgresql://x@h/db"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "now", "slot"),
    [
        ("30s", "2026-12-01T11:00:47", "2026-12-01T11:00:30"),
        ("every 1h", "2026-12-01T11:59:59", "2026-12-01T11:00:00"),
        ("1d", "2026-12-01T11:00:00", "2026-12-01T00:00:00"),
        ("daily 02:30", "2026-12-01T02:29:59", "2026-11-30T02:30:00"),
        ("daily 02:30", "2026-12-01T02:30:00", "2026-12-01T02:30:00"),
        # 2026-12-01 is a Tuesday: the last Sunday 03:00 was 2026-11-29
        ("weekly sun 03:00", "2026-12-01T11:00:00", "2026-11-29T03:00:00"),
        ("weekly tue 12:00", "2026-12-01T11:00:00", "2026-11-24T12:00:00"),
        ("weekly tue 12:00", "2026-12-01T12:00:00", "2026-12-01T12:00:00"),
    ],
)
def test_a_slot_is_the_latest_due_time_at_or_before_now(spec: str, now: str, slot: str) -> None:
    every = parse_every("x", spec)
    assert every is not None
    assert every.slot(at(now)) == at(slot)


def test_off_turns_a_schedule_off() -> None:
    assert parse_every("x", "off") is None


@pytest.mark.parametrize("spec", ["0s", "soon", "daily 25:00", "weekly xyz 03:00", "-5m"])
def test_a_malformed_spec_names_the_schedule(spec: str) -> None:
    with pytest.raises(ConfigError, match="CLOCK_SCHEDULES"):
        parse_every("prune_outbox", spec)


def test_defaults_prune_hourly_snapshot_every_30s_and_verify_only_with_s3() -> None:
    found = {a.schedule.name: a.every for a in active(load_settings(BASE))}
    assert found == {
        "prune_outbox": Every(3600),
        "refresh_snapshot": Every(30),
        "prune_stashes": Every(3600),
    }
    with_s3 = load_settings({**BASE, "S3_BUCKET": "published"})
    assert "verify_holds" in {a.schedule.name for a in active(with_s3)}


def test_clock_schedules_overrides_and_turns_off() -> None:
    settings = load_settings(
        {**BASE, "CLOCK_SCHEDULES": "prune_outbox=10m, refresh_snapshot=off, prune_stashes=off"}
    )
    assert [(a.schedule.name, a.every) for a in active(settings)] == [("prune_outbox", Every(600))]


def test_an_unknown_schedule_name_is_refused_with_the_known_ones() -> None:
    settings = load_settings({**BASE, "CLOCK_SCHEDULES": "prune_everything=1h"})
    with pytest.raises(ConfigError, match=r"prune_everything.*prune_outbox"):
        active(settings)


def test_each_schedule_queues_a_registered_topic_with_a_stable_key() -> None:
    settings = load_settings({**BASE, "OUTBOX_RETENTION": "2d"})
    by_name = {s.name: s for s in SCHEDULES}
    prune = by_name["prune_outbox"]
    assert (prune.topic, prune.intent_key) == (MAINTAIN, "clock:prune_outbox")
    assert prune.intent_payload(settings) == {
        "task": "prune_outbox",
        "retention_seconds": 2 * 86400,
        "batch": 1000,
    }
    verify = by_name["verify_holds"]
    assert (verify.topic, verify.intent_key) == (VERIFY_HOLDS, "verify_holds:0")
    assert verify.intent_payload(settings) == {"after": 0, "fix": False}


def test_reconcile_runs_nightly_only_with_datacite_configured() -> None:
    assert "reconcile" not in {a.schedule.name for a in active(load_settings(BASE))}
    configured = load_settings(
        {
            **BASE,
            "DATACITE_API_URL": "https://api.test.datacite.org",
            "DATACITE_USER": "REPO.ID",
            "DATACITE_PASSWORD": "secret",
            "DATACITE_PREFIX": "10.80507",
        }
    )
    [nightly] = [a for a in active(configured) if a.schedule.name == "reconcile"]
    assert nightly.schedule.intent_key == "doi.reconcile"
