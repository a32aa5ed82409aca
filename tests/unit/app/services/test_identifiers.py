"""DOI strings, their written forms, and the name rules for datasets and versions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.services import identifiers


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
