"""Bearer tokens: 401 without a live token, 403 without the scope, hashes only in the database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text

from app.db import utcnow
from app.models import ApiToken
from app.runtime import Runtime
from app.services.tokens import digest
from tests.support.api import assert_error, publication, row_counts

Bearer = Callable[[str], dict[str, str]]

# Every guarded route, with the scope it needs.
GUARDED = [
    ("POST", "/api/datasets", "write"),
    ("GET", "/api/datasets/ds1", "read"),
    ("PUT", "/api/datasets/ds1/metadata", "write"),
    ("POST", "/api/datasets/ds1/unembargo", "write"),
    ("DELETE", "/api/datasets/ds1", "write"),
    ("POST", "/api/datasets/ds1/versions", "write"),
    ("DELETE", "/api/datasets/ds1/versions/1.0", "write"),
    ("POST", "/api/datasets/ds1/restore", "write"),
    ("POST", "/api/datasets/ds1/versions/1.0/restore", "write"),
    ("GET", "/api/dois/10.80507/test.ds1", "read"),
    ("POST", "/api/dois/10.80507/test.ds1/retry", "operator"),
    ("GET", "/api/jobs/1", "read"),
    ("GET", "/api/health", "read"),
    ("DELETE", "/api/blobs/k?version_id=v", "write"),
]
LOWER = {"read": None, "write": "read", "operator": "write"}


@pytest.mark.parametrize(("method", "path", "scope"), GUARDED)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer dfl_unknown", "Basic dXNlcjpwdw==", "Bearer", "bearer  "],
    ids=["missing", "unknown", "basic", "empty", "blank"],
)
def test_no_live_token_is_401_with_a_bearer_challenge(
    client: FlaskClient,
    runtime: Runtime,
    method: str,
    path: str,
    scope: str,
    authorization: str | None,
) -> None:
    before = row_counts(runtime)
    headers = {"Authorization": authorization} if authorization else {}
    answer = client.open(path, method=method, json={"id": "ds2"}, headers=headers)
    assert_error(answer, 401)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert row_counts(runtime) == before


@pytest.mark.parametrize(("method", "path", "scope"), [g for g in GUARDED if LOWER[g[2]]])
def test_a_lower_scope_is_403(
    client: FlaskClient, bearer: Bearer, runtime: Runtime, method: str, path: str, scope: str
) -> None:
    lower = LOWER[scope]
    assert lower is not None
    headers = bearer(lower)
    before = row_counts(runtime)
    answer = client.open(path, method=method, json={"id": "ds2"}, headers=headers)
    error = assert_error(answer, 403, "insufficient_scope")
    assert error["details"]["required_scope"] == scope
    assert f'scope="{scope}"' in answer.headers["WWW-Authenticate"]
    assert row_counts(runtime) == before


def test_higher_scopes_include_lower_ones(client: FlaskClient, bearer: Bearer) -> None:
    operator = bearer("operator")
    assert client.post("/api/datasets", json={"id": "ds1"}, headers=operator).status_code == 201
    assert client.get("/api/datasets/ds1", headers=operator).status_code == 200
    assert client.get("/api/datasets/ds1", headers=bearer("write")).status_code == 200


def test_a_revoked_token_is_401(
    client: FlaskClient, api_token: Callable[..., str], runtime: Runtime
) -> None:
    plain = api_token("write")
    with runtime.sessions.begin() as session:
        session.scalars(select(ApiToken)).one().revoked_at = utcnow()
    answer = client.get("/api/datasets/ds1", headers={"Authorization": f"Bearer {plain}"})
    assert_error(answer, 401, "invalid_token")
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_the_plain_token_is_stored_nowhere(
    client: FlaskClient, api_token: Callable[..., str], runtime: Runtime
) -> None:
    # Given a token that was used once
    plain = api_token("write")
    client.post("/api/datasets", json={"id": "ds1"}, headers={"Authorization": f"Bearer {plain}"})
    # Then the database holds its digest, and the plain text in no column of any table
    with runtime.sessions() as session:
        token = session.scalars(select(ApiToken)).one()
        assert token.token_hash == digest(plain)
        assert token.last_used_at is not None
        dumps = session.execute(
            text("SELECT string_agg(row_to_json(t)::text, '') FROM (SELECT * FROM api_tokens) t")
        ).scalar_one()
    assert plain not in dumps


def test_no_secret_in_any_answer(
    client: FlaskClient, api_token: Callable[..., str], runtime: Runtime, bearer: Bearer
) -> None:
    plain = api_token("read")
    headers = {"Authorization": f"Bearer {plain}"}
    password = runtime.settings.datacite_password or ""
    answers = [
        client.post("/api/datasets", json={"id": "ds1"}, headers=headers),  # 403
        client.get("/api/datasets/nope", headers=headers),  # 404
        client.get("/api/health", headers=headers),
        client.get("/api/openapi.json"),
        client.post("/api/datasets/ds1/versions", json=publication(), headers=bearer("write")),
    ]
    for answer in answers:
        body = answer.get_data(as_text=True)
        assert plain not in body
        assert password not in body
        assert runtime.settings.secret_key not in body
