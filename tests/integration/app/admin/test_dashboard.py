"""The dashboard: counts from a cached snapshot, health problems, the throughput chart."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select

from app.admin.queries import dashboard as snapshots
from app.db import utcnow
from app.models import DashboardSnapshot, Doi, Intent, IntentEvent
from app.runtime import Runtime
from tests.fixtures.pipeline import Pipeline, wait_until
from tests.support.admin import AdminClient, log_in
from tests.support.lifecycle import concept, create, doi_state
from tests.support.sql import statements


def _snapshots(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(DashboardSnapshot)) or 0)


def test_counts_come_from_a_snapshot_taken_at_most_every_n_seconds(
    as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    viewer = as_role("viewer")
    first = viewer.page("/admin/")
    assert _snapshots(runtime) == 1
    # A fresh snapshot: the next view counts nothing itself.
    with statements(runtime) as sent:
        viewer.page("/admin/")
    grouped = [sql for sql in sent if "GROUP BY" in sql.upper()]
    assert grouped == [], grouped
    assert _snapshots(runtime) == 1
    assert "Counts as of" in first


def test_a_stale_snapshot_is_replaced_by_the_next_view(
    make_runtime: Callable[..., Runtime], make_client
) -> None:
    runtime = make_runtime(ADMIN_SNAPSHOT_SECONDS="0")
    app = make_client(runtime).application
    viewer = log_in(app, runtime, "viewer")
    viewer.page("/admin/")
    viewer.page("/admin/")
    assert _snapshots(runtime) == 2


def test_the_snapshot_counts_dois_and_intents_per_value(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        for status, n in (("done", 3), ("failed", 2)):
            session.add_all(
                Intent(topic="sync_doi", queue="doi", key=f"k{status}{i}", status=status)
                for i in range(n)
            )
    snapshot = snapshots.refresh(runtime, 0)
    assert snapshot is not None
    assert snapshot.data["intents"] == {"done": 3, "failed": 2}
    assert snapshot.data["dois"] == {}
    assert snapshot.data["errors"] == []


def test_throughput_is_per_minute_by_outcome_over_a_day(runtime: Runtime) -> None:
    now = utcnow()
    with runtime.sessions.begin() as session:
        for minutes_ago, kind in (
            (0, "done"),
            (0, "done"),
            (5, "retry"),
            (60, "fail"),
            (2000, "done"),
        ):
            at = now - timedelta(minutes=minutes_ago)
            session.add(IntentEvent(intent_id=1, at=at, kind=kind, data={}))
        session.add(IntentEvent(intent_id=1, at=now, kind="call", data={}))
    with runtime.sessions() as session:
        series = snapshots.throughput(session, now)["series"]
    last = str(snapshots.MINUTES - 1)
    assert series["done"] == {last: 2}  # the one 2000 minutes ago is outside the day
    assert series["retry"] == {str(snapshots.MINUTES - 6): 1}
    assert series["fail"] == {str(snapshots.MINUTES - 61): 1}
    assert series["snooze"] == {}


def test_a_failed_doi_shows_as_needing_a_person_with_its_timeline(
    make_pipeline: Callable[..., Pipeline], as_role: Callable[[str], AdminClient]
) -> None:
    pipeline = make_pipeline()
    pipeline.inject({"method": "PUT", "times": 1, "respond": {"status": 422, "body": "no"}})
    create(pipeline.runtime, "broken")
    wait_until(lambda: doi_state(pipeline.runtime, concept("broken")) == "failed")
    page = as_role("viewer").page("/admin/")
    assert "failed_dois" in page
    assert concept("broken") in page
    link = re.search(r'href="/admin/outbox/(\d+)">#\d+ timeline', page)
    assert link is not None
    with pipeline.runtime.sessions() as session:
        doi = session.scalars(select(Doi).where(Doi.doi == concept("broken"))).one()
        failed = session.scalar(select(Intent.id).where(Intent.key == f"doi:{doi.id}"))
    assert int(link.group(1)) == failed
    # The chart is an inline SVG with a line for the one failure: no script, no CDN.
    assert re.search(r'<polyline class="k-fail" points="[\d., ]+"', page)
    assert "<script" not in page


def test_the_page_loads_no_outside_asset(app: Flask, as_role: Callable[[str], AdminClient]) -> None:
    page = as_role("viewer").page("/admin/")
    assert not re.search(r'(src|href)="(https?:)?//', page)
    with app.test_client().get("/admin/static/admin.css") as css:
        assert css.status_code == 200
        assert "url(" not in css.get_data(as_text=True)
