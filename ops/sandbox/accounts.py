"""Repository accounts: Basic-auth credentials and the prefixes each one owns."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable, Mapping

DEFAULT_USERS = {"REPO.ID": "secret"}
DEFAULT_PREFIXES = ("10.80507",)


class BadCredentialsError(Exception):
    """Credentials were sent but do not match an account."""


class Accounts:
    """The sandbox's repository accounts, user names compared case-insensitively."""

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        prefixes: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        users = DEFAULT_USERS if users is None else users
        self._passwords = {name.upper(): password for name, password in users.items()}
        self._prefixes = _prefixes_by_user(self._passwords, prefixes)

    def authenticate(self, header: str | None) -> str | None:
        """Return the account named by a Basic `Authorization` header, None if absent."""
        if not header:
            return None
        name, password = _basic_credentials(header)
        user = name.upper()
        expected = self._passwords.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise BadCredentialsError(name)
        return user

    def owns(self, user: str | None, prefix: str) -> bool:
        """Tell whether `user` may create DOIs under `prefix`."""
        return user is not None and prefix.lower() in self._prefixes.get(user, set())

    def prefixes(self, user: str) -> list[str]:
        """Return the prefixes `user` owns, sorted."""
        return sorted(self._prefixes.get(user.upper(), set()))

    @property
    def default_user(self) -> str:
        """The first account, owner of seeded DOIs unless told otherwise."""
        return next(iter(self._passwords))

    def known(self, user: str) -> bool:
        """Tell whether `user` is an account."""
        return user.upper() in self._passwords


def _prefixes_by_user(
    passwords: Mapping[str, str], prefixes: Iterable[str] | Mapping[str, Iterable[str]] | None
) -> dict[str, set[str]]:
    if prefixes is None:
        prefixes = DEFAULT_PREFIXES
    if isinstance(prefixes, Mapping):
        return {name.upper(): {p.lower() for p in owned} for name, owned in prefixes.items()}
    # A plain list: every account owns every prefix, as with one repository per sandbox.
    shared = {prefix.lower() for prefix in prefixes}
    return {name: set(shared) for name in passwords}


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        raise BadCredentialsError(scheme)
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise BadCredentialsError("undecodable") from error
    name, sep, password = decoded.partition(":")
    if not sep:
        raise BadCredentialsError(name)
    return name, password
