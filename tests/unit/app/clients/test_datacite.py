"""The DataCite client against the real sandbox over HTTP: every outcome, classified.

No mocks: real outcomes come from the sandbox's own rules (401, 403, 404, 405, 422,
silent no-op events); the rest are injected as fault rules, and the sandbox's request
log shows exactly what went over the wire.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from app.clients.datacite import DataCiteClient
from app.clients.errors import (
    PermanentError,
    RemoteError,
    RemoteProblem,
    ThrottledError,
    TransientError,
)
from ops.sandbox import SandboxServer
from tests.fixtures.sandbox import (
    SANDBOX_PASSWORD,
    SANDBOX_PREFIX,
    SANDBOX_USER,
    kernel4_attributes,
)

DOI = f"{SANDBOX_PREFIX}/doiflow.ds1"
TOMBSTONE = "https://archive.example.org/tombstone/ds1"
HTML_403 = "<html><body><h1>403 Forbidden</h1>Request blocked by the firewall.</body></html>"


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[DataCiteClient]:
    """A client for the sandbox's repository account."""
    with DataCiteClient(sandbox.url, SANDBOX_USER, SANDBOX_PASSWORD, read_timeout=5.0) as c:
        yield c


def respond(sandbox: SandboxServer, status: int, method: str | None = None, **answer) -> None:
    """Make the next matching request on DOI get this canned answer instead."""
    sandbox.add_faults(
        {"method": method, "doi": DOI, "times": 1, "respond": {"status": status, **answer}}
    )


def log_of(sandbox: SandboxServer) -> list[tuple[str, str | None, int | None]]:
    """The API requests the sandbox saw, as (method, event, status)."""
    return [(r["method"], r["event"], r["status"]) for r in sandbox.requests()]


def make_findable(client: DataCiteClient, sandbox: SandboxServer) -> None:
    """Given a findable DOI, and a clean request log."""
    client.publish(DOI, kernel4_attributes())
    sandbox.app.recorder.clear()


# --- success: 200, 201, 204 -----------------------------------------------------------


def test_put_of_a_new_doi_is_201_and_a_draft(client: DataCiteClient, sandbox: SandboxServer):
    record = client.save_draft(DOI, {"titles": [{"title": "A draft"}]})

    assert (record.doi, record.state, record.http_status) == (DOI, "draft", 201)
    assert record.attributes["titles"] == [{"title": "A draft"}]
    assert log_of(sandbox) == [("PUT", None, 201)]


def test_put_of_an_existing_doi_is_200(client: DataCiteClient, sandbox: SandboxServer):
    client.save_draft(DOI, {})

    record = client.save_draft(DOI, {"titles": [{"title": "Edited"}]})

    assert (record.state, record.http_status) == ("draft", 200)
    assert log_of(sandbox) == [("PUT", None, 201), ("PUT", None, 200)]
    assert len(sandbox.dois()) == 1


def test_publish_is_a_put_with_the_publish_event(client: DataCiteClient, sandbox: SandboxServer):
    record = client.publish(DOI, kernel4_attributes())

    assert (record.state, record.http_status, record.url) == (
        "findable",
        201,
        kernel4_attributes()["url"],
    )
    assert log_of(sandbox) == [("PUT", "publish", 201)]
    assert sandbox.state_of(DOI) == "findable"


def test_publish_promotes_a_draft_and_resyncs_a_findable_doi(
    client: DataCiteClient, sandbox: SandboxServer
):
    client.save_draft(DOI, {})

    promoted = client.publish(DOI, kernel4_attributes())
    resynced = client.publish(DOI, kernel4_attributes(titles=[{"title": "New title"}]))

    assert (promoted.state, promoted.http_status) == ("findable", 200)
    assert (resynced.state, resynced.attributes["titles"]) == (
        "findable",
        [{"title": "New title"}],
    )


def test_get_answers_the_record_with_200(client: DataCiteClient, sandbox: SandboxServer):
    client.save_draft(DOI, {})

    record = client.get(DOI)

    assert record is not None
    assert (record.doi, record.state, record.http_status) == (DOI, "draft", 200)
    assert log_of(sandbox)[-1] == ("GET", None, 200)


