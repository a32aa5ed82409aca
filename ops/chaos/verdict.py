"""Judging a run: the state after the chaos, then again after re-driving what failed.

After the chaos stops (faults cleared, every process up, the outbox drained) the
state is checked as it is: that is the run's verdict. Every DOI then still `failed`
is re-driven once, with DataCite behaving, and everything is checked again: a DOI
that cannot reach its target even then is stuck for good, which the first look
cannot tell from a failure the chaos caused legitimately.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import chain

from ops.chaos import checks, invariants
from ops.chaos.config import ChaosConfig
from ops.chaos.findings import Finding, merge
from ops.chaos.journal import ApiClient, Entry, Journal
from ops.chaos.model import Models, build
from ops.chaos.observe import Snapshot, observe, wait_drained
from ops.chaos.operations import Lifecycle
from ops.chaos.sandbox import SandboxControl
from ops.chaos.stack import Stack


@dataclass
class Verdict:
    """The findings of both looks, what each look saw, and every journal entry."""

    findings: list[Finding]
    after_chaos: Snapshot
    after_redrive: Snapshot
    entries: list[Entry]


def judge(
    stack: Stack,
    sandbox: SandboxControl,
    config: ChaosConfig,
    journals: list[Journal],
    early: list[Finding],
    say: Callable[[str], None],
) -> Verdict:
    """Look, judge, re-drive the failed DOIs, look and judge again."""
    entries = list(chain.from_iterable(j.snapshot() for j in journals))
    models = build(entries)
    observer = ApiClient(stack.api_url, stack.token, Journal("observer"))
    say("checking the state after the chaos")
    after_chaos = _look("after chaos", stack, sandbox, observer, models)
    failed, excused = checks.failures(after_chaos, config.max_attempts)
    first = checks.api_answers(entries) + failed + early
    first += state_checks(models, after_chaos, excused, failed_is_stuck=False)
    settle = _redrive(stack, after_chaos, config, say)
    after_redrive = _look("after re-drive", stack, sandbox, observer, models)
    second = state_checks(models, after_redrive, set(), failed_is_stuck=True)
    extra = settle.snapshot() + observer.journal.snapshot()
    second += checks.api_answers(extra)
    findings = merge(_phase(first, "after chaos"), _phase(second, "after re-drive"))
    return Verdict(_with_journal(findings, models), after_chaos, after_redrive, entries + extra)


def state_checks(
    models: Models, snap: Snapshot, excused: set[str], *, failed_is_stuck: bool
) -> list[Finding]:
    """Every check of one look at the final state."""
    return (
        checks.reflected(models, snap)
        + checks.outcomes(models, snap, excused)
        + checks.stuck(snap, excused, failed_is_stuck=failed_is_stuck)
        + checks.open_jobs(snap, models)
        + invariants.citations(snap)
        + invariants.tombstones(models, snap, excused)
        + invariants.embargo(models, snap)
        + invariants.agreement(snap, excused)
    )


def _look(
    phase: str, stack: Stack, sandbox: SandboxControl, observer: ApiClient, models: Models
) -> Snapshot:
    wire = stack.wiretap.entries() if stack.wiretap else []
    return observe(phase, observer, sandbox, wire, stack.database_url, models)


def _redrive(
    stack: Stack, snap: Snapshot, config: ChaosConfig, say: Callable[[str], None]
) -> Journal:
    """Re-drive every failed DOI once, DataCite behaving, and wait for the outbox again."""
    journal = Journal("settle")
    lifecycle = Lifecycle.over(stack.api_url, stack.token, stack.operator_token, journal)
    failed = [
        (doi, row["dataset_id"]) for doi, row in snap.rows.items() if row["state"] == "failed"
    ]
    say(f"re-driving {len(failed)} failed DOI(s), then checking again")
    for doi, dataset in failed:
        lifecycle.retry(doi, dataset)
    if not wait_drained(stack.database_url, config.settle_timeout):
        say(f"the outbox did not drain within {config.settle_timeout:g} s after the re-drive")
    return journal


def _with_journal(findings: list[Finding], models: Models) -> list[Finding]:
    """A finding about a dataset names the dataset's journal entries unless it has its own."""
    return [
        replace(f, refs=tuple(models[f.dataset].refs)) if not f.refs and f.dataset in models else f
        for f in findings
    ]


def _phase(findings: list[Finding], phase: str) -> list[Finding]:
    return [replace(f, phase=phase) for f in findings]
