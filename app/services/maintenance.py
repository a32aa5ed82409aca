"""The `maintain` topic: the clock's database-only tasks, run through the intent runner.

The intent's payload names a schedule (`task`) and its parameters; the task runs in the
runner's recording transaction (short: one batch), its count goes on the timeline, and a
batched task that filled its batch queues itself again for the next one. Nothing here
calls a remote service.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app import outbox, schedules
from app.clients.errors import PermanentError, RemoteError
from app.clients.remotes import Remotes
from app.config import Settings
from app.db import utcnow
from app.models import Intent
from app.retry import RetryDecision
from app.runner import Failure
from app.topics import MAINTAIN


@dataclass(frozen=True)
class Plan:
    task: str
    function: str
    params: dict[str, Any]
    batched: bool


@dataclass(frozen=True)
class Outcome:
    error: RemoteError | None = None


class MaintainHandler:
    """Runner handler for `maintain`: no remote step, the task runs when recording."""

    topic = MAINTAIN

    def prepare(self, session: Session, settings: Settings, intent: Intent) -> Plan | None:
        payload = dict(intent.payload)
        task = str(payload.pop("task", ""))
        schedule = schedules.BY_NAME.get(task)
        if schedule is None or schedule.task is None:
            # Recorded as a permanent failure by `execute`: a person must look.
            return Plan(task, "", payload, batched=False)
        return Plan(task, schedule.task, payload, schedule.batched)

    def execute(self, remotes: Remotes, plan: Plan) -> Outcome:
        if not plan.function:
            return Outcome(PermanentError(f"no maintenance task named {plan.task!r}"))
        return Outcome()

    def record(
        self,
        session: Session,
        settings: Settings,
        intent: Intent,
        plan: Plan | None,
        outcome: Outcome | Failure,
        decision: RetryDecision | None,
    ) -> RetryDecision | None:
        """Run the task (one batch) and, when it filled the batch, queue the next one."""
        if plan is None or decision is not None:
            return None
        count = run_task(session, settings, plan.function, plan.params)
        outbox.record_event(session, intent.id, "task", task=plan.task, count=count)
        batch = plan.params.get("batch")
        if plan.batched and batch is not None and count >= int(batch):
            # This intent is enqueued, so the new one waits behind it (one per key).
            outbox.add(session, MAINTAIN, key=intent.key, payload=dict(intent.payload))
        return None

    def context(self, plan: Plan) -> dict[str, Any]:
        return {"task": plan.task}


def run_task(session: Session, settings: Settings, function: str, params: dict[str, Any]) -> int:
    """Call a task named "module:function" as f(session, now=…, **params).

    A task that takes a `settings` parameter gets the worker's Settings too.
    """
    module, _, attribute = function.partition(":")
    task = getattr(importlib.import_module(module), attribute)
    extra = {"settings": settings} if "settings" in inspect.signature(task).parameters else {}
    return int(task(session, now=utcnow(), **params, **extra) or 0)


HANDLER = MaintainHandler()
