"""`doiflow holds backfill | verify | release`: legal holds from the command line.

Each command shows a progress bar on a terminal, ends with one summary line (or a JSON
document with `--json`), and exits 0 when no problem remains, 1 when some do, 2 on a
bad setting. They make their S3 calls themselves, with no transaction open, paced by
`--rate`. Registered through the `doiflow.commands` entry points.
"""

from __future__ import annotations

import getpass
import json
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy import func, select

from app.cli import ConfigProblem, runtime_from_environment
from app.clients.errors import MissingObjectError, PermanentError, RemoteError
from app.clients.storage import StorageClient
from app.config import Limit
from app.models import Blob
from app.ratelimit import LocalTokenBucket
from app.runtime import Runtime
from app.services import hold_backfill, hold_check, hold_release
from app.services.errors import ServiceError

PAGE = 500


@click.group("holds")
def holds() -> None:
    """S3 legal holds on published blob versions."""


@holds.command("backfill")
@click.option("--dry-run", is_flag=True, help="Count what lacks a hold; change nothing.")
@click.option("--rate", type=float, default=50.0, show_default=True, help="Holds per second.")
@click.option("--limit", type=int, default=None, help="Hold at most this many now.")
@click.option("--json", "as_json", is_flag=True, help="A JSON summary on stdout.")
def backfill(dry_run: bool, rate: float, limit: int | None, as_json: bool) -> None:
    """Hold every published blob version that lacks a hold (resumable: only what is left)."""
    runtime, storage = _s3_runtime()
    with runtime.sessions() as session:
        todo = hold_backfill.candidates(session, limit=limit)
    if dry_run:
        _finish(as_json, {"dry_run": True, "would_hold": len(todo)}, f"{len(todo)} to hold", 0)
        return
    done, errors = 0, []
    pace = _pacer(rate)
    with _progress(len(todo), "holding", as_json) as step:
        for item in todo:
            pace()
            error = _hold_one(runtime, storage, item)
            if error is None:
                done += 1
            else:
                errors.append({"key": item.key, "version_id": item.version_id, "error": error})
            step()
    summary = {"held": done, "errors": errors, "dry_run": False}
    line = f"{done} hold(s) set, {len(errors)} error(s)"
    _finish(as_json, summary, line, 1 if errors else 0)


def _hold_one(runtime: Runtime, storage: StorageClient, item: Any) -> str | None:
    with runtime.sessions.begin() as session:
        hold_id = hold_backfill.prepare(session, item.blob_id)
    try:
        storage.put_hold(item.key, item.version_id, on=True)
    except RemoteError as error:
        permanent = isinstance(error, PermanentError | MissingObjectError)
        with runtime.sessions.begin() as session:
            hold_backfill.failed(session, hold_id, str(error), permanent=permanent)
        return str(error)
    with runtime.sessions.begin() as session:
        hold_backfill.confirm(session, hold_id, on=True, detail="doiflow holds backfill")
    return None


