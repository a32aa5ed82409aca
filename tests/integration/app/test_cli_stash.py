"""`doiflow stash prune`: the expired stashes go, the others stay; a summary, or JSON."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.cli import main
from app.clients.errors import RemoteDoi
from app.db import utcnow
from app.models import Doi, Stash
from app.services import stash
from tests.fixtures.runtime import doiflow_environment
from tests.support.lifecycle import concept, create


@pytest.fixture
def stash_cli(monkeypatch, clean_database):
    """Run `doiflow stash …` against this test's database; returns (exit code, stdout)."""
    for name, value in doiflow_environment(clean_database, None).items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["stash", *args])
        return result.exit_code, result.stdout

    return run


def stashed(runtime, *ages_days: float) -> None:
    """One stash of the ds1 concept per age, taken that many days ago."""
    create(runtime, "ds1")
    with runtime.sessions.begin() as session:
        doi = session.scalars(select(Doi).where(Doi.doi == concept("ds1"))).one()
        for n, days in enumerate(ages_days):
            stash.record(
                session,
                runtime.settings,
                doi,
                intent_id=1000 + n,
                action="delete",
                seen=RemoteDoi(doi.doi, "draft", None, {"titles": []}),
                now=utcnow() - timedelta(days=days),
            )


def remaining(runtime) -> list[int]:
    with runtime.sessions() as session:
        return sorted(session.scalars(select(Stash.intent_id)))


def test_prune_deletes_only_the_expired_stashes(stash_cli, runtime) -> None:
    # Given stashes taken 40 and 31 days ago (past the 30-day retention) and 1 day ago
    stashed(runtime, 40, 31, 1)
    # When a dry run, then the prune itself, are asked for
    code, output = stash_cli("prune", "--dry-run", "--json")
    assert code == 0
    assert json.loads(output) == {"expired": 2, "deleted": 0, "kept": 1, "dry_run": True}
    assert remaining(runtime) == [1000, 1001, 1002]
    code, output = stash_cli("prune")
    # Then the expired two are gone, and the summary says so
    assert code == 0
    assert output.strip() == "deleted 2 expired stash(es); 1 kept"
    assert remaining(runtime) == [1002]
    code, output = stash_cli("prune", "--json")
    assert json.loads(output) == {"expired": 0, "deleted": 0, "kept": 1, "dry_run": False}
