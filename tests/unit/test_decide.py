"""Which DataCite call a DOI needs, for every state and target (doi_sync.decide)."""

from __future__ import annotations

import pytest

from app.services.doi_sync import Action, decide

SAME, STALE = ("h", "h"), ("new", "old")

CASES = [
    # state, target, hashes, expected action
    ("pending", "draft", STALE, Action.SAVE_DRAFT),
    ("pending", "draft", SAME, Action.SAVE_DRAFT),
    ("draft", "draft", STALE, Action.SAVE_DRAFT),
    ("draft", "draft", SAME, Action.NONE),
    ("findable", "draft", STALE, Action.NONE),  # nothing ever returns to draft
    ("pending", "findable", SAME, Action.PUBLISH),
    ("draft", "findable", SAME, Action.PUBLISH),
    ("findable", "findable", SAME, Action.NONE),
    ("findable", "findable", STALE, Action.PUBLISH),
    ("registered", "findable", SAME, Action.PUBLISH),
    ("findable", "registered", SAME, Action.HIDE),
    ("registered", "registered", STALE, Action.NONE),
    ("pending", "registered", SAME, Action.HIDE),  # re-driven: the worker looks, then hides
    ("pending", "deleted", SAME, Action.DELETE),
    ("draft", "deleted", SAME, Action.DELETE),
    ("findable", "deleted", SAME, Action.HIDE),  # DataCite refuses to delete findable DOIs
    ("registered", "deleted", SAME, Action.NONE),
    ("failed", "findable", STALE, Action.NONE),  # needs a re-drive first
    ("deleted", "deleted", SAME, Action.NONE),
]


@pytest.mark.parametrize(("state", "target", "hashes", "expected"), CASES)
def test_decide(state: str, target: str, hashes: tuple[str, str], expected: Action) -> None:
    assert decide(state, target, *hashes, publishing=True) is expected


@pytest.mark.parametrize(("state", "target", "hashes", "expected"), CASES)
def test_without_publishing_nothing_is_promoted_or_hidden(
    state: str, target: str, hashes: tuple[str, str], expected: Action
) -> None:
    blocked = expected in (Action.PUBLISH, Action.HIDE)
    assert decide(state, target, *hashes, publishing=False) is (
        Action.NONE if blocked else expected
    )


def test_unknown_target_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown target"):
        decide("draft", "bogus", "a", "a", publishing=True)
