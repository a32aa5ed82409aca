"""DOI strings, name rules, kernel-4 checks, payload fingerprints, backoff."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from app.config import RetryPolicy
from app.retry import backoff_seconds, exhausted
from app.services import identifiers
from app.services.metadata import kernel4_problems, metadata_hash


def test_dois_are_deterministic_and_lowercase() -> None:
    assert identifiers.concept_doi("10.80507", "dandi", "DS-1") == "10.80507/dandi.ds-1"
    assert (
        identifiers.version_doi("10.80507", "dandi", "DS-1", "0.2611.1")
        == "10.80507/dandi.ds-1/0.2611.1"
    )


@pytest.mark.parametrize(
    "text",
    [
        "10.80507/Dandi.X",
        "doi:10.80507/dandi.x",
        "https://doi.org/10.80507/dandi.x",
        "10.80507%2Fdandi.x",
    ],
)
def test_every_written_form_normalises_to_one_doi(text: str) -> None:
    assert identifiers.normalise_doi(text) == "10.80507/dandi.x"


@pytest.mark.parametrize("text", ["", "11.1/x", "10.12/x", "10.80507/", "not a doi"])
def test_non_dois_are_refused(text: str) -> None:
    assert identifiers.normalise_doi(text) is None


@pytest.mark.parametrize(
    ("name", "ok"), [("ds1", True), ("a.b-c_d", True), ("-x", False), ("x" * 65, False)]
)
def test_name_pattern(name: str, ok: bool) -> None:
    assert identifiers.is_valid_name(name) is ok


def test_default_version_name_is_utc_date_and_minute() -> None:
    assert (
        identifiers.default_version_name(datetime(2026, 11, 21, 9, 5, tzinfo=UTC))
        == "0.261121.0905"
    )


def test_kernel4_problems_name_each_failing_field() -> None:
    problems = kernel4_problems({"titles": [{"title": "x"}], "publicationYear": "20x6"})
    fields = [p["field"] for p in problems]
    assert fields == ["creators", "publicationYear", "publisher", "types"]


def test_kernel4_accepts_publisher_text_and_numeric_year() -> None:
    metadata = {
        "titles": [{"title": "x"}],
        "creators": [{"name": "A"}],
        "publisher": "Archive",
        "publicationYear": 2026,
        "types": {"resourceTypeGeneral": "Dataset"},
    }
    assert kernel4_problems(metadata) == []


def test_metadata_hash_ignores_key_order() -> None:
    assert metadata_hash({"a": 1, "b": [1, 2]}) == metadata_hash({"b": [1, 2], "a": 1})
    assert metadata_hash({"a": 1}) != metadata_hash({"a": 2})


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=10)
    rng = random.Random(4)
    delays = [backoff_seconds(n, policy, rng) for n in range(1, 9) for _ in range(50)]
    assert all(0 <= d <= 10 for d in delays)
    assert max(backoff_seconds(1, policy, rng) for _ in range(50)) <= 1
    assert max(delays) > 5


def test_exhausted_by_count_or_age() -> None:
    policy = RetryPolicy(max_attempts=3, max_age_seconds=60)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert not exhausted(2, start, start + timedelta(seconds=10), policy)
    assert exhausted(3, start, start + timedelta(seconds=10), policy)
    assert exhausted(1, start, start + timedelta(seconds=61), policy)
