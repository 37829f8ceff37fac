"""Engine and schema set-up. SQLite by default; any SQLAlchemy URL (PostgreSQL for a central server)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Connection, Engine, MetaData, PrimaryKeyConstraint, String, Table, create_engine, \
    event, inspect, select
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
HEAD = "0006"                    # the newest migration (tests/unit/test_migrations.py checks it is Alembic's head)

# Alembic's own bookkeeping table, as Alembic creates it (alembic/runtime/migration.py)
_VERSION = Table("alembic_version", MetaData(), Column("version_num", String(32), nullable=False),
                 PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))


def alembic_config(connection: Connection | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(conn: Connection) -> None:
    """Run the Alembic migrations up to the head (a database made before migrations existed is stamped)."""
    from alembic import command

    cfg = alembic_config(conn)
    if "assets" in set(inspect(conn).get_table_names()) and not _has_version_table(conn):
        command.stamp(cfg, "head")
    else:
        command.upgrade(cfg, "head")


def _has_version_table(conn: Connection) -> bool:
    return inspect(conn).has_table("alembic_version")


def _current(conn: Connection) -> str | None:
    return conn.scalar(select(_VERSION.c.version_num)) if _has_version_table(conn) else None


def init_schema(engine: Engine) -> None:
    """Bring the schema to the latest revision. Alembic (slow to import: half a second) runs only when there
    is something to migrate: a database already at the head is left alone, and an empty one gets the models'
    tables (the migrations build exactly these, tested) stamped with the head. A database made before
    migrations existed is stamped; several processes starting at once on a fresh database (sensor workers)
    are tolerated: a table or stamp another process created in the meantime is not an error."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    from otscope.collector.models import Base

    for attempt in range(5):
        try:
            with engine.begin() as conn:
                current = _current(conn)
                if current == HEAD:
                    return
                if current is None and not inspect(conn).get_table_names():
                    Base.metadata.create_all(conn)
                    _VERSION.create(conn)
                    conn.execute(_VERSION.insert().values(version_num=HEAD))
                else:
                    migrate(conn)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if ("already exists" not in str(exc) and "UNIQUE" not in str(exc) and "duplicate" not in str(exc)) \
                    or attempt == 4:
                raise


def checkpoint(target: Engine | sessionmaker[Session]) -> None:
    """Fold SQLite's write-ahead log into the main file and truncate it (PRAGMA wal_checkpoint(TRUNCATE)), so a
    copy of the .db file alone holds everything committed. Other databases: nothing to do."""
    engine = target if isinstance(target, Engine) else target.kw["bind"]
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