def test_delete_of_a_draft_is_204(client: DataCiteClient, sandbox: SandboxServer):
    client.save_draft(DOI, {})

    client.delete(DOI)  # no error: deleted

    assert sandbox.state_of(DOI) is None
    assert log_of(sandbox) == [("PUT", None, 201), ("DELETE", None, 204)]


def test_hide_makes_a_findable_doi_registered_and_points_it_at_the_tombstone(
    client: DataCiteClient, sandbox: SandboxServer
):
    make_findable(client, sandbox)

    record = client.hide(DOI, url=TOMBSTONE)

    assert record is not None
    assert (record.state, record.url, record.http_status) == ("registered", TOMBSTONE, 200)
    assert log_of(sandbox) == [("PUT", "hide", 200)]
    assert sandbox.dois()[0]["url"] == TOMBSTONE


def test_publish_restores_a_hidden_doi(client: DataCiteClient, sandbox: SandboxServer):
    make_findable(client, sandbox)
    client.hide(DOI)

    record = client.publish(DOI, kernel4_attributes())

    assert record.state == "findable"


def test_dois_are_sent_lowercase(client: DataCiteClient, sandbox: SandboxServer):
    record = client.save_draft(f"{SANDBOX_PREFIX}/DoiFlow.DS1", {})

    assert record.doi == DOI
    assert sandbox.requests()[0]["path"] == f"/dois/{DOI}"


def test_dois_are_escaped_in_the_path_but_keep_their_slashes(
    client: DataCiteClient, sandbox: SandboxServer
):
    # Unescaped, "?" would start a query string and the sandbox would see ".../a".
    assert client.get(f"{SANDBOX_PREFIX}/a?b#c") is None

    assert sandbox.requests()[0]["path"] == f"/dois/{SANDBOX_PREFIX}/a?b#c"


def test_save_draft_never_sends_an_event(client: DataCiteClient, sandbox: SandboxServer):
    record = client.save_draft(DOI, {**kernel4_attributes(), "event": "publish"})

    assert record.state == "draft"
    assert log_of(sandbox) == [("PUT", None, 201)]


# --- 404: depends on the call ------------------------------------------------------------


def test_get_of_an_unknown_doi_is_none(client: DataCiteClient, sandbox: SandboxServer):
    assert client.get(DOI) is None
    assert log_of(sandbox) == [("GET", None, 404)]


def test_delete_of_an_unknown_doi_is_success(client: DataCiteClient, sandbox: SandboxServer):
    client.delete(DOI)  # no error: already gone counts as deleted
    assert log_of(sandbox) == [("DELETE", None, 404)]


def test_hide_answered_404_is_success(client: DataCiteClient, sandbox: SandboxServer):
    # A PUT upserts, so the sandbox only answers 404 to a hide when told to.
    respond(sandbox, 404, "PUT")

    assert client.hide(DOI, url=TOMBSTONE) is None
    assert log_of(sandbox) == [("PUT", "hide", 404)]


def test_put_answered_404_is_permanent(client: DataCiteClient, sandbox: SandboxServer):
    respond(sandbox, 404, "PUT")

    with pytest.raises(PermanentError) as caught:
        client.publish(DOI, kernel4_attributes())

    assert caught.value.status == 404
    assert log_of(sandbox) == [("PUT", "publish", 404)]


def test_put_of_a_path_that_is_not_a_doi_is_a_real_404(
    client: DataCiteClient, sandbox: SandboxServer
):
    with pytest.raises(PermanentError) as caught:
        client.save_draft("not-a-doi", {})

    assert caught.value.status == 404
    assert caught.value.problems == (
        RemoteProblem(title="The resource you are looking for doesn't exist."),
    )


# --- permanent 4xx -----------------------------------------------------------------------


