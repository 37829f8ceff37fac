"""Engine and schema set-up. SQLite by default; any SQLAlchemy URL (PostgreSQL for a central server)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker


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


MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def init_schema(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision. A database made before migrations existed (tables, no
    alembic_version) is stamped; several processes starting at once on a fresh database (sensor workers) are
    tolerated: a table another process created in the meantime is not an error."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(5):
        try:
            with engine.begin() as conn:
                names = set(inspect(conn).get_table_names())
                cfg = alembic_config(conn)
                if "assets" in names and "alembic_version" not in names:
                    command.stamp(cfg, "head")
                else:
                    command.upgrade(cfg, "head")
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if ("already exists" not in str(exc) and "UNIQUE" not in str(exc) and "duplicate" not in str(exc)) \
                    or attempt == 4:
                raise


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
