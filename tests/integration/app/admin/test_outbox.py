"""The outbox browser: filters, keyset pages, bounded searches, the timeline, and actions."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import InternalError

from app.admin import context
from app.admin.queries import outbox as queries
from app.db import utcnow
from app.models import AuditLog, Intent, IntentEvent
from app.runtime import Runtime
from tests.fixtures.pipeline import Pipeline, wait_until
from tests.support.admin import AdminClient
from tests.support.lifecycle import concept, create, doi_row, doi_state

TITLE = "creators is missing a name"
ROW_ID = re.compile(r'href="/admin/outbox/(\d+)"')


def _ids(page: str) -> list[int]:
    return [int(i) for i in ROW_ID.findall(page)]


def _seed(runtime: Runtime, count: int, **fields: object) -> list[int]:
    """`count` intents with these fields; returns their ids, oldest first."""
    with runtime.sessions.begin() as session:
        rows = [
            Intent(
                topic=fields.get("topic", "sync_doi"),
                queue=fields.get("queue", "doi"),
                key=str(fields.get("key", f"doi:{9000 + n}")),
                payload=fields.get("payload", {"doi_id": 9000 + n}),
                status=fields.get("status", "done"),
                last_error=fields.get("last_error"),
                available_at=utcnow(),
            )
            for n in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _status(runtime: Runtime, intent_id: int) -> str:
    with runtime.sessions() as session:
        intent = session.get(Intent, intent_id)
        assert intent is not None
        return intent.status


def _failed_intent(pipeline: Pipeline, dataset: str) -> int:
    """Make `dataset`'s concept DOI fail on a 422 carrying TITLE; its failed intent's id."""
    pipeline.inject(
        {
            "method": "PUT",
            "doi": concept(dataset),
            "times": 1,
            "respond": {"status": 422, "body": {"errors": [{"status": "422", "title": TITLE}]}},
        }
    )
    create(pipeline.runtime, dataset)
    wait_until(lambda: doi_state(pipeline.runtime, concept(dataset)) == "failed")
    with pipeline.runtime.sessions() as session:
        return int(session.scalar(select(Intent.id).where(Intent.status == "failed")) or 0)


def test_the_timeline_tells_the_whole_story_in_order(
    make_pipeline: Callable[..., Pipeline], as_role: Callable[[str], AdminClient]
) -> None:
    # Given a DOI that DataCite refused with a 422
    pipeline = make_pipeline()
    intent_id = _failed_intent(pipeline, "refused")

    # When a viewer opens its intent
    page = html.unescape(as_role("viewer").page(f"/admin/outbox/{intent_id}"))

    # Then creation, delivery, the DataCite call with its answer, the transition and the
    # retry decision appear, in that order
    timeline = page[page.index("Timeline") :]
    steps = [
        "Intent created: sync_doi",
        "Delivery started (attempt 1)",
        f"DataCite PUT {concept('refused')} → 422",
        TITLE,
        "DOI pending → failed",
        "Failed: needs a person",
    ]
    positions = [timeline.index(step) for step in steps]
    assert positions == sorted(positions), list(zip(steps, positions, strict=True))
    assert re.search(r"duration</dt><dd>\d+ ms", timeline)


def test_retry_redrives_the_doi_and_the_timeline_shows_who(
    make_pipeline: Callable[..., Pipeline],
    as_role: Callable[[str], AdminClient],
    runtime: Runtime,
) -> None:
    # Given a failed DOI, and an operator
    pipeline = make_pipeline()
    intent_id = _failed_intent(pipeline, "retried")
    operator = as_role("operator")

    # When the operator retries its intent with a reason
    answer = operator.post(f"/admin/outbox/{intent_id}/retry", {"reason": "metadata fixed"})

    # Then the DOI is re-driven and becomes a draft, the old intent superseded
    assert answer.status_code == 303
    wait_until(lambda: doi_state(runtime, concept("retried")) == "draft")
    assert _status(runtime, intent_id) == "superseded"
    page = html.unescape(operator.page(f"/admin/outbox/{intent_id}"))
    assert f"{operator.email}: redrive" in page.replace("admin:", "")
    assert "metadata fixed" in page
    with runtime.sessions() as session:
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "intent.retry")).one()
    assert (entry.actor, entry.target, entry.reason) == (
        f"admin:{operator.email}",
        f"intent:{intent_id}",
        "metadata fixed",
    )
    doi = doi_row(runtime, concept("retried"))
    assert doi is not None
    assert any(t.event == "redrive" and "metadata fixed" in (t.detail or "") for t in doi.history)


def test_retry_of_an_intent_that_is_not_failed_changes_nothing(
    as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    [done] = _seed(runtime, 1)
    operator = as_role("operator")
    answer = operator.post(f"/admin/outbox/{done}/retry", {"reason": "x"})
    assert answer.status_code == 303
    assert "only failed intents are retried" in operator.page(f"/admin/outbox/{done}")
    assert _status(runtime, done) == "done"


def test_retry_of_another_topic_requeues_it(
    as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    [failed] = _seed(runtime, 1, topic="verify_blob", queue="holds", status="failed", payload={})
    as_role("operator").post(f"/admin/outbox/{failed}/retry", {"reason": "bucket fixed"})
    assert _status(runtime, failed) == "pending"
    with runtime.sessions() as session:
        kinds = session.scalars(select(IntentEvent.kind).where(IntentEvent.intent_id == failed))
        assert list(kinds) == ["operator"]


def test_discard_needs_a_reason_then_drops_the_intent(
    as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    [failed] = _seed(runtime, 1, status="failed", last_error="boom")
    operator = as_role("operator")
    operator.post(f"/admin/outbox/{failed}/discard", {"reason": ""})
    assert _status(runtime, failed) == "failed"
    operator.post(f"/admin/outbox/{failed}/discard", {"reason": "duplicate of #3"})
    assert _status(runtime, failed) == "discarded"
    page = operator.page(f"/admin/outbox/{failed}")
    assert "Discarded" in page
    assert "duplicate of #3" in page


def test_filters_each_narrow_the_list(
    as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    done = _seed(runtime, 3)
    failed = _seed(runtime, 2, status="failed", last_error="DataCite answered 422: bad title")
    holds = _seed(runtime, 2, topic="set_hold", queue="holds", key="blob:7", payload={"blob_id": 7})
    viewer = as_role("viewer")
    expect = {
        "status=failed": failed,
        "topic=set_hold": holds,
        "queue=holds": holds,
        "key=blob:7": holds,
        "error=BAD+TITLE": failed,
        "payload=%7B%22blob_id%22%3A+7%7D": holds,
        f"payload=%7B%22doi_id%22%3A+{9000}%7D": [done[0], failed[0]],
    }
    for query, ids in expect.items():
        assert sorted(_ids(viewer.page(f"/admin/outbox?{query}"))) == sorted(ids), query


def test_a_bad_filter_is_explained_not_crashed(as_role: Callable[[str], AdminClient]) -> None:
    viewer = as_role("viewer")
    assert "payload must be a JSON object" in html.unescape(
        viewer.page("/admin/outbox?payload=[1]")
    )
    assert "status must be one of" in viewer.page("/admin/outbox?status=lost")


def test_keyset_pages_walk_everything_once(
    as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    ids = _seed(runtime, 120)
    viewer = as_role("viewer")
    seen, path = [], "/admin/outbox"
    while path:
        page = viewer.page(path)
        seen += _ids(page)
        older = re.search(r'href="([^"]*before=\d+[^"]*)">older', page)
        path = html.unescape(older.group(1)) if older else ""
    assert seen == sorted(ids, reverse=True)
    newer = re.search(
        r'href="([^"]*after=\d+[^"]*)">', viewer.page(f"/admin/outbox?before={ids[60]}")
    )
    assert newer is not None
    assert _ids(viewer.page(html.unescape(newer.group(1)))) == sorted(ids[60:110], reverse=True)


def test_searches_look_only_at_the_newest_intents_unless_asked(
    as_role: Callable[[str], AdminClient], runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _seed(runtime, 1, status="failed", last_error="needle")
    _seed(runtime, 5)
    monkeypatch.setattr(queries, "SEARCH_WINDOW", 3)
    viewer = as_role("viewer")
    assert _ids(viewer.page("/admin/outbox?error=needle")) == []
    assert _ids(viewer.page("/admin/outbox?error=needle&everywhere=1")) == old


def test_admin_queries_are_read_only_and_time_limited(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context, "READ_TIMEOUT_MS", 50)
    with app.test_request_context():
        with pytest.raises(context.QueryTooSlowError), context.reading() as session:
            session.execute(text("SELECT pg_sleep(1)"))
        with pytest.raises(InternalError, match="read-only"), context.reading() as session:
            session.execute(text("DELETE FROM outbox"))


def test_bulk_discard_counts_confirms_and_spares_newer_intents(
    as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    # Given three failed intents of one topic and a done one
    failed = _seed(runtime, 3, topic="set_hold", queue="holds", status="failed", last_error="x")
    [done] = _seed(runtime, 1, topic="set_hold", queue="holds")
    operator = as_role("operator")

    # When the operator asks to discard all matching topic=set_hold
    confirm = operator.page("/admin/outbox/bulk?action=discard&topic=set_hold")
    assert "Discard 3 intent(s)" in confirm
    up_to = re.search(r'name="up_to" value="(\d+)"', confirm)
    assert up_to is not None
    # and one more fails before the confirmation is sent
    [late] = _seed(runtime, 1, topic="set_hold", queue="holds", status="failed")
    answer = operator.post(
        "/admin/outbox/bulk",
        {"action": "discard", "topic": "set_hold", "up_to": up_to.group(1), "reason": "obsolete"},
    )

    # Then exactly the three confirmed are discarded, audited once with their ids
    assert answer.status_code == 303
    assert [_status(runtime, i) for i in failed] == ["discarded"] * 3
    assert (_status(runtime, done), _status(runtime, late)) == ("done", "failed")
    with runtime.sessions() as session:
        entry = session.scalars(
            select(AuditLog).where(AuditLog.action == "intent.bulk_discard")
        ).one()
    assert entry.data["intent_ids"] == sorted(failed, reverse=True)
    assert (entry.target, entry.reason) == ("outbox: topic=set_hold", "obsolete")


def test_bulk_without_a_reason_does_nothing(
    as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    failed = _seed(runtime, 2, status="failed")
    answer = as_role("operator").post(
        "/admin/outbox/bulk", {"action": "discard", "status": "failed", "up_to": str(failed[-1])}
    )
    assert answer.status_code == 303
    assert [_status(runtime, i) for i in failed] == ["failed", "failed"]


def test_bulk_retry_redrives_each_failed_doi_once(
    make_pipeline: Callable[..., Pipeline],
    as_role: Callable[[str], AdminClient],
    runtime: Runtime,
) -> None:
    pipeline = make_pipeline()
    for name in ("bulk-a", "bulk-b"):
        _failed_intent(pipeline, name)
    operator = as_role("operator")
    confirm = operator.page("/admin/outbox/bulk?action=retry&status=failed")
    assert "Retry 2 intent(s)" in confirm
    up_to = re.search(r'name="up_to" value="(\d+)"', confirm)
    assert up_to is not None
    operator.post(
        "/admin/outbox/bulk",
        {"action": "retry", "status": "failed", "up_to": up_to.group(1), "reason": "fixed"},
    )
    for name in ("bulk-a", "bulk-b"):
        wait_until(lambda n=name: doi_state(runtime, concept(n)) == "draft")


def test_an_old_intent_pruned_from_the_outbox_is_a_404(
    as_role: Callable[[str], AdminClient],
) -> None:
    assert as_role("viewer").get("/admin/outbox/424242").status_code == 404


def test_timeline_shows_event_kinds_it_does_not_know(
    as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    [intent_id] = _seed(runtime, 1, status="enqueued")
    with runtime.sessions.begin() as session:
        at = utcnow() + timedelta(seconds=1)
        session.add(
            IntentEvent(intent_id=intent_id, at=at, kind="claimed", data={"message_id": "m-77"})
        )
        session.add(IntentEvent(intent_id=intent_id, at=at, kind="hold_on", data={"blob": "k"}))
    page = as_role("viewer").page(f"/admin/outbox/{intent_id}")
    assert "Claimed by the relay" in page
    assert "m-77" in page
    assert "Hold on" in page