def test_400_is_permanent_and_keeps_the_title(client: DataCiteClient, sandbox: SandboxServer):
    title = "You need to provide a payload following the JSONAPI spec"
    respond(sandbox, 400, "PUT", body={"errors": [{"status": "400", "title": title}]})

    with pytest.raises(PermanentError) as caught:
        client.save_draft(DOI, {})

    assert caught.value.status == 400
    assert caught.value.problems == (RemoteProblem(title=title),)
    assert title in str(caught.value)
    assert len(sandbox.requests()) == 1


def test_wrong_password_is_a_permanent_401(sandbox: SandboxServer):
    with DataCiteClient(sandbox.url, SANDBOX_USER, "not-the-password") as client:
        with pytest.raises(PermanentError) as caught:
            client.save_draft(DOI, {})

    assert caught.value.status == 401
    assert caught.value.problems == (RemoteProblem(title="Bad credentials."),)
    assert sandbox.dois() == []


def test_prefix_not_owned_is_a_permanent_json_403(client: DataCiteClient, sandbox: SandboxServer):
    with pytest.raises(PermanentError) as caught:
        client.save_draft("10.99999/not.ours", {})

    assert caught.value.status == 403
    assert caught.value.problems == (
        RemoteProblem(title="You are not authorized to access this resource."),
    )
    assert log_of(sandbox) == [("PUT", None, 403)]


def test_injected_json_403_is_permanent(client: DataCiteClient, sandbox: SandboxServer):
    respond(sandbox, 403, "GET")

    with pytest.raises(PermanentError) as caught:
        client.get(DOI)

    assert caught.value.status == 403


@pytest.mark.parametrize(("header", "expected"), [({"Retry-After": "30"}, 30.0), ({}, None)])
def test_html_403_from_the_edge_is_throttled(
    client: DataCiteClient, sandbox: SandboxServer, header: dict, expected: float | None
):
    respond(sandbox, 403, "PUT", body=HTML_403, content_type="text/html", headers=header)

    with pytest.raises(ThrottledError) as caught:
        client.save_draft(DOI, {})

    assert (caught.value.status, caught.value.retry_after) == (403, expected)
    assert "firewall" in (caught.value.body or "")
    assert len(sandbox.requests()) == 1


def test_delete_of_a_findable_doi_is_a_permanent_405(
    client: DataCiteClient, sandbox: SandboxServer
):
    make_findable(client, sandbox)

    with pytest.raises(PermanentError) as caught:
        client.delete(DOI)

    assert caught.value.status == 405
    assert sandbox.state_of(DOI) == "findable"
    assert log_of(sandbox) == [("DELETE", None, 405)]


def test_409_is_permanent(client: DataCiteClient, sandbox: SandboxServer):
    body = {"errors": [{"status": "409", "title": "Conflict", "source": "doi"}]}
    respond(sandbox, 409, "PUT", body=body)

    with pytest.raises(PermanentError) as caught:
        client.save_draft(DOI, {})

    assert caught.value.status == 409
    assert caught.value.problems == (RemoteProblem(title="Conflict", source="doi"),)


def test_publish_without_url_is_a_422_that_keeps_every_problem(
    client: DataCiteClient, sandbox: SandboxServer
):
    client.save_draft(DOI, {})

    with pytest.raises(PermanentError) as caught:
        client.publish(DOI, kernel4_attributes(url=None))

    error = caught.value
    assert error.status == 422
    assert error.problems == (RemoteProblem(title="Can't be blank", source="url"),)
    assert "url: Can't be blank" in str(error)
    assert '"source": "url"' in (error.body or "")
    assert sandbox.state_of(DOI) == "draft"
    assert log_of(sandbox)[-1] == ("PUT", "publish", 422)


# --- 429: throttled, never retried here ---------------------------------------------------


def test_429_with_delay_seconds(client: DataCiteClient, sandbox: SandboxServer):
    respond(sandbox, 429, "PUT", headers={"Retry-After": "2"})

    with pytest.raises(ThrottledError) as caught:
        client.save_draft(DOI, {})

    assert (caught.value.status, caught.value.retry_after) == (429, 2.0)
    assert log_of(sandbox) == [("PUT", None, 429)]
    assert sandbox.dois() == []


