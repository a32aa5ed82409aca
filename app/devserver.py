"""`doiflow dev`: everything in one process for a first try (DESIGN "Embedded default")."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.config import ConfigError, load_settings
from app.runtime import Runtime

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

    from ops.sandbox import SandboxServer

DEV_BUCKET = "doiflow-dev"
DEMO_METADATA = (
    '{"titles": [{"title": "A first dataset"}], "creators": [{"name": "Doe, Jane"}], '
    '"publisher": {"name": "doiflow dev"}, "publicationYear": "2026", '
    '"types": {"resourceTypeGeneral": "Dataset"}}'
)
# The shell splices $VID, $SHA and $SIZE in between the single-quoted parts.
DEMO_BODY = (
    '{"version": "1.0", "metadata": ' + DEMO_METADATA + ', "blobs": [{"key": "demo-1/hello.txt", '
    '"version_id": "\'"$VID"\'", "sha256": "\'"$SHA"\'", "size": \'"$SIZE"\'}]}'
)
DEV_DEFAULTS = {
    "DATABASE_URL": "sqlite:///./var/doiflow.db",
    "DOI_INSTANCE": "dev",
    "RELAY_POLL_SECONDS": "0.2",
}
DEV_ADMIN = "dev@localhost"
DEV_TOKEN_SCOPES = ["read", "write", "operator"]
SANDBOX_PORT = 5300  # stable, so the printed commands stay right across restarts
VAR = Path("var")


@click.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: $PORT or 5000.")
@click.option(
    "--sandbox-port",
    type=int,
    default=SANDBOX_PORT,
    show_default=True,
    help="The in-process DataCite sandbox's port (0: any free one).",
)
def dev(host: str, port: int | None, sandbox_port: int) -> None:
    """Run API, relay, workers, a DataCite sandbox and an S3 in one process (SQLite, no Redis)."""
    from werkzeug.serving import make_server

    from app import create_app
    from app.cli import configure_logging
    from workers.embedded import EmbeddedWorkers

    configure_logging(default_format="text", process="dev")
    port = port or int(os.environ.get("PORT", "5000"))
    VAR.mkdir(exist_ok=True)
    sandbox = _start_sandbox_unless_configured(sandbox_port, VAR / "sandbox.json")
    s3 = _start_s3_unless_configured()
    try:
        settings = load_settings(
            **DEV_DEFAULTS,
            SECRET_KEY=_kept_secret(VAR / "secret-key"),
            LANDING_URL_TEMPLATE=f"http://{host}:{port}/datasets/{{dataset}}/{{version}}",
        )
    except ConfigError as error:
        from app import startup

        startup.refuse("dev", startup.StartupError(str(error), startup.EXIT_CONFIG))
    _quiet_upgrade(settings.database_url)
    runtime = Runtime.from_settings(settings)
    token = _kept_token(runtime, VAR / "dev-api-token")
    admin_password = _dev_admin(runtime, VAR / "dev-admin-password")
    server = make_server(host, port, create_app(runtime=runtime), threaded=True)
    with EmbeddedWorkers(runtime):
        _print_welcome(f"http://{host}:{port}", token, runtime, sandbox, s3, admin_password)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            thread.join()
        except KeyboardInterrupt:
            click.echo("stopping")
        finally:
            server.shutdown()
    if sandbox is not None:
        sandbox.stop()
    if s3 is not None:
        s3.stop()


def _quiet_upgrade(database_url: str) -> None:
    """Bring the SQLite schema to head without alembic's INFO lines (a first try needs none)."""
    import logging

    from app.schema import upgrade

    migration_log = logging.getLogger("alembic.runtime.migration")
    level = migration_log.level
    migration_log.setLevel(logging.WARNING)
    try:
        upgrade(database_url)
    finally:
        migration_log.setLevel(level)


def _kept_token(runtime: Runtime, path: Path) -> str:
    """The API token kept in `path` while it is still valid; else a new one, kept there."""
    from app.services import tokens

    if path.exists():
        kept = path.read_text().strip()
        with runtime.sessions.begin() as session:
            if kept and tokens.authenticate(session, kept) is not None:
                return kept
    with runtime.sessions.begin() as session:
        _, plain = tokens.create_token(session, "dev", DEV_TOKEN_SCOPES)
    path.write_text(plain + "\n")
    path.chmod(0o600)
    return plain


