"""Posting one signed event to the archive's webhook: the only module that calls the archive.

The body is signed with HMAC-SHA256 under ARCHIVE_WEBHOOK_SECRET and the signature
sent as `X-Doiflow-Signature: sha256=<hex>`; the secret itself never leaves this
module, in a request or a log line. Outcomes are our own errors: 2xx is success, 429
throttled (Retry-After honoured), 408, 5xx and no answer transient, any other status
permanent (a webhook that refuses the event will refuse it again).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import urllib.error
import urllib.request

from app.clients import calls
from app.clients.errors import PermanentError, RemoteError, ThrottledError, TransientError
from app.clients.retry_after import parse_retry_after

log = logging.getLogger("doiflow.webhook")

SIGNATURE_HEADER = "X-Doiflow-Signature"
MAX_BODY_CHARS = 1000


def signature(secret: str, body: bytes) -> str:
    """The header value for `body`: `sha256=` and the hex HMAC-SHA256 of the raw bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(
    url: str, secret: str, body: bytes, *, event_id: str, event_type: str, timeout: float
) -> int:
    """POST one event; returns the 2xx status, else raises a RemoteError."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "doiflow-webhook",
        SIGNATURE_HEADER: signature(secret, body),
        "X-Doiflow-Event": event_type,
        "X-Doiflow-Event-Id": event_id,
    }
    # S310: the URL was checked to be http(s) when the settings were loaded.
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    started = time.monotonic()
    status: int | None = None
    error: RemoteError | None = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            status = int(answer.status)
    except urllib.error.HTTPError as refused:
        status = refused.code
        error = _status_error(refused)
    except (urllib.error.URLError, OSError) as lost:
        reason = getattr(lost, "reason", lost)
        error = TransientError(
            f"archive webhook unreachable ({type(reason).__name__})",
            timed_out=isinstance(reason, TimeoutError),
        )
    _log(event_type, status, started, error)
    if error is not None:
        raise error
    assert status is not None  # noqa: S101 - an answer without an error has a status
    return status


def _status_error(refused: urllib.error.HTTPError) -> RemoteError:
    status = refused.code
    body = refused.read(MAX_BODY_CHARS).decode(errors="replace")
    message = f"archive webhook answered {status}"
    if status == 429:
        retry_after = parse_retry_after(refused.headers.get("Retry-After"))
        return ThrottledError(message, retry_after=retry_after, status=status, body=body)
    if status >= 500 or status == 408:
        return TransientError(message, status=status, body=body)
    return PermanentError(message, status=status, body=body)


def _log(event_type: str, status: int | None, started: float, error: RemoteError | None) -> None:
    elapsed_ms = round((time.monotonic() - started) * 1000)
    extra = {
        "action": "webhook_request",
        "event_type": event_type,
        "status": status,
        "elapsed_ms": elapsed_ms,
    }
    if error is not None:
        extra["error"] = error.message
    log.log(logging.WARNING if error else logging.INFO, "webhook request", extra=extra)
    calls.record(
        service="webhook",
        method="POST",
        target=event_type,
        status=status,
        elapsed_ms=elapsed_ms,
        error=str(error) if error else None,
    )