def test_429_with_an_http_date(client: DataCiteClient, sandbox: SandboxServer):
    respond(
        sandbox, 429, "GET", headers={"Retry-After": formatdate(time.time() + 120, usegmt=True)}
    )

    with pytest.raises(ThrottledError) as caught:
        client.get(DOI)

    assert caught.value.retry_after is not None
    assert 115.0 <= caught.value.retry_after <= 121.0
    assert len(sandbox.requests()) == 1


def test_429_without_retry_after_leaves_the_wait_to_the_caller(
    client: DataCiteClient, sandbox: SandboxServer
):
    respond(sandbox, 429, "DELETE")

    with pytest.raises(ThrottledError) as caught:
        client.delete(DOI)

    assert (caught.value.status, caught.value.retry_after) == (429, None)
    assert len(sandbox.requests()) == 1


def test_html_429_from_the_edge_is_throttled(client: DataCiteClient, sandbox: SandboxServer):
    html = "<html><body>Slow down</body></html>"
    headers = {"Retry-After": "7"}
    respond(sandbox, 429, "PUT", body=html, content_type="text/html", headers=headers)

    with pytest.raises(ThrottledError) as caught:
        client.save_draft(DOI, {})

    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)


def test_the_sandbox_rate_limit_is_throttled_with_its_retry_after(
    client: DataCiteClient, sandbox: SandboxServer
):
    sandbox.app.configure(domains=None, rate_limit="1/60s")
    client.save_draft(DOI, {})

    with pytest.raises(ThrottledError) as caught:
        client.save_draft(DOI, {})

    assert caught.value.retry_after is not None
    assert 1.0 <= caught.value.retry_after <= 60.0
    assert log_of(sandbox) == [("PUT", None, 201), ("PUT", None, 429)]


# --- transient: 5xx, timeouts, connection errors -----------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient_and_not_retried_by_the_transport(
    client: DataCiteClient, sandbox: SandboxServer, status: int
):
    # Retry-After on a 503 is exactly what a transport-level retry would have obeyed.
    sandbox.add_faults(
        {
            "method": "PUT",
            "doi": DOI,
            "respond": {"status": status, "headers": {"Retry-After": "1"}},
        }
    )

    with pytest.raises(TransientError) as caught:
        client.publish(DOI, kernel4_attributes())

    assert (caught.value.status, caught.value.timed_out) == (status, False)
    assert log_of(sandbox) == [("PUT", "publish", status)]


def test_html_502_from_a_proxy_is_transient(client: DataCiteClient, sandbox: SandboxServer):
    respond(sandbox, 502, "GET", body="<html>Bad Gateway</html>", content_type="text/html")

    with pytest.raises(TransientError) as caught:
        client.get(DOI)

    assert caught.value.status == 502
    assert caught.value.problems == ()


def test_read_timeout_is_transient_and_flagged(sandbox: SandboxServer):
    sandbox.add_faults({"method": "PUT", "doi": DOI, "action": "timeout", "seconds": 2})
    started = time.monotonic()

    with DataCiteClient(sandbox.url, SANDBOX_USER, SANDBOX_PASSWORD, read_timeout=0.5) as client:
        with pytest.raises(TransientError) as caught:
            client.save_draft(DOI, {})

    assert caught.value.timed_out is True
    assert caught.value.status is None
    assert time.monotonic() - started < 1.9
    assert [(r["method"], r["fault"]) for r in sandbox.requests()] == [("PUT", "timeout")]
    assert sandbox.state_of(DOI) is None


