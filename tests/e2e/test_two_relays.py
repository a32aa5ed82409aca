"""Two relay processes at once never double-claim; when one dies the other carries on."""

from __future__ import annotations

from collections import Counter

from tests.e2e.conftest import Api, SandboxControl, Stack, concept_doi, confirmations


def create_and_settle(api: Api, sandbox: SandboxControl, names: list[str]) -> None:
    """Create the datasets; each concept DOI becomes a draft, confirmed and PUT exactly once."""
    for name in names:
        api.create_dataset(name)
    dois = [concept_doi(name) for name in names]
    for doi in dois:
        body = api.wait_for_state(doi, "draft", timeout=20)
        assert len(confirmations(body, "draft")) == 1, body["history"]
    puts = Counter(entry["doi"] for entry in sandbox.requests(method="PUT"))
    assert {doi: puts[doi] for doi in dois} == dict.fromkeys(dois, 1), "an intent was claimed twice"
    held = sandbox.dois()
    assert {doi: held[doi]["state"] for doi in dois} == dict.fromkeys(dois, "draft")


def test_two_relays_share_the_work_and_survive_each_other(stack: Stack) -> None:
    # Given two relays and a worker
    stack.start_relay("relay-a")
    stack.start_relay("relay-b")
    stack.start_worker()

    # When many datasets are created at once, then every DOI is synced exactly once
    create_and_settle(stack.api, stack.sandbox, [f"pair-{n}" for n in range(30)])

    # When one relay is SIGKILLed, then the other carries on alone
    stack.harness.kill("relay-a")
    create_and_settle(stack.api, stack.sandbox, [f"alone-{n}" for n in range(10)])
    assert stack.harness["relay-b"].running
