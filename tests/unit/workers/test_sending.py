"""The relay's message encoding: the very bytes Dramatiq's own encoder writes."""

from __future__ import annotations

import dramatiq
from dramatiq.encoder import JSONEncoder

from app.outbox import Claim
from workers.sending import _json_message, _plain, message_for


def test_the_template_writes_what_dramatiq_writes_byte_for_byte() -> None:
    claim = Claim(12345, "sync_doi", "doi", "0b6f3f5e-8a1d-4c7e-9d2b-6a0f1e2d3c4b")
    message = message_for(claim, time_limit_ms=80_000).copy(
        options={"redis_message_id": "12345-0b6f3f5e-8a1d-4c7e-9d2b-6a0f1e2d3c4b"},
        message_timestamp=1_764_590_000_123,
    )
    expected = JSONEncoder().encode(message.asdict())
    made = _json_message(claim, 80_000, message.options["redis_message_id"], 1_764_590_000_123)
    assert made == expected
    # And a stock worker reads it back as the same message
    assert dramatiq.Message.decode(made) == message


def test_text_that_would_need_escaping_takes_the_encoder() -> None:
    assert _plain(Claim(1, "sync_doi", "doi", "0b6f3f5e-8a1d"))
    assert not _plain(Claim(1, 'sync"doi', "doi", "t"))
    assert not _plain(Claim(1, "sync_doi", "doi", "tok\\en"))
    assert not _plain(Claim(1, "sync_doi", "dö", "t"))
