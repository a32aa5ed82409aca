"""Engine, sessions and the column types every model shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    MetaData,
    Table,
    create_engine,
    event,
    insert,
    inspect,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.types import TypeDecorator

# Stable constraint names keep alembic migrations reproducible.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with doiflow's naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for Postgres (psycopg 3) or, for the embedded default, SQLite."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # No ping on every checkout (two round trips a request): connections are recycled
    # before a server or proxy drops them idle, and one that died anyway fails its
    # transaction once, which invalidates the pool (web: a 503 to retry; workers: a retry).
    return create_engine(url, pool_recycle=300, **kwargs)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite opens transactions lazily and runs SELECTs outside them, so a read-then-
    # write (the worker's fencing check, then its update) could interleave with another
    # writer. SQLAlchemy's documented recipe: take over BEGIN ourselves (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the embedded relay and worker threads read while one writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock at BEGIN: transactions run one after another, the
    # guarantee Postgres gives doiflow with SELECT ... FOR UPDATE.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded rows usable after commit (views render after it)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def is_postgres(session_or_engine: Session | Engine) -> bool:
    """True when the backend is PostgreSQL (LISTEN/NOTIFY, SKIP LOCKED)."""
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "postgresql"


def insert_as_loaded(session: Session, obj: Base, *, unless_exists: bool = False) -> bool:
    """INSERT a new object's row with one Core statement and attach it as if just loaded.

    On the hottest write path (`POST /api/datasets`) the unit-of-work flush of two new
    objects cost more than everything else in the request: its bookkeeping, not its
    INSERTs. This writes the row the flush would write (every column, Python defaults
    applied, an autoincrement key taken from RETURNING) and then makes the object
    persistent, unmodified: nothing is left for the flush, and later changes to the
    object in the same session are ordinary UPDATEs (the version counter included).
    Relationships set on the object before the call count as loaded.

    `unless_exists=True` inserts nothing when the row would break a unique constraint
    (`ON CONFLICT DO NOTHING`, no aborted transaction) and answers False: the caller
    asks what is in the way only then, instead of looking first on every call.
    """
    mapper = inspect(type(obj))
    table = cast(Table, mapper.local_table)
    values: dict[str, Any] = {}
    generated = None
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        value = obj.__dict__.get(prop.key)
        if value is None and column.default is not None:
            default: Any = column.default
            value = default.arg(None) if default.is_callable else default.arg
        if value is None and column.primary_key and column.autoincrement in (True, "auto"):
            generated = column
            continue
        setattr(obj, prop.key, value)  # unset would mean expired: a SELECT on first read
        values[column.key] = value
    # One statement per table, its values passed apart: built and compiled once, cached.
    statement: Any = insert(table)
    if unless_exists:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).on_conflict_do_nothing()
    # The key comes back from RETURNING; no row back means a conflict stopped the insert.
    key_column = generated if generated is not None else table.primary_key.columns[0]
    key = session.execute(statement.returning(key_column), values).scalar_one_or_none()
    if key is None:
        return False
    if generated is not None:
        setattr(obj, mapper.get_property_by_column(generated).key, key)
    make_transient_to_detached(obj)
    session.add(obj)
    return True
