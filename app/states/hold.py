"""The legal-hold lifecycle as an explicit state machine bound to the ORM row.

`on` and `released` are what S3 confirmed (PutObjectLegalHold answered, or a check
read it); a hold is never marked `on` before S3 has said so. Each transition appends
a HoldTransition row naming its cause, so the history tells the whole story.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any, cast

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed

from app.enums import HoldState
from app.models import HoldTransition, LegalHold

__all__ = ["EVENTS", "HoldMachine", "TransitionNotAllowed", "apply", "target_of"]


class HoldMachine(StateMachine):
    """pending → on → released, or failed; a lost or re-published hold goes back to pending."""

    pending = State(value=HoldState.PENDING.value, initial=True)
    on = State(value=HoldState.ON.value)
    released = State(value=HoldState.RELEASED.value)
    failed = State(value=HoldState.FAILED.value)

    # released → on: an ON answer that arrived after a release (a publish and a delete
    # racing); the recorder then queues the OFF again, so S3 and the row agree at once.
    confirm_on = pending.to(on) | on.to(on) | released.to(on)
    confirm_off = pending.to(released) | on.to(released) | released.to(released)
    fail = pending.to(failed) | on.to(failed)
    # A check found S3 no longer holding a hold recorded on: re-applied from pending.
    lose = on.to(pending)
    # Published again after a release, or re-driven after a failure.
    rehold = released.to(pending)
    redrive = failed.to(pending)

    def __init__(self, hold: LegalHold) -> None:
        super().__init__(model=hold, state_field="state")

    def after_transition(self, event: str, source: State, target: State, **kwargs: Any) -> None:
        """Record the transition with its cause, in the caller's transaction."""
        hold: LegalHold = self.model
        hold.history.append(
            HoldTransition(
                event=event,
                from_state=source.value,
                to_state=target.value,
                intent_id=kwargs.get("intent_id"),
                detail=kwargs.get("detail"),
            )
        )


EVENTS = ("confirm_on", "confirm_off", "fail", "lose", "rehold", "redrive")


def apply(
    hold: LegalHold, event: str, *, intent_id: int | None = None, detail: str | None = None
) -> None:
    """Send `event` to the hold's machine; raises TransitionNotAllowed when refused."""
    HoldMachine(hold).send(event, intent_id=intent_id, detail=detail)


@functools.cache
def target_of(state: str, event: str) -> str | None:
    """The state `event` takes a hold in `state` to, as HoldMachine decides; None when refused.

    For recording many answers at once (a batch of confirmed holds) without building a
    machine per row: the machine itself is asked, once per pair, on a stand-in row.
    """
    probe = SimpleNamespace(state=state, history=[])
    try:
        HoldMachine(cast(LegalHold, probe)).send(event)
    except TransitionNotAllowed:
        return None
    return str(probe.state)
