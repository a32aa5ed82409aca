"""`doiflow doi reconcile`: DataCite's records against the database, from the command line.

A command of the `doi` group (`app.cli_doi`).

Reads go through the shared DataCite token bucket (Redis when REDIS_URL is set), with
no transaction open; a progress bar on a terminal, a table (or `--json`), and exit
code 0 only when nothing drifts (1 drift found, 2 a bad setting, 3 DataCite failed).
`--fix` queues syncs through the outbox and never writes to DataCite itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from app.cli import ConfigProblem, runtime_from_environment
from app.clients.errors import RemoteError
from app.clients.remotes import Remotes
from app.db import utcnow
from app.services import audit, reconcile, reconcile_fix, reconcile_read

DATACITE_FAILED = 3


@click.command("reconcile")
@click.option("--fix", is_flag=True, help="Queue syncs for drifting DOIs (never deletes one).")
@click.option(
    "--dataset", "dataset_ids", multiple=True, help="Only this dataset's DOIs (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="A JSON report on stdout.")
def reconcile_command(fix: bool, dataset_ids: tuple[str, ...], as_json: bool) -> None:
    """Every DOI doiflow knows against DataCite: state, URL, metadata, missing, unknown."""
    runtime = runtime_from_environment("doi")
    context = click.get_current_context()
    context.call_on_close(runtime.close)
    settings = runtime.settings
    if not settings.datacite_configured:
        raise ConfigProblem("DataCite is not configured (DATACITE_API_URL and the rest)")
    remotes = Remotes(settings)
    context.call_on_close(remotes.close)
    client = remotes.datacite
    assert client is not None  # noqa: S101 - configured, checked above
    with runtime.sessions() as session:
        known = reconcile.known_dois(session, dataset_ids)
    take = reconcile_read.bucket_taker(remotes.datacite_bucket)
    read_at = utcnow()
    try:
        with _progress(len(known), "reading DataCite", as_json) as step:
            remote = reconcile_read.read(
                client, settings, take, known, listed=not dataset_ids, progress=step
            )
    except RemoteError as error:
        click.echo(f"DataCite failed: {error}", err=True)
        sys.exit(DATACITE_FAILED)
    report = reconcile.compare_all(runtime.sessions, settings, remote, read_at=read_at)
    report.listed = not dataset_ids
    if fix and report.drifts:
        actor = audit.cli_actor()
        with runtime.sessions.begin() as session:
            report.queued = reconcile_fix.fix(
                session, settings, report.drifts, actor=actor, read_at=read_at
            )
    _summary(report, fix=fix, as_json=as_json)


def _summary(report: reconcile.Report, *, fix: bool, as_json: bool) -> None:
    counts = report.counts()
    line = f"checked {report.checked} DOI(s): " + ", ".join(
        f"{n} {kind}" for kind, n in counts.items()
    )
    if report.skipped:
        line += f"; {report.skipped} changed or in flight, left to their sync"
    if fix:
        line += f"; {report.queued} sync(s) queued"
    if not report.listed:
        line += "; unknown DOIs not looked for (--dataset)"
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        for row in _table(report):
            click.echo(row)
        click.echo(line)
    if report.drifts:
        sys.exit(1)  # with --fix too: the next run shows whether the syncs converged


def _table(report: reconcile.Report) -> list[str]:
    if not report.drifts:
        return []
    rows = [("KIND", "DOI", "DOIFLOW", "DATACITE")]
    rows += [(d.kind, d.doi, d.ours or "-", d.theirs or "-") for d in report.drifts]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    padded = [[cell.ljust(width) for cell, width in zip(r[:3], widths, strict=True)] for r in rows]
    return ["  ".join([*cells, r[3]]) for cells, r in zip(padded, rows, strict=True)]


@contextmanager
def _progress(total: int, label: str, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal (stderr); nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        yield lambda n: None
        return
    with click.progressbar(length=max(total, 1), label=label, file=sys.stderr) as bar:
        yield bar.update
