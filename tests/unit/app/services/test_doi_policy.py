"""Which DataCite call a DOI needs, for every state and target (doi_policy.decide)."""

from __future__ import annotations

import dataclasses

import pytest

from app.services.doi_policy import MISSING, Action, Situation, decide

SAME, STALE = "same", "stale"
URL_SAME, URL_STALE = "url-same", "url-stale"

CASES = [
    # state, target, metadata, url, must_exist, expected action
    ("pending", "draft", STALE, URL_SAME, False, Action.SAVE_DRAFT),
    (MISSING, "draft", SAME, URL_SAME, False, Action.SAVE_DRAFT),
    ("draft", "draft", STALE, URL_SAME, False, Action.SAVE_DRAFT),
    ("draft", "draft", SAME, URL_SAME, False, Action.NONE),
    ("findable", "draft", STALE, URL_SAME, False, Action.NONE),  # nothing returns to draft
    ("pending", "findable", SAME, URL_SAME, False, Action.PUBLISH),
    (MISSING, "findable", SAME, URL_SAME, False, Action.PUBLISH),
    ("draft", "findable", SAME, URL_SAME, False, Action.PUBLISH),
    ("findable", "findable", SAME, URL_SAME, False, Action.NONE),
    ("findable", "findable", STALE, URL_SAME, False, Action.PUBLISH),
    ("registered", "findable", SAME, URL_SAME, False, Action.PUBLISH),
    ("findable", "registered", SAME, URL_SAME, False, Action.HIDE),
    ("registered", "registered", STALE, URL_SAME, False, Action.NONE),
    # Rule 8: a DOI hidden earlier is re-pointed at the tombstone.
    ("registered", "registered", SAME, URL_STALE, False, Action.HIDE),
    ("registered", "deleted", SAME, URL_STALE, False, Action.HIDE),
    # A concept a version may cite keeps resolving: registered, never deleted.
    ("draft", "registered", SAME, URL_SAME, True, Action.REGISTER),
    (MISSING, "registered", SAME, URL_SAME, True, Action.REGISTER),
    ("draft", "registered", SAME, URL_SAME, False, Action.DELETE),
    (MISSING, "registered", SAME, URL_SAME, False, Action.GONE),
    ("pending", "deleted", SAME, URL_SAME, False, Action.DELETE),
    (MISSING, "deleted", SAME, URL_SAME, False, Action.GONE),  # never sent: no call at all
    ("draft", "deleted", SAME, URL_SAME, False, Action.DELETE),
    ("findable", "deleted", SAME, URL_SAME, False, Action.HIDE),  # DataCite refuses to delete
    ("registered", "deleted", SAME, URL_SAME, False, Action.NONE),
    ("failed", "findable", STALE, URL_SAME, False, Action.NONE),  # needs a re-drive first
    ("deleted", "deleted", SAME, URL_SAME, False, Action.NONE),
]


def _situation(
    state: str, target: str, metadata: str, url: str, must_exist: bool, *, publishing: bool
) -> Situation:
    return Situation(
        state=state,
        target=target,
        stale=metadata == STALE,
        url_stale=url == URL_STALE,
        must_exist=must_exist,
        publishing=publishing,
    )


@pytest.mark.parametrize(("state", "target", "metadata", "url", "must_exist", "expected"), CASES)
def test_decide(
    state: str, target: str, metadata: str, url: str, must_exist: bool, expected: Action
) -> None:
    situation = _situation(state, target, metadata, url, must_exist, publishing=True)
    assert decide(situation) is expected


@pytest.mark.parametrize(("state", "target", "metadata", "url", "must_exist", "expected"), CASES)
def test_without_publishing_nothing_is_promoted_registered_or_hidden(
    state: str, target: str, metadata: str, url: str, must_exist: bool, expected: Action
) -> None:
    blocked = expected in (Action.PUBLISH, Action.HIDE, Action.REGISTER)
    situation = _situation(state, target, metadata, url, must_exist, publishing=False)
    assert decide(situation) is (Action.NONE if blocked else expected)


@pytest.mark.parametrize(("state", "target", "metadata", "url", "must_exist", "expected"), CASES)
def test_a_dois_waiting_for_holds_is_never_published_or_registered(
    state: str, target: str, metadata: str, url: str, must_exist: bool, expected: Action
) -> None:
    # Data is immutable before it is citable: everything else (drafts, hides) goes on.
    blocked = expected in (Action.PUBLISH, Action.REGISTER)
    situation = dataclasses.replace(
        _situation(state, target, metadata, url, must_exist, publishing=True),
        waiting_for_holds=True,
    )
    assert decide(situation) is (Action.NONE if blocked else expected)
    assert decide(situation.with_state(state, confirmed=True)).value in {a.value for a in Action}


def test_unknown_target_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown target"):
        decide(_situation("draft", "bogus", SAME, URL_SAME, False, publishing=True))
