"""What SQL the code under test sends: for tests that promise a statement count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from app.runtime import Runtime


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """Every SQL statement sent on the runtime's engine inside the block, in order."""
    seen: list[str] = []

    def record(_conn, _cursor, sql, *_args) -> None:
        seen.append(sql)

    event.listen(runtime.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)


def first_words(sql: list[str], count: int = 3) -> list[str]:
    """Each statement's first words, whitespace folded: enough to say which one it is."""
    return [" ".join(statement.split()[:count]) for statement in sql]
