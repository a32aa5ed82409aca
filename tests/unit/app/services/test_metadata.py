"""Kernel-4 checks and payload fingerprints."""

from __future__ import annotations

from typing import Any

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


# Bad records, as an archive might send them: each a change to valid kernel-4 metadata.
DROP = object()
BAD_RECORDS = {
    "no creators": {"creators": DROP},
    "empty creators": {"creators": []},
    "creator without a name": {"creators": [{"nameType": "Personal"}]},
    "empty creator name": {"creators": [{"name": ""}]},
    "blank creator name": {"creators": [{"name": "  "}]},
    "no titles": {"titles": DROP},
    "empty titles": {"titles": []},
    "title without text": {"titles": [{"lang": "en"}]},
    "empty title": {"titles": [{"title": ""}]},
    "blank title": {"titles": [{"title": " \n"}]},
    "titles not a list": {"titles": "A dataset"},
    "no publisher": {"publisher": DROP},
    "empty publisher": {"publisher": ""},
    "blank publisher": {"publisher": " "},
    "empty publisher name": {"publisher": {"name": ""}},
    "no year": {"publicationYear": DROP},
    "bad year": {"publicationYear": "20x6"},
    "no types": {"types": DROP},
    "unknown resource type": {"types": {"resourceTypeGeneral": "Nope"}},
}


def _record(change: dict[str, object]) -> dict[str, object]:
    from ops.sandbox.testing import kernel4_attributes

    attributes = kernel4_attributes()
    for key, value in change.items():
        if value is DROP:
            attributes.pop(key, None)
        else:
            attributes[key] = value
    return attributes


def test_the_local_check_refuses_everything_datacite_refuses_and_the_blanks(
    sandbox: Any, datacite_sandbox_account: Any
) -> None:
    import requests

    from ops.sandbox.testing import doi_payload

    refused_there, refused_here = set(), set()
    for number, (name, change) in enumerate(BAD_RECORDS.items()):
        attributes = _record(change)
        answer = requests.put(
            f"{sandbox.url}/dois/{datacite_sandbox_account.prefix}/parity-{number}",
            json=doi_payload(attributes, event="publish"),
            headers={"Content-Type": "application/vnd.api+json"},
            auth=datacite_sandbox_account.auth,
            timeout=10,
        )
        assert answer.status_code in (200, 201, 422), (name, answer.text)
        if answer.status_code == 422:
            refused_there.add(name)
        if kernel4_problems(attributes):
            refused_here.add(name)
    # Everything DataCite (the sandbox, which follows it) refuses is refused before queueing
    assert refused_there - refused_here == set()
    # And the blanks DataCite lets through, which a findable DOI would cite forever
    let_through = {"empty creator name", "blank creator name", "empty title", "blank title"}
    assert let_through <= refused_here - refused_there
    assert refused_here == set(BAD_RECORDS)


def test_blank_values_are_allowed_in_drafts() -> None:
    draft = {"titles": [{"title": ""}], "publisher": " "}
    assert kernel4_problems(draft, complete=False) == []