@holds.command("verify")
@click.option("--fix", is_flag=True, help="Queue the missing holds (never removes one).")
@click.option("--rate", type=float, default=100.0, show_default=True, help="HEADs per second.")
@click.option("--concurrency", type=int, default=8, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON report on stdout.")
def verify(fix: bool, rate: float, concurrency: int, as_json: bool) -> None:
    """Every blob version's hold, size and sha256 in S3 against the database (one HEAD each)."""
    runtime, storage = _s3_runtime(max_connections=concurrency)
    report, errors = hold_check.Report(), []
    with runtime.sessions() as session:
        total = session.scalar(_count_blobs()) or 0
    pace = _pacer(rate)

    def look(item: hold_check.Expected) -> Any:
        pace()
        try:
            return hold_check.inspect(storage, item)
        except RemoteError as error:
            return error

    bar = _progress(int(total), "checking", as_json)
    with bar as step, ThreadPoolExecutor(concurrency) as pool:
        for page in _pages(runtime):
            answers = list(zip(page, pool.map(look, page), strict=True))
            for _ in page:
                step()
            findings = [a for _, a in answers if isinstance(a, hold_check.Finding)]
            checked = [i for i, a in answers if not isinstance(a, RemoteError)]
            errors += [
                f"{i.key}@{i.version_id}: {a}" for i, a in answers if isinstance(a, RemoteError)
            ]
            with runtime.sessions.begin() as session:
                report.queued += hold_check.record(
                    session, runtime.settings, checked, findings, fix=fix
                )
            report.checked += len(checked)
            report.findings += findings
    _verify_summary(report, errors, fix=fix, as_json=as_json)


def _verify_summary(
    report: hold_check.Report, errors: list[str], *, fix: bool, as_json: bool
) -> None:
    counts = report.counts()
    unfixed = len(report.findings) - (report.queued if fix else 0)
    line = f"checked {report.checked} blob version(s): " + ", ".join(
        f"{n} {kind.replace('_', ' ')}(s)" for kind, n in counts.items()
    )
    if fix:
        line += f"; {report.queued} missing hold(s) queued"
    if errors:
        line += f"; {len(errors)} could not be checked"
    if not as_json:
        for finding in report.findings:
            click.echo(f"{finding.kind}: {finding.key}@{finding.version_id}: {finding.detail}")
    summary = {
        "checked": report.checked,
        "counts": counts,
        "problems": [f.as_json() for f in report.findings],
        "queued": report.queued,
        "errors": errors,
    }
    _finish(as_json, summary, line, 1 if unfixed or errors else 0)


@holds.command("release")
@click.argument("key")
@click.option("--version-id", required=True, help="The S3 version id (never the latest).")
@click.option("--reason", required=True, help="Why; kept in the audit log.")
@click.option("--json", "as_json", is_flag=True, help="A JSON summary on stdout.")
def release(key: str, version_id: str, reason: str, as_json: bool) -> None:
    """The backdoor: release one blob version's legal hold (audit-logged; verify leaves it off)."""
    runtime, storage = _s3_runtime()
    actor = f"command line ({getpass.getuser()})"
    try:
        with runtime.sessions.begin() as session:
            hold, _ = hold_release.release(
                runtime.settings, session, key, version_id, reason=reason, actor=actor
            )
            hold_id, was = hold.id, hold.state
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    # Done here and now; the intent queued beside the audit row finishes it otherwise.
    try:
        storage.put_hold(key, version_id, on=False)
    except MissingObjectError:
        pass  # gone: nothing is held
    except RemoteError as error:
        summary = {"released": False, "queued": True, "error": str(error)}
        _finish(as_json, summary, f"S3 failed ({error}); the release is queued", 1)
        return
    with runtime.sessions.begin() as session:
        hold_backfill.confirm(session, hold_id, on=False, detail=f"released by {actor}: {reason}")
    summary = {"released": True, "key": key, "version_id": version_id, "was": was, "by": actor}
    _finish(as_json, summary, f"released the hold on {key}@{version_id} (was {was})", 0)


def _s3_runtime(**options: Any) -> tuple[Runtime, StorageClient]:
    """The command's database and S3 client, closed when the command ends."""
    runtime = runtime_from_environment("holds")
    if not runtime.settings.s3_configured:
        runtime.close()
        raise ConfigProblem("S3_BUCKET is not set: there are no legal holds to manage")
    storage = StorageClient.from_settings(runtime.settings, **options)
    context = click.get_current_context()
    context.call_on_close(runtime.close)
    context.call_on_close(storage.close)
    return runtime, storage


def _count_blobs() -> Any:
    return select(func.count()).select_from(Blob).where(Blob.deleted_at.is_(None))


def _pages(runtime: Runtime) -> Iterator[list[hold_check.Expected]]:
    after = 0
    while True:
        with runtime.sessions() as session:
            page = hold_check.expectations(session, after=after, limit=PAGE)
        if not page:
            return
        yield page
        after = page[-1].blob_id


def _pacer(rate: float) -> Callable[[], None]:
    """Block until the next call is allowed: at most `rate` per second, shared by threads."""
    bucket = LocalTokenBucket(Limit(max(1, int(rate)), 1))

    def pace() -> None:
        while True:
            grant = bucket.take()
            if grant.wait > 0:
                time.sleep(grant.wait)
            if grant.wait == 0 or grant.reserved:
                return  # a reserved token is ours once the wait is over

    return pace


@contextmanager
def _progress(total: int, label: str, quiet: bool) -> Iterator[Callable[[], None]]:
    """A progress bar on a terminal (stderr); nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        yield lambda: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield lambda: bar.update(1)


def _finish(as_json: bool, summary: dict[str, Any], line: str, code: int) -> None:
    click.echo(json.dumps(summary, indent=2) if as_json else line)
    if code:
        sys.exit(code)
