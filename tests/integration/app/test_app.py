"""The app factory: built from the environment, and one error envelope for everything."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.config import load_settings
from app.runtime import Runtime
from app.startup import StartupError
from ops.harness import free_port
from tests.fixtures.runtime import doiflow_environment
from tests.support.api import assert_error


def test_create_app_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, clean_database: str, sandbox: Any
) -> None:
    for name, value in doiflow_environment(clean_database, sandbox.url).items():
        monkeypatch.setenv(name, value)
    app = create_app()
    runtime: Runtime = app.extensions["doiflow"]
    try:
        assert runtime.settings.datacite_configured
        assert app.config["SECRET_KEY"] == "test-secret"
        assert app.test_client().get("/healthz").get_json() == {"status": "ok"}
    finally:
        runtime.close()


def test_settings_that_differ_from_the_runtime_are_refused(runtime: Runtime) -> None:
    other = load_settings(doiflow_environment(runtime.settings.database_url, None))
    with pytest.raises(ValueError, match="other settings"):
        create_app(other, runtime)


def test_importing_the_services_does_not_load_flask() -> None:
    # Workers import app.services; Flask belongs to the web process only.
    code = (
        "import sys, app, app.services.datasets, app.services.dois; print('flask' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_unknown_url_is_a_json_404_under_api_and_html_elsewhere(client: FlaskClient) -> None:
    assert_error(client.get("/api/nope"), 404, "not_found")
    # The JSON handlers belong to the API: other pages (the admin's) keep HTML errors.
    page = client.get("/nope")
    assert page.status_code == 404
    assert page.mimetype == "text/html"


def test_wrong_method_is_a_json_405_with_allow(client: FlaskClient) -> None:
    answer = client.get("/api/datasets")
    assert_error(answer, 405, "method_not_allowed")
    assert "POST" in answer.headers["Allow"]


def test_oversized_body_is_a_json_413(
    app: Flask, client: FlaskClient, bearer: Callable[[str], dict[str, str]]
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 100
    answer = client.post(
        "/api/datasets", json={"id": "ds1", "metadata": {"x": "y" * 200}}, headers=bearer("write")
    )
    assert_error(answer, 413, "request_entity_too_large")


def test_unexpected_error_is_a_json_500_without_internals(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)

    @app.get("/api/boom")
    def boom() -> str:
        raise RuntimeError("internal detail: password=hunter2")

    error = assert_error(app.test_client().get("/api/boom"), 500, "internal_error")
    assert "hunter2" not in error["message"]


def test_the_factory_runs_the_start_up_check_and_refuses_a_bad_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://db.example/doiflow")
    with pytest.raises(StartupError) as refused:
        create_app()
    assert refused.value.exit_code == 2
    assert str(refused.value).startswith("DATABASE_URL must be a PostgreSQL URL")


def test_a_database_down_while_a_web_worker_boots_is_a_503_not_a_dead_server(
    monkeypatch: pytest.MonkeyPatch, sandbox: Any
) -> None:
    # Given a database that does not answer when gunicorn (re)starts a worker
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/doiflow"
    for name, value in doiflow_environment(nowhere, sandbox.url).items():
        monkeypatch.setenv(name, value)
    # When the factory builds the app, it still serves: liveness 200, the API 503
    app = create_app()
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        health = client.get("/api/health", headers={"Authorization": "Bearer dfl_x"})
        assert health.status_code == 503
        assert health.get_json()["checks"] == {"database": "unreachable"}
    finally:
        app.extensions["doiflow"].close()