@pytest.mark.parametrize(
    ("action", "timed_out"), [("timeout_after_commit", True), ("reset_after_commit", False)]
)
def test_a_lost_answer_then_a_retry_converges_without_a_duplicate(
    sandbox: SandboxServer, action: str, timed_out: bool
):
    sandbox.add_faults({"method": "PUT", "doi": DOI, "times": 1, "action": action, "seconds": 2})

    with DataCiteClient(sandbox.url, SANDBOX_USER, SANDBOX_PASSWORD, read_timeout=0.5) as client:
        with pytest.raises(TransientError) as caught:
            client.publish(DOI, kernel4_attributes())
        # The caller re-reads before acting: the write was applied.
        seen = client.get(DOI)
        again = client.publish(DOI, kernel4_attributes())

    assert caught.value.timed_out is timed_out
    assert seen is not None
    assert seen.state == "findable"
    assert (again.state, again.http_status) == ("findable", 200)
    assert [d["doi"] for d in sandbox.dois()] == [DOI]
    methods = [(r["method"], r["event"]) for r in sandbox.requests()]
    assert methods == [("PUT", "publish"), ("GET", None), ("PUT", "publish")]


def test_connection_refused_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more.

    with DataCiteClient(f"http://127.0.0.1:{port}", SANDBOX_USER, SANDBOX_PASSWORD) as client:
        with pytest.raises(TransientError) as caught:
            client.get(DOI)

    assert (caught.value.timed_out, caught.value.status) == (False, None)
    assert "connection failed" in str(caught.value)


def test_connection_reset_is_transient(client: DataCiteClient, sandbox: SandboxServer):
    sandbox.add_faults({"method": "PUT", "doi": DOI, "times": 1, "action": "reset"})

    with pytest.raises(TransientError) as caught:
        client.save_draft(DOI, {})

    assert caught.value.timed_out is False
    assert sandbox.state_of(DOI) is None
    assert [(r["method"], r["status"]) for r in sandbox.requests()] == [("PUT", None)]


# --- 2xx that does not confirm what we asked ---------------------------------------------


def test_hide_of_a_draft_is_a_silent_no_op_and_a_permanent_error(
    client: DataCiteClient, sandbox: SandboxServer
):
    client.save_draft(DOI, {})

    with pytest.raises(PermanentError) as caught:
        client.hide(DOI)

    message = str(caught.value)
    assert "'draft'" in message
    assert "'registered'" in message
    assert caught.value.status == 200
    assert sandbox.state_of(DOI) == "draft"


def test_save_draft_of_a_findable_doi_is_a_state_mismatch(
    client: DataCiteClient, sandbox: SandboxServer
):
    make_findable(client, sandbox)

    with pytest.raises(PermanentError, match="state 'findable', expected 'draft'"):
        client.save_draft(DOI, {"titles": [{"title": "Edited"}]})


def test_2xx_without_a_doi_record_is_permanent(client: DataCiteClient, sandbox: SandboxServer):
    respond(sandbox, 200, "PUT", body="<html>Welcome</html>", content_type="text/html")

    with pytest.raises(PermanentError, match="without a DOI record"):
        client.save_draft(DOI, {})


# --- other statuses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (302, PermanentError),  # never followed: a PUT would silently become a GET
        (418, PermanentError),
        (408, TransientError),
        (599, TransientError),
    ],
)
def test_unexpected_statuses(
    client: DataCiteClient, sandbox: SandboxServer, status: int, error_class: type[RemoteError]
):
    headers = {"Location": f"{sandbox.url}/dois/{DOI}"}
    respond(sandbox, status, "PUT", headers=headers, body="")

    with pytest.raises(error_class) as caught:
        client.save_draft(DOI, {})

    assert caught.value.status == status
    assert len(sandbox.requests()) == 1


# --- secrets and logs --------------------------------------------------------------------


def test_the_password_never_shows(sandbox: SandboxServer, caplog: pytest.LogCaptureFixture):
    password = "pa55-never-shown"
    caplog.set_level(logging.DEBUG)
    errors: list[RemoteError] = []
    with DataCiteClient(sandbox.url, SANDBOX_USER, password, read_timeout=0.5) as client:
        for call in (lambda: client.get(DOI), lambda: client.save_draft(DOI, {})):
            with pytest.raises(PermanentError) as caught:
                call()
            errors.append(caught.value)
        sandbox.add_faults({"method": "GET", "action": "timeout", "seconds": 2})
        with pytest.raises(TransientError) as timeout:
            client.get(DOI)
        errors.append(timeout.value)
        shown = [repr(client), str(client), caplog.text]

    shown += [text for e in errors for text in (str(e), repr(e), e.body or "")]
    assert all(password not in text for text in shown)
    assert repr(client) == f"DataCiteClient(api_url={sandbox.url!r}, user={SANDBOX_USER!r})"


