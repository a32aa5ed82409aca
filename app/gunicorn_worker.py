"""gunicorn's sync worker, answering its own errors in doiflow's JSON envelope.

gunicorn writes the answers it makes itself (a request line over
`limit_request_line`: 414; too many or too large headers: 431; a malformed request:
400) as HTML through one function, `gunicorn.util.write_error`, before the app sees
the request. This worker replaces that function in its own process with one writing
`{"error": {"code", "message", "details"}}`, so a client of `/api` never parses HTML
(the path is not known yet at that point, so the admin page gets JSON for these too).

A request still running when the master's `--timeout` expires is answered 503 in the
same envelope before the worker exits (gunicorn itself would just drop the connection).

A sync worker serves one connection at a time and reads it until the request arrives.
Browsers open connections ahead of need (Chromium's preconnects) and may leave them
idle for seconds: gunicorn would sit on such a socket until the master's timeout killed
it, with every other client waiting. This worker gives a new connection at most
`FIRST_BYTE_SECONDS` to start its request and closes it otherwise (a browser drops a
closed preconnected socket and opens another when it needs one). A slow client that
stalls mid-request still holds the worker: put a buffering proxy in front for clients
on slow links, as gunicorn's documentation advises for sync workers.
"""

from __future__ import annotations

import json
import re
import select
import socket
from typing import Any

from gunicorn import util
from gunicorn.workers.sync import SyncWorker

MESSAGE_LIMIT = 200  # gunicorn quotes the request line in some messages: keep them short
# How long a new connection may stay silent before the worker closes it. A client that
# connected to send a request sends it at once; one silent this long is a browser's
# spare connection, and waiting for it would stall every other client.
FIRST_BYTE_SECONDS = 1.0


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """`gunicorn.util.write_error`'s signature, writing the JSON envelope."""
    message = (mesg or reason)[:MESSAGE_LIMIT]
    code = re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_")
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class JsonErrorWorker(SyncWorker):
    """SyncWorker whose own error answers (and timeout answer) are JSON."""

    def init_process(self) -> None:
        # In this worker process only: gunicorn's one writer of its own error pages.
        util.write_error = write_json_error
        self._in_flight: socket.socket | None = None
        super().init_process()

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        readable, _, _ = select.select([client], [], [], FIRST_BYTE_SECONDS)
        if not readable:
            self.log.debug("closing a connection that sent nothing in %s s", FIRST_BYTE_SECONDS)
            client.close()
            return
        self._in_flight = client
        try:
            super().handle(listener, client, addr)
        finally:
            self._in_flight = None

    def handle_abort(self, sig: int, frame: Any) -> None:
        """The master's timeout (SIGABRT): answer the request in flight, then exit."""
        client = getattr(self, "_in_flight", None)
        if client is not None:
            try:
                write_json_error(
                    client,
                    503,
                    "Service Unavailable",
                    f"the request ran longer than the web worker's {self.cfg.timeout} s "
                    "timeout; retry it",
                )
            except OSError:
                pass  # the client is gone already
        super().handle_abort(sig, frame)
