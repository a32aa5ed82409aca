"""Every (state, event) pair of the legal-hold machine against a literal table."""

from __future__ import annotations

import pytest

from app.models import LegalHold
from app.states.hold import EVENTS, TransitionNotAllowed, apply, target_of

STATES = ("pending", "on", "released", "failed")

# (state, event) -> resulting state. Missing pairs are refused.
ALLOWED = {
    ("pending", "confirm_on"): "on",
    ("on", "confirm_on"): "on",
    ("released", "confirm_on"): "on",  # a late ON answer after a release
    ("pending", "confirm_off"): "released",
    ("on", "confirm_off"): "released",
    ("released", "confirm_off"): "released",
    ("pending", "fail"): "failed",
    ("on", "fail"): "failed",
    ("on", "lose"): "pending",  # a check found S3 no longer holding it
    ("released", "rehold"): "pending",  # published again
    ("failed", "redrive"): "pending",
}


def _hold(state: str) -> LegalHold:
    hold = LegalHold(blob_id=1, state=state, target="on")
    hold.history = []
    return hold


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("event", EVENTS)
def test_transition_table(state: str, event: str) -> None:
    hold = _hold(state)
    expected = ALLOWED.get((state, event))
    if expected is None:
        with pytest.raises(TransitionNotAllowed):
            apply(hold, event)
        assert hold.state == state
        assert hold.history == []
    else:
        apply(hold, event, intent_id=7, detail="why")
        assert hold.state == expected
        [entry] = hold.history
        assert (entry.event, entry.from_state, entry.to_state) == (event, state, expected)
        assert (entry.intent_id, entry.detail) == (7, "why")


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("event", EVENTS)
def test_the_batch_recorder_asks_the_same_machine(state: str, event: str) -> None:
    # hold_apply records a batch of confirmations with target_of, not a machine per row
    assert target_of(state, event) == ALLOWED.get((state, event))


def test_no_event_leads_out_of_a_state_not_in_the_table() -> None:
    reachable = {state for state, _ in ALLOWED} | set(ALLOWED.values())
    assert reachable == set(STATES)
