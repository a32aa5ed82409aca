"""`doiflow stash prune`: delete the stashes past STASH_RETENTION_SECONDS.

The clock calls `app.services.stash.prune_expired` once it exists; until then this
command does the same, in bounded batches (one short transaction each), with a progress
bar on a terminal, one summary line (or JSON with `--json`), and exit status 0 (2 on a
bad setting). Registered through the `doiflow.commands` entry points.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click
from sqlalchemy import func, select

from app.cli import runtime_from_environment
from app.db import utcnow
from app.models import Stash
from app.runtime import Runtime
from app.services import stash as stashes


@click.group("stash")
def stash() -> None:
    """The DataCite records stashed before every DELETE or hide."""


@stash.command("prune")
@click.option("--dry-run", is_flag=True, help="Count the expired stashes; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="A JSON summary on stdout.")
def prune(dry_run: bool, as_json: bool) -> None:
    """Delete every stash whose expiry has passed (a restore can no longer use them)."""
    runtime = runtime_from_environment()
    now = utcnow()
    try:
        with runtime.sessions() as session:
            expired = int(
                session.scalar(select(func.count(Stash.id)).where(Stash.expires_at <= now)) or 0
            )
            left = int(session.scalar(select(func.count(Stash.id))) or 0) - expired
        deleted = 0 if dry_run else _prune(runtime, now, expired, quiet=as_json)
    finally:
        runtime.close()
    summary = {"expired": expired, "deleted": deleted, "kept": left, "dry_run": dry_run}
    verb = "would delete" if dry_run else "deleted"
    line = f"{verb} {expired if dry_run else deleted} expired stash(es); {left} kept"
    click.echo(json.dumps(summary, indent=2) if as_json else line)


def _prune(runtime: Runtime, now: datetime, total: int, *, quiet: bool) -> int:
    deleted = 0
    bar = None
    if not quiet and sys.stderr.isatty() and total:
        bar = click.progressbar(length=total, label="pruning", file=sys.stderr)
    try:
        while True:
            with runtime.sessions.begin() as session:
                gone = stashes.prune_batch(session, now=now)
            deleted += gone
            if bar is not None:
                bar.update(gone)
            if gone < stashes.PRUNE_BATCH:
                return deleted
    finally:
        if bar is not None:
            bar.render_finish()
