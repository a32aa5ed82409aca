"""A sandbox with a state file keeps its DOIs across a restart."""

from __future__ import annotations

import json

import pytest
import requests

from ops.sandbox import SandboxServer
from ops.sandbox.persistence import StateFileError
from tests.fixtures.sandbox import (
    SANDBOX_AUTH,
    SANDBOX_PASSWORD,
    SANDBOX_PREFIX,
    SANDBOX_USER,
    doi_payload,
    kernel4_attributes,
)

DOI = f"{SANDBOX_PREFIX}/kept"
DRAFT = f"{SANDBOX_PREFIX}/kept.draft"


def server(path) -> SandboxServer:
    return SandboxServer(
        users={SANDBOX_USER: SANDBOX_PASSWORD}, prefixes=[SANDBOX_PREFIX], state_path=path
    )


def put(base_url: str, doi: str, attributes: dict, **more: object) -> requests.Response:
    payload = doi_payload(attributes, **more)
    return requests.put(f"{base_url}/dois/{doi}", json=payload, auth=SANDBOX_AUTH, timeout=5)


def get(base_url: str, doi: str) -> requests.Response:
    return requests.get(f"{base_url}/dois/{doi}", auth=SANDBOX_AUTH, timeout=5)


def test_a_restarted_sandbox_still_has_its_dois(tmp_path):
    path = tmp_path / "var" / "sandbox.json"
    with server(path) as first:
        created = put(first.url, DOI, kernel4_attributes(), event="publish").json()
        put(first.url, DRAFT, {"url": "https://archive.example.org/draft"})

    with server(path) as second:
        shown = get(second.url, DOI)
        listed = requests.get(f"{second.url}/dois", auth=SANDBOX_AUTH, timeout=5).json()

    assert shown.status_code == 200
    assert shown.json()["data"] == created["data"]
    assert sorted(item["id"] for item in listed["data"]) == [DOI, DRAFT]


def test_every_change_is_written_at_once(tmp_path):
    path = tmp_path / "sandbox.json"
    with server(path) as running:
        put(running.url, DRAFT, {"version": "1"})
        after_create = json.loads(path.read_text())
        requests.delete(f"{running.url}/dois/{DRAFT}", auth=SANDBOX_AUTH, timeout=5)
        after_delete = json.loads(path.read_text())

    assert [item["doi"] for item in after_create["dois"]] == [DRAFT]
    assert after_create["dois"][0]["metadata"] == {"version": "1"}
    assert after_delete == {"format": 1, "dois": []}


def test_the_file_is_replaced_by_a_rename_not_rewritten_in_place(tmp_path):
    # Temp file + rename: a reader (or a crash) never sees half a file.
    path = tmp_path / "sandbox.json"
    with server(path) as running:
        put(running.url, DRAFT, {"version": "1"})
        before = path.stat().st_ino
        put(running.url, DRAFT, {"version": "2"})
        after = path.stat().st_ino

    assert before != after
    assert [p.name for p in tmp_path.iterdir()] == ["sandbox.json"]


def test_seeds_removals_and_resets_are_kept_too(tmp_path):
    path = tmp_path / "sandbox.json"
    with server(path) as running:
        control = f"{running.url}/__sandbox"
        requests.put(f"{control}/dois/{DOI}", json={"state": "registered"}, timeout=5)
        seeded = [item["doi"] for item in json.loads(path.read_text())["dois"]]
        requests.post(f"{control}/reset", timeout=5)

    with server(path) as restarted:
        assert restarted.dois() == []
    assert seeded == [DOI]


def test_a_missing_file_is_an_empty_sandbox(tmp_path):
    path = tmp_path / "new.json"

    with server(path) as running:
        assert running.dois() == []

    assert not path.exists()


def test_a_corrupt_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "sandbox.json"
    path.write_text("{not json")

    with pytest.raises(StateFileError, match=r"sandbox\.json"):
        server(path)
