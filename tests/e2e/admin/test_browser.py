"""The admin page in a real browser, against gunicorn, the relay, a worker and the sandbox."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page

from tests.e2e.admin.conftest import ADMIN_PASSWORD, DESKTOP, PHONE, SANDBOX_PASSWORD, AdminStack
from tests.e2e.conftest import FAST_SETTINGS, KERNEL4, concept_doi
from tests.e2e.harness import json_of, wait_until
from tests.fixtures.s3 import S3Endpoint
from tests.support.holds import legal_hold, uploads

TITLE = "e2e admin: creators is missing a name"
README_IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"


def _refuse(stack: AdminStack, dataset: str, title: str = TITLE) -> str:
    """Make the dataset's concept DOI fail on a DataCite 422; wait until it has."""
    doi = concept_doi(dataset)
    stack.sandbox.add_faults(
        {
            "method": "PUT",
            "doi": doi,
            "times": 1,
            "respond": {"status": 422, "body": {"errors": [{"status": "422", "title": title}]}},
        }
    )
    stack.api.create_dataset(dataset)
    stack.api.wait_for_state(doi, "failed")
    return doi


def _intent_id(page: Page) -> int:
    match = re.search(r"/admin/outbox/(\d+)$", page.url)
    assert match, page.url
    return int(match.group(1))


