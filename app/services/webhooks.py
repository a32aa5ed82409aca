"""The `archive_webhook` topic: one signed POST per event (see `archive_events`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.clients import webhook
from app.clients.errors import RemoteError
from app.clients.remotes import Remotes
from app.config import RetryPolicy, Settings
from app.models import Intent
from app.retry import RetryDecision
from app.runner import Failure
from app.topics import ARCHIVE_WEBHOOK


@dataclass(frozen=True)
class Plan:
    url: str
    secret: str = dataclasses.field(repr=False)
    body: bytes = b""
    event_id: str = ""
    event_type: str = ""
    timeout: float = 10.0


@dataclass
class Outcome:
    status: int | None = None
    error: RemoteError | None = None


class ArchiveWebhookHandler:
    """Runner handler for `archive_webhook`: one signed POST per event."""

    topic = ARCHIVE_WEBHOOK

    @staticmethod
    def retry_policy(settings: Settings) -> RetryPolicy:
        """The runner's backoff, with the webhook's own number of tries."""
        return dataclasses.replace(
            settings.retry, max_attempts=settings.archive_webhook_max_attempts
        )

    def prepare(self, session: Session, settings: Settings, intent: Intent) -> Plan | None:
        """None (done) when the webhook was switched off since the event was written."""
        url, secret = settings.archive_webhook_url, settings.archive_webhook_secret
        if url is None or secret is None:
            return None
        body = intent.payload["event"]
        return Plan(
            url=url,
            secret=secret,
            # The bytes signed are the bytes sent: serialised once, here.
            body=json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
            event_id=str(body["id"]),
            event_type=str(body["type"]),
            timeout=settings.archive_webhook_timeout,
        )

    def execute(self, remotes: Remotes, plan: Plan) -> Outcome:
        status = webhook.post(
            plan.url,
            plan.secret,
            plan.body,
            event_id=plan.event_id,
            event_type=plan.event_type,
            timeout=plan.timeout,
        )
        return Outcome(status=status)

    def record(
        self,
        session: Session,
        settings: Settings,
        intent: Intent,
        plan: Plan | None,
        outcome: Outcome | Failure,
        decision: RetryDecision | None,
    ) -> RetryDecision | None:
        """Nothing to record beyond the intent itself (the runner settles it)."""
        return None

    def context(self, plan: Plan) -> dict[str, Any]:
        return {"event_id": plan.event_id, "event_type": plan.event_type}


HANDLER = ArchiveWebhookHandler()
