"""DataCite REST API client: the only module that speaks HTTP to DataCite.

Every outcome is translated here into a `RemoteDoi`, `None` (gone), or one of the
errors in `app.clients.errors`, so nothing above this module sees `requests`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.retry import Retry

from app import metrics
from app.clients import calls
from app.clients.errors import (
    PermanentError,
    RemoteDoi,
    RemoteError,
    RemoteProblem,
    ThrottledError,
    TransientError,
)
from app.clients.retry_after import parse_retry_after

logger = logging.getLogger("doiflow.datacite")

JSON_API = "application/vnd.api+json"
SUCCESS_STATUSES = frozenset({200, 201, 204})
# These 4xx can never succeed as sent; DESIGN: fail at once, keep the body.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 422})
# 408 means the request never arrived in full: retrying it later can work.
TRANSIENT_4XX = frozenset({408})
MAX_BODY_CHARS = 4096
LOG_MESSAGE = "datacite request"


class DataCiteClient:
    """Create, update, publish, hide, read and delete DOIs through DataCite's REST API."""

    def __init__(
        self,
        api_url: str,
        user: str,
        password: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.api_url = _checked_api_url(api_url)
        self.user = user
        self._timeout = (connect_timeout, read_timeout)
        self._session = _build_session(self.api_url, user, password)

    def __repr__(self) -> str:
        # Never the password: this repr ends up in logs and tracebacks.
        return f"DataCiteClient(api_url={self.api_url!r}, user={self.user!r})"

    def __enter__(self) -> DataCiteClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, doi: str) -> RemoteDoi | None:
        """Read one DOI; None when DataCite does not know it."""
        response = self._request("GET", doi, missing_ok=True)
        return None if response.status_code == 404 else _remote_doi(response)

    def list_page(
        self, *, client_id: str, prefix: str, cursor: str | None = None, size: int = 1000
    ) -> tuple[list[RemoteDoi], str | None]:
        """One page of the client's DOIs under `prefix` (every state), and the next cursor.

        DataCite's cursor pagination (`page[cursor]`) walks by creation time with no
        10,000-result limit; the first page is asked with cursor 1.
        """
        params = {
            "client-id": client_id.lower(),
            "prefix": prefix,
            "page[size]": str(size),
            "page[cursor]": cursor or "1",
        }
        response = self._request("GET", f"{prefix}/*", params=params, listing=True)
        payload = _json_body(response)
        data = payload.get("data") if isinstance(payload, dict) else None
        try:
            if not isinstance(data, list):
                raise ValueError("no data list")
            records = [_record(item, response.status_code) for item in data]
        except ValueError:
            raise PermanentError(
                f"DataCite answered {response.status_code} to a listing without DOI records",
                status=response.status_code,
                body=_body_text(response),
            ) from None
        return records, _next_cursor(payload) if records else None

    def save_draft(self, doi: str, attributes: dict) -> RemoteDoi:
        """Create or update a draft DOI (PUT without an event)."""
        # An event smuggled in with the metadata would change state behind our back.
        payload = {k: v for k, v in attributes.items() if k != "event"}
        return _confirmed(self._put(doi, payload), "draft")

    def publish(self, doi: str, attributes: dict) -> RemoteDoi:
        """Make a DOI findable with these attributes; also re-syncs or restores one."""
        return _confirmed(self._put(doi, {**attributes, "event": "publish"}), "findable")

    def register(self, doi: str, attributes: dict) -> RemoteDoi:
        """Create or move a DOI to registered (resolvable, not findable) with these attributes."""
        return _confirmed(self._put(doi, {**attributes, "event": "register"}), "registered")

    def hide(self, doi: str, url: str | None = None) -> RemoteDoi | None:
        """Hide a findable DOI (state registered), optionally pointing it at `url`; None if gone."""
        payload: dict[str, Any] = {"event": "hide"}
        if url is not None:
            payload["url"] = url
        response = self._put(doi, payload, missing_ok=True)
        return None if response.status_code == 404 else _confirmed(response, "registered")

    def delete(self, doi: str) -> int:
        """Delete a draft DOI; returns 204, or 404 when it was already gone (also success)."""
        return self._request("DELETE", doi, missing_ok=True).status_code

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    def _put(self, doi: str, attributes: dict, *, missing_ok: bool = False) -> requests.Response:
        # PUT is create-or-update, so a retry after a lost response never duplicates.
        body = {"data": {"type": "dois", "attributes": attributes}}
        return self._request("PUT", doi, body, missing_ok=missing_ok)

    def _request(
        self,
        method: str,
        doi: str,
        body: dict | None = None,
        *,
        missing_ok: bool = False,
        params: dict[str, str] | None = None,
        listing: bool = False,
    ) -> requests.Response:
        """Send one request; return a 2xx (or accepted 404) response, else raise."""
        doi = _normalise(doi)
        started = time.monotonic()
        try:
            response = self._session.request(
                method,
                f"{self.api_url}/dois" if listing else self._doi_url(doi),
                params=params,
                data=None if body is None else json.dumps(body),
                timeout=self._timeout,
                allow_redirects=False,  # a redirect would turn a PUT into a GET
            )
        except requests.RequestException as exc:
            lost = _transport_error(method, doi, exc)
            _log(method, doi, None, started, error=lost)
            raise lost from exc
        status = response.status_code
        accepted = status in SUCCESS_STATUSES or (missing_ok and status == 404)
        if accepted:
            _log(method, doi, status, started)
            return response
        error = _status_error(method, doi, response)
        _log(method, doi, status, started, error=error)
        raise error

    def _doi_url(self, doi: str) -> str:
        return f"{self.api_url}/dois/{quote(doi, safe='/')}"