def _shoot(page: Page, folder: Path, name: str) -> None:
    """Desktop and phone screenshots; the page must never scroll sideways on a phone."""
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(folder / f"{name}-phone.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than a 390px phone"
    page.set_viewport_size(DESKTOP)
    if os.environ.get("UPDATE_README_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / f"{name}.png", README_IMAGES / f"admin-{name}.png")


def _no_secrets(page: Page) -> None:
    html = page.content()
    for secret in (SANDBOX_PASSWORD, ADMIN_PASSWORD, FAST_SETTINGS["SECRET_KEY"], "$argon2"):
        assert secret not in html, (page.url, secret)


def test_a_failed_doi_is_found_explained_and_retried_to_draft(
    admin_stack: AdminStack, log_in: Callable[[str], Page], tmp_path: Path
) -> None:
    # Given a DOI that DataCite refused with a 422
    doi = _refuse(admin_stack, "browser-fail")

    # When an operator logs in, the dashboard shows it as needing a person
    page = log_in("operator")
    row = page.locator("tr", has_text=doi)
    row.wait_for()
    assert "failed_dois" in page.inner_text(".needs")
    _shoot(page, tmp_path, "dashboard")
    _no_secrets(page)

    # And its intent's timeline shows the DataCite call, the 422 and DataCite's title
    row.get_by_role("link", name=re.compile("timeline")).click()
    timeline = page.locator("ol.timeline")
    call = timeline.locator("li", has_text=f"DataCite PUT {doi} → 422")
    assert TITLE in call.inner_text()
    assert "pending → failed" in timeline.inner_text()
    _shoot(page, tmp_path, "timeline")
    _no_secrets(page)

    # When the operator retries it with a reason
    page.fill("form.action:has(button:text('Retry')) input[name=reason]", "fault cleared")
    page.click("form.action button:text('Retry')")

    # Then the DOI is re-driven and reaches draft, and the timeline says who did it
    assert "re-driven" in page.inner_text(".flash.ok")
    assert "operator@example.org: redrive" in page.inner_text("ol.timeline")
    admin_stack.api.wait_for_state(doi, "draft")
    page.goto(f"{admin_stack.url}/admin/dois/{doi}")
    assert page.inner_text("h1 .badge") == "draft"


def test_an_operator_discards_everything_matching_a_filter(
    admin_stack: AdminStack, log_in: Callable[[str], Page], intent_status: Callable[[int], str]
) -> None:
    # Given two failed DOIs whose errors share a marker
    for name in ("bulk-one", "bulk-two"):
        _refuse(admin_stack, name, title="bulk-marker: refused")
    page = log_in("operator")

    # When the operator filters on it and discards all matching, after confirming
    page.goto(f"{admin_stack.url}/admin/outbox?status=failed&error=bulk-marker")
    ids = [int(t.strip("#")) for t in page.locator("table.list td:first-child a").all_inner_texts()]
    assert len(ids) == 2
    page.click("text=Discard all matching…")
    assert "Discard 2 intent(s)" in page.inner_text("main")
    page.fill("input[name=reason]", "duplicates of a bad import")
    page.click("button:text('Yes, discard 2')")

    # Then both are discarded, and nothing else
    assert "Discarded 2 intent(s)" in page.inner_text(".flash.ok")
    assert [intent_status(i) for i in ids] == ["discarded", "discarded"]
    page.goto(f"{admin_stack.url}/admin/audit?action=intent.bulk_discard")
    assert "duplicates of a bad import" in page.inner_text("table.list")


def test_a_viewer_sees_no_action_and_a_forged_post_is_refused(
    admin_stack: AdminStack, log_in: Callable[[str], Page], intent_status: Callable[[int], str]
) -> None:
    # Given a failed DOI, which an operator could retry or discard
    doi = _refuse(admin_stack, "viewer-only")
    page = log_in("viewer")

    # Then the viewer's pages carry no action form and no action button
    page.locator("tr", has_text=doi).get_by_role("link", name=re.compile("timeline")).click()
    intent_id = _intent_id(page)
    for path in ("/admin/", f"/admin/outbox/{intent_id}", f"/admin/dois/{doi}", "/admin/outbox"):
        page.goto(admin_stack.url + path)
        assert page.locator("form.action").count() == 0, path
        assert page.get_by_role("button", name=re.compile("Retry|Discard")).count() == 0, path

    # When the viewer forges a discard with a valid CSRF token of its own session
    token = page.get_attribute("form.logout input[name=csrf_token]", "value")
    forged = page.request.post(
        f"{admin_stack.url}/admin/outbox/{intent_id}/discard",
        form={"csrf_token": token or "", "reason": "forged"},
    )

    # Then it is forbidden and the intent is untouched
    assert forged.status == 403
    assert intent_status(intent_id) == "failed"


def test_a_post_without_the_csrf_token_is_refused(
    admin_stack: AdminStack, log_in: Callable[[str], Page], intent_status: Callable[[int], str]
) -> None:
    doi = _refuse(admin_stack, "no-token")
    page = log_in("admin")
    page.locator("tr", has_text=doi).get_by_role("link", name=re.compile("timeline")).click()
    intent_id = _intent_id(page)
    refused = page.request.post(
        f"{admin_stack.url}/admin/outbox/{intent_id}/discard", form={"reason": "no token"}
    )
    assert refused.status == 400
    assert "security token" in refused.text()
    assert intent_status(intent_id) == "failed"


def test_an_admin_releases_a_hold_with_a_reason_and_finds_it_in_the_audit_log(
    admin_stack: AdminStack,
    log_in: Callable[[str], Page],
    s3_endpoint: S3Endpoint,
    hold_bucket: str,
    tmp_path: Path,
) -> None:
    # Given a version published through the API, its one blob held by the hold-worker
    s3 = s3_endpoint.client()
    [blob] = uploads(s3, hold_bucket, 1, prefix="browser-hold")
    admin_stack.api.create_dataset("browser-hold")
    body = {"version": "1.0", "metadata": KERNEL4, "blobs": [blob]}
    json_of(admin_stack.api.call("POST", "/api/datasets/browser-hold/versions", json=body), 202)
    wait_until(lambda: legal_hold(s3, hold_bucket, blob) == "ON", 30, "the hold-worker's hold")

    # When an admin finds it on the Legal holds page and releases it, giving a reason
    page = log_in("admin")
    page.click("nav a:text('Legal holds')")
    page.fill("input[name=dataset]", "browser-hold")
    page.click("form.filters button")
    page.locator("table.list tr", has_text=blob["key"]).get_by_role("link").first.click()
    assert page.inner_text("h1 .badge") == "on"
    page.fill("form.action input[name=reason]", "e2e: erasure request 42")
    page.click("form.action button:text('Release hold')")

    # Then the release is queued, S3 turns the hold OFF, and the page says released
    assert "release of" in page.inner_text(".flash.ok")
    wait_until(lambda: legal_hold(s3, hold_bucket, blob) == "OFF", 30, "S3 to release the hold")

    def released() -> bool:
        page.reload()
        return page.inner_text("h1 .badge") == "released"

    wait_until(released, 15, "the page to say released")
    assert "e2e: erasure request 42" in page.inner_text("main")
    _shoot(page, tmp_path, "hold")
    _no_secrets(page)

    # And the audit log shows who released it and why
    page.goto(f"{admin_stack.url}/admin/audit?action=release_hold")
    row = page.locator("table.list tr", has_text=blob["key"])
    assert "admin:admin@example.org" in row.inner_text()
    assert "e2e: erasure request 42" in row.inner_text()


def test_logout_ends_the_session(admin_stack: AdminStack, log_in: Callable[[str], Page]) -> None:
    page = log_in("viewer")
    page.click("form.logout button")
    page.wait_for_url(f"{admin_stack.url}/admin/login")
    assert "Logged out" in page.inner_text(".flash")
    page.goto(f"{admin_stack.url}/admin/outbox")
    wait_until(lambda: "/admin/login" in page.url, 5, "the login page")
    assert page.locator("input[name=password]").count() == 1
