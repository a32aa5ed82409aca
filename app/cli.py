"""The `doiflow` command line: schema, tokens and admin accounts here, process commands
from entry points.

Commands that run processes (`relay`, `worker`, `dev`, `sandbox`, …) live in the
packages that own them and register themselves in the `doiflow.commands` entry-point
group, as Flask's own CLI does with `flask.commands`. They are loaded only when asked
for, so `import app.cli` loads neither a broker nor the sandbox.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import click

from app import logs, startup
from app.runtime import Runtime

COMMAND_GROUP = "doiflow.commands"


class ConfigProblem(click.ClickException):
    """A setting is missing or malformed: one line naming it, exit status 2."""

    exit_code = 2


class PluginGroup(click.Group):
    """A click group that also offers the commands registered in COMMAND_GROUP."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *(ep.name for ep in _plugins())})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        for entry in _plugins():
            if entry.name == name:
                loaded: click.Command = entry.load()
                return loaded
        return None


def _plugins() -> list:
    return list(entry_points(group=COMMAND_GROUP))


def runtime_from_environment(
    process: str = "cli", *, redis: bool = False, schema_check: bool = True, wait: bool = False
) -> Runtime:
    """The Runtime of a command once `app.startup` passed; else its one line and exit code.

    One-shot commands (the default) fail at once when the database is unreachable;
    long-running ones pass `wait=True` and retry with backoff until it answers.
    """
    try:
        settings = startup.prepare(process, redis=redis, schema_check=schema_check, wait=wait)
    except startup.StartupError as error:
        startup.refuse(process, error)
    return Runtime.from_settings(settings)


def configure_logging(
    default_format: str = "json", level: str | None = None, *, process: str | None = None
) -> None:
    """LOG_FORMAT (json|text) and LOG_LEVEL from the environment; secrets scrubbed.

    A bad value is the start-up check's one line and exit 2, naming the command.
    """
    try:
        logs.configure_from_environment(default_format, level)
    except ValueError as error:
        if process is None:
            context = click.get_current_context(silent=True)
            process = (context.invoked_subcommand if context else None) or "cli"
        startup.refuse(process, startup.StartupError(str(error), startup.EXIT_CONFIG))


@click.group(cls=PluginGroup)
@click.option(
    "--log-level", default=None, help="Python logging level (default $LOG_LEVEL or INFO)."
)
def main(log_level: str | None) -> None:
    """doiflow: DataCite DOIs and S3 legal holds kept in step with an archive."""
    configure_logging(level=log_level)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply alembic migrations (the Procfile's release step)."""
    from app.schema import upgrade

    runtime = runtime_from_environment("db upgrade", schema_check=False)
    click.echo(f"upgrading {runtime.settings.redacted()['database_url']} to {revision}")
    upgrade(runtime.settings.database_url, revision)
    click.echo("schema is up to date")


@main.command("create-token")
@click.option("--name", required=True, help="Who uses the token, e.g. 'archive-backend'.")
@click.option("--scopes", default="read,write", show_default=True, help="read, write, operator.")
def create_token(name: str, scopes: str) -> None:
    """Create an API bearer token; it is printed once and stored only hashed."""
    from app.services import tokens
    from app.services.errors import ServiceError

    runtime = runtime_from_environment("create-token")
    try:
        with runtime.sessions.begin() as session:
            token, plain = tokens.create_token(session, name, tokens.parse_scopes(scopes))
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"token {token.id} ({name}, scopes {token.scopes}):", err=True)
    click.echo(plain)


@main.command("create-admin")
@click.argument("email")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["viewer", "operator", "admin"]),
    help="viewer reads; operator also retries and discards; admin also manages tokens and users.",
)
@click.option(
    "--update", is_flag=True, help="Change an existing account's password and role instead."
)
def create_admin(email: str, role: str, update: bool) -> None:
    """Create an admin page account; the password is prompted for, or read from stdin."""
    from app.enums import AdminRole
    from app.services import admins, audit
    from app.services.errors import ServiceError

    password = _read_password()
    runtime = runtime_from_environment("create-admin")
    try:
        with runtime.sessions.begin() as session:
            if update:
                user = admins.update_account(
                    session, email, password=password, role=AdminRole(role), actor=audit.cli_actor()
                )
            else:
                user = admins.create(
                    session, email, password, AdminRole(role), actor=audit.cli_actor()
                )
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    finally:
        runtime.close()
    done = "updated" if update else "created"
    click.echo(f"admin account {user.email} ({user.role}) {done}; log in at /admin/login")


def _read_password() -> str:
    """Prompted twice on a terminal; otherwise the first line of stdin (for scripts)."""
    if sys.stdin.isatty():
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\r\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
