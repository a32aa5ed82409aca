"""`doiflow sandbox`: serve the DataCite sandbox until interrupted."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from ops.sandbox.faults import parse_rate_limit
from ops.sandbox.persistence import StateFileError
from ops.sandbox.server import SandboxServer


def _check_rate_limit(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    try:
        parse_rate_limit(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=5300, show_default=True, type=int, help="Port (0 = any free).")
@click.option("--user", default="REPO.ID", show_default=True, help="Repository account.")
@click.option(
    "--password",
    envvar="DATACITE_PASSWORD",
    default="secret",
    show_default=False,
    help="Account password (default: $DATACITE_PASSWORD, else 'secret').",
)
@click.option(
    "--prefix",
    "prefixes",
    multiple=True,
    default=("10.80507",),
    show_default=True,
    help="DOI prefix the account owns; repeat for more.",
)
@click.option("--domains", default=None, help="Comma-separated landing-page hosts (default any).")
@click.option(
    "--rate-limit",
    default=None,
    callback=_check_rate_limit,
    help="Token bucket such as 750/300s (DataCite test) or 3000/300s (production).",
)
@click.option(
    "--state",
    "state_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file the DOIs are loaded from at start and saved to after each change.",
)
def sandbox(
    host: str,
    port: int,
    user: str,
    password: str,
    prefixes: tuple[str, ...],
    domains: str | None,
    rate_limit: str | None,
    state_path: Path | None,
) -> None:
    """Serve a stateful DataCite REST API sandbox with fault injection."""
    try:
        server = SandboxServer(
            host=host,
            port=port,
            users={user: password},
            prefixes=list(prefixes),
            domains=domains,
            rate_limit=rate_limit,
            quiet=False,
            state_path=state_path,
        )
    except StateFileError as error:
        raise click.ClickException(str(error)) from None
    stopping = threading.Event()
    # SIGTERM (Heroku, honcho) stops as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with server:
        owned = ", ".join(prefixes)
        click.echo(f"DataCite sandbox on {server.url} (user {user}, prefixes {owned})")
        click.echo(f"Control API: {server.url}/__sandbox/")
        if state_path is not None:
            click.echo(f"DOIs kept in {state_path}")
        try:
            while not stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    click.echo("DataCite sandbox stopped")
