"""Two `doiflow clock` processes: one schedules; SIGKILL it and the other takes over within
CLOCK_TAKEOVER_SECONDS; a schedule missed while both were down is queued once."""

from __future__ import annotations

import time
from collections import Counter

import psycopg
import pytest

from tests.e2e.conftest import REPO_ROOT
from tests.e2e.harness import BIN, Harness, Process, wait_until

TAKEOVER = 4.0


@pytest.fixture(scope="module")
def e2e_overrides() -> dict[str, str]:
    return {
        "CLOCK_TAKEOVER_SECONDS": str(TAKEOVER),
        "CLOCK_SCHEDULES": "refresh_snapshot=1s,prune_outbox=1h,prune_stashes=off,reconcile=off",
    }


def _scheduled(url: str) -> list[tuple[str, str, str]]:
    """(schedule, slot, by) of every `scheduled` event, oldest first."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT data->>'schedule', data->>'slot', data->>'by' FROM intent_events "
            "WHERE kind = 'scheduled' ORDER BY id"
        ).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def _start_clock(harness: Harness, name: str) -> Process:
    process = harness.start(name, [str(BIN / "doiflow"), "clock"], cwd=REPO_ROOT)
    process.wait_for_log("clock started", 20)
    return process


def _by(process: Process) -> str:
    return f":{process.pid}"


def test_one_clock_leads_the_other_takes_over_and_a_missed_schedule_runs_once(
    harness: Harness, api_token: str, e2e_env: dict[str, str]
) -> None:
    url = e2e_env["DATABASE_URL"]
    # Given two clocks
    first, second = _start_clock(harness, "clock-a"), _start_clock(harness, "clock-b")

    # Then exactly one schedules (a snapshot every second)
    wait_until(
        lambda: sum(s == "refresh_snapshot" for s, _, _ in _scheduled(url)) >= 4,
        20,
        "four snapshot slots queued",
    )
    leaders = {by for _, _, by in _scheduled(url)}
    assert len(leaders) == 1, leaders
    [leader_name] = leaders
    leader, standby = (first, second) if leader_name.endswith(_by(first)) else (second, first)
    assert leader_name.endswith(_by(leader))

    # When the leader is SIGKILLed, then the standby schedules within CLOCK_TAKEOVER_SECONDS
    killed_at = time.monotonic()
    harness.kill(leader.name)
    wait_until(
        lambda: any(by.endswith(_by(standby)) for _, _, by in _scheduled(url)),
        TAKEOVER + 5,
        "the standby to schedule",
    )
    took = time.monotonic() - killed_at
    assert took <= TAKEOVER, f"took over after {took:.1f} s"
    slots = [slot for s, slot, _ in _scheduled(url) if s == "refresh_snapshot"]
    assert len(slots) == len(set(slots)), "a slot was queued twice"

    # When both are down for five hours (the prune's last slot moved back that far)
    harness.kill(standby.name)
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE clock_schedules SET last_slot_at = last_slot_at - interval '5 hours' "
            "WHERE name = 'prune_outbox'"
        )
    prunes_before = Counter(s for s, _, _ in _scheduled(url))["prune_outbox"]
    assert prunes_before == 1

    # Then a clock that returns queues the missed prune once, not five times
    third = _start_clock(harness, "clock-c")
    wait_until(
        lambda: sum(by.endswith(_by(third)) for _, _, by in _scheduled(url)) >= 4,
        20,
        "the returning clock to tick a few times",
    )
    prunes = [(slot, by) for s, slot, by in _scheduled(url) if s == "prune_outbox"]
    assert len(prunes) == prunes_before + 1, prunes
    assert prunes[-1][1].endswith(_by(third))
    # and the work sits in the outbox as intents like any other (coalesced by key)
    with psycopg.connect(url) as conn:
        keys = conn.execute("SELECT key, status FROM outbox ORDER BY key").fetchall()
    assert keys == [("clock:prune_outbox", "pending"), ("clock:refresh_snapshot", "pending")]
