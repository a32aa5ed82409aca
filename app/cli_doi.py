"""`doiflow doi check | remediate | reconcile`: the health check and its repairs, from the
command line (`reconcile`, DataCite against the database, lives in `app.cli_reconcile`).

`check` is the check behind `GET /api/health` plus one authenticated GET at DataCite
(made with no transaction open); it exits 0 only when nothing needs a person.
`remediate` plans, then takes its steps one short transaction each: it only writes
targets, DOI rows and intents, so every DataCite call is a worker's, through the shared
rate limit. Registered through the `doiflow.commands` entry points.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
from sqlalchemy.exc import DBAPIError

from app import startup
from app.cli import ConfigProblem, progress, runtime_from_environment
from app.cli_reconcile import reconcile_command
from app.config import load_settings
from app.runtime import Runtime
from app.services import datacite_probe, health, health_checks, remediation

# Exit statuses: 0 nothing needs a person (remediate: every step taken), 1 something
# does (remediate: a step no longer applied), 2 a bad setting.
PROBLEMS = 1


@click.group("doi")
def doi() -> None:
    """DOIs: check what needs a person, and repair it."""


doi.add_command(reconcile_command)


@doi.command("check")
@click.option("--json", "as_json", is_flag=True, help="The checks as JSON on stdout.")
def check(as_json: bool) -> None:
    """What needs a person now (as GET /api/health), DataCite's answer included."""
    try:
        settings = startup.prepare("doi check", wait=False)
    except startup.StartupError as error:
        if error.exit_code != startup.EXIT_UNREACHABLE:
            startup.refuse("doi check", error)
        # An unreachable database is this command's finding, not a reason to say nothing.
        settings = load_settings()
        checks: dict = {"database": "unreachable"}
    else:
        runtime = Runtime.from_settings(settings)
        try:
            with runtime.sessions() as session:
                checks = health_checks.measure(session, settings)
        except DBAPIError:
            checks = {"database": "unreachable"}
        finally:
            runtime.close()
    # The remote call, with no transaction open.
    checks["datacite"] = datacite_probe.probe(settings)
    problems = health.problems_in(checks, settings)
    warnings = health.warnings_in(settings, checks)
    if as_json:
        body = {
            "status": "failing" if problems else "ok",
            "problems": [p.as_json() for p in problems],
            "warnings": [w.as_json() for w in warnings],
            "checks": checks,
        }
        click.echo(json.dumps(body, indent=2))
    else:
        for problem in problems:
            click.echo(f"PROBLEM {problem.check}: {problem.message}")
        for warning in warnings:
            click.echo(f"warning {warning.check}: {warning.message}")
        click.echo(
            f"{len(problems)} problem(s), {len(warnings)} warning(s)"
            if problems or warnings
            else "ok: nothing needs a person"
        )
    if problems:
        sys.exit(PROBLEMS)


@doi.command("remediate")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N steps.")
@click.option("--delay", type=click.FloatRange(min=0), default=0.0, help="Seconds between steps.")
@click.option("--dataset", "dataset_ids", multiple=True, help="Only this dataset (repeatable).")
@click.option(
    "--state",
    type=click.Choice(["failed"]),
    default=None,
    help="Also re-drive DOIs in this state.",
)
@click.option("--error-like", default=None, help="With --state failed: last_error contains TEXT.")
@click.option("--json", "as_json", is_flag=True, help="The plan and summary as JSON on stdout.")
def remediate(
    dry_run: bool,
    limit: int | None,
    delay: float,
    dataset_ids: tuple[str, ...],
    state: str | None,
    error_like: str | None,
    as_json: bool,
) -> None:
    """Create missing DOIs, promote drafts once DOI_PUBLISH is on, re-drive failed ones."""
    if error_like is not None and state is None:
        raise click.UsageError("--error-like needs --state failed")
    runtime = runtime_from_environment()
    click.get_current_context().call_on_close(runtime.close)
    settings = runtime.settings
    if not settings.datacite_configured:
        raise ConfigProblem(
            "DataCite is not configured (DATACITE_API_URL, _USER, _PASSWORD, _PREFIX): "
            "there are no DOIs to remediate yet"
        )
    chosen = remediation.Filter(
        dataset_ids=dataset_ids or None,
        redrive_failed=state == "failed",
        error_like=error_like,
        limit=limit,
    )
    with runtime.sessions() as session:
        steps = remediation.plan(session, settings, chosen)
    if dry_run:
        _report(as_json, steps, applied=None, skipped=[])
        return
    applied, skipped = 0, []
    with progress(len(steps), "remediating", as_json) as advance:
        for number, step in enumerate(steps):
            if number and delay:
                time.sleep(delay)
            with runtime.sessions.begin() as session:
                done = remediation.apply(session, settings, step)
            applied += done
            if not done:
                skipped.append(step)
            advance()
    _report(as_json, steps, applied=applied, skipped=skipped)
    if skipped:
        sys.exit(PROBLEMS)


def _report(
    as_json: bool,
    steps: list[remediation.Step],
    *,
    applied: int | None,
    skipped: list[remediation.Step],
) -> None:
    counts = {kind: sum(s.kind == kind for s in steps) for kind in remediation.KINDS}
    if as_json:
        body: dict[str, Any] = {
            "dry_run": applied is None,
            "planned": len(steps),
            "counts": counts,
            "steps": [s.as_json() for s in steps],
        }
        if applied is not None:
            body.update(applied=applied, skipped=[s.as_json() for s in skipped])
        click.echo(json.dumps(body, indent=2))
        return
    if applied is None:
        for step in steps:
            click.echo(step.describe())
    for step in skipped:
        click.echo(f"skipped (changed since planned): {step.describe()}")
    shown = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "nothing to do"
    if applied is None:
        click.echo(f"dry run: {len(steps)} step(s) planned ({shown}); nothing changed")
    else:
        click.echo(f"{applied} of {len(steps)} step(s) taken ({shown}); {len(skipped)} skipped")
