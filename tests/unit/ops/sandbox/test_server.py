"""SandboxServer: real HTTP in a daemon thread, stopped without waiting on faults."""

from __future__ import annotations

import threading
import time

import requests

from ops.sandbox import SandboxServer
from tests.fixtures.sandbox import (
    SANDBOX_AUTH,
    SANDBOX_PASSWORD,
    SANDBOX_PREFIX,
    SANDBOX_USER,
    doi_payload,
)

DOI = f"{SANDBOX_PREFIX}/faulty"


def put(sandbox, doi: str = DOI, timeout: float = 5) -> requests.Response:
    payload = doi_payload(url="https://archive.example.org/x")
    return requests.put(
        f"{sandbox.url}/dois/{doi}", json=payload, auth=SANDBOX_AUTH, timeout=timeout
    )


def wait_until(condition, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.02)


def _swallow_timeout(sandbox) -> None:
    try:
        put(sandbox, timeout=0.3)
    except requests.Timeout:
        pass


def test_stopping_the_server_ends_injected_sleeps():
    server = SandboxServer(users={SANDBOX_USER: SANDBOX_PASSWORD}, prefixes=[SANDBOX_PREFIX])
    server.start()
    server.add_faults({"action": "timeout_after_commit", "seconds": 30})
    worker = threading.Thread(target=lambda: _swallow_timeout(server), daemon=True)
    worker.start()
    wait_until(lambda: server.state_of(DOI) == "draft")

    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 2
