"""GET /dois as lupo answers it: who sees what, filters, order, page numbers and cursors.

Follows DataciteDoisController#index, Paginatable (page_from_params, make_cursor) and
Doi.query. Where lupo asks Elasticsearch, the sandbox does what those show: numbered
pages are sorted by `sort` (default newest update first) and stop at 10,000 results;
a cursor walks the DOIs by creation time, then DOI, with no such limit. Timestamps
count in whole seconds, as the index stores them, and ties fall back to the DOI so
the order is stable.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote_plus

from ops.sandbox import query as search
from ops.sandbox.store import FINDABLE, DoiRecord

DEFAULT_SIZE = 25
MAX_SIZE = 1000
# Elasticsearch answers at most this many hits to a numbered query.
MAX_RESULTS = 10_000
# The parameters lupo copies into links.next that the sandbox reads. lupo carries
# neither `state` nor `sort` over, so a client following `next` loses them.
CARRIED = ("query", "client-id", "prefix", "publisher")
# lupo's `sort` values the sandbox orders by; any other value means "-updated".
SORTS: dict[str, tuple[str, bool]] = {
    "name": ("doi", False),
    "-name": ("doi", True),
    "created": ("created", False),
    "-created": ("created", True),
    "updated": ("updated", False),
    "-updated": ("updated", True),
}
_RUBY_INT = re.compile(r"\s*([+-]?\d+(?:_\d+)*)")

Render = Callable[[DoiRecord], dict]


@dataclass(frozen=True)
class Page:
    """Which slice of the listing is asked for: a number, or a cursor (sort key)."""

    size: int
    number: int
    cursor: tuple[int, str] | None = None


def page_from(args: Mapping[str, str]) -> Page:
    """Read page[size], page[number] and page[cursor] as Paginatable#page_from_params."""
    size = DEFAULT_SIZE
    if (args.get("page[size]") or "").strip():
        size = max(0, min(ruby_to_i(args["page[size]"]), MAX_SIZE))
    most = MAX_RESULTS // size if size > 0 else 1
    number = ruby_to_i(args.get("page[number]"))
    number = min(number, most) if number > 0 else 1
    cursor = decode_cursor(args["page[cursor]"]) if "page[cursor]" in args else None
    return Page(size=size, number=number, cursor=cursor)


def ruby_to_i(text: str | None) -> int:
    """Ruby's String#to_i: the leading integer, or 0."""
    match = _RUBY_INT.match(text or "")
    return int(match.group(1).replace("_", "")) if match else 0


def encode_cursor(record: DoiRecord) -> str:
    """The opaque cursor after `record`: its sort key, URL-safe base64 (make_cursor)."""
    created, doi = cursor_key(record)
    return base64.urlsafe_b64encode(f"{created},{doi}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[int, str]:
    """Undo encode_cursor; anything undecodable starts from the beginning, as in lupo."""
    # Ruby's urlsafe_decode64 pads a short string, then decodes strictly.
    padded = text if text.endswith("=") else text + "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return (0, "")
    created, _, doi = decoded.partition(",")
    return (ruby_to_i(created), doi)


def cursor_key(record: DoiRecord) -> tuple[int, str]:
    """Creation time in milliseconds (whole seconds) and the DOI: lupo's cursor sort."""
    return (_seconds(record.created) * 1000, record.doi)


def select(
    records: Iterable[DoiRecord], args: Mapping[str, str], user: str | None
) -> list[DoiRecord]:
    """The DOIs the caller may see that pass the state, client-id, prefix and query filters."""
    # The index action lists only findable DOIs to anonymous callers, whatever they ask.
    state = FINDABLE if user is None else args.get("state")
    states = set(state.split(",")) if state else None
    clients = _split(_arg(args, "client-id"))
    prefixes = _split(args.get("prefix"))
    text = args.get("query")
    return [
        record
        for record in records
        if (record.state == FINDABLE or record.owner == user)
        and (states is None or record.state in states)
        and (clients is None or record.owner.lower() in clients)
        and (prefixes is None or record.prefix in prefixes)
        and (not text or search.matches(record, text))
    ]


def answer(
    records: list[DoiRecord],
    page: Page,
    args: Mapping[str, str],
    *,
    self_url: str,
    base_url: str,
    render: Render,
) -> dict:
    """The JSON:API body for one page of the selected `records`."""
    if page.cursor is None:
        ordered = _by_sort(records, args.get("sort"))
        results = ordered[(page.number - 1) * page.size : page.number * page.size]
        countable = min(len(records), MAX_RESULTS)
    else:
        ordered = sorted(records, key=cursor_key)
        results = [r for r in ordered if cursor_key(r) > page.cursor][: page.size]
        countable = len(records)
    pages = math.ceil(countable / page.size) if page.size > 0 else 0
    meta: dict = {"total": len(records), "totalPages": pages}
    if page.cursor is None:
        meta["page"] = page.number
    links = {"self": self_url}
    # lupo's test for a last page also compares the page number, even with a cursor.
    if len(results) >= page.size > 0 and page.number != pages:
        links["next"] = f"{base_url}/dois?{_next_query(page, args, results)}"
    return {"data": [render(record) for record in results], "meta": meta, "links": links}


def _by_sort(records: list[DoiRecord], sort: str | None) -> list[DoiRecord]:
    field, descending = SORTS.get(sort or "", ("updated", True))
    ordered = sorted(records, key=lambda record: record.doi)
    if field == "doi":
        return list(reversed(ordered)) if descending else ordered
    # Python's sort is stable, reversed or not, so equal times keep the DOI order.
    return sorted(ordered, key=lambda r: _seconds(getattr(r, field)), reverse=descending)


def _next_query(page: Page, args: Mapping[str, str], results: list[DoiRecord]) -> str:
    carried: dict[str, str] = {}
    for name in CARRIED:
        value = _arg(args, name)
        if value is not None:
            carried[name] = value
    if page.cursor is not None:
        carried["page[cursor]"] = encode_cursor(results[-1])
    else:
        carried["page[number]"] = str(page.number + 1)
    carried["page[size]"] = str(page.size)
    # Rails' Hash#to_query: CGI-escaped `key=value` pairs, sorted.
    return "&".join(sorted(f"{quote_plus(k)}={quote_plus(v)}" for k, v in carried.items()))


def _arg(args: Mapping[str, str], name: str) -> str | None:
    # ApplicationController#transform_params reads `client_id` as `client-id`.
    value = args.get(name)
    return value if value is not None else args.get(name.replace("-", "_"))


def _split(value: str | None) -> set[str] | None:
    if not value:
        return None
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())
