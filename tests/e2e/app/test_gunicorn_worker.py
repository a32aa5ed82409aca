"""The web process as the Procfile runs it: gunicorn's own answers are JSON, never HTML.

A real gunicorn with `app.gunicorn_config` (its limits, the JSON error worker); raw
sockets where a client library would refuse to send the request at all.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import psycopg
import pytest
import requests

from tests.e2e.harness import BIN, Harness, free_port, http_ok

TIMEOUT_SECONDS = 2


def start_web(harness: Harness, timeout: int) -> str:
    """The Procfile's web line on a free port, one worker, the given worker timeout; its URL."""
    port = free_port()
    process = harness.start(
        "web",
        [
            str(BIN / "gunicorn"),
            "app:create_app()",
            "--config",
            "python:app.gunicorn_config",
            "--no-control-socket",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            str(timeout),
        ],
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_ready(lambda: http_ok(f"{url}/healthz"), 30, "GET /healthz")
    return url


@pytest.fixture
def web(harness: Harness, api_token: str) -> str:
    """The web process with a short worker timeout."""
    return start_web(harness, TIMEOUT_SECONDS)


def raw_request(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as is; the status, headers and body of the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def assert_envelope(headers: dict[str, str], body: bytes, code: str) -> dict[str, Any]:
    assert headers["content-type"].startswith("application/json"), headers
    error = json.loads(body)["error"]
    assert error["code"] == code, error
    assert set(error) == {"code", "message", "details"}
    return error


def test_a_request_line_over_the_limit_is_a_json_414(web: str) -> None:
    path = "/api/datasets/" + "x" * 9000
    status, headers, body = raw_request(web, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 414
    error = assert_envelope(headers, body, "uri_too_long")
    assert len(error["message"]) <= 200  # the request line is not echoed back


def test_too_many_header_fields_are_a_json_431(web: str) -> None:
    fields = "".join(f"X-Field-{n}: y\r\n" for n in range(150))
    request = f"GET /api/health HTTP/1.1\r\nHost: x\r\n{fields}\r\n".encode()
    status, headers, body = raw_request(web, request)
    assert status == 431
    assert_envelope(headers, body, "request_header_fields_too_large")


def test_a_malformed_request_line_is_a_json_400(web: str) -> None:
    status, headers, body = raw_request(web, b"GET /api/health HTTP/9\r\nHost: x\r\n\r\n")
    assert status == 400
    assert_envelope(headers, body, "bad_request")


def test_the_app_answers_json_404_405_and_413_under_api(web: str, api_token: str) -> None:
    auth = {"Authorization": f"Bearer {api_token}"}
    missing = requests.get(f"{web}/api/no/such/thing", headers=auth, timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = requests.delete(f"{web}/api/health", headers=auth, timeout=5)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    # A body announced larger than MAX_CONTENT_LENGTH is refused before it is read.
    request = (
        "POST /api/datasets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {api_token}\r\nContent-Length: {10**9}\r\n"
        "Connection: close\r\n\r\n{}"
    ).encode()
    status, headers, body = raw_request(web, request)
    assert status == 413
    assert_envelope(headers, body, "request_entity_too_large")


def test_a_request_past_the_worker_timeout_is_a_json_503(
    web: str, api_token: str, e2e_database_url: str
) -> None:
    # Given the token table locked by another transaction (the request's token check waits)
    with psycopg.connect(e2e_database_url) as conn:
        conn.execute("LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE")
        # When a request runs into gunicorn's worker timeout
        answer = requests.get(
            f"{web}/api/health", headers={"Authorization": f"Bearer {api_token}"}, timeout=30
        )
        conn.rollback()
    # Then the client gets the JSON envelope, not a dropped connection or HTML
    assert answer.status_code == 503
    assert answer.headers["Content-Type"] == "application/json"
    error = answer.json()["error"]
    assert error["code"] == "service_unavailable"
    assert f"{TIMEOUT_SECONDS} s timeout" in error["message"]
    # And the web process replaced the worker and answers again
    assert requests.get(f"{web}/healthz", timeout=10).status_code == 200


def test_an_idle_connection_does_not_hold_the_only_worker(harness: Harness, api_token: str) -> None:
    # Given one sync worker with a long timeout, and a connection that sends nothing
    # (what a browser's preconnect looks like to the server)
    url = start_web(harness, 60)
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as idle:
        # When another client asks meanwhile, it is answered (not after the 60 s timeout)
        assert requests.get(f"{url}/healthz", timeout=15).status_code == 200
        # And the silent connection was closed by the server, not left to the timeout
        assert idle.recv(1) == b""
