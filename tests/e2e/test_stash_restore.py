"""The stash survives a restart of every doiflow process (DESIGN's "temp directory" failure).

The stash lives in Postgres: between the stash and the restore the web, relay and
doi-worker processes are all killed and started again (the sandbox is DataCite and
keeps running), and the restore still finds every stash and drives the DOIs back.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import KERNEL4, Stack, concept_doi, version_doi
from tests.e2e.harness import json_of


@pytest.fixture(scope="module")
def e2e_overrides() -> dict[str, str]:
    """Publishing on: deleted versions are hidden, restored ones published again."""
    return {"DOI_PUBLISH": "true"}


def start_doiflow(stack: Stack) -> None:
    stack.start_relay()
    stack.start_worker()


def test_stashes_outlive_a_restart_of_every_process_and_the_restore_uses_them(
    stack: Stack,
) -> None:
    # Given a published dataset and a never-published one, at DataCite
    start_doiflow(stack)
    api, sandbox = stack.api, stack.sandbox
    shown, version, draft = (
        concept_doi("phoenix"),
        version_doi("phoenix", "1.0"),
        concept_doi("ember"),
    )
    api.create_dataset("phoenix")
    json_of(
        api.call(
            "POST",
            "/api/datasets/phoenix/versions",
            json={"version": "1.0", "metadata": KERNEL4, "blobs": []},
        ),
        202,
    )
    api.create_dataset("ember", {**KERNEL4, "titles": [{"title": "Never published"}]})
    api.wait_for_state(shown, "findable")
    api.wait_for_state(draft, "draft")
    before = sandbox.dois()[draft]

    # When both are deleted: each DELETE or hide is preceded by its stash
    json_of(api.call("DELETE", "/api/datasets/phoenix"), 202)
    json_of(api.call("DELETE", "/api/datasets/ember"), 202)
    api.wait_for_state(version, "registered")
    api.wait_for_state(shown, "registered")
    api.wait_for_state(draft, "deleted")
    assert sandbox.state_of(draft) is None
    for doi in (version, shown, draft):
        assert api.doi(doi)["stashes"], f"{doi} has no stash"

    # And every doiflow process is killed and started again (as a container restart does)
    for name in ("worker", "relay", "web"):
        stack.harness.kill(name)
    stack.start_web()
    start_doiflow(stack)
    api = stack.api

    # Then the stashes are still there, with their age and expiry
    [stashed] = api.doi(draft)["stashes"]
    assert (stashed["action"], stashed["remote_state"], stashed["warning"]) == (
        "delete",
        "draft",
        None,
    )
    assert stashed["expires_in_seconds"] > 29 * 86400

    # When both datasets are restored
    for dataset in ("phoenix", "ember"):
        restored = json_of(api.call("POST", f"/api/datasets/{dataset}/restore"), 202)
        assert restored["deleted"] is False
        assert restored["restore"]["warnings"] == []

    # Then the hidden DOIs are findable again at their landing pages, the draft is back
    api.wait_for_state(version, "findable")
    api.wait_for_state(shown, "findable")
    api.wait_for_state(draft, "draft")
    sandbox.wait_for_state(version, "findable")
    sandbox.wait_for_state(shown, "findable")
    back = sandbox.wait_for_state(draft, "draft")
    assert back["url"] == before["url"] == "https://archive.example.org/datasets/ember"
    puts = [c["event"] for c in sandbox.requests(version, "PUT")]
    # (the first publish is re-sent once the concept exists, to name it: IsVersionOf)
    assert puts[-2:] == ["hide", "publish"]
    assert puts.count("hide") == 1
