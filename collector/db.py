"""Engine and schema set-up. SQLite by default; any SQLAlchemy URL (PostgreSQL for a central server)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from otscope.collector.models import Base

DEFAULT_URL = "sqlite:///otscope.db"


def make_engine(url: str = DEFAULT_URL) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _rec):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def init_schema(engine: Engine) -> None:
    """Create missing tables. Several processes may start at once on a fresh database (sensor workers): a
    table another process created in the meantime is not an error."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    for attempt in range(5):
        try:
            Base.metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError) as exc:
            if "already exists" not in str(exc) or attempt == 4:
                raise


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
