"""The admin on the embedded default (SQLite): every page works; payload search says why not."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.config import load_settings
from app.models import Intent
from app.runtime import Runtime
from app.schema import upgrade
from tests.support.admin import log_in


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[tuple[Flask, Runtime]]:
    url = f"sqlite:///{tmp_path / 'doiflow.db'}"
    upgrade(url)
    runtime = Runtime.from_settings(load_settings({"DATABASE_URL": url, "SECRET_KEY": "x" * 32}))
    app = create_app(runtime=runtime)
    yield app, runtime
    runtime.close()


def test_every_page_answers_on_sqlite(sqlite_app: tuple[Flask, Runtime]) -> None:
    app, runtime = sqlite_app
    with runtime.sessions.begin() as session:
        session.add(
            Intent(
                topic="sync_doi", queue="doi", key="doi:1", status="failed", last_error="422 nope"
            )
        )
    admin = log_in(app, runtime, "admin")
    for path in (
        "/admin/",
        "/admin/outbox",
        "/admin/outbox/1",
        "/admin/dois",
        "/admin/jobs",
        "/admin/tokens",
        "/admin/audit",
        "/admin/users",
        "/admin/outbox?error=NOPE",
    ):
        page = admin.page(path)
        assert "doiflow" in page, path
    assert "#1" in admin.page("/admin/outbox?error=NOPE&status=failed")
    page = html.unescape(admin.page('/admin/outbox?payload={"doi_id": 1}'))
    assert "payload search needs Postgres" in page
    admin.post("/admin/outbox/1/discard", {"reason": "test"})
    assert "Discarded" in admin.page("/admin/outbox/1")
