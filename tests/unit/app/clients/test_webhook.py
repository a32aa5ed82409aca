"""The webhook signature: HMAC-SHA256 of the raw body, as the README tells archives to check."""

from __future__ import annotations

from app.clients.webhook import signature


def test_the_signature_is_the_hex_hmac_sha256_of_the_body_under_the_secret() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert signature("Jefe", b"what do ya want for nothing?") == f"sha256={expected}"


def test_one_changed_byte_changes_the_signature() -> None:
    assert signature("s", b'{"id":"1"}') != signature("s", b'{"id":"2"}')
