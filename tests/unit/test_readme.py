"""The README's promises that can drift from the code."""

from __future__ import annotations

from pathlib import Path

from app.states.doi import mermaid_diagram

README = Path(__file__).parents[2] / "README.md"


def test_readme_state_diagram_is_the_machine() -> None:
    text = README.read_text()
    block = text.split("<!-- state-diagram:start -->")[1].split("<!-- state-diagram:end -->")[0]
    assert block.strip() == f"```mermaid\n{mermaid_diagram()}\n```"


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    assert ".venv/bin/pytest" in README.read_text()
    assert "\n.venv/bin/pytest\n" in ci


def test_only_the_doi_worker_consumes_the_doi_queue() -> None:
    procfile = (README.parent / "Procfile").read_text().splitlines()
    entries = dict(line.split(":", 1) for line in procfile if line.strip())
    consumers = [
        name
        for name, command in entries.items()
        if "dramatiq" in command and "doi" in command.split("-Q")[-1].split()
    ]
    assert consumers == ["doi-worker"]
    assert "-Q default" in entries["worker"]


def test_every_setting_is_listed_and_documented() -> None:
    import re

    from app.config import VARIABLES

    code = "".join((README.parent / "app" / name).read_text() for name in ("config.py", "logs.py"))
    read = set(re.findall(r'get\("([A-Z][A-Z0-9_]+)"', code))
    assert len(read) > 20
    assert read <= set(VARIABLES), sorted(read - set(VARIABLES))
    undocumented = sorted(v for v in VARIABLES if f"`{v}`" not in README.read_text())
    assert undocumented == []


def test_only_the_hold_worker_consumes_holds_and_it_consumes_nothing_else() -> None:
    procfile = (README.parent / "Procfile").read_text().splitlines()
    entries = dict(line.split(":", 1) for line in procfile if line.strip())
    queues = {
        name: command.split("-Q")[1].split("--")[0].split()
        for name, command in entries.items()
        if "dramatiq" in command
    }
    assert [name for name, names in queues.items() if "holds" in names] == ["hold-worker"]
    assert queues["hold-worker"] == ["holds"]
    # Enough threads for HOLD_CONCURRENCY slots in one process.
    assert "--threads ${HOLD_CONCURRENCY:-8}" in entries["hold-worker"]


def _procfile(name: str) -> dict[str, str]:
    lines = (README.parent / name).read_text().splitlines()
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in lines if line.strip())}


def test_procfile_dev_is_the_procfile_without_release_bound_to_loopback() -> None:
    production, dev = _procfile("Procfile"), _procfile("Procfile.dev")
    assert "release" not in dev  # one-shot: `honcho start` would stop everything when it ends
    assert set(dev) == set(production) - {"release"}
    for name, command in production.items():
        if name == "release":
            continue
        expected = command.replace("--bind 0.0.0.0:", "--bind 127.0.0.1:")
        assert dev[name] == expected, name


def test_the_web_process_loads_the_gunicorn_settings() -> None:
    web = _procfile("Procfile")["web"]
    assert web.startswith('gunicorn "app:create_app()" --config python:app.gunicorn_config ')
    from app import gunicorn_config

    assert gunicorn_config.limit_request_line == 8190
    assert gunicorn_config.worker_class == "app.gunicorn_worker.JsonErrorWorker"
