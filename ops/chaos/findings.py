"""A finding: one way the final state breaks the lifecycle rules, with its evidence."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Finding:
    """What was expected, what was seen, and the journal entries involved."""

    check: str
    dataset: str | None
    doi: str | None
    expected: str
    seen: str
    refs: tuple[str, ...] = ()
    detail: str = ""
    phase: str = ""

    @property
    def key(self) -> tuple[str, str | None, str | None, str]:
        """Two phases reporting the same problem share this key."""
        return (self.check, self.dataset, self.doi, self.seen)

    def to_json(self) -> dict[str, Any]:
        """The finding as written to the kept logs."""
        return {
            "check": self.check,
            "phase": self.phase,
            "dataset": self.dataset,
            "doi": self.doi,
            "expected": self.expected,
            "seen": self.seen,
            "detail": self.detail,
            "entries": list(self.refs),
        }


def merge(*phases: list[Finding]) -> list[Finding]:
    """Findings of every phase; one seen in several phases is kept once, naming them all."""
    merged: dict[tuple, Finding] = {}
    for findings in phases:
        for finding in findings:
            known = merged.get(finding.key)
            if known is None:
                merged[finding.key] = finding
            elif finding.phase not in known.phase:
                merged[finding.key] = replace(known, phase=f"{known.phase}, {finding.phase}")
    return list(merged.values())


def moment(text: str | None) -> datetime | None:
    """An ISO timestamp as an aware UTC datetime (naive ones are UTC)."""
    if not text:
        return None
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def history_text(doi: dict[str, Any] | None, limit: int = 12) -> str:
    """A DOI's recorded transitions, one compact line each."""
    if not doi:
        return ""
    lines = []
    for t in (doi.get("history") or [])[-limit:]:
        status = f" {t['http_status']}" if t.get("http_status") else ""
        detail = f" ({t['detail'][:160]})" if t.get("detail") else ""
        lines.append(
            f"{(t.get('at') or '')[11:23]} {t['event']}: {t['from']}->{t['to']}{status}{detail}"
        )
    return "\n".join(lines)
