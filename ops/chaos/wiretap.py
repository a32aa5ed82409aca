"""A pass-through HTTP proxy between the doi-workers and the sandbox that notes every body.

The sandbox's request log (`/__sandbox/requests`) has no bodies, so it cannot tell a
re-sent write from a new one. The wiretap forwards each request unchanged and keeps
its method, DOI, a hash of its body and the status the sandbox answered. When the
sandbox drops a connection (`reset`, `reset_after_commit`) the wiretap drops the
worker's connection too, so doiflow sees the same fault it would see directly.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from ops.sandbox import doi as doi_strings

# Longer than any injected stall: the worker's own read timeout decides, not ours.
UPSTREAM_TIMEOUT = 60
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass
class WireEntry:
    """One request as the wiretap saw it."""

    time: str
    method: str
    doi: str | None
    body_sha256: str
    body: str
    event: str | None = None
    status: int | None = None
    finished: bool = False
    seconds: float = 0.0
    # False when the worker had given up (its read timeout) before the answer came.
    delivered: bool = False


class Wiretap:
    """The proxy: `start()` returns the URL doiflow should use as DATACITE_API_URL."""

    def __init__(self, upstream: str, client_timeout: float) -> None:
        self.client_timeout = client_timeout
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self._entries: list[WireEntry] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Listen on a free 127.0.0.1 port in a daemon thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def entries(self) -> list[WireEntry]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._entries)

    def note(self, method: str, path: str, body: bytes) -> WireEntry:
        """Record an arriving request."""
        raw = unquote(path.split("?", 1)[0])
        doi = doi_strings.extract(raw[len("/dois/") :]) if raw.startswith("/dois/") else None
        entry = WireEntry(
            time=datetime.now(UTC).isoformat(),
            method=method,
            doi=doi,
            body_sha256=hashlib.sha256(body).hexdigest(),
            body=body.decode(errors="replace"),
            event=_event_of(body),
        )
        with self._lock:
            self._entries.append(entry)
        return entry

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes):
        """Send the request on; returns (status, reason, headers, body), or None if dropped."""
        conn = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=UPSTREAM_TIMEOUT
        )
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()


def _handler_for(tap: Wiretap) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the DataCite client expects

        def log_message(self, format: str, *args: object) -> None:
            """No access log: the entries are the log."""

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            entry = tap.note(self.command, self.path, body)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            started = time.monotonic()
            answer = tap.forward(self.command, self.path, headers, body)
            entry.seconds = round(time.monotonic() - started, 3)
            if answer is None:
                entry.finished = True
                self._drop()
                return
            status, reason, response_headers, payload = answer
            entry.status, entry.finished = status, True
            in_time = entry.seconds < tap.client_timeout
            entry.delivered = self._answer(status, reason, response_headers, payload) and in_time

        def _answer(self, status: int, reason: str, headers: list, payload: bytes) -> bool:
            try:
                self.send_response_only(status, reason)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                # The worker gave up waiting (its read timeout): nobody to answer.
                self.close_connection = True
                return False
            return True

        def _drop(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone: the point is that no answer arrives

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _relay

    return Handler


def _event_of(body: bytes) -> str | None:
    try:
        attributes = json.loads(body)["data"]["attributes"]
    except (ValueError, KeyError, TypeError):
        return None
    event = attributes.get("event") if isinstance(attributes, dict) else None
    return event if isinstance(event, str) else None
