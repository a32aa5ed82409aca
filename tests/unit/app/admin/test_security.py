"""Roles in order, and the SECRET_KEY the admin page refuses."""

from __future__ import annotations

import pytest

from app.admin.security import Principal, check_secret_key
from app.config import ConfigError, load_settings
from app.enums import AdminRole


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (AdminRole.VIEWER, {AdminRole.VIEWER}),
        (AdminRole.OPERATOR, {AdminRole.VIEWER, AdminRole.OPERATOR}),
        (AdminRole.ADMIN, set(AdminRole)),
    ],
)
def test_each_role_includes_the_ones_below(role: AdminRole, allowed: set[AdminRole]) -> None:
    person = Principal(1, "a@example.org", role, 1)
    assert {other for other in AdminRole if person.can(other)} == allowed


def test_a_session_names_the_account_and_its_version() -> None:
    person = Principal(7, "a@example.org", AdminRole.VIEWER, 3)
    assert person.get_id() == "7:3"
    assert person.actor == "admin:a@example.org"


@pytest.mark.parametrize("weak", ["", "change-me", "CHANGEME", " secret "])
def test_weak_secret_keys_are_refused(weak: str) -> None:
    settings = load_settings({"DATABASE_URL": "sqlite://", "SECRET_KEY": weak})
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        check_secret_key(settings)


def test_a_random_secret_key_passes() -> None:
    check_secret_key(load_settings({"DATABASE_URL": "sqlite://", "SECRET_KEY": "k" * 40}))
