"""Kernel-4 checks and payload fingerprints."""

from __future__ import annotations

from app.services.metadata import kernel4_problems, metadata_hash


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
