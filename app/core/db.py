"""The database engine and sessions. Nothing connects at import: callers build an engine from Settings.

Every Postgres session carries time limits for its role (RELIABILITY.md, "Database sessions", says why each):
the API's statements wait at most `db_lock_timeout_seconds` for a row lock and run at most
`db_statement_timeout_seconds`; a worker's session that sits inside a transaction for
`db_idle_in_transaction_seconds` is ended by the server, which frees the rows it locked; and every connection
has TCP keepalives on both ends, so a peer that vanished (a partition, a paused VM) is noticed within
`db_keepalive_seconds` plus three probes five seconds apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings

Role = Literal["api", "worker", "admin"]
KEEPALIVE_INTERVAL_SECONDS = 5
KEEPALIVE_PROBES = 3


def postgres_connect_args(settings: Settings, role: Role, name: str = "") -> dict:
    """libpq parameters for one role's connections: keepalives on our end, and the server-side limits and
    keepalives as `-c` options, which the server applies to the session from its first statement."""
    idle = max(1, round(settings.db_keepalive_seconds))
    dead_after_ms = (idle + KEEPALIVE_INTERVAL_SECONDS * KEEPALIVE_PROBES) * 1000
    server = {
        "tcp_keepalives_idle": idle,
        "tcp_keepalives_interval": KEEPALIVE_INTERVAL_SECONDS,
        "tcp_keepalives_count": KEEPALIVE_PROBES,
        "tcp_user_timeout": dead_after_ms,  # unacknowledged data: a keepalive never fires while it waits
    }
    if role == "api":
        server["lock_timeout"] = _ms(settings.db_lock_timeout_seconds)
        server["statement_timeout"] = _ms(settings.db_statement_timeout_seconds)
    elif role == "worker":
        server["idle_in_transaction_session_timeout"] = _ms(settings.db_idle_in_transaction_seconds)
        server["lock_timeout"] = _ms(settings.db_worker_lock_timeout_seconds)
        server["statement_timeout"] = _ms(settings.db_statement_timeout_seconds)
    return {
        "application_name": f"synthd-{role}{':' + name if name else ''}"[:63],
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": KEEPALIVE_INTERVAL_SECONDS,
        "keepalives_count": KEEPALIVE_PROBES,
        "tcp_user_timeout": dead_after_ms,
        "options": " ".join(f"-c {key}={value}" for key, value in server.items()),
    }


def _ms(seconds: float) -> int:
    """A limit in milliseconds; 0 (no limit) stays 0."""
    return max(0, round(seconds * 1000))


def make_engine(settings: Settings, role: Role = "api", name: str = "") -> Engine:
    """An engine for `role`: the API's sessions, a worker's (`name`: its id, shown in pg_stat_activity), or an
    administrator's (migrations, key creation, the sweep: keepalives without statement limits)."""
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001 - DB-API hook
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # the API and a worker share the file
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                         connect_args=postgres_connect_args(settings, role, name))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


LOCK_TIMEOUT = "55P03"  # lock_not_available: lock_timeout ran out
STATEMENT_TIMEOUT = "57014"  # query_canceled: statement_timeout ran out


def timed_out(exc: BaseException, *states: str) -> bool:
    """Whether `exc` is a statement that the server stopped for one of our limits (`states`: SQLSTATEs; default
    either limit), as opposed to a database that cannot be reached."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in (states or (LOCK_TIMEOUT, STATEMENT_TIMEOUT))


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