def test_credentials_in_the_url_are_refused():
    with pytest.raises(ValueError, match="credentials"):
        DataCiteClient("https://user:pw@api.test.datacite.org", SANDBOX_USER, SANDBOX_PASSWORD)


def test_every_request_is_logged_with_a_constant_message(
    client: DataCiteClient, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="doiflow.datacite")
    client.save_draft(DOI, {})
    with pytest.raises(PermanentError):
        client.publish(DOI, kernel4_attributes(url=None))

    records = [r for r in caplog.records if r.name == "doiflow.datacite"]
    assert [r.getMessage() for r in records] == ["datacite request"] * 2
    fields = ("action", "method", "doi", "status")
    seen = [(r.levelno, *(r.__dict__[f] for f in fields)) for r in records]
    assert seen == [
        (logging.INFO, "datacite_request", "PUT", DOI, 201),
        (logging.WARNING, "datacite_request", "PUT", DOI, 422),
    ]
    assert all(isinstance(r.__dict__["elapsed_ms"], int) for r in records)


# --- listing: the client's DOIs under a prefix, by cursor -----------------------------


def test_list_page_walks_every_doi_of_the_client_and_prefix_by_cursor(
    client: DataCiteClient, sandbox: SandboxServer
) -> None:
    # Given five drafts of ours and one of another client
    mine = [f"{SANDBOX_PREFIX}/doiflow.list{n}" for n in range(5)]
    for doi in mine:
        client.save_draft(doi, {"url": "https://archive.example.org/x"})
    sandbox.control.seed(f"{SANDBOX_PREFIX}/theirs.1", owner="OTHER.CLIENT")

    # When the listing is read two at a time
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = client.list_page(
            client_id=SANDBOX_USER, prefix=SANDBOX_PREFIX, cursor=cursor, size=2
        )
        pages += 1
        seen += [(r.doi, r.state, r.url) for r in page]
        if cursor is None or len(page) < 2:
            break

    # Then every DOI of ours came once, with its state and URL, in three pages
    assert sorted(seen) == [(d, "draft", "https://archive.example.org/x") for d in mine]
    assert pages == 3
    assert all(r["method"] == "GET" for r in sandbox.requests()[-3:])


# --- the environment's proxy settings, read once ---------------------------------------


class _RefusingProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy that keeps each request line it is sent and answers 503 to all."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.request_lines: list[str] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                outer.request_lines.append(self.rfile.readline().decode().strip())
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # the headers; the body is never read: the answer closes
                self.wfile.write(b"HTTP/1.1 503 Proxy Refused\r\nContent-Length: 0\r\n")
                self.wfile.write(b"Connection: close\r\n\r\n")

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def proxy() -> Iterator[_RefusingProxy]:
    server = _RefusingProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_requests_go_through_the_environments_proxy(
    sandbox: SandboxServer, proxy: _RefusingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with DataCiteClient(sandbox.url, SANDBOX_USER, SANDBOX_PASSWORD, read_timeout=5.0) as c:
        with pytest.raises(TransientError) as raised:
            c.save_draft(DOI, kernel4_attributes())
    assert raised.value.status == 503
    assert proxy.request_lines == [f"PUT {sandbox.url}/dois/{DOI} HTTP/1.1"]
    assert sandbox.requests() == []


def test_no_proxy_in_the_environment_sends_requests_straight_to_datacite(
    sandbox: SandboxServer, proxy: _RefusingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with DataCiteClient(sandbox.url, SANDBOX_USER, SANDBOX_PASSWORD, read_timeout=5.0) as c:
        assert c.save_draft(DOI, kernel4_attributes()).state == "draft"
    assert proxy.request_lines == []
