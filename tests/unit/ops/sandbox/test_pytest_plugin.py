"""The `doiflow_sandbox` plugin gives another project's tests the sandbox fixtures."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

ARCHIVE_TESTS = """
import pytest
import requests

from ops.sandbox.testing import Fault, doi_payload, kernel4_attributes


def put(sandbox, account, suffix, **attributes):
    return requests.put(
        f"{sandbox.url}/dois/{account.prefix}/{suffix}",
        json=doi_payload(attributes),
        auth=account.auth,
        timeout=5,
    )


def test_publish_a_dataset(sandbox, datacite_sandbox_account, sandbox_control):
    answer = put(sandbox, datacite_sandbox_account, "ds1", **kernel4_attributes(), event="publish")

    assert answer.status_code == 201
    assert [d["state"] for d in sandbox_control.dois()] == ["findable"]


def test_a_throttled_write_is_retried(sandbox, datacite_sandbox_account, sandbox_control):
    fault = Fault.respond(429, headers={"Retry-After": "2"}, method="PUT", times=1)
    sandbox_control.inject(fault)

    first = put(sandbox, datacite_sandbox_account, "ds2")
    second = put(sandbox, datacite_sandbox_account, "ds2")

    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert second.status_code == 201
    assert [entry["status"] for entry in sandbox_control.requests()] == [429, 201]


def test_each_test_starts_empty(sandbox_control):
    assert sandbox_control.dois() == []
    assert sandbox_control.faults() == []
"""


def test_plugin_serves_fixtures_and_fault_builder_to_another_project(pytester: pytest.Pytester):
    # A fresh interpreter: the plugin comes from the package's pytest11 entry point.
    pytester.makepyfile(test_archive=ARCHIVE_TESTS)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=3)


def test_ini_options_change_the_account(pytester: pytest.Pytester):
    pytester.makeini(
        """
        [pytest]
        datacite_sandbox_user = ARCHIVE.TEST
        datacite_sandbox_password = pw
        datacite_sandbox_prefixes = 10.5555 10.6666
        """
    )
    pytester.makepyfile(
        test_account="""
        import requests

        def test_account(sandbox, datacite_sandbox_account):
            account = datacite_sandbox_account
            url = f"{sandbox.url}/dois/10.6666/x"
            body = {"data": {"type": "dois", "attributes": {}}}

            ours = requests.put(url, json=body, auth=account.auth, timeout=5)
            default = requests.put(url, json=body, auth=("REPO.ID", "secret"), timeout=5)

            assert account.auth == ("ARCHIVE.TEST", "pw")
            assert account.prefixes == ("10.5555", "10.6666")
            assert (ours.status_code, default.status_code) == (201, 401)
        """
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)


def test_the_account_fixture_can_be_overridden(pytester: pytest.Pytester):
    pytester.makeconftest(
        """
        import pytest
        from ops.sandbox.testing import SandboxAccount

        @pytest.fixture(scope="session")
        def datacite_sandbox_account():
            return SandboxAccount("MINE.REPO", "mine", ("10.7777",))
        """
    )
    pytester.makepyfile(
        test_override="""
        import requests

        def test_override(sandbox):
            body = {"data": {"type": "dois", "attributes": {}}}
            url = f"{sandbox.url}/dois/10.7777/x"
            answer = requests.put(url, json=body, auth=("mine.repo", "mine"), timeout=5)
            assert answer.status_code == 201
        """
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)
