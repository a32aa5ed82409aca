"""The findings report, the duplicate DataCite writes, and the files a kept run leaves."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ops.chaos.findings import Finding
from ops.chaos.journal import Entry
from ops.chaos.wiretap import WireEntry

WRITES = ("PUT", "POST", "DELETE", "PATCH")
MAX_ENTRIES_SHOWN = 14


@dataclass(frozen=True)
class Duplicate:
    """One write (same DOI, method and body) that reached DataCite more than once."""

    doi: str
    method: str
    event: str | None
    sends: tuple[WireEntry, ...]

    @property
    def after_success(self) -> bool:
        """Some send repeats one whose 2xx the worker did receive: a call it need not make."""
        return any(_received_2xx(e) for e in self.sends[:-1])

    def outcomes(self) -> str:
        """Each send's answer as the worker got it: 201, 503, lost (dropped or too late)."""
        return ",".join(_outcome(e) for e in self.sends)


def _received_2xx(entry: WireEntry) -> bool:
    return entry.delivered and entry.status is not None and 200 <= entry.status < 300


def _outcome(entry: WireEntry) -> str:
    if entry.status is None:
        return "dropped"
    return str(entry.status) if entry.delivered else f"{entry.status}-too-late"


def duplicates(wire: Iterable[WireEntry]) -> list[Duplicate]:
    """Writes the wiretap saw sent again: the same DOI, method and body, back to back.

    Only consecutive writes to a DOI count: a concept hidden, shown and hidden again
    sends the same `hide` body twice, but those are two decisions, not a re-send.
    """
    runs: dict[str, list[WireEntry]] = {}
    found: list[list[WireEntry]] = []
    for entry in wire:
        if entry.method not in WRITES or not entry.doi:
            continue
        run = runs.get(entry.doi)
        if run and (run[-1].method, run[-1].body_sha256) == (entry.method, entry.body_sha256):
            run.append(entry)
            if len(run) == 2:
                found.append(run)
        else:
            runs[entry.doi] = [entry]
    return [
        Duplicate(doi=r[0].doi or "", method=r[0].method, event=r[0].event, sends=tuple(r))
        for r in found
    ]


def findings_text(findings: list[Finding], entries: dict[str, Entry]) -> str:
    """Every finding, grouped by check, with expected vs seen and the entries involved."""
    if not findings:
        return "no findings"
    by_check: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_check[finding.check].append(finding)
    parts = [f"{len(findings)} finding(s):"]
    for check in sorted(by_check):
        parts.append(f"\n== {check} ({len(by_check[check])})")
        parts += [_finding_text(f, entries) for f in by_check[check]]
    return "\n".join(parts)


def _finding_text(finding: Finding, entries: dict[str, Entry]) -> str:
    lines = [
        f"- [{finding.phase}] dataset {finding.dataset} doi {finding.doi}",
        f"    expected: {finding.expected}",
        f"    seen:     {finding.seen}",
    ]
    if finding.detail:
        lines += ["    history:"] + [f"      {line}" for line in finding.detail.splitlines()]
    refs = [r for r in finding.refs if r in entries]
    if refs:
        shown = refs[-MAX_ENTRIES_SHOWN:]
        lines.append(
            f"    journal ({len(refs)} entries{', last shown' if len(refs) > len(shown) else ''}):"
        )
        lines += [f"      {entries[r].line()}" for r in shown]
    return "\n".join(lines)


def duplicates_text(found: list[Duplicate], wire_count: int) -> str:
    """The duplicate writes, one line each, and a count of those after a lost answer."""
    wasted = sum(d.after_success for d in found)
    head = (
        f"duplicate DataCite writes: {len(found)} (same DOI, method and body sent again, back "
        f"to back) among {wire_count} requests; {wasted} repeat a write whose 2xx the worker "
        f"received, {len(found) - wasted} only follow answers lost, too late, 5xx or 429"
    )
    lines = [head]
    for d in found:
        why = "repeats a received 2xx" if d.after_success else "retry after lost/5xx/429"
        times = " ".join(e.time[11:23] for e in d.sends)
        lines.append(
            f"  {d.method} {d.doi} event={d.event} x{len(d.sends)} [{d.outcomes()}] "
            f"at {times} ({why})"
        )
    return "\n".join(lines)


def keep(directory: Path, files: dict[str, Any]) -> None:
    """Write the run's evidence (one JSON file per name) next to the process logs."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(data, indent=1, default=_plain))


def _plain(value: object) -> object:
    if hasattr(value, "to_json"):
        return value.to_json()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[call-overload]
    return str(value)
