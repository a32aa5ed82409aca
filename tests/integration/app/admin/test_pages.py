"""DOIs, jobs, API tokens, the audit log and users, as each role sees and uses them."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select, update

from app.models import AdminUser, ApiToken, AuditLog, Stash
from app.runtime import Runtime
from app.services import datasets
from tests.fixtures.pipeline import Pipeline, wait_until
from tests.support.admin import PASSWORD, AdminClient, audit_count, csrf_in
from tests.support.lifecycle import call, concept, create, doi_state, publish


def test_dois_are_found_by_any_written_form_or_dataset(
    runtime: Runtime, as_role: Callable[[str], AdminClient]
) -> None:
    for name in ("alpha", "beta"):
        create(runtime, name)
    viewer = as_role("viewer")
    for q in (concept("alpha"), f"https://doi.org/{concept('alpha').upper()}", "alpha"):
        page = viewer.page(f"/admin/dois?q={q}")
        assert concept("alpha") in page, q
        assert concept("beta") not in page, q
    pending = viewer.page("/admin/dois?state=pending")
    assert concept("alpha") in pending
    assert concept("beta") in pending
    assert concept("alpha") not in viewer.page("/admin/dois?state=draft")


def test_a_failed_doi_is_retried_from_its_page(
    make_pipeline: Callable[..., Pipeline],
    as_role: Callable[[str], AdminClient],
    runtime: Runtime,
) -> None:
    pipeline = make_pipeline()
    pipeline.inject({"method": "PUT", "times": 1, "respond": {"status": 422, "body": "no"}})
    create(runtime, "gamma")
    wait_until(lambda: doi_state(runtime, concept("gamma")) == "failed")
    operator = as_role("operator")
    page = operator.page(f"/admin/dois/{concept('gamma')}")
    assert "pending → failed" in html.unescape(page)
    operator.post(f"/admin/dois/{concept('gamma')}/retry", {"reason": "sandbox fixed"})
    wait_until(lambda: doi_state(runtime, concept("gamma")) == "draft")
    assert "sandbox fixed" in operator.page(f"/admin/dois/{concept('gamma')}")
    assert audit_count(runtime, "doi.retry") == 1
    # A second retry has nothing to re-drive, and says so.
    operator.post(f"/admin/dois/{concept('gamma')}/retry", {"reason": "again"})
    assert "only failed DOIs are re-driven" in operator.page("/admin/")


def test_jobs_show_their_steps(runtime: Runtime, as_role: Callable[[str], AdminClient]) -> None:
    create(runtime, "delta")
    job_id = publish(runtime, "delta", "1.0")
    viewer = as_role("viewer")
    assert f"#{job_id}" in viewer.page("/admin/jobs?dataset=delta")
    page = viewer.page(f"/admin/jobs/{job_id}")
    assert "version_doi" in page
    assert "concept_doi" in page
    assert f"{concept('delta')}/1.0" in page
    assert viewer.get("/admin/jobs/999999").status_code == 404


def test_a_token_is_shown_once_works_and_can_be_revoked(
    app: Flask, as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    admin = as_role("admin")
    created = admin.post("/admin/tokens", {"name": "backend", "scopes": ["read"]})
    assert created.status_code == 200
    plain = re.search(r'<pre class="shown-once">(dfl_[^<]+)</pre>', created.get_data(as_text=True))
    assert plain is not None
    bearer = {"Authorization": f"Bearer {plain.group(1)}"}
    api = app.test_client()
    assert api.get("/api/dois/10.80507/none", headers=bearer).status_code == 404
    listing = admin.page("/admin/tokens")
    assert "backend" in listing
    assert plain.group(1) not in listing
    with runtime.sessions() as session:
        token = session.scalars(select(ApiToken).where(ApiToken.name == "backend")).one()
    admin.post(f"/admin/tokens/{token.id}/revoke", {"reason": "rotated"})
    assert api.get("/api/dois/10.80507/none", headers=bearer).status_code == 401
    assert audit_count(runtime, "token.create") == 1
    assert audit_count(runtime, "token.revoke") == 1


def test_the_audit_log_is_filterable(
    as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    admin = as_role("admin")
    admin.post("/admin/tokens", {"name": "one", "scopes": ["read"]})
    page = admin.page("/admin/audit?action=token.*")
    assert "token.create" in page
    assert "admin.login" not in page
    assert "admin.login" in admin.page(f"/admin/audit?actor=admin:{admin.email}")
    assert "token.create" not in admin.page("/admin/audit?target=intent:1")


def test_an_admin_creates_accounts_and_cannot_remove_the_last_admin(
    app: Flask, as_role: Callable[[str], AdminClient], runtime: Runtime
) -> None:
    admin = as_role("admin")
    created = admin.post("/admin/users", {"email": "New.Person@Example.org", "role": "operator"})
    password = re.search(r'<pre class="shown-once">([^<]+)</pre>', created.get_data(as_text=True))
    assert password is not None
    client = app.test_client()
    token = csrf_in(client.get("/admin/login").get_data(as_text=True))
    answer = client.post(
        "/admin/login",
        data={
            "email": "new.person@example.org",
            "password": password.group(1),
            "csrf_token": token,
        },
    )
    assert answer.status_code == 303
    with runtime.sessions() as session:
        me = session.scalars(select(AdminUser).where(AdminUser.email == admin.email)).one()
    admin.post(f"/admin/users/{me.id}/role", {"role": "viewer", "reason": "oops"})
    assert "last enabled admin" in admin.page("/admin/users")
    admin.post(f"/admin/users/{me.id}/disable", {"disable": "1", "reason": "oops"})
    assert "last enabled admin" in admin.page("/admin/users")
    assert PASSWORD not in admin.page("/admin/users")
    with runtime.sessions() as session:
        actions = list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert "admin_user.create" in actions
    assert "admin_user.role" not in actions


def test_a_doi_page_lists_its_stashes_read_only_with_age_expiry_and_warning(
    make_pipeline: Callable[..., Pipeline],
    as_role: Callable[[str], AdminClient],
    runtime: Runtime,
) -> None:
    # Given a draft deleted at DataCite: its record was stashed first
    make_pipeline()
    create(runtime, "delta")
    wait_until(lambda: doi_state(runtime, concept("delta")) == "draft")
    call(runtime, datasets.delete_dataset, "delta")
    wait_until(lambda: doi_state(runtime, concept("delta")) == "deleted")
    with runtime.sessions() as session:
        [intent_id] = session.scalars(select(Stash.intent_id)).all()
    # When a viewer opens the DOI
    viewer = as_role("viewer")
    page = html.unescape(viewer.page(f"/admin/dois/{concept('delta')}"))
    # Then the stash is listed: what was there, how old, when it expires, which intent
    [row] = re.findall(r'<tr class="stash">(.*?)</tr>', page, re.S)
    assert "delete" in row
    assert "draft" in row
    assert "in 30 d" in row
    assert f"#{intent_id}" in row
    assert "unreadable" not in row
    # And the intent's timeline shows the stash as a step of its own, then the DELETE
    timeline = html.unescape(viewer.page(f"/admin/outbox/{intent_id}"))
    assert timeline.index("Step done; the next is due now") < timeline.rindex("DELETE")
    # And a damaged stash is shown with its warning, never a crash; nothing to act on
    with runtime.sessions.begin() as session:
        session.execute(update(Stash).values(content="{damaged"))
    page = html.unescape(as_role("admin").page(f"/admin/dois/{concept('delta')}"))
    [row] = re.findall(r'<tr class="stash">(.*?)</tr>', page, re.S)
    assert "unreadable" in row
    assert "treated as absent" in row
    assert "<form" not in page.split("<h2>Stashes</h2>")[1].split("</section>")[0]
