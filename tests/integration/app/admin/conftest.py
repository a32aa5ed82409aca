"""Fixtures for the admin pages: logged-in clients per role on the test Runtime."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from app.runtime import Runtime
from tests.support.admin import AdminClient, log_in


@pytest.fixture
def as_role(app: Flask, runtime: Runtime) -> Callable[[str], AdminClient]:
    """as_role("operator") → a client logged in as a new operator."""
    return lambda role: log_in(app, runtime, role)
