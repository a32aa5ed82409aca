"""No secret on any admin page or in any log line: DataCite password, SECRET_KEY, AWS key,
token values after their one showing, password hashes, secret-looking payload fields."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from app import logs
from app.models import AdminUser, Blob, Doi, Intent, IntentEvent, LegalHold
from app.runtime import Runtime
from tests.support.admin import PASSWORD, log_in
from tests.support.lifecycle import concept, create

DATACITE_PASSWORD = "dc-password-7f3k2l9x"
SECRET_KEY = "sk-admin-test-0q8w7e6r5t4y"
AWS_SECRET = "aws-secret-9z8x7c6v5b"
PAYLOAD_SECRET = "payload-pw-31415926"


@pytest.fixture
def leaky(make_runtime: Callable[..., Runtime]) -> Runtime:
    """A runtime whose secrets are distinctive, and rows where a careless echo put them."""
    runtime = make_runtime(
        DATACITE_PASSWORD=DATACITE_PASSWORD,
        SECRET_KEY=SECRET_KEY,
        AWS_ACCESS_KEY_ID="test-key-id",
        AWS_SECRET_ACCESS_KEY=AWS_SECRET,
    )
    create(runtime, "leaky")
    with runtime.sessions.begin() as session:
        # An upstream error that echoed the request's credentials, for example.
        session.execute(
            update(Doi)
            .where(Doi.doi == concept("leaky"))
            .values(state="failed", last_error=f"401: bad auth REPO.ID:{DATACITE_PASSWORD}")
        )
        intent = session.scalars(select(Intent)).one()
        intent.status = "failed"
        intent.payload = {**intent.payload, "password": PAYLOAD_SECRET}
        intent.last_error = f"echoed {SECRET_KEY}"
        session.add(
            IntentEvent(intent_id=intent.id, kind="call", data={"error": f"key {AWS_SECRET}"})
        )
        # An S3 error that echoed the secret key, kept on a hold.
        blob = Blob(key="data/leaky.csv", version_id="v1", sha256="0" * 64, size=1)
        session.add(LegalHold(blob=blob, state="failed", last_error=f"403 sig {AWS_SECRET}"))
    return runtime


def test_no_page_shows_a_secret(
    leaky: Runtime, make_client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = make_client(leaky).application
    admin = log_in(app, leaky, "admin")
    created = admin.post("/admin/tokens", {"name": "backend", "scopes": ["read"]})
    plain = re.search(r"(dfl_[A-Za-z0-9_-]+)", created.get_data(as_text=True))
    assert plain is not None
    with leaky.sessions() as session:
        intent_id = session.scalar(select(Intent.id))
        hold_id = session.scalar(select(LegalHold.id))
        hashes = list(session.scalars(select(AdminUser.password_hash)))
    pages = [
        "/admin/",
        "/admin/outbox",
        "/admin/outbox?status=failed",
        f"/admin/outbox/{intent_id}",
        "/admin/dois",
        f"/admin/dois/{concept('leaky')}",
        "/admin/jobs",
        "/admin/holds",
        "/admin/holds?state=failed",
        f"/admin/holds/{hold_id}",
        "/admin/tokens",
        "/admin/audit",
        "/admin/users",
    ]
    forbidden = [
        DATACITE_PASSWORD,
        SECRET_KEY,
        AWS_SECRET,
        PAYLOAD_SECRET,
        plain.group(1),
        PASSWORD,
    ]
    forbidden += [*hashes, "$argon2"]
    for path in pages:
        page = admin.page(path)
        for secret in forbidden:
            assert secret not in page, (path, secret)
    # The echoed error is still shown, with the secret masked.
    assert "bad auth REPO.ID:***" in admin.page(f"/admin/dois/{concept('leaky')}")

    rendered = logs.formatter("json")
    lines = [rendered.format(record) for record in caplog.records]
    assert any("admin_login" in line for line in lines)
    for line in lines:
        for secret in forbidden:
            assert secret not in line, line
