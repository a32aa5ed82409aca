"""What an operator reads: every process logs JSON lines carrying the delivery's context."""

from __future__ import annotations

import json

from tests.e2e.conftest import FAST_SETTINGS, SANDBOX_PASSWORD, Stack, concept_doi


def _json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))  # a line that looks like JSON must be JSON
    return lines


def test_a_datacite_422_is_one_json_line_with_the_doi_intent_status_and_title(
    stack: Stack,
) -> None:
    # Given DataCite refusing the DOI's metadata with a titled 422
    stack.start_relay()
    worker = stack.start_worker()
    doi = concept_doi("logged")
    title = "Publisher can't be blank"
    body = json.dumps({"errors": [{"source": "publisher", "title": title}]})
    stack.sandbox.add_faults(
        {"method": "PUT", "doi": doi, "respond": {"status": 422, "body": body}}
    )
    # When the dataset is created and the worker's call is refused
    stack.api.create_dataset("logged")
    failed = stack.api.wait_for_state(doi, "failed")
    # Then the worker wrote one JSON object for that request, with the delivery's context
    lines = _json_lines(worker.log_text())
    [line] = [
        item
        for item in lines
        if item.get("event") == "datacite request" and item.get("status") == 422
    ]
    assert line["doi"] == doi
    assert line["intent_id"] == failed["history"][-1]["intent_id"]
    assert line["topic"] == "sync_doi"
    assert line["attempt"] == 1
    assert title in line["titles"]
    assert line["level"] == "warning"
    # And every line of it is JSON (dramatiq's own too), with no secret anywhere
    assert any(item.get("logger", "").startswith("dramatiq") for item in lines)
    for name, process in stack.harness.processes.items():
        if name == "sandbox":
            continue  # the stand-in for DataCite: its password is on its own command line
        text = process.log_text()
        assert SANDBOX_PASSWORD not in text, process.name
        assert FAST_SETTINGS["SECRET_KEY"] not in text, process.name
