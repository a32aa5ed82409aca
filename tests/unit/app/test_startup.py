"""app.startup: the check every process runs before it says it started (SQLite, no service)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app import startup
from app.schema import upgrade
from ops.harness import free_port


class StopWaitingError(Exception):
    """Raised by the fake sleep to end an endless wait after a few tries."""


def test_a_malformed_setting_is_exit_2() -> None:
    with pytest.raises(startup.StartupError) as refused:
        startup.prepare("relay", env={"DATABASE_URL": "mysql://x/y"})
    assert refused.value.exit_code == startup.EXIT_CONFIG == 2
    assert str(refused.value).startswith("DATABASE_URL must be")


def test_redis_is_required_where_asked(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    with pytest.raises(startup.StartupError, match="REDIS_URL is required to run the relay"):
        startup.prepare("relay", env=env, redis=True)


def test_a_database_without_the_schema_is_exit_3(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    with pytest.raises(startup.StartupError) as refused:
        startup.prepare("web", env=env)
    assert refused.value.exit_code == startup.EXIT_SCHEMA == 3
    assert "run `doiflow db upgrade`" in str(refused.value)


def test_a_schema_behind_head_says_where_it_is(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    upgrade(url, "0004")
    with pytest.raises(startup.StartupError, match=r"schema is at 0004, doiflow needs \w+: run"):
        startup.prepare("worker", env={"DATABASE_URL": url})


def test_a_schema_at_head_starts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    upgrade(url)
    assert startup.prepare("web", env={"DATABASE_URL": url}).database_url == url


def test_a_one_shot_command_fails_at_once_when_the_database_is_unreachable() -> None:
    url = f"postgresql://doiflow:pw@127.0.0.1:{free_port()}/doiflow"
    with pytest.raises(startup.StartupError) as refused:
        startup.prepare("create-token", env={"DATABASE_URL": url}, wait=False)
    assert refused.value.exit_code == startup.EXIT_UNREACHABLE == 1
    assert "is unreachable" in str(refused.value)
    assert ":pw@" not in str(refused.value)


def test_a_long_running_process_retries_with_backoff_one_line_a_try(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a database nobody listens on, and a sleep that gives up on the 7th wait
    url = f"postgresql://doiflow@127.0.0.1:{free_port()}/doiflow"
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 7:
            raise StopWaitingError

    # When the relay prepares
    with caplog.at_level(logging.WARNING, "doiflow.startup"), pytest.raises(StopWaitingError):
        startup.prepare("relay", env={"DATABASE_URL": url}, sleep=sleep)

    # Then it waited 1, 2, 4, 8, 15, 30, 30 s, logging one line before each wait
    assert slept == [1, 2, 4, 8, 15, 30, 30]
    waits = [r for r in caplog.records if getattr(r, "action", None) == "startup_wait"]
    assert [r.attempt for r in waits] == [1, 2, 3, 4, 5, 6, 7]  # type: ignore[attr-defined]
    assert {r.getMessage() for r in waits} == {"database unreachable at start-up; retrying"}
    assert all("Connection refused" in r.error for r in waits)  # type: ignore[attr-defined]
    assert not any(r.exc_info for r in caplog.records)  # no traceback per try
