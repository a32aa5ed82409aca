"""The outbox filter as read from a query string."""

from __future__ import annotations

import pytest

from app.admin.queries.outbox import OutboxFilter
from app.services.errors import InvalidInputError


def test_a_filter_keeps_only_what_was_given() -> None:
    given = OutboxFilter.from_args({"status": "failed", "topic": " sync_doi ", "key": ""})
    assert given.args() == {"status": "failed", "topic": "sync_doi"}
    assert given.describe() == "status=failed topic=sync_doi"
    assert not given.searching
    assert OutboxFilter().describe() == "everything"


def test_a_payload_filter_is_a_json_object() -> None:
    given = OutboxFilter.from_args({"payload": '{"doi_id": 5}'})
    assert given.payload_document() == {"doi_id": 5}
    assert given.searching
    for bad in ("[1]", "{not json", '"text"'):
        with pytest.raises(InvalidInputError, match="JSON object"):
            OutboxFilter.from_args({"payload": bad})


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="status must be one of"):
        OutboxFilter.from_args({"status": "lost"})