def _checked_api_url(api_url: str) -> str:
    """Refuse a URL that is not http(s) or that embeds credentials (they would be logged)."""
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("DATACITE_API_URL must be an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("DATACITE_API_URL must not contain credentials")
    return api_url.rstrip("/")


def _build_session(api_url: str, user: str, password: str) -> requests.Session:
    """A session with JSON:API headers, Basic auth and no transport-level retries."""
    session = requests.Session()
    # The environment's proxy and CA settings, read once for DataCite's URL: requests
    # would otherwise look them up twice on every request (a tenth of a call's CPU).
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(api_url)
    session.verify = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    )
    session.auth = (user, password)
    session.headers.update({"Content-Type": JSON_API, "Accept": JSON_API})
    # Zero retries: a retried 429/503 would hide Retry-After from the state machine,
    # and a retried write after a lost response is the caller's decision, not ours.
    # read=False re-raises a read timeout as itself; otherwise urllib3 wraps it in
    # MaxRetryError and requests reports a plain ConnectionError, losing `timed_out`.
    no_retries = Retry(total=0, read=False, respect_retry_after_header=False, raise_on_status=False)
    for prefix in ("http://", "https://"):
        session.mount(prefix, HTTPAdapter(max_retries=no_retries))
    return session


def _normalise(doi: str) -> str:
    """DataCite DOIs are case-insensitive; we always send the canonical lowercase form."""
    doi = doi.strip().lower()
    if not doi:
        raise ValueError("empty DOI")
    return doi


def _log(
    method: str, doi: str, status: int | None, started: float, *, error: RemoteError | None = None
) -> None:
    elapsed = time.monotonic() - started
    metrics.observe_datacite(method, status, elapsed)
    elapsed_ms = round(elapsed * 1000)
    retry_after = getattr(error, "retry_after", None)
    extra: dict[str, Any] = {
        "action": "datacite_request",
        "method": method,
        "doi": doi,
        "status": status,
        "elapsed_ms": elapsed_ms,
    }
    if error is not None:
        extra.update(error=error.message, titles=[p.title for p in error.problems])
        if retry_after is not None:
            extra["retry_after"] = retry_after
    logger.log(logging.WARNING if error else logging.INFO, LOG_MESSAGE, extra=extra)
    calls.record(
        service="datacite",
        method=method,
        target=doi,
        status=status,
        elapsed_ms=elapsed_ms,
        retry_after=retry_after,
        error=str(error) if error else None,
    )


def _transport_error(method: str, doi: str, exc: requests.RequestException) -> TransientError:
    """No HTTP answer: a timeout or a dropped connection (the write may have been applied)."""
    timed_out = isinstance(exc, requests.Timeout)
    what = "timed out" if timed_out else "connection failed"
    # The type name only: the text of a requests error can be long and says little more.
    return TransientError(
        f"DataCite {method} {doi} {what} ({type(exc).__name__})",
        timed_out=timed_out,
        maybe_applied=_maybe_sent(exc),
    )


