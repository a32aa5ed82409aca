"""Reading a stash back: a damaged one is absent with a warning; DataCite's bookkeeping goes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from app.models import Stash
from app.services import stash

TAKEN = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _stash(content: str | None, *, found: bool = True, sha: str | None = None) -> Stash:
    digest = sha or (hashlib.sha256(content.encode()).hexdigest() if content else None)
    return Stash(
        id=7,
        doi_id=1,
        intent_id=3,
        action="delete",
        found=found,
        remote_state="draft" if found else None,
        content=content,
        content_sha256=digest,
        taken_at=TAKEN,
        expires_at=TAKEN + timedelta(days=30),
    )


def test_a_sound_stash_gives_its_attributes_back() -> None:
    reading = stash.read(_stash(json.dumps({"titles": [{"title": "T"}]})))
    assert reading.usable
    assert reading.attributes == {"titles": [{"title": "T"}]}
    assert reading.warning is None


def test_a_404_stash_is_nothing_remote_without_a_warning() -> None:
    reading = stash.read(_stash(None, found=False))
    assert (reading.usable, reading.warning) == (False, None)


@pytest.mark.parametrize(
    ("content", "sha", "problem"),
    [
        ('{"titles": [', None, "not JSON"),
        ("[1, 2]", None, "not a JSON object"),
        ('{"titles": []}', "0" * 64, "SHA-256 does not match"),
        (None, None, "no content"),
    ],
)
def test_a_damaged_stash_is_absent_with_a_warning(
    content: str | None, sha: str | None, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="doiflow.stash"):
        reading = stash.read(_stash(content, sha=sha))
    assert reading.attributes is None
    assert reading.warning is not None
    assert problem in reading.warning
    assert "treated as absent" in reading.warning
    assert [r.getMessage() for r in caplog.records] == ["stash unreadable"]


def test_describe_gives_age_expiry_and_the_warning() -> None:
    described = stash.describe(_stash("{oops", sha="0" * 64), now=TAKEN + timedelta(hours=2))
    assert described["age_seconds"] == 7200
    assert described["expires_in_seconds"] == 30 * 86400 - 7200
    assert described["expired"] is False
    assert "unreadable" in described["warning"]
    late = stash.describe(_stash("{}"), now=TAKEN + timedelta(days=31))
    assert (late["expired"], late["expires_in_seconds"]) == (True, 0)


def test_archive_attributes_drop_datacite_bookkeeping_and_empty_values() -> None:
    record = {
        "doi": "10.80507/x",
        "prefix": "10.80507",
        "state": "draft",
        "url": "https://x",
        "created": "2026-12-01T00:00:00Z",
        "viewCount": 0,
        "identifiers": [],
        "subjects": [],
        "container": {},
        "language": None,
        "titles": [{"title": "T"}],
        "publisher": "Example Archive",
        "types": {"resourceTypeGeneral": "Dataset", "schemaOrg": "Dataset"},
    }
    assert stash.archive_attributes(record) == {
        "titles": [{"title": "T"}],
        "publisher": "Example Archive",
        "types": {"resourceTypeGeneral": "Dataset", "schemaOrg": "Dataset"},
    }
