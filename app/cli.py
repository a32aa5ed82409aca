"""The `doiflow` command line: schema, processes, tokens, the sandbox and the embedded default.

Commands that run background processes import `workers` lazily, inside the command:
the CLI is the composition root, and importing `app` must never set up a broker. The
sandbox and dev commands are registered at import, but their modules import nothing
heavy until they run.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click

from app.config import ConfigError, load_settings
from app.runtime import Runtime


def _runtime() -> Runtime:
    try:
        return Runtime.from_settings(load_settings())
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@click.group()
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
def main(log_level: str) -> None:
    """doiflow: DataCite DOIs and S3 legal holds kept in step with an archive."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply alembic migrations (the Procfile's release step)."""
    from app.schema import upgrade

    runtime = _runtime()
    click.echo(f"upgrading {runtime.settings.redacted()['database_url']} to {revision}")
    upgrade(runtime.settings.database_url, revision)
    click.echo("schema is up to date")


@main.command("relay")
def relay() -> None:
    """Move due outbox intents onto Dramatiq queues until stopped."""
    from workers.broker import install, redis_broker
    from workers.relay import Relay

    runtime = _runtime()
    try:
        broker = install(redis_broker(runtime.settings, "relay"))
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    stop = _stop_on_signals()
    click.echo("relay started; waiting for intents", err=True)
    Relay(runtime, broker).run_forever(stop)


@main.command("create-token")
@click.option("--name", required=True, help="Who uses the token, e.g. 'archive-backend'.")
@click.option("--scopes", default="read,write", show_default=True, help="read, write, operator.")
def create_token(name: str, scopes: str) -> None:
    """Create an API bearer token; it is printed once and stored only hashed."""
    from app.services import tokens
    from app.services.errors import ServiceError

    runtime = _runtime()
    try:
        with runtime.sessions.begin() as session:
            token, plain = tokens.create_token(session, name, tokens.parse_scopes(scopes))
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"token {token.id} ({name}, scopes {token.scopes}):", err=True)
    click.echo(plain)


def _register_commands() -> None:
    from app.devserver import dev
    from ops.sandbox.command import sandbox

    main.add_command(sandbox)
    main.add_command(dev)


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
