"""Checks of doiflow's final state against the model: answers, datasets, DOIs, jobs.

The faults chaos injects are all transient (5xx, 429, timeouts, resets, latency), so
a DOI that failed "permanently" was misjudged by doiflow, and one that ran out of
retries must have had its tries at DataCite. The DataCite-side invariants are in
`ops.chaos.invariants`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ops.chaos import config
from ops.chaos.expectations import ABSENT, Expected, expected_dois
from ops.chaos.findings import Finding, history_text, moment
from ops.chaos.journal import Entry
from ops.chaos.model import DatasetModel, Models, first_title
from ops.chaos.observe import Snapshot

# A DOI retired while pending keeps target `deleted`; if DataCite made it findable
# meanwhile doiflow hides it instead (DataCite deletes drafts only) and leaves the
# target as it was. Registered is then as far as it can go: settled, not short.
AS_FAR_AS_IT_GOES = {("registered", "deleted")}


def api_answers(entries: Iterable[Entry]) -> list[Finding]:
    """No 5xx, no request left unanswered, every status the one the rules predict."""
    findings = []
    for entry in entries:
        if entry.as_expected:
            continue
        if entry.status is None:
            check, seen = "api-no-answer", f"no answer ({entry.error})"
        elif entry.status >= 500:
            check, seen = "api-5xx", f"{entry.status}: {str(entry.answer)[:300]}"
        else:
            check, seen = "api-unexpected-status", f"{entry.status}: {str(entry.answer)[:300]}"
        findings.append(
            Finding(
                check,
                entry.dataset,
                None,
                f"{entry.method} {entry.path} answered {entry.expected}",
                seen,
                (entry.ref,),
            )
        )
    return findings


def reflected(models: Models, snap: Snapshot) -> list[Finding]:
    """Nothing lost: every successful operation shows in GET /api/datasets/{id}."""
    findings = []
    for model in models.values():
        if model.uncertain:
            continue
        seen = snap.datasets.get(model.id)
        expected = _dataset_view(model)
        actual = _served_view(seen) if seen is not None else None
        if actual != expected:
            findings.append(
                Finding(
                    "lost",
                    model.id,
                    None,
                    str(expected),
                    str(actual),
                    tuple(model.refs),
                )
            )
    return findings


def _dataset_view(model: DatasetModel) -> dict[str, Any]:
    return {
        "deleted": model.deleted,
        "embargoed": model.embargoed,
        "metadata": model.metadata,
        "versions": [(v.name, v.deleted) for v in model.versions],
    }


def _served_view(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "deleted": body.get("deleted"),
        "embargoed": body.get("embargoed"),
        "metadata": body.get("metadata"),
        "versions": [(v["version"], v["deleted"]) for v in body.get("versions") or []],
    }


def outcomes(models: Models, snap: Snapshot, excused: set[str]) -> list[Finding]:
    """Every DOI the rules call for exists in the right state, URL and metadata.

    `excused` names datasets with a DOI that failed legitimately (retries exhausted at
    DataCite): their other DOIs wait on it, so they are judged after the re-drive.
    """
    findings: list[Finding] = []
    for model in models.values():
        if model.uncertain or model.id in excused:
            continue
        for expected in expected_dois(model):
            findings += _outcome(model, expected, snap)
    return findings


def _outcome(model: DatasetModel, expected: Expected, snap: Snapshot) -> list[Finding]:
    if expected.version is None:
        expected = _waiting_on_versions(model, expected, snap)
    row = snap.rows.get(expected.doi)
    state = row["state"] if row else ABSENT
    refs = tuple(model.refs)
    detail = history_text(snap.dois.get(expected.doi))
    if state in ("pending", "failed"):
        return []  # reported by the stuck and failure checks
    if state not in expected.states:
        seen = f"{state} (target {row['target']})" if row else "no DOI in doiflow"
        return [
            Finding(
                "wrong-state",
                model.id,
                expected.doi,
                f"{' or '.join(sorted(expected.states))} (rule {expected.rule})",
                seen,
                refs,
                detail,
            )
        ]
    remote = snap.remote.get(expected.doi)
    if remote is None or remote.get("state") != state or state not in ("draft", "findable"):
        return []  # absent or out of step: the agreement check reports it
    return _remote_content(model, expected, remote, refs, detail)


def _waiting_on_versions(model: DatasetModel, expected: Expected, snap: Snapshot) -> Expected:
    """A concept syncs after its versions: one not findable (its own finding) holds it back."""
    live = [config.version_doi(model.id, v.name) for v in model.live_versions()]
    states = [(snap.rows.get(doi) or {}).get("state") for doi in live]
    if expected.states != {"findable"} or all(state == "findable" for state in states):
        return expected
    allowed = expected.states if "findable" in states else expected.states | {"draft"}
    return replace(expected, states=frozenset(allowed), title=None, cites=None)


def _remote_content(
    model: DatasetModel, expected: Expected, remote: dict[str, Any], refs: tuple, detail: str
) -> list[Finding]:
    attributes = remote.get("attributes") or {}
    seen = {
        "url": attributes.get("url"),
        "title": first_title(attributes),
        "cites": cited(attributes),
    }
    wanted = {"url": expected.url, "title": expected.title, "cites": expected.cites}
    findings = []
    for name, value in wanted.items():
        if value is not None and seen[name] != value:
            findings.append(
                Finding(
                    f"wrong-{name}",
                    model.id,
                    expected.doi,
                    f"{_text(value)} (rule {expected.rule})",
                    f"{_text(seen[name])} at DataCite ({remote.get('state')})",
                    refs,
                    detail,
                )
            )
    return findings


def cited(attributes: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """The (relationType, DOI) pairs of a record's DOI-typed relatedIdentifiers."""
    pairs = set()
    for related in attributes.get("relatedIdentifiers") or []:
        if isinstance(related, dict) and related.get("relatedIdentifierType") == "DOI":
            pairs.add((related.get("relationType"), str(related.get("relatedIdentifier")).lower()))
    return frozenset(pairs)


