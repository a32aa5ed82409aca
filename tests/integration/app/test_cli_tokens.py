"""`doiflow tokens list | create | revoke` (and the `create-token` alias) on the real database."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from app.cli import main
from app.runtime import Runtime
from tests.fixtures.runtime import doiflow_environment
from tests.support.api import assert_error


@pytest.fixture
def cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner on the test database; logging restored afterwards."""
    for name, value in doiflow_environment(runtime.settings.database_url, None).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOG_FORMAT", "text")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield CliRunner()
    root.handlers, root.level = handlers, level


def create(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(main, ["tokens", "create", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def listed(cli: CliRunner, *args: str) -> list[dict]:
    result = cli.invoke(main, ["tokens", "list", "--json", *args])
    assert result.exit_code == 0, result.output
    rows: list[dict] = json.loads(result.stdout)
    return rows


def test_create_list_revoke_and_revocation_counts_at_once(
    cli: CliRunner, client: FlaskClient
) -> None:
    # Given a token made on the command line, used once
    plain = create(cli, "--name", "archive-backend", "--scopes", "read")
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/datasets", headers=headers).status_code == 200
    # Then the list shows it with its scopes and its use, never the token itself
    (row,) = listed(cli)
    assert (row["name"], row["scopes"], row["revoked_at"]) == ("archive-backend", "read", None)
    assert row["last_used_at"] is not None
    table = cli.invoke(main, ["tokens", "list"])
    assert "archive-backend" in table.stdout
    assert plain not in table.output
    # When it is revoked, Then the very next request is refused
    revoked = cli.invoke(main, ["tokens", "revoke", str(row["id"])])
    assert revoked.exit_code == 0, revoked.output
    assert_error(client.get("/api/datasets", headers=headers), 401, "invalid_token")
    assert listed(cli) == []
    assert [r["id"] for r in listed(cli, "--all")] == [row["id"]]
    # And revoking it again says there is no such live token (exit 1)
    again = cli.invoke(main, ["tokens", "revoke", str(row["id"])])
    assert again.exit_code == 1
    assert "no live API token" in again.output


@pytest.mark.parametrize("name", ["", "   "])
def test_a_token_needs_a_name(cli: CliRunner, name: str) -> None:
    for command in (["tokens", "create"], ["create-token"]):
        result = cli.invoke(main, [*command, "--name", name])
        assert result.exit_code == 2
        assert "needs a name" in result.output
    assert listed(cli) == []


def test_create_token_stays_as_an_alias(cli: CliRunner, client: FlaskClient) -> None:
    result = cli.invoke(main, ["create-token", "--name", "old-habit", "--scopes", "read,write"])
    assert result.exit_code == 0, result.output
    plain = result.stdout.strip().splitlines()[-1]
    assert (
        client.get("/api/datasets", headers={"Authorization": f"Bearer {plain}"}).status_code == 200
    )
    assert [r["name"] for r in listed(cli)] == ["old-habit"]
