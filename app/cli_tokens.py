"""`doiflow tokens list | create | revoke`: API bearer tokens from the command line.

A token is printed once, at creation, and stored only as a digest. Revocation counts
at the very next request (every request looks the token up; nothing caches it).
`last_used_at` is written at most once a minute per token (`tokens.LAST_USED_EVERY`),
so it says "in use lately", to the minute. Registered through `doiflow.commands`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from app.cli import runtime_from_environment
from app.models import ApiToken
from app.services import audit, operator, tokens
from app.services.errors import NotFoundError, ServiceError

# Exit statuses: 0 done, 1 nothing to do it to (no such live token), 2 bad input or setting.
NOT_FOUND = 1


@click.group("tokens")
def tokens_group() -> None:
    """API bearer tokens: list, create, revoke."""


def _command() -> str:
    """The command as typed (`tokens create`, or its alias `create-token`) for start-up lines."""
    context = click.get_current_context(silent=True)
    names: list[str] = []
    while context is not None and context.parent is not None:
        names.insert(0, context.info_name or "")
        context = context.parent
    return " ".join(names) or "tokens"


@tokens_group.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list on stdout.")
def list_tokens(include_revoked: bool, as_json: bool) -> None:
    """Tokens with their scopes and when they were last used (never the token itself)."""
    runtime = runtime_from_environment(_command())
    try:
        with runtime.sessions() as session:
            rows = [_row(t) for t in tokens.list_tokens(session, include_revoked=include_revoked)]
    finally:
        runtime.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if rows:
        click.echo(f"{'id':>5}  {'name':<24} {'scopes':<28} {'created':<20} {'last used':<20}")
    for row in rows:
        revoked = f"  revoked {row['revoked_at']}" if row["revoked_at"] else ""
        click.echo(
            f"{row['id']:>5}  {row['name'][:24]:<24} {row['scopes']:<28} "
            f"{row['created_at'] or '':<20} {row['last_used_at'] or 'never':<20}{revoked}"
        )
    click.echo(f"{len(rows)} token(s)", err=True)


@tokens_group.command("create")
@click.option("--name", required=True, help="Who uses the token, e.g. 'archive-backend'.")
@click.option("--scopes", default="read,write", show_default=True, help="read, write, operator.")
def create(name: str, scopes: str) -> None:
    """Create a token; it is printed once (the last line of stdout) and stored only hashed."""
    create_token(name, scopes)


def create_token(name: str, scopes: str) -> None:
    """`tokens create`, also behind the older `doiflow create-token`."""
    runtime = runtime_from_environment(_command())
    try:
        with runtime.sessions.begin() as session:
            token, plain = operator.create_token(
                session, name, tokens.parse_scopes(scopes), actor=audit.cli_actor()
            )
            label = f"token {token.id} ({token.name}, scopes {token.scopes}):"
    except ServiceError as error:
        raise click.UsageError(error.message) from None
    finally:
        runtime.close()
    click.echo(label, err=True)
    click.echo(plain)


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@click.option("--reason", default="revoked with doiflow tokens revoke", show_default=True)
def revoke(token_id: int, reason: str) -> None:
    """Revoke a live token by id (see `tokens list`); it is refused from the next request on."""
    runtime = runtime_from_environment(_command())
    try:
        with runtime.sessions.begin() as session:
            token = operator.revoke_token(session, token_id, actor=audit.cli_actor(), reason=reason)
            label = f"token {token.id} ({token.name}) revoked"
    except NotFoundError as error:
        click.echo(f"Error: {error.message}", err=True)
        raise SystemExit(NOT_FOUND) from None
    finally:
        runtime.close()
    click.echo(label)


def _row(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "scopes": token.scopes,
        "created_at": _when(token.created_at),
        "last_used_at": _when(token.last_used_at),
        "revoked_at": _when(token.revoked_at),
    }


def _when(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None
