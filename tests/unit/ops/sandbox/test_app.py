"""The sandbox is a plain WSGI callable, usable without a server."""

from __future__ import annotations

from werkzeug.test import Client

from ops.sandbox import create_sandbox_app
from tests.fixtures.sandbox import SANDBOX_PREFIX, doi_payload, kernel4_attributes

DOI = f"{SANDBOX_PREFIX}/controlled"


def test_app_is_a_wsgi_callable_that_works_in_process():
    client = Client(create_sandbox_app(users={"REPO.ID": "secret"}, prefixes=["10.80507"]))

    created = client.put(
        f"/dois/{DOI}",
        json=doi_payload(kernel4_attributes(), event="publish"),
        auth=("REPO.ID", "secret"),
    )
    shown = client.get(f"/dois/{DOI}")

    assert created.status_code == 201
    assert shown.json["data"]["attributes"]["state"] == "findable"
