"""Checks of what DataCite (the sandbox) holds: citations, tombstones, embargo, agreement."""

from __future__ import annotations

from ops.chaos import config
from ops.chaos.checks import cited
from ops.chaos.findings import Finding, history_text, moment
from ops.chaos.model import Models
from ops.chaos.observe import Snapshot


def citations(snap: Snapshot) -> list[Finding]:
    """No DOI at DataCite cites a DOI that does not resolve (absent, or a draft)."""
    findings = []
    for doi, record in snap.remote.items():
        for relation, target in sorted(cited(record.get("attributes") or {})):
            held = snap.remote.get(target)
            if held is not None and held.get("state") != "draft":
                continue
            seen = "does not exist" if held is None else "is a draft (does not resolve)"
            findings.append(
                Finding(
                    "dangling-citation",
                    (snap.rows.get(doi) or {}).get("dataset_id"),
                    doi,
                    f"{relation} {target} resolves",
                    f"{record.get('state')} DOI cites {target}, which {seen}",
                    detail=f"(the cited DOI in doiflow)\n{history_text(snap.dois.get(target))}",
                )
            )
    return findings


def tombstones(models: Models, snap: Snapshot, excused: set[str]) -> list[Finding]:
    """Every public DOI of a deleted dataset is hidden and points at the tombstone."""
    findings = []
    for model in models.values():
        if not model.deleted:
            continue
        for doi, record in snap.remote.items():
            if not config.belongs_to(doi, model.id) or model.id in excused:
                continue
            state, url = record.get("state"), record.get("url")
            if state == "registered" and url == config.tombstone_url(model.id):
                continue
            findings.append(
                Finding(
                    "tombstone",
                    model.id,
                    doi,
                    f"registered at {config.tombstone_url(model.id)} (rule 8)",
                    f"{state} at {url}",
                    tuple(model.refs),
                    history_text(snap.dois.get(doi)),
                )
            )
    return findings


def embargo(models: Models, snap: Snapshot) -> list[Finding]:
    """An embargoed dataset has no DOI rows, no DataCite record, no DataCite request."""
    findings = []
    for model in models.values():
        since = moment(model.public_since)
        leaks = [
            r
            for r in snap.requests
            if config.belongs_to((r.get("doi") or "").lower(), model.id)
            and (since is None or (moment(r.get("time")) or since) < since)
        ]
        if leaks:
            first = leaks[0]
            findings.append(
                Finding(
                    "embargo-leak",
                    model.id,
                    first.get("doi"),
                    "no DataCite request while the dataset is embargoed",
                    f"{len(leaks)} request(s), first {first['method']} at {first['time']}",
                    tuple(model.refs),
                )
            )
        if not model.public:
            findings += _embargoed_rows(model, snap)
    return findings


def _embargoed_rows(model, snap: Snapshot) -> list[Finding]:
    rows = [doi for doi, row in snap.rows.items() if row["dataset_id"] == model.id]
    remote = [doi for doi in snap.remote if config.belongs_to(doi, model.id)]
    if not rows and not remote:
        return []
    return [
        Finding(
            "embargo-leak",
            model.id,
            (rows + remote)[0],
            "no DOI rows and no DataCite record for an embargoed dataset",
            f"doiflow rows {rows}, DataCite records {remote}",
            tuple(model.refs),
        )
    ]


def agreement(snap: Snapshot, excused: set[str]) -> list[Finding]:
    """doiflow's state of each DOI is DataCite's; DataCite holds nothing doiflow does not know."""
    findings = []
    for doi, row in snap.rows.items():
        state = row["state"]
        if state in ("pending", "failed") or row["dataset_id"] in excused:
            continue  # judged by the stuck and failure checks
        record = snap.remote.get(doi)
        held = record.get("state") if record else "absent"
        if held == ("absent" if state == "deleted" else state):
            continue
        findings.append(
            Finding(
                "state-mismatch",
                row["dataset_id"],
                doi,
                f"DataCite {'absent' if state == 'deleted' else state}, as doiflow says",
                f"DataCite {held}",
                detail=history_text(snap.dois.get(doi)),
            )
        )
    return findings + _orphans(snap)


def _orphans(snap: Snapshot) -> list[Finding]:
    """DOIs under our prefix at DataCite that doiflow has no row for."""
    return [
        Finding(
            "orphan-at-datacite",
            None,
            doi,
            "every DOI at DataCite is one doiflow manages",
            f"{record.get('state')} at {record.get('url')}, unknown to doiflow",
        )
        for doi, record in snap.remote.items()
        if doi not in snap.rows
    ]
