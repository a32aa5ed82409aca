"""Reading what DataCite holds, for reconciling (`app.services.reconcile`).

Reads go through the shared DataCite token bucket, with no transaction open: the
client's paginated listing (`GET /dois?client-id&prefix&page[cursor]`) for a full run,
one `GET /dois/{doi}` per DOI with `--dataset`, and a GET to confirm every DOI the
listing did not show before it is called missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from app import metrics
from app.clients.datacite import DataCiteClient
from app.clients.errors import RemoteDoi
from app.config import Settings

LIST_SIZE = 1000

Take = Callable[[], None]


def bucket_taker(bucket: Any) -> Take:
    """Block until the shared bucket grants a token (a reserved one is ours after the wait)."""

    def take() -> None:
        while True:
            grant = bucket.take()
            if grant.wait > 0:
                metrics.observe_bucket_wait(grant.wait)
                time.sleep(grant.wait)
            if grant.wait == 0 or grant.reserved:
                return

    return take


def read_listing(
    client: DataCiteClient,
    settings: Settings,
    take: Take,
    progress: Callable[[int], None] = lambda n: None,
    *,
    size: int = LIST_SIZE,
) -> Iterator[list[RemoteDoi]]:
    """DataCite's DOIs for our client and prefix, a page at a time, each read paced."""
    cursor: str | None = None
    while True:
        take()
        records, cursor = client.list_page(
            client_id=settings.datacite_user or "",
            prefix=settings.datacite_prefix or "",
            cursor=cursor,
            size=size,
        )
        progress(len(records))
        yield records
        if cursor is None or len(records) < size:
            return


def read_each(
    client: DataCiteClient, dois: Iterable[str], take: Take, progress: Callable[[int], None]
) -> dict[str, RemoteDoi | None]:
    """One GET per DOI (None: DataCite does not have it)."""
    found: dict[str, RemoteDoi | None] = {}
    for doi in dois:
        take()
        found[doi] = client.get(doi)
        progress(1)
    return found


def read(
    client: DataCiteClient,
    settings: Settings,
    take: Take,
    known: list[str],
    *,
    listed: bool,
    progress: Callable[[int], None] = lambda n: None,
) -> dict[str, RemoteDoi | None]:
    """What DataCite holds: its listing (a full run) or one GET per DOI; no transaction open.

    A known DOI the listing did not show gets a GET of its own before it counts as missing.
    """
    remote: dict[str, RemoteDoi | None] = {}
    if listed:
        for page in read_listing(client, settings, take, progress):
            remote.update((record.doi, record) for record in page)
    unseen = [doi for doi in known if doi not in remote]
    remote.update(read_each(client, unseen, take, progress))
    return remote
