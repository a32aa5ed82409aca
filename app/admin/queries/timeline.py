"""One intent's whole story, in time order: its creation, every event the runner and the
relay recorded, the state transitions it drove, and what people did to it.

Event kinds this page does not know yet (the relay's `claimed`, the holds' own) are
shown with their data rather than hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.admin.redact import redact
from app.models import DoiTransition, Intent, IntentEvent
from app.topics import SYNC_DOI

Facts = list[tuple[str, str]]


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: datetime
    kind: str
    title: str
    tone: str = "info"  # ok | warn | bad | info | person
    facts: Facts = field(default_factory=list)
    order: int = 0  # ties at the same instant keep the order they were written in


def timeline(session: Session, intent: Intent) -> list[Entry]:
    """Every entry of the intent's story, oldest first."""
    entries = [_created(intent)]
    events = session.scalars(
        select(IntentEvent).where(IntentEvent.intent_id == intent.id).order_by(IntentEvent.id)
    )
    entries += [_event(event) for event in events]
    entries += _transitions(session, intent)
    return sorted(entries, key=lambda e: (e.at, e.order))


def _created(intent: Intent) -> Entry:
    return Entry(
        intent.created_at,
        "created",
        f"Intent created: {intent.topic} on queue {intent.queue}",
        facts=[("key", intent.key)],
        order=-1,
    )


def _transitions(session: Session, intent: Intent) -> list[Entry]:
    """The DOI state changes this intent caused (holds add theirs when they land)."""
    doi_id = intent.payload.get("doi_id")
    if intent.topic != SYNC_DOI.name or not isinstance(doi_id, int):
        return []
    # By doi_id (indexed), then the intent: a DOI's history is short.
    rows = session.scalars(
        select(DoiTransition)
        .where(DoiTransition.doi_id == doi_id, DoiTransition.intent_id == intent.id)
        .order_by(DoiTransition.id)
    )
    return [_transition(t) for t in rows]


def _transition(t: DoiTransition) -> Entry:
    facts = [("event", t.event)]
    if t.http_status is not None:
        facts.append(("HTTP status", str(t.http_status)))
    if t.detail:
        facts.append(("detail", t.detail))
    tone = "bad" if t.to_state == "failed" else "ok"
    return Entry(t.at, "transition", f"DOI {t.from_state} → {t.to_state}", tone, facts, t.id)


def _event(event: IntentEvent) -> Entry:
    data = redact(event.data or {})
    describe = DESCRIBERS.get(event.kind, _other)
    title, tone, facts = describe(event.kind, data)
    return Entry(event.at, event.kind, title, tone, facts, event.id)


Described = tuple[str, str, Facts]


def _call(_kind: str, d: dict[str, Any]) -> Described:
    status = d.get("status")
    service = str(d.get("service") or "remote").replace("datacite", "DataCite")
    answer = f"→ {status}" if status is not None else "→ no answer"
    title = f"{service} {d.get('method', '?')} {d.get('target', '')} {answer}"
    facts = _facts(
        d, ("elapsed_ms", "duration"), ("retry_after", "Retry-After"), ("error", "error")
    )
    if status is None or int(status) >= 400:
        tone = "warn" if status == 429 else "bad"
    else:
        tone = "ok"
    return title, tone, [(k, f"{v} ms" if k == "duration" else v) for k, v in facts]


def _decision(kind: str, d: dict[str, Any]) -> Described:
    delay = d.get("delay_seconds")
    titles = {
        "retry": f"Retry scheduled in {delay} s",
        "snooze": f"Snoozed {delay} s (throttled; no attempt used)",
        "fail": "Failed: needs a person",
    }
    tone = "bad" if kind == "fail" else "warn"
    return titles[kind], tone, _facts(d, ("reason", "reason"), ("error", "error"))


def _simple(title: str, tone: str, *keys: str) -> Callable[[str, dict[str, Any]], Described]:
    """A describer with a fixed title that lists the given keys of the event's data."""

    def describe(_kind: str, d: dict[str, Any]) -> Described:
        return title, tone, _facts(d, *((key, key) for key in keys))

    return describe


def _started(_kind: str, d: dict[str, Any]) -> Described:
    return f"Delivery started (attempt {d.get('attempt', '?')})", "info", []


def _operator(_kind: str, d: dict[str, Any]) -> Described:
    title = f"{d.get('who', 'someone')}: {d.get('action', 'acted')}"
    return (
        title,
        "person",
        _facts(d, ("reason", "reason"), ("doi", "DOI"), ("new_intent", "new intent")),
    )


def _other(kind: str, d: dict[str, Any]) -> Described:
    return kind.replace("_", " ").capitalize(), "info", [(k, str(v)) for k, v in d.items()]


def _facts(d: dict[str, Any], *keys: tuple[str, str]) -> Facts:
    return [(label, str(d[key])) for key, label in keys if d.get(key) not in (None, "")]


DESCRIBERS: dict[str, Callable[[str, dict[str, Any]], Described]] = {
    "claimed": _simple("Claimed by the relay", "info", "message_id", "lease_expires_at"),
    "started": _started,
    "call": _call,
    "done": _simple("Done", "ok", "reason"),
    "continue": _simple("Step done; the next is due now (no attempt used)", "ok", "reason"),
    "retry": _decision,
    "snooze": _decision,
    "fail": _decision,
    "dropped": _simple("Result dropped: the lease was lost", "warn", "reason"),
    "discarded": _simple("Discarded", "person", "reason"),
    "operator": _operator,
}