def _maybe_sent(exc: requests.RequestException) -> bool:
    """False only when the connection never opened, so no byte of the request left."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return not isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _status_error(method: str, doi: str, response: requests.Response) -> RemoteError:
    """Classify a non-success HTTP status per DESIGN's "DataCite errors" table."""
    status = response.status_code
    payload = _json_body(response)
    body = _body_text(response)
    problems = _problems(payload)
    message = f"DataCite {method} {doi} answered {status}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        return ThrottledError(
            message, retry_after=retry_after, status=status, problems=problems, body=body
        )
    if status == 403 and payload is None:
        # An HTML 403 comes from the edge/WAF in front of DataCite, not from DataCite.
        return ThrottledError(
            f"{message} (non-JSON, from the edge)",
            retry_after=retry_after,
            status=status,
            body=body,
        )
    if status >= 500 or status in TRANSIENT_4XX:
        # A 5xx may come from a proxy after DataCite applied the write: look before deciding.
        return TransientError(
            message, status=status, problems=problems, body=body, maybe_applied=status >= 500
        )
    if status not in PERMANENT_STATUSES:
        message = f"{message} (unexpected status)"
    return PermanentError(message, status=status, problems=problems, body=body)


def _confirmed(response: requests.Response, expected_state: str) -> RemoteDoi:
    """The record DataCite answered, provided it is in the state we asked for."""
    record = _remote_doi(response)
    if record.state != expected_state:
        # DataCite ignores a disallowed event and still answers 2xx.
        raise PermanentError(
            f"DataCite answered {response.status_code} for {record.doi} with state "
            f"{record.state!r}, expected {expected_state!r}",
            status=response.status_code,
            body=_body_text(response),
        )
    return record


def _remote_doi(response: requests.Response) -> RemoteDoi:
    """Read DataCite's JSON:API record; a 2xx without one cannot confirm anything."""
    payload = _json_body(response)
    data = payload.get("data") if isinstance(payload, dict) else None
    try:
        return _record(data, response.status_code)
    except ValueError:
        raise PermanentError(
            f"DataCite answered {response.status_code} without a DOI record",
            status=response.status_code,
            body=_body_text(response),
        ) from None


def _record(data: Any, status: int) -> RemoteDoi:
    """One JSON:API DOI resource; ValueError when it is not one."""
    attributes = data.get("attributes") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(attributes, dict):
        raise ValueError("not a DOI record")
    state = attributes.get("state")
    return RemoteDoi(
        doi=str(attributes.get("doi") or data.get("id") or "").lower(),
        state=str(state) if state is not None else "",
        url=attributes.get("url"),
        attributes=attributes,
        http_status=status,
    )


def _next_cursor(payload: dict[str, Any]) -> str | None:
    """The `page[cursor]` of links.next, or None on the last page."""
    links = payload.get("links")
    following = links.get("next") if isinstance(links, dict) else None
    if not isinstance(following, str):
        return None
    cursors = parse_qs(urlsplit(following).query).get("page[cursor]")
    return cursors[0] if cursors else None


def _json_body(response: requests.Response) -> Any:
    """The decoded JSON body, or None when there is none or it is not JSON (an HTML page)."""
    if not response.content:
        return None
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict | list) else None


def _body_text(response: requests.Response) -> str:
    """The body as text, truncated: kept on the DOI row for a person to read."""
    text = response.text
    if len(text) > MAX_BODY_CHARS:
        return text[:MAX_BODY_CHARS] + "…[truncated]"
    return text


def _problems(payload: Any) -> tuple[RemoteProblem, ...]:
    """DataCite's JSON:API `errors`, as (title, source) pairs; other shapes kept as text."""
    if not isinstance(payload, dict):
        return ()
    errors = payload.get("errors", payload.get("error"))
    if errors is None:
        return ()
    if not isinstance(errors, list):
        errors = [errors]
    return tuple(_problem(item) for item in errors)


def _problem(item: Any) -> RemoteProblem:
    if not isinstance(item, dict):
        return RemoteProblem(title=str(item))
    title = item.get("title") or item.get("detail") or item.get("status") or json.dumps(item)
    source = item.get("source")
    if isinstance(source, dict):
        # JSON:API allows {"pointer": "/data/attributes/url"}; DataCite usually sends "url".
        source = source.get("pointer") or source.get("parameter") or json.dumps(source)
    return RemoteProblem(title=str(title), source=str(source) if source else None)