def _start_sandbox_unless_configured(port: int, state: Path) -> SandboxServer | None:
    """Start the in-process DataCite sandbox and point DATACITE_* at it, unless set.

    Its DOIs are kept in `state` (next to the SQLite file), so a restart finds in the
    sandbox what doiflow's database says is there.
    """
    if os.environ.get("DATACITE_API_URL"):
        return None
    from ops.sandbox import SandboxServer

    password = secrets.token_urlsafe(12)
    sandbox = SandboxServer(
        host="127.0.0.1",
        port=port,
        users={"DEV.DOIFLOW": password},
        prefixes=["10.80507"],
        state_path=state,
    )
    try:
        sandbox.start()
    except OSError as error:
        raise click.ClickException(
            f"the DataCite sandbox cannot listen on 127.0.0.1:{port} ({error.strerror}): "
            "pass --sandbox-port with a free port (0: any), or set DATACITE_API_URL"
        ) from None
    os.environ.update(
        DATACITE_API_URL=sandbox.url,
        DATACITE_USER="DEV.DOIFLOW",
        DATACITE_PASSWORD=password,
        DATACITE_PREFIX="10.80507",
    )
    return sandbox


def _start_s3_unless_configured() -> ThreadedMotoServer | None:
    """Start moto's S3 in-process with an Object Lock bucket and point S3_* at it, unless set.

    moto is for a first try only: it checks little (any credentials, any checksum) and
    keeps nothing across restarts. The tests use SeaweedFS.
    """
    if os.environ.get("S3_BUCKET"):
        return None
    from moto.server import ThreadedMotoServer

    from app.clients.storage import StorageClient

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        S3_BUCKET=DEV_BUCKET,
        S3_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="doiflow-dev",
        AWS_SECRET_ACCESS_KEY=secrets.token_urlsafe(12),
        AWS_REGION="us-east-1",
    )
    with StorageClient(
        DEV_BUCKET,
        endpoint_url=os.environ["S3_ENDPOINT_URL"],
        access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    ) as storage:
        storage.create_locked_bucket()
        storage.check_bucket()
    return server


def _kept_secret(path: Path) -> str:
    """$SECRET_KEY, else a random one kept in `path` (sessions survive a restart)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _dev_admin(runtime: Runtime, path: Path) -> str | None:
    """The dev admin's password: made on first start, kept in `path`; None if it was changed."""
    from app.enums import AdminRole
    from app.services import admins

    if not path.exists():
        path.write_text(secrets.token_urlsafe(15))
        path.chmod(0o600)
    password = path.read_text().strip()
    with runtime.sessions.begin() as session:
        user = admins.find(session, DEV_ADMIN)
        if user is None:
            admins.create(session, DEV_ADMIN, password, AdminRole.ADMIN, actor="cli:doiflow-dev")
        elif not admins.password_matches(user, password):
            return None  # someone set another password: we no longer know it
    return password


def _print_welcome(
    url: str,
    token: str,
    runtime: Runtime,
    sandbox: SandboxServer | None,
    s3: ThreadedMotoServer | None,
    admin_password: str | None,
) -> None:
    settings = runtime.settings
    sandbox_url = settings.datacite_api_url
    state = f" (in-process sandbox, its DOIs kept in {VAR / 'sandbox.json'})"
    broker = "Redis" if settings.redis_url else "in-memory, worker threads in this process"
    where = state if sandbox else ""
    publish = str(settings.doi_publish).lower()
    s3_url, bucket = settings.s3_endpoint_url or "AWS", settings.s3_bucket
    s3_where = " (in-process moto: for a first try, it keeps nothing)" if s3 else ""
    login = (
        f"{DEV_ADMIN} / {admin_password}" if admin_password else f"{DEV_ADMIN} (password changed)"
    )
    click.echo(
        f"""
doiflow is running (embedded default)
  API            {url}/api   (OpenAPI: {url}/api/openapi.json)
  API token      {token}   (kept in {VAR / "dev-api-token"})
  admin page     {url}/admin   (log in as {login})
  database       {settings.redacted()["database_url"]}
  broker         {broker}
  DataCite       {sandbox_url}{where}
  DOI_PUBLISH    {publish}  (DOI_PUBLISH=true makes published versions findable)
  S3             {s3_url} bucket {bucket}{s3_where}

Try it:
  curl -s -X POST {url}/api/datasets -H 'Authorization: Bearer {token}' \\
       -H 'Content-Type: application/json' \\
       -d '{{"id": "demo-1", "metadata": {DEMO_METADATA}}}'
  curl -s {url}/api/datasets/demo-1 -H 'Authorization: Bearer {token}'
  curl -s {sandbox_url}/__sandbox/dois

Then upload a file and publish it (held in S3 before its DOI is registered):
  printf 'hello\\n' > hello.txt
  VID=$(curl -s -X PUT -T hello.txt {s3_url}/{bucket}/demo-1/hello.txt -D - -o /dev/null \\
        | tr -d '\\r' | sed -n 's/^x-amz-version-id: //Ip')
  SHA=$(sha256sum hello.txt | cut -c1-64); SIZE=$(wc -c < hello.txt | tr -d ' ')
  curl -s -X POST {url}/api/datasets/demo-1/versions -H 'Authorization: Bearer {token}' \\
       -H 'Content-Type: application/json' \\
       -d '{DEMO_BODY}'
  curl -s {url}/api/datasets/demo-1 -H 'Authorization: Bearer {token}'

Stop with Ctrl-C.
"""
    )
