"""Parse an HTTP `Retry-After` header (RFC 9110, section 10.2.3) into seconds to wait.

Kept apart from the DataCite client so the parsing is pure and tested without HTTP.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# A bogus or hostile header must not park a DOI for years; the caller's own
# backoff and age limits take over beyond a day.
MAX_RETRY_AFTER = 24 * 60 * 60.0

# RFC 9110: delay-seconds = 1*DIGIT. ASCII only: str.isdigit() also accepts "²".
_DELAY_SECONDS = re.compile(r"[0-9]+")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the seconds to wait from a Retry-After value, or None if absent or unparseable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if _DELAY_SECONDS.fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER)
    when = _parse_http_date(value)
    if when is None:
        return None
    now = _as_utc(now or datetime.now(UTC))
    seconds = (when - now).total_seconds()
    # A date in the past (clock skew, a stale cache) means "now", never a negative wait.
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _parse_http_date(value: str) -> datetime | None:
    """Parse IMF-fixdate and the obsolete RFC 850 and asctime forms RFC 9110 requires."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return _as_utc(when)


def _as_utc(when: datetime) -> datetime:
    """Treat a naive datetime as UTC: HTTP dates are always GMT, asctime carries no zone."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
