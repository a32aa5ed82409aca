"""A threaded Werkzeug server running one sandbox in a daemon thread."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ops.sandbox.app import SandboxApp, create_sandbox_app
from ops.sandbox.control import record_summary
from ops.sandbox.control_client import SandboxControl
from ops.sandbox.doi import extract


class KeepAliveRequestHandler(WSGIRequestHandler):
    """HTTP/1.1 with persistent connections, as DataCite's own servers answer.

    Werkzeug's default is HTTP/1.0, one TCP connection per request: every client then
    pays a connect (and the server a new thread) per call, which the real service does
    not charge. A fault that drops the connection still closes it.
    """

    protocol_version = "HTTP/1.1"


class QuietRequestHandler(KeepAliveRequestHandler):
    """Skips the per-request access line; errors are still logged."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing: tests make thousands of requests."""


class SandboxServer:
    """The DataCite sandbox over real HTTP; use as a context manager or start()/stop()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        users: Mapping[str, str] | None = None,
        prefixes: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
        domains: Iterable[str] | str | None = None,
        rate_limit: str | None = None,
        *,
        quiet: bool = True,
        state_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.quiet = quiet
        # With a state path the DOIs are read from it now and written after every change.
        self.app: SandboxApp = create_sandbox_app(
            users=users,
            prefixes=prefixes,
            domains=domains,
            rate_limit=rate_limit,
            state_path=state_path,
        )
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:53412`."""
        if self._server is None:
            raise RuntimeError("the sandbox server is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.server_port}"

    @property
    def control(self) -> SandboxControl:
        """A client of this server's /__sandbox/ control interface."""
        return SandboxControl(self.url)

    def start(self) -> SandboxServer:
        """Bind the port and serve in a daemon thread."""
        if self._server is not None:
            return self
        self.app.open()
        handler = QuietRequestHandler if self.quiet else KeepAliveRequestHandler
        server = make_server(self.host, self.port, self.app, threaded=True, request_handler=handler)
        # Never wait for handler threads on close: one may be stalled by a fault.
        server.block_on_close = False  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="datacite-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Cut short injected sleeps, stop serving and release the port."""
        if self._server is None:
            return
        self.app.close()
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def reset(self) -> None:
        """Forget every DOI, request and fault (as POST /__sandbox/reset)."""
        self.app.reset()

    def add_faults(self, *rules: dict) -> list[dict]:
        """Add fault rules in their JSON form (as POST /__sandbox/faults)."""
        return self.app.add_faults(rules)

    def clear_faults(self) -> None:
        """Drop every fault rule (as DELETE /__sandbox/faults)."""
        self.app.faults.clear()

    def requests(self) -> list[dict]:
        """Return the API request log (as GET /__sandbox/requests)."""
        return self.app.recorder.entries()

    def dois(self) -> list[dict]:
        """Return every DOI with its state (as GET /__sandbox/dois)."""
        return [record_summary(record) for record in self.app.store.all()]

    def state_of(self, doi: str) -> str | None:
        """Return the state of `doi` (any accepted form), or None when it does not exist."""
        normalized = extract(doi)
        record = self.app.store.get(normalized) if normalized else None
        return record.state if record else None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
