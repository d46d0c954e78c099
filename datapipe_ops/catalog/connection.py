"""Engines and transactions for the catalog, tuned for several writers at once.

SQLite (the embedded default) is opened in WAL mode (readers never block the writer) with a busy
timeout, foreign keys on, and SQLAlchemy emitting ``BEGIN`` itself: reads use a deferred
transaction, writes ``BEGIN IMMEDIATE`` so that a writer takes the write lock before reading and
can never hit the "cannot upgrade a read lock" deadlock that a busy timeout does not cure.
Every write is one function run in one transaction by :func:`write_transaction`, retried from the
start if the database stays locked (SQLite) or the server aborts it as a serialization failure or
deadlock (PostgreSQL). A PostgreSQL server that goes away (restart, failover, dropped
connection) is waited for once this process has reached it: pooled connections are checked
before use (``pool_pre_ping``) and a transaction that fails because the connection is lost or
refused is run again, from the start, for up to :data:`RECONNECT_S`; a database never reached
by this process fails at once (a wrong URL is reported before any work). Running a transaction
again is safe because every catalog write is idempotent (upserts keyed on the product path,
links inserted once). Connection problems that outlast the window become
:class:`~datapipe_ops.errors.CatalogError`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from datapipe_ops.errors import CatalogError

#: How long one SQLite statement waits for the write lock before "database is locked".
BUSY_TIMEOUT_S = 30.0
#: How often a whole write transaction is retried after a lock timeout or a deadlock.
WRITE_ATTEMPTS = 8
#: How long a catalog that was reachable waits for a lost PostgreSQL server to accept connections.
RECONNECT_S = 60.0

# The databases this process has connected to (URL with password): only these are waited for.
_REACHED: set[str] = set()

#: The database backends the catalog runs on (the upserts are written for these two).
SUPPORTED_BACKENDS = ("sqlite", "postgresql")

_BEGIN_OPTION = "datapipe_sqlite_begin"
_RETRYABLE_PGCODES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
# connection_exception (08…), admin/crash shutdown and "cannot connect now" (57P01-57P03)
_DISCONNECT_PGCODE_PREFIXES = ("08", "57P0")


def display_url(url: str | sa.URL) -> str:
    """The URL as it may be printed: password hidden."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return str(url)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def create_catalog_engine(url: str) -> Engine:
    """An engine for the catalog at ``url``; creates the parent directory of a SQLite file.

    Raises :class:`CatalogError` for a malformed URL or a database driver that is not installed.
    """
    try:
        parsed = sa.make_url(url)
        backend = parsed.get_backend_name()
        if backend not in SUPPORTED_BACKENDS:
            raise CatalogError(
                f"unsupported catalog backend {backend!r} (use sqlite or postgresql)",
                path=display_url(url),
            )
        if backend == "sqlite":
            return _sqlite_engine(parsed)
        engine = sa.create_engine(parsed, pool_pre_ping=True)
        key = _key(engine)
        event.listen(engine, "connect", lambda *_: _REACHED.add(key))
        return engine
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise CatalogError(f"not a usable catalog URL: {exc}", path=display_url(url)) from None


def upsert_insert(connection: Connection, table: sa.Table) -> Any:
    """An INSERT for ``table`` that supports ``on_conflict_do_update/nothing`` on this dialect."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _sqlite_engine(url: sa.URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if in_memory:
        # one shared connection, or every checkout would see its own empty database
        engine = sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        try:
            Path(database).expanduser().absolute().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CatalogError(
                f"cannot create the catalog directory: {exc.strerror}", path=database
            ) from None
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _is_retryable(exc: sa.exc.DBAPIError) -> bool:
    pgcode = getattr(exc.orig, "pgcode", None)
    if pgcode in _RETRYABLE_PGCODES:
        return True
    message = str(exc.orig).lower()
    return "database is locked" in message or "database is busy" in message


def is_disconnect(exc: sa.exc.DBAPIError) -> bool:
    """Whether ``exc`` means the PostgreSQL server was lost or refused the connection.

    SQLAlchemy flags a lost connection (``connection_invalidated``); a refused or failed connect
    is an ``OperationalError`` from libpq without an SQLSTATE; a server shutting down or starting
    up answers with SQLSTATE class 08 or 57P01-57P03.
    """
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa.exc.OperationalError) or "psycopg" not in type(exc.orig).__module__:
        return False
    pgcode = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
    return pgcode is None or pgcode.startswith(_DISCONNECT_PGCODE_PREFIXES)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def catalog_errors(engine: Engine) -> Iterator[None]:
    """Turn "cannot reach / cannot use the database" into a one-line :class:`CatalogError`."""
    try:
        yield
    except sa.exc.OperationalError as exc:
        raise CatalogError(
            f"catalog database error: {_first_line(exc)}", path=display_url(engine.url)
        ) from exc


def _key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def reconnect_window(engine: Engine) -> float:
    """Seconds to wait for a lost server: :data:`RECONNECT_S` once this process reached the
    database of ``engine`` (through any engine), else 0."""
    return RECONNECT_S if _key(engine) in _REACHED else 0.0


def _pause(attempt: int) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential, jittered, at most ~3 s."""
    return min(2.0, 0.05 * 2**attempt) * (0.5 + random.random())


def read_transaction[T](
    engine: Engine, work: Callable[[Connection], T], reconnect_s: float | None = None
) -> T:
    """Run ``work(connection)`` in a read transaction and return its result.

    Run again from the start while the server is lost, for up to ``reconnect_s`` seconds
    (default: :func:`reconnect_window`).
    """
    if reconnect_s is None:
        reconnect_s = reconnect_window(engine)
    deadline = time.monotonic() + reconnect_s
    attempt = 0
    while True:
        attempt += 1
        try:
            with engine.connect() as connection, connection.begin():
                return work(connection)
        except sa.exc.DBAPIError as exc:
            if not (is_disconnect(exc) and time.monotonic() < deadline):
                with catalog_errors(engine):
                    raise
            time.sleep(_pause(attempt))


def write_transaction[T](
    engine: Engine,
    work: Callable[[Connection], T],
    attempts: int = WRITE_ATTEMPTS,
    reconnect_s: float | None = None,
) -> T:
    """Run ``work(connection)`` in one write transaction, retried whole if it hits a lock.

    ``work`` must only touch the database, and be idempotent: it may run more than once, also
    after a commit whose acknowledgement was lost with the connection. On SQLite the
    transaction begins IMMEDIATE, i.e. with the write lock held. Up to ``attempts`` runs after
    a lock timeout or deadlock; while the server is lost, runs again for up to ``reconnect_s``
    seconds (default: :func:`reconnect_window`).
    """
    if reconnect_s is None:
        reconnect_s = reconnect_window(engine)
    deadline = time.monotonic() + reconnect_s
    attempt = locked = 0
    while True:
        attempt += 1
        try:
            with engine.connect() as connection:
                connection.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
                with connection.begin():
                    return work(connection)
        except sa.exc.DBAPIError as exc:
            server_lost = is_disconnect(exc) and time.monotonic() < deadline
            if not server_lost and not (_is_retryable(exc) and (locked := locked + 1) < attempts):
                with catalog_errors(engine):
                    raise
            time.sleep(_pause(attempt))
