"""The sandbox's WSGI app: DataCite's REST API with fault injection, plus control routes."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ops.sandbox import api, control, document
from ops.sandbox import doi as doi_strings
from ops.sandbox.accounts import Accounts
from ops.sandbox.faults import (
    Alarm,
    FaultBook,
    FaultPlan,
    FaultRule,
    TokenBucket,
    parse_rate_limit,
    retry_after_header,
)
from ops.sandbox.persistence import StateFile
from ops.sandbox.recorder import RequestRecorder
from ops.sandbox.store import Store

logger = logging.getLogger(__name__)

# merge_slashes stays off so a `https://doi.org/…` form survives in a DOI path.
API_MAP = Map(
    [
        Rule("/heartbeat", endpoint="heartbeat", methods=["GET"]),
        Rule("/dois", endpoint="dois", methods=["GET", "POST"]),
        Rule("/dois/<path:raw>", endpoint="doi", methods=["GET", "PUT", "PATCH", "DELETE"]),
    ],
    merge_slashes=False,
    strict_slashes=False,
)

HANDLERS: dict[tuple[str | None, str], Callable[..., Response]] = {
    ("heartbeat", "GET"): api.heartbeat,
    ("dois", "GET"): api.list_dois,
    ("dois", "POST"): api.post_dois,
    ("doi", "GET"): api.get_doi,
    ("doi", "PUT"): api.put_doi,
    ("doi", "PATCH"): api.put_doi,
    ("doi", "DELETE"): api.delete_doi,
}


class ConnectionDroppedError(ConnectionError):
    """Raised after the socket is shut; the server treats it as a dropped connection."""


class SandboxApp:
    """A WSGI callable holding one sandbox's DOIs, faults, request log and limits."""

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        prefixes: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
        domains: Iterable[str] | str | None = None,
        rate_limit: str | None = None,
        state_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.accounts = Accounts(users, prefixes)
        self.store = Store(StateFile(state_path) if state_path is not None else None)
        self.faults = FaultBook()
        self.recorder = RequestRecorder()
        self.alarm = Alarm()
        self._defaults: dict[str, Any] = {"domains": domains, "rate_limit": rate_limit}
        self.domains: list[str] | None = None
        self.rate_limit: str | None = None
        self.bucket: TokenBucket | None = None
        self.configure(domains=domains, rate_limit=rate_limit)

    def configure(self, *, domains: Iterable[str] | str | None, rate_limit: str | None) -> None:
        """Set the allowed landing-page hosts (None = any) and the rate limit (None = off)."""
        if isinstance(domains, str):
            domains = domains.split(",")
        self.domains = [d.strip() for d in domains if d.strip()] if domains is not None else None
        self.bucket = TokenBucket(*parse_rate_limit(rate_limit)) if rate_limit else None
        self.rate_limit = rate_limit

    def reset(self) -> None:
        """Forget every DOI, request and fault; restore the configuration it started with."""
        self.store.clear()
        self.faults.clear()
        self.recorder.clear()
        self.alarm.wake()
        self.configure(**self._defaults)

    def open(self) -> None:
        """Let injected sleeps run again after `close`."""
        self.alarm.reopen()

    def close(self) -> None:
        """End every injected sleep, now and later, so a stopping server never waits."""
        self.alarm.close()

    def add_faults(self, rules: Iterable[dict]) -> list[dict]:
        """Add fault rules in their JSON form; return every active rule."""
        parsed = [FaultRule.from_json(rule) for rule in rules]
        return [rule.to_json() for rule in self.faults.add(parsed)]

    def __call__(self, environ: dict, start_response):
        request = Request(environ)
        if request.path.startswith(control.ROOT):
            response = control.dispatch(self, request)
        else:
            response = self._serve_api(request)
        return response(environ, start_response)

    def _serve_api(self, request: Request) -> Response:
        endpoint, args = _match(request)
        writes = request.method in {"POST", "PUT", "PATCH"}
        attributes = api.peek_attributes(request) if writes else {}
        doi = _request_doi(endpoint, args, attributes)
        event = attributes.get("event") if isinstance(attributes.get("event"), str) else None
        entry = self.recorder.start(request.method, request.path, doi, event)
        plan = self.faults.draw(request.method, doi)
        if plan.effect is not None or plan.latency_ms:
            fault = (plan.effect.action or "respond") if plan.effect else "latency"
            self.recorder.note_fault(entry, fault)
        try:
            response = self._answer(request, endpoint, args, plan)
        except ConnectionDroppedError:
            self.recorder.finish(entry, None)
            raise
        self.recorder.finish(entry, response.status_code)
        return response

    def _answer(
        self, request: Request, endpoint: str | None, args: dict, plan: FaultPlan
    ) -> Response:
        if self.alarm.sleep(plan.latency_ms / 1000):
            # Reset or stopped meanwhile: applying now would leak into the next test.
            return document.error_response(503, "Service Unavailable")
        effect = plan.effect
        action = effect.action if effect else None
        if effect is not None and effect.respond is not None:
            return document.canned_response(effect.respond)
        if action == "reset":
            _drop_connection(request)
        if effect is not None and action == "timeout":
            # The edge gave up before the app saw the request: nothing is applied.
            self.alarm.sleep(effect.seconds)
            return document.gateway_timeout()
        response = self._throttle() or self._dispatch(request, endpoint, args)
        if effect is not None and action == "timeout_after_commit":
            self.alarm.sleep(effect.seconds)
        if action == "reset_after_commit":
            _drop_connection(request)
        return response

    def _throttle(self) -> Response | None:
        wait = self.bucket.take() if self.bucket else None
        if wait is None:
            return None
        headers = {"Retry-After": retry_after_header(wait)}
        return document.error_response(429, "Too Many Requests", headers)

    def _dispatch(self, request: Request, endpoint: str | None, args: dict) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        handler = HANDLERS.get((endpoint, method))
        try:
            if handler is None:
                raise api.not_found()
            return handler(self, request, **args)
        except api.ApiError as error:
            return error.response
        except Exception:
            logger.exception("sandbox handler failed", extra={"action": "sandbox_error"})
            return document.error_response(500, "Internal Server Error")


def create_sandbox_app(
    users: Mapping[str, str] | None = None,
    prefixes: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
    domains: Iterable[str] | str | None = None,
    rate_limit: str | None = None,
    state_path: str | os.PathLike[str] | None = None,
) -> SandboxApp:
    """Build a sandbox WSGI app; defaults to user REPO.ID / secret and prefix 10.80507."""
    return SandboxApp(
        users=users,
        prefixes=prefixes,
        domains=domains,
        rate_limit=rate_limit,
        state_path=state_path,
    )


def _match(request: Request) -> tuple[str | None, dict]:
    adapter = API_MAP.bind_to_environ(request.environ)
    try:
        endpoint, args = adapter.match()
    except HTTPException:
        # Unknown paths and methods are Rails routing errors at DataCite: a JSON 404.
        return None, {}
    return endpoint, dict(args)


def _request_doi(endpoint: str | None, args: dict, attributes: dict) -> str | None:
    if endpoint == "doi":
        return doi_strings.extract(args.get("raw"))
    if endpoint == "dois":
        raw = attributes.get("doi")
        prefix, suffix = attributes.get("prefix"), attributes.get("suffix")
        if not raw and isinstance(prefix, str) and isinstance(suffix, str):
            raw = f"{prefix}/{suffix}"
        return doi_strings.extract(raw)
    return None


def _drop_connection(request: Request) -> None:
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # Already gone: the point was for the client to see no answer.
    raise ConnectionDroppedError("sandbox fault: connection reset")
