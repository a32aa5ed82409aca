"""The Blob rows a publication references, found or created in bulk, and linked to it.

A version may reference thousands of blob versions; each step here is one statement
whatever the count. On Postgres the lists travel as arrays (`unnest`), so a statement
stays a few parameters long; elsewhere (SQLite, `doiflow dev`) as VALUES lists and
multi-row INSERTs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Text, cast, column, func, insert, literal, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import Select

from app.db import is_postgres, utcnow
from app.models import Blob, Version, version_blobs
from app.services.errors import ConflictError

FIELDS = ("key", "version_id", "sha256", "size")
# Pairs per lookup off Postgres: two bound parameters each, well under SQLite's 32,766.
LOOKUP_CHUNK = 5_000


def records(session: Session, specs: list[dict[str, Any]]) -> list[Blob]:
    """The Blob of each reference, in order: recorded ones locked and checked, new ones created."""
    pairs = [(spec["key"], spec["version_id"]) for spec in specs]
    found = {(b.key, b.version_id): b for b in _locked(session, pairs)}
    for spec in specs:
        existing = found.get((spec["key"], spec["version_id"]))
        if existing is not None:
            _check_recorded(existing, spec)
    new = [spec for spec in specs if (spec["key"], spec["version_id"]) not in found]
    for blob in _insert(session, new):
        found[(blob.key, blob.version_id)] = blob
    return [found[pair] for pair in pairs]


def link(session: Session, version: Version, blobs: Sequence[Blob]) -> None:
    """Record that `version` references `blobs` (one INSERT), and set `version.blobs`."""
    if blobs:
        ids = [blob.id for blob in blobs]
        if is_postgres(session):
            rows = select(literal(version.id, BigInteger), func.unnest(ids_array(ids)))
            session.execute(insert(version_blobs).from_select(["version_id", "blob_id"], rows))
        else:
            session.execute(
                insert(version_blobs), [{"version_id": version.id, "blob_id": i} for i in ids]
            )
    # What the INSERT wrote is what the relationship holds: no second write at flush.
    set_committed_value(version, "blobs", list(blobs))


def _locked(session: Session, pairs: list[tuple[str, str]]) -> list[Blob]:
    if not pairs:
        return []
    # The hold of a blob is read only when needed (most are new): no load of 10,000 here.
    base = select(Blob).options(lazyload(Blob.hold)).order_by(Blob.id)
    if is_postgres(session):
        listed = recordset([{"key": k, "version_id": v} for k, v in pairs], PAIR_COLUMNS)
        wanted = select(listed.c.key, listed.c.version_id)
        query = base.where(func.row(Blob.key, Blob.version_id).in_(wanted))
        return list(session.scalars(query.with_for_update(of=Blob)))
    found: list[Blob] = []
    for start in range(0, len(pairs), LOOKUP_CHUNK):
        chunk = pairs[start : start + LOOKUP_CHUNK]
        found += session.scalars(base.where(tuple_(Blob.key, Blob.version_id).in_(chunk)))
    return found


def _insert(session: Session, specs: list[dict[str, Any]]) -> list[Blob]:
    if not specs:
        return []
    now = utcnow()
    returning = insert(Blob).returning(Blob)
    if is_postgres(session):
        listed = recordset([{k: s[k] for k in FIELDS} for s in specs], BLOB_COLUMNS)
        rows: Select[Any] = select(
            *(listed.c[name] for name in FIELDS), literal(now, Blob.created_at.type)
        )
        statement = returning.from_select([*FIELDS, "created_at"], rows)
        return list(session.scalars(statement.options(lazyload(Blob.hold))))
    plain = [{**{k: s[k] for k in FIELDS}, "created_at": now} for s in specs]
    return list(session.scalars(returning.options(lazyload(Blob.hold)), plain))


def ids_array(ids: list[int]) -> Any:
    """Integer ids as one Postgres `bigint[]` parameter, sent as its text form.

    psycopg adapts a Python list element by element (a quarter of a second for 10,000);
    the text `{1,2,3}` is one string and Postgres parses it at once.
    """
    text = "{" + ",".join(str(int(i)) for i in ids) + "}"
    return cast(literal(text, Text), ARRAY(BigInteger))


PAIR_COLUMNS = (("key", Text), ("version_id", Text))
BLOB_COLUMNS = (*PAIR_COLUMNS, ("sha256", Text), ("size", BigInteger))


def recordset(rows: list[dict[str, Any]], columns: tuple[tuple[str, Any], ...]) -> Any:
    """Rows as one JSON parameter, read back by `jsonb_to_recordset` as a table."""
    document = literal(json.dumps(rows, separators=(",", ":")), Text)
    function = func.jsonb_to_recordset(cast(document, JSONB))
    table = function.table_valued(*(column(name, kind) for name, kind in columns))
    return table.render_derived(name="listed", with_types=True)


def _check_recorded(existing: Blob, spec: dict[str, Any]) -> None:
    if existing.deleted_at is not None:
        raise ConflictError(
            f"blob {spec['key']!r} version {spec['version_id']!r} was deleted "
            "(DELETE /api/blobs); upload it again and publish the new version id"
        )
    if (existing.sha256, existing.size) != (spec["sha256"], spec["size"]):
        raise ConflictError(
            f"blob {spec['key']!r} version {spec['version_id']!r} is already recorded "
            "with another sha256 or size"
        )