def _text(value: object) -> str:
    if isinstance(value, frozenset):
        return str(sorted(value))
    return str(value)


def stuck(snap: Snapshot, excused: set[str], *, failed_is_stuck: bool) -> list[Finding]:
    """No open intent; no DOI short of its target (failed only with an excuse)."""
    findings = []
    by_id = {row["id"]: doi for doi, row in snap.rows.items()}
    for intent in snap.open_intents:
        key = str(intent["key"]).removeprefix("doi:")
        doi = by_id.get(int(key)) if key.isdigit() else None
        findings.append(
            Finding(
                "stuck-intent",
                snap.rows.get(doi or "", {}).get("dataset_id"),
                doi,
                "no pending or enqueued intent once the chaos has stopped",
                f"intent {intent['id']} {intent['status']}, attempts {intent['attempts']}, "
                f"available {intent['available_at']}, last error {intent['last_error']}",
            )
        )
    for doi, row in snap.rows.items():
        finding = _short_of_target(doi, row, snap, excused, failed_is_stuck)
        if finding is not None:
            findings.append(finding)
    return findings


def _short_of_target(
    doi: str, row: dict, snap: Snapshot, excused: set[str], failed_is_stuck: bool
) -> Finding | None:
    state, target = row["state"], row["target"]
    if state == target or (state, target) in AS_FAR_AS_IT_GOES or row["dataset_id"] in excused:
        return None
    body = snap.dois.get(doi) or {}
    if state == "failed":
        if not failed_is_stuck:
            return None  # judged by `failures` from its history
        check, seen = "failed-after-redrive", f"failed: {str(body.get('last_error'))[:300]}"
    else:
        check, seen = "short-of-target", f"{state} (attempts {body.get('attempts')})"
    return Finding(
        check,
        row["dataset_id"],
        doi,
        f"{target}",
        seen,
        detail=history_text(body),
    )


def open_jobs(snap: Snapshot, models: Models) -> list[Finding]:
    """No publish job left in_progress."""
    findings = []
    for job in snap.open_jobs:
        model = models.get(job["dataset_id"])
        version = model.version(job["version"]) if model and job["version"] else None
        steps = ", ".join(f"{s['name']}={s['status']}" for s in job["steps"])
        findings.append(
            Finding(
                "job-open",
                job["dataset_id"],
                None,
                f"job {job['id']} ({job['version']}) finished or failed",
                f"in_progress with steps {steps}",
                tuple(version.refs if version else ()),
            )
        )
    return findings


def failures(snap: Snapshot, max_attempts: int) -> tuple[list[Finding], set[str]]:
    """Judge every recorded failure; return the findings and the datasets excused for now.

    A DOI still failed excuses its dataset from the state checks until the re-drive:
    its other DOIs wait on it (a concept cites only findable versions), and whatever
    else its failure left behind is the failure's finding, not one finding each.
    """
    findings: list[Finding] = []
    excused: set[str] = set()
    for doi, body in snap.dois.items():
        judged = [_judge(doi, body, t, snap, max_attempts) for t in _fails(body)]
        findings += [f for f in judged if f is not None]
        if body.get("state") == "failed":
            excused.add(body.get("dataset") or "")
    return findings, excused


def _fails(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in body.get("history") or [] if t.get("to") == "failed"]


def _judge(doi: str, body: dict, fail: dict, snap: Snapshot, max_attempts: int) -> Finding | None:
    detail = fail.get("detail") or ""
    dataset = body.get("dataset")
    history = history_text(body)
    if not detail.startswith("retries exhausted"):
        return Finding(
            "permanent-failure",
            dataset,
            doi,
            "no permanent failure: every injected fault is transient",
            f"failed ({fail.get('http_status')}): {detail[:240]}; {_held(doi, snap)}",
            detail=history,
        )
    tries = _tries_before(doi, body, fail, snap)
    if tries >= max_attempts:
        return None
    return Finding(
        "failed-untried",
        dataset,
        doi,
        f"failed only after {max_attempts} tries at DataCite",
        f"retries exhausted after {tries} request(s) reached DataCite: {detail[:200]}; "
        f"{_held(doi, snap)}",
        detail=history,
    )


def _held(doi: str, snap: Snapshot) -> str:
    record = snap.remote.get(doi)
    if record is None:
        return "DataCite now: absent"
    return f"DataCite now: {record.get('state')} at {record.get('url')}"


def _tries_before(doi: str, body: dict, fail: dict, snap: Snapshot) -> int:
    """Requests DataCite saw for `doi` between its previous transition and this failure.

    Every change of state settles the intent that caused it, so the requests after the
    last one are the failing intent's own tries.
    """
    end = moment(fail.get("at"))
    if end is None:
        return 0
    earlier = [
        at
        for t in body.get("history") or []
        if (at := moment(t.get("at"))) is not None and at < end
    ]
    start = max(earlier, default=None)
    count = 0
    for request in snap.requests:
        at = moment(request.get("time"))
        if (request.get("doi") or "").lower() != doi or at is None:
            continue
        if at <= end and (start is None or at > start):
            count += 1
    return count
