"""Every admin view checks a role, every POST needs its CSRF token, and viewers get no forms."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask

from app.enums import AdminRole
from app.runtime import Runtime
from tests.fixtures.pipeline import wait_until
from tests.support.admin import AdminClient, audit_count
from tests.support.lifecycle import concept, create, doi_state

OPEN_ENDPOINTS = {"admin.static", "admin.login", "admin.login_submit"}
ACTION_FORM = re.compile(r'<form class="action')


def _admin_rules(app: Flask) -> list:
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.")]


SAMPLE = {
    "intent_id": 1,
    "token_id": 1,
    "user_id": 1,
    "job_id": 1,
    "hold_id": 1,
    "doi": "10.80507/x",
}


def _fill(rule) -> str:
    """The rule's path with sample values in its placeholders."""
    path = rule.rule
    for name, value in SAMPLE.items():
        path = re.sub(rf"<(?:\w+:)?{name}>", str(value), path)
    return path


def test_every_admin_view_declares_a_role(app: Flask) -> None:
    for rule in _admin_rules(app):
        if rule.endpoint in OPEN_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        assert isinstance(getattr(view, "required_role", None), AdminRole), rule.endpoint


def test_every_post_without_the_csrf_token_is_refused(
    app: Flask, as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    admin = as_role("admin")
    before = audit_count(runtime)
    posts = [r for r in _admin_rules(app) if "POST" in (r.methods or ())]
    assert len(posts) >= 10
    for rule in posts:
        answer = admin.post(_fill(rule), {"reason": "x"}, csrf=False)
        assert answer.status_code == 400, rule.rule
        assert "security token" in answer.get_data(as_text=True)
    assert audit_count(runtime) == before  # nothing was done, so nothing was recorded


def test_a_forged_token_is_refused(as_role: Callable[[str], AdminClient]) -> None:
    operator = as_role("operator")
    answer = operator.client.post(
        "/admin/outbox/1/discard", data={"reason": "x", "csrf_token": "forged"}
    )
    assert answer.status_code == 400


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/admin/outbox/1/retry", "viewer"),
        ("/admin/outbox/1/discard", "viewer"),
        ("/admin/outbox/bulk", "viewer"),
        ("/admin/dois/10.80507/x/retry", "viewer"),
        ("/admin/tokens", "operator"),
        ("/admin/tokens/1/revoke", "operator"),
        ("/admin/users", "operator"),
        ("/admin/users/1/role", "operator"),
        ("/admin/holds/1/release", "viewer"),
        ("/admin/holds/1/release", "operator"),
    ],
)
def test_an_action_beyond_the_role_is_forbidden(
    as_role: Callable[[str], AdminClient], runtime: Runtime, path: str, role: str
) -> None:
    person = as_role(role)
    before = audit_count(runtime)
    answer = person.post(
        path,
        {"reason": "forged", "action": "discard", "name": "x", "scopes": "read", "role": "admin"},
    )
    assert answer.status_code == 403, answer.get_data(as_text=True)[:300]
    assert audit_count(runtime) == before


def test_viewers_see_no_action_forms(
    as_role: Callable[[str], AdminClient], runtime: Runtime, make_pipeline
) -> None:
    # Given a failed DOI, whose pages would offer retry and discard to an operator
    pipeline = make_pipeline()
    pipeline.inject({"method": "PUT", "times": 1, "respond": {"status": 422, "body": "no"}})
    create(pipeline.runtime, "refused")
    wait_until(lambda: doi_state(pipeline.runtime, concept("refused")) == "failed")
    # When an operator and a viewer open them
    operator, viewer = as_role("operator"), as_role("viewer")
    pages = [
        "/admin/",
        "/admin/outbox",
        "/admin/outbox/1",
        f"/admin/dois/{concept('refused')}",
        "/admin/tokens",
        "/admin/holds",
    ]
    assert ACTION_FORM.search(operator.page("/admin/outbox/1"))
    # Then only the operator gets forms that act
    for path in pages:
        html = viewer.page(path)
        assert not ACTION_FORM.search(html), path
        assert "Retry" not in html.replace("retry", ""), path


def test_users_page_is_for_admins_only(as_role: Callable[[str], AdminClient]) -> None:
    assert as_role("operator").get("/admin/users").status_code == 403
    assert as_role("admin").get("/admin/users").status_code == 200
