"""`doiflow create-admin`: accounts from the command line, the password from stdin."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.cli import main
from app.models import AdminUser, AuditLog
from app.runtime import Runtime
from app.services import admins
from tests.fixtures.runtime import doiflow_environment

PASSWORD = "a long enough password"


@pytest.fixture
def cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner with the test database in the environment; logging restored afterwards."""
    for name, value in doiflow_environment(runtime.settings.database_url, None).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOG_FORMAT", "text")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield CliRunner()
    # `doiflow` points the root logger at the runner's stream, which closes with it.
    root.handlers, root.level = handlers, level


def test_create_admin_reads_the_password_from_stdin(cli: CliRunner, runtime: Runtime) -> None:
    result = cli.invoke(
        main, ["create-admin", "Ops@Example.org", "--role", "admin"], input=f"{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "admin account ops@example.org (admin) created" in result.output
    assert PASSWORD not in result.output
    with runtime.sessions() as session:
        user = session.scalars(select(AdminUser)).one()
        assert admins.password_matches(user, PASSWORD)
        entry = session.scalars(select(AuditLog)).one()
    assert entry.actor.startswith("cli:")
    assert (entry.action, entry.target) == ("admin_user.create", "admin:ops@example.org")


def test_an_existing_account_needs_update(cli: CliRunner, runtime: Runtime) -> None:
    args = ["create-admin", "ops@example.org", "--role", "viewer"]
    assert cli.invoke(main, args, input=f"{PASSWORD}\n").exit_code == 0
    again = cli.invoke(main, args, input=f"{PASSWORD}\n")
    assert again.exit_code == 1
    assert "already has an account" in again.output
    new = "another long password"
    changed = cli.invoke(main, [*args[:2], "--role", "operator", "--update"], input=f"{new}\n")
    assert changed.exit_code == 0, changed.output
    with runtime.sessions() as session:
        user = session.scalars(select(AdminUser)).one()
        assert user.role == "operator"
        assert admins.password_matches(user, new)


def test_a_short_password_or_unknown_role_is_refused(cli: CliRunner, runtime: Runtime) -> None:
    short = cli.invoke(main, ["create-admin", "a@example.org", "--role", "admin"], input="short\n")
    assert short.exit_code == 1
    assert "12 to 1024" in short.output
    role = cli.invoke(
        main, ["create-admin", "a@example.org", "--role", "root"], input=f"{PASSWORD}\n"
    )
    assert role.exit_code == 2
    with runtime.sessions() as session:
        assert session.scalars(select(AdminUser)).first() is None
