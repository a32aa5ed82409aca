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


@click.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: $PORT or 5000.")
def dev(host: str, port: int | None) -> None:
    """Run API, relay, workers, clock, DataCite sandbox and S3 in one process (SQLite, no Redis)."""
    from werkzeug.serving import make_server

    from app import create_app
    from app.cli import configure_logging
    from app.schema import upgrade
    from app.services import tokens
    from workers.clock import Clock
    from workers.embedded import EmbeddedWorkers

    configure_logging(default_format="text")
    port = port or int(os.environ.get("PORT", "5000"))
    sandbox = _start_sandbox_unless_configured()
    s3 = _start_s3_unless_configured()
    Path("var").mkdir(exist_ok=True)
    try:
        settings = load_settings(
            **DEV_DEFAULTS,
            SECRET_KEY=_kept_secret(Path("var/secret-key")),
            LANDING_URL_TEMPLATE=f"http://{host}:{port}/datasets/{{dataset}}/{{version}}",
        )
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    upgrade(settings.database_url)
    runtime = Runtime.from_settings(settings)
    with runtime.sessions.begin() as session:
        _, token = tokens.create_token(session, "dev", ["read", "write", "operator"])
    admin_password = _dev_admin(runtime, Path("var/dev-admin-password"))
    server = make_server(host, port, create_app(runtime=runtime), threaded=True)
    stop_clock = threading.Event()
    clock = threading.Thread(target=Clock(runtime).run_forever, args=(stop_clock,), daemon=True)
    with EmbeddedWorkers(runtime):
        clock.start()
        _print_welcome(f"http://{host}:{port}", token, runtime, sandbox, s3, admin_password)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            thread.join()
        except KeyboardInterrupt:
            click.echo("stopping")
        finally:
            stop_clock.set()
            server.shutdown()
    if sandbox is not None:
        sandbox.stop()
    if s3 is not None:
        s3.stop()


def _start_sandbox_unless_configured() -> SandboxServer | None:
    """Start the in-process DataCite sandbox and point DATACITE_* at it, unless set."""
    if os.environ.get("DATACITE_API_URL"):
        return None
    from ops.sandbox import SandboxServer

    password = secrets.token_urlsafe(12)
    sandbox = SandboxServer(
        host="127.0.0.1", port=0, users={"DEV.DOIFLOW": password}, prefixes=["10.80507"]
    )
    sandbox.start()
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
    broker = "Redis" if settings.redis_url else "in-memory, worker threads in this process"
    where = " (in-process sandbox)" if sandbox else ""
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
  API token      {token}
  admin page     {url}/admin   (log in as {login})
  database       {settings.redacted()["database_url"]}
  broker         {broker}
  DataCite       {sandbox_url}{where}
  DOI_PUBLISH    {publish}  (DOI_PUBLISH=true makes published versions findable)
  S3             {s3_url} bucket {bucket}{s3_where}

Try it:
  curl -s -X POST {url}/api/datasets -H 'Authorization: Bearer {token}' \\
       -H 'Content-Type: application/json' \\
       -d '{{"id": "demo-1", "metadata": {{"titles": [{{"title": "A first dataset"}}]}}}}'
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
