"""GET /dois: who sees which DOIs, filters, order, pages and cursors.

lupo sources (commit in ops/sandbox/__init__.py): app/controllers/datacite_dois_controller.rb
(index), app/controllers/concerns/paginatable.rb, app/models/doi.rb (Doi.query) and
spec/requests/datacite_dois/datacite_dois_spec.rb ("GET /dois").
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ops.sandbox.store import DoiRecord
from tests.fixtures.sandbox import (
    SANDBOX_AUTH,
    SANDBOX_PREFIX,
    doi_payload,
    kernel4_attributes,
    put_doi,
)

DOI = f"{SANDBOX_PREFIX}/ds.one"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def seed(sandbox, doi: str, state: str = "findable", minute: int = 0, **more) -> None:
    """Seed a DOI over the control interface, created and updated `minute`s after EPOCH."""
    moment = (EPOCH + timedelta(minutes=minute)).isoformat()
    body = {"state": state, "created": moment, "updated": moment, **more}
    response = requests.put(f"{sandbox.url}/__sandbox/dois/{doi}", json=body, timeout=5)
    assert response.status_code == 201


def seed_many(sandbox, count: int) -> list[str]:
    """Put `count` findable DOIs straight into the store, one second apart; return them."""
    dois = [f"{SANDBOX_PREFIX}/bulk.{n:05d}" for n in range(count)]
    for n, doi in enumerate(dois):
        moment = EPOCH + timedelta(seconds=n)
        record = DoiRecord(doi, "REPO.ID", "findable", created=moment, updated=moment)
        sandbox.app.store.seed(record)
    return dois


def listing(sandbox, auth=SANDBOX_AUTH, **params: str) -> dict:
    response = requests.get(f"{sandbox.url}/dois", params=params, auth=auth, timeout=10)
    assert response.status_code == 200
    return response.json()


def follow(url: str, auth=SANDBOX_AUTH) -> dict:
    response = requests.get(url, auth=auth, timeout=10)
    assert response.status_code == 200
    return response.json()


def ids(body: dict) -> list[str]:
    return [item["id"] for item in body["data"]]


def next_params(body: dict) -> dict[str, list[str]]:
    return parse_qs(urlsplit(body["links"]["next"]).query, keep_blank_values=True)


def test_doi_listing_shows_findable_dois_to_anyone(sandbox):
    put_doi(sandbox, DOI, kernel4_attributes(), event="publish")
    put_doi(sandbox, f"{SANDBOX_PREFIX}/draft.one")

    anonymous = requests.get(f"{sandbox.url}/dois", timeout=5).json()
    owner = requests.get(f"{sandbox.url}/dois", auth=SANDBOX_AUTH, timeout=5).json()

    assert [item["id"] for item in anonymous["data"]] == [DOI]
    assert owner["meta"]["total"] == 2


@pytest.mark.parametrize("state", ["draft", "registered", "draft,registered"])
def test_anonymous_listing_is_forced_to_findable_whatever_state_it_asks(sandbox, state):
    # datacite_dois_controller.rb#index: no user means `params[:state] = "findable"`.
    seed(sandbox, f"{SANDBOX_PREFIX}/public")
    seed(sandbox, f"{SANDBOX_PREFIX}/private", state="draft")
    seed(sandbox, f"{SANDBOX_PREFIX}/hidden", state="registered")

    body = listing(sandbox, auth=None, state=state)

    assert ids(body) == [f"{SANDBOX_PREFIX}/public"]
    assert body["meta"]["total"] == 1


def test_owner_can_list_only_its_drafts(sandbox):
    # The state filter applies as given to a repository account (Doi.query: terms aasm_state).
    seed(sandbox, f"{SANDBOX_PREFIX}/public")
    seed(sandbox, f"{SANDBOX_PREFIX}/private", state="draft")

    assert ids(listing(sandbox, state="draft")) == [f"{SANDBOX_PREFIX}/private"]


def test_default_page_is_25_with_meta_and_a_next_link(sandbox):
    # paginatable.rb: page[size] defaults to 25; the controller answers total,
    # totalPages and page, and links.next with page[number] + 1 and page[size].
    for n in range(30):
        seed(sandbox, f"{SANDBOX_PREFIX}/p.{n:02d}", minute=n)

    body = listing(sandbox)

    assert len(body["data"]) == 25
    assert body["meta"] == {"total": 30, "totalPages": 2, "page": 1}
    assert body["links"]["self"] == f"{sandbox.url}/dois"
    assert body["links"]["next"] == f"{sandbox.url}/dois?page%5Bnumber%5D=2&page%5Bsize%5D=25"


def test_following_next_reaches_the_last_page_which_has_no_next(sandbox):
    # datacite_dois_spec.rb "returns dois with offset": 10 DOIs, pages of 4, 4, 2.
    for n in range(10):
        seed(sandbox, f"{SANDBOX_PREFIX}/p.{n:02d}", minute=n)

    first = listing(sandbox, **{"page[number]": "1", "page[size]": "4"})
    second = follow(first["links"]["next"])
    third = follow(second["links"]["next"])

    assert [len(page["data"]) for page in (first, second, third)] == [4, 4, 2]
    assert next_params(second)["page[number]"] == ["3"]
    assert "next" not in third["links"]
    assert len(set(ids(first) + ids(second) + ids(third))) == 10


def test_no_next_link_when_the_last_page_is_exactly_full(sandbox):
    # datacite_dois_spec.rb "returns correct page links when results is exactly divisible".
    for n in range(10):
        seed(sandbox, f"{SANDBOX_PREFIX}/p.{n:02d}", minute=n)

    second = listing(sandbox, **{"page[number]": "2", "page[size]": "5"})

    assert len(second["data"]) == 5
    assert "next" not in second["links"]


def test_page_past_the_end_is_empty_but_keeps_its_number(sandbox):
    # datacite_dois_spec.rb "returns a blank resultset when page is above max page".
    for n in range(10):
        seed(sandbox, f"{SANDBOX_PREFIX}/p.{n:02d}", minute=n)

    body = listing(sandbox, **{"page[number]": "3", "page[size]": "5"})

    assert body["data"] == []
    assert (body["meta"]["totalPages"], body["meta"]["page"]) == (2, 3)
    assert "next" not in body["links"]


def test_page_size_is_capped_at_1000(sandbox):
    # paginatable.rb: size = min(size, 1000), and page[number] stops at 10,000 / size.
    seed(sandbox, DOI)

    body = listing(sandbox, **{"page[size]": "5000", "page[number]": "50"})

    assert body["meta"]["page"] == 10


def test_numbered_pages_stop_at_10000_results_and_a_cursor_does_not(sandbox):
    # The controller caps total_for_pages at 10,000 unless a cursor is used, and
    # paginatable.rb never lets page[number] go past 10,000 / page[size].
    seed_many(sandbox, 10_001)

    numbered = listing(sandbox, **{"page[number]": "401"})
    cursor = listing(sandbox, **{"page[cursor]": "", "page[size]": "25"})

    assert numbered["meta"] == {"total": 10_001, "totalPages": 400, "page": 400}
    assert cursor["meta"] == {"total": 10_001, "totalPages": 401}


def test_cursor_walk_visits_every_doi_once_beyond_10000(sandbox):
    # Reconciliation's path: page[cursor] has no 10,000-result limit (Doi.query search_after).
    dois = seed_many(sandbox, 10_010)

    seen: list[str] = []
    page = listing(sandbox, **{"page[cursor]": "", "page[size]": "1000"})
    while True:
        seen += ids(page)
        if "next" not in page["links"]:
            break
        page = follow(page["links"]["next"])

    assert seen == dois


def test_cursor_pages_follow_creation_order_and_carry_the_next_cursor(sandbox):
    # datacite_dois_spec.rb "returns dois with cursor": created asc, the cursor decodes
    # to "<created>,<doi>" (paginatable.rb#make_cursor), meta has no page.
    for n in range(10):
        seed(sandbox, f"{SANDBOX_PREFIX}/c.{9 - n}", minute=n)

    first = listing(sandbox, **{"page[cursor]": "", "page[size]": "4"})
    second = follow(first["links"]["next"])
    third = follow(second["links"]["next"])

    assert ids(first) == [f"{SANDBOX_PREFIX}/c.{n}" for n in (9, 8, 7, 6)]
    assert ids(third) == [f"{SANDBOX_PREFIX}/c.1", f"{SANDBOX_PREFIX}/c.0"]
    assert "page" not in first["meta"]
    cursor = next_params(first)["page[cursor]"][0]
    padded = cursor + "=" * (-len(cursor) % 4)
    assert base64.urlsafe_b64decode(padded).decode().split(",")[-1] == f"{SANDBOX_PREFIX}/c.6"
    assert "page[number]" not in next_params(first)
    assert "next" not in third["links"]


def test_cursor_walk_picks_up_dois_created_meanwhile(sandbox):
    # The cursor sorts by creation time, so a DOI created during the walk comes last.
    for n in range(4):
        seed(sandbox, f"{SANDBOX_PREFIX}/w.{n}", minute=n)

    first = listing(sandbox, **{"page[cursor]": "", "page[size]": "2"})
    seed(sandbox, f"{SANDBOX_PREFIX}/w.new", minute=99)
    second = follow(first["links"]["next"])
    third = follow(second["links"]["next"])

    assert ids(second) == [f"{SANDBOX_PREFIX}/w.2", f"{SANDBOX_PREFIX}/w.3"]
    assert ids(third) == [f"{SANDBOX_PREFIX}/w.new"]


@pytest.mark.parametrize("cursor", ["not base64!", "", "MTIz"])
def test_unreadable_cursor_starts_from_the_beginning(sandbox, cursor):
    # paginatable.rb rescues a bad cursor to []; Doi.query then starts at [0, ""].
    seed(sandbox, f"{SANDBOX_PREFIX}/a", minute=1)
    seed(sandbox, f"{SANDBOX_PREFIX}/b", minute=2)

    body = listing(sandbox, **{"page[cursor]": cursor})

    assert ids(body) == [f"{SANDBOX_PREFIX}/a", f"{SANDBOX_PREFIX}/b"]


def test_next_link_carries_the_filters_but_not_state_or_sort(sandbox):
    # The controller builds links.next from query, client-id, prefix, … and the page
    # keys; `state` and `sort` are not among them, so a client must re-add them.
    for n in range(3):
        seed(sandbox, f"{SANDBOX_PREFIX}/f.{n}", minute=n)
    params = {
        "client-id": "repo.id",
        "prefix": SANDBOX_PREFIX,
        "query": "*",
        "state": "findable",
        "sort": "name",
        "page[size]": "2",
    }

    body = listing(sandbox, **params)

    assert next_params(body) == {
        "client-id": ["repo.id"],
        "page[number]": ["2"],
        "page[size]": ["2"],
        "prefix": [SANDBOX_PREFIX],
        "query": ["*"],
    }


def test_default_order_is_newest_update_first_with_the_doi_breaking_ties(sandbox):
    # Controller#index: sort defaults to updated desc; the sandbox orders equal times by DOI.
    seed(sandbox, f"{SANDBOX_PREFIX}/old", minute=1)
    seed(sandbox, f"{SANDBOX_PREFIX}/tie.b", minute=5)
    seed(sandbox, f"{SANDBOX_PREFIX}/tie.a", minute=5)
    seed(sandbox, f"{SANDBOX_PREFIX}/new", minute=9)

    body = listing(sandbox)

    assert ids(body) == [f"{SANDBOX_PREFIX}/{s}" for s in ("new", "tie.a", "tie.b", "old")]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("name", ["a", "b", "c"]), ("-name", ["c", "b", "a"]), ("created", ["b", "c", "a"])],
)
def test_sort_orders_by_name_or_creation(sandbox, sort, expected):
    # Controller#index maps name/-name to the DOI and created/-created to creation time.
    seed(sandbox, f"{SANDBOX_PREFIX}/a", minute=3)
    seed(sandbox, f"{SANDBOX_PREFIX}/b", minute=1)
    seed(sandbox, f"{SANDBOX_PREFIX}/c", minute=2)

    body = listing(sandbox, sort=sort)

    assert ids(body) == [f"{SANDBOX_PREFIX}/{s}" for s in expected]


def test_client_id_filters_by_repository_case_insensitively(two_repositories):
    # Doi.query: client_id terms, comma-separated, case_insensitive.
    alice, bob = ("ALICE.REPO", "a-secret"), ("BOB.REPO", "b-secret")
    requests.put(
        f"{two_repositories.url}/dois/{SANDBOX_PREFIX}/alice",
        json=doi_payload(kernel4_attributes(), event="publish"),
        auth=alice,
        timeout=5,
    )
    requests.put(
        f"{two_repositories.url}/dois/10.80508/bob",
        json=doi_payload(kernel4_attributes(), event="publish"),
        auth=bob,
        timeout=5,
    )

    only_bob = listing(two_repositories, auth=None, **{"client-id": "Bob.Repo"})
    both = listing(two_repositories, auth=None, **{"client-id": "bob.repo,alice.repo"})

    assert ids(only_bob) == ["10.80508/bob"]
    assert sorted(ids(both)) == [f"{SANDBOX_PREFIX}/alice", "10.80508/bob"]


def test_prefix_and_state_filters_take_comma_separated_lists(two_repositories):
    # Doi.query: terms on prefix and on aasm_state, each split on commas.
    alice = ("ALICE.REPO", "a-secret")
    base = two_repositories.url
    for suffix, event in (("draft", None), ("hidden", "register"), ("public", "publish")):
        payload = doi_payload(kernel4_attributes(), **({"event": event} if event else {}))
        requests.put(f"{base}/dois/{SANDBOX_PREFIX}/{suffix}", json=payload, auth=alice, timeout=5)

    states = listing(two_repositories, auth=alice, state="draft,registered")
    prefixes = listing(two_repositories, auth=alice, prefix=f"10.80508,{SANDBOX_PREFIX}")
    elsewhere = listing(two_repositories, auth=alice, prefix="10.80508")

    assert sorted(ids(states)) == [f"{SANDBOX_PREFIX}/draft", f"{SANDBOX_PREFIX}/hidden"]
    assert prefixes["meta"]["total"] == 3
    assert elsewhere["data"] == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("datacite", ["dc"]),
        ("publisher:datacite", ["dc"]),
        ("publisher.name:datacite", ["dc"]),
        ('publisher.publisherIdentifier:"https://ror.org/04wxnsj81"', ["dc"]),
        ("version:testtag", ["tagged"]),
        ("garza", ["tagged"]),
        ('"Eating your own"', ["tagged"]),
        ('"your Eating"', []),
        ("eating dog", ["tagged"]),
        ("eating cats", []),
        ("titles.title:eat*", ["tagged"]),
        (f"{SANDBOX_PREFIX}/DC", ["dc"]),
        ("*", ["dc", "tagged"]),
    ],
)
def test_query_matches_words_fields_and_phrases(sandbox, query, expected):
    # datacite_dois_spec.rb "filters by publisher using query …" and "returns dois with
    # version query"; Doi.query runs query_string with AND over Doi.query_fields.
    publisher = {"name": "DataCite", "publisherIdentifier": "https://ror.org/04wxnsj81"}
    seed(sandbox, f"{SANDBOX_PREFIX}/dc", attributes={"publisher": publisher})
    tagged = {
        "version": "testtag",
        "titles": [{"title": "Eating your own Dog Food"}],
        "creators": [{"name": "Garza, Kristian J."}],
        "publisher": "Example Archive",
    }
    seed(sandbox, f"{SANDBOX_PREFIX}/tagged", attributes=tagged)

    body = listing(sandbox, query=query, sort="name")

    assert ids(body) == [f"{SANDBOX_PREFIX}/{s}" for s in expected]
