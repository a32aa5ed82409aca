"""The legal-holds pages: filters and paging, a hold's history, and the release backdoor."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from sqlalchemy import select

from app import create_app
from app.admin.queries import holds as hold_queries
from app.models import AuditLog, Blob, LegalHold
from app.runtime import Runtime
from app.services import versions
from tests.fixtures.pipeline import Pipeline, wait_until
from tests.support.admin import AdminClient, audit_count, log_in
from tests.support.holds import hold_states, legal_hold, uploads
from tests.support.lifecycle import call, create, job_status, metadata

ACTION_FORM = re.compile(r'<form class="action')


def _publish(runtime: Runtime, dataset: str, version: str, blobs: list[dict]) -> int:
    create(runtime, dataset)
    _, job = call(
        runtime, versions.publish_version, dataset, name=version, metadata=metadata(), blobs=blobs
    )
    return int(job.id)


def _records(prefix: str, count: int) -> list[dict]:
    """Blob records as the archive sends them (no S3 call happens before a worker runs)."""
    return [
        {"key": f"{prefix}/{n:03d}.csv", "version_id": f"v{n}", "sha256": f"{n:064x}", "size": n}
        for n in range(count)
    ]


def _hold_id(runtime: Runtime, key: str) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(LegalHold.id).join(LegalHold.blob).where(Blob.key == key)))


def _as(runtime: Runtime) -> Callable[[str], AdminClient]:
    app = create_app(runtime=runtime)
    app.config["TESTING"] = True
    return lambda role: log_in(app, runtime, role)


def test_holds_are_filtered_by_state_key_prefix_and_dataset_and_paged(
    make_runtime: Callable[..., Runtime], s3_settings: dict[str, str]
) -> None:
    # Given 55 pending holds of one dataset and 2 of another (published, no worker ran)
    runtime = make_runtime(**s3_settings)
    _publish(runtime, "big", "v1", _records("big", 55))
    _publish(runtime, "small", "v1", _records("other/small", 2))
    viewer = _as(runtime)("viewer")

    # The first page shows the newest 50 and links to the older ones
    first = viewer.page("/admin/holds")
    assert first.count('href="/admin/holds/') == 50
    assert "other/small/001.csv" in first
    older = re.search(r'href="(/admin/holds\?before=\d+)"', first)
    assert older is not None
    second = viewer.page(html.unescape(older.group(1)))
    assert second.count('href="/admin/holds/') == 7
    assert "big/000.csv" in second

    # By dataset, by key prefix (a LIKE wildcard is a plain character), by state
    by_dataset = viewer.page("/admin/holds?dataset=small")
    assert by_dataset.count('href="/admin/holds/') == 2
    assert "big/" not in by_dataset
    by_prefix = viewer.page("/admin/holds?key=other/")
    assert by_prefix.count('href="/admin/holds/') == 2
    assert viewer.page("/admin/holds?key=oth%25").count('href="/admin/holds/') == 0
    assert viewer.page("/admin/holds?state=on").count('href="/admin/holds/') == 0
    pending = viewer.page("/admin/holds?state=pending&dataset=big&key=big/05")
    assert pending.count('href="/admin/holds/') == 5
    assert "No legal hold matches." in viewer.page("/admin/holds?dataset=nobody")


def test_a_key_prefix_pages_alike_found_near_the_cursor_or_collected(
    make_runtime: Callable[..., Runtime], s3_settings: dict[str, str], monkeypatch
) -> None:
    runtime = make_runtime(**s3_settings)
    _publish(runtime, "big", "v1", _records("big", 55))
    _publish(runtime, "small", "v1", _records("other/small", 2))
    viewer = _as(runtime)("viewer")
    seen = {}
    # 53 holds next to the cursor hold 51 of big's: the first page is found among them;
    # the second page has fewer than 53 behind it, and no cap means always collected.
    for near in (53, 1_000_000):
        monkeypatch.setattr(hold_queries, "NEAR", near)
        first = viewer.page("/admin/holds?key=big/")
        older = re.search(r'href="(/admin/holds\?[^"]*before=\d+[^"]*)"', first)
        assert older is not None
        second = viewer.page(html.unescape(older.group(1)))
        newer = re.search(r'href="(/admin/holds\?[^"]*after=\d+[^"]*)"', second)
        assert newer is not None
        back = viewer.page(html.unescape(newer.group(1)))
        seen[near] = [
            re.findall(r'<td class="mono">([^<]+)</td>', p) for p in (first, second, back)
        ]
    assert seen[53] == seen[1_000_000]
    first, second, back = seen[53]
    assert first == [f"big/{n:03d}.csv" for n in range(54, 4, -1)]
    assert second == [f"big/{n:03d}.csv" for n in range(4, -1, -1)]
    assert back == first


def test_a_hold_page_shows_its_blob_its_versions_and_its_history(
    make_pipeline: Callable[..., Pipeline], s3_settings: dict[str, str], buckets
) -> None:
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    [blob] = uploads(s3, bucket, 1)
    pipeline = make_pipeline(**s3_settings)
    job = _publish(pipeline.runtime, "ds1", "v1", [blob])
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    viewer = _as(pipeline.runtime)("viewer")
    page = html.unescape(viewer.page(f"/admin/holds/{_hold_id(pipeline.runtime, blob['key'])}"))
    assert blob["key"] in page
    assert blob["version_id"] in page
    assert "pending → on" in page
    assert "S3 confirmed the hold ON" in page
    assert ">ds1</a>" in page
    # A viewer reads it all, and is offered no release
    assert not ACTION_FORM.search(page)
    assert viewer.get("/admin/holds/999999").status_code == 404


def test_an_admin_releases_a_hold_with_a_reason_and_nobody_else_can(
    make_pipeline: Callable[..., Pipeline], s3_settings: dict[str, str], buckets
) -> None:
    # Given a published blob version held in S3
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    [blob] = uploads(s3, bucket, 1)
    pipeline = make_pipeline(**s3_settings)
    runtime = pipeline.runtime
    job = _publish(runtime, "ds1", "v1", [blob])
    wait_until(lambda: job_status(runtime, job) == "finished")
    hold_id = _hold_id(runtime, blob["key"])
    path, release = f"/admin/holds/{hold_id}", f"/admin/holds/{hold_id}/release"
    as_role = _as(runtime)
    operator, admin = as_role("operator"), as_role("admin")

    # An operator sees no release form, and a forged POST (with a valid token) is refused
    assert not ACTION_FORM.search(operator.page(path))
    assert operator.post(release, {"reason": "forged"}).status_code == 403
    # An admin's POST without the CSRF token is refused, and so is one without a reason
    assert admin.post(release, {"reason": "no token"}, csrf=False).status_code == 400
    admin.post(release, {"reason": "  "})
    assert "a reason is required" in admin.page(path)
    assert audit_count(runtime, "release_hold") == 0
    assert hold_states(runtime) == {blob["key"]: "on"}
    assert legal_hold(s3, bucket, blob) == "ON"

    # When the admin releases it with a reason
    assert ACTION_FORM.search(admin.page(path))
    answer = admin.post(release, {"reason": "court order 17"})
    assert answer.status_code == 303

    # Then S3 turns it OFF through the release service, and the audit log says who and why
    wait_until(lambda: legal_hold(s3, bucket, blob) == "OFF")
    wait_until(lambda: hold_states(runtime) == {blob["key"]: "released"})
    with runtime.sessions() as session:
        [entry] = session.scalars(select(AuditLog).where(AuditLog.action == "release_hold"))
        assert (entry.action, entry.reason) == ("release_hold", "court order 17")
        assert entry.actor == f"admin:{admin.email}"
        assert entry.target == f"{blob['key']}@{blob['version_id']}"
    page = html.unescape(admin.page(path))
    assert "on → released" in page
    assert "court order 17" in page
    assert not ACTION_FORM.search(page)  # released by a person: nothing more to release
    audit = admin.page("/admin/audit?action=release_hold")
    assert "court order 17" in audit
    assert admin.email in audit
    # A second release is refused, and records nothing
    admin.post(release, {"reason": "again"})
    assert "already released" in admin.page("/admin/")
    assert audit_count(runtime, "release_hold") == 1


def test_the_dashboard_counts_holds_per_state(
    make_runtime: Callable[..., Runtime], s3_settings: dict[str, str]
) -> None:
    runtime = make_runtime(**s3_settings, ADMIN_SNAPSHOT_SECONDS="0")
    _publish(runtime, "ds1", "v1", _records("d", 3))
    page = _as(runtime)("viewer").page("/admin/")
    panel = re.search(r"Legal holds per state</h2>(.*?)</section>", page, re.S)
    assert panel is not None
    counts = dict(re.findall(r'class="badge s-(\w+)">\w+</span></a></dt><dd>([\d,]+)<', panel[1]))
    assert counts == {"pending": "3", "on": "0", "released": "0", "failed": "0"}
