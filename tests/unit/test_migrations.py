"""The Alembic migrations build exactly the schema of the models, on SQLite and PostgreSQL (so a fresh database
may be built from the models and stamped); a database made before migrations existed is stamped, not rebuilt;
a database at the head is left alone without loading Alembic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from otscope.collector.db import HEAD, MIGRATIONS, init_schema, make_engine, migrate
from otscope.collector.models import Base
from tests.support import pg


def diff(url: str, by_migrations: bool) -> list:
    engine = make_engine(url)
    if by_migrations:
        with engine.begin() as conn:
            migrate(conn)
    init_schema(engine)
    init_schema(engine)                                  # a second start changes nothing
    with engine.connect() as conn:
        out = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert "alembic_version" in tables
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select version_num from alembic_version").scalar() == HEAD
    engine.dispose()
    return out


@pytest.mark.parametrize("by_migrations", [True, False], ids=["migrations", "fresh"])
def test_sqlite_schema_matches_models(tmp_path: Path, by_migrations: bool) -> None:
    assert diff(f"sqlite:///{tmp_path}/m.db", by_migrations) == []


def test_head_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_database_at_head_does_not_load_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path}/h.db"
    code = ("import sys\nfrom otscope.collector.db import init_schema, make_engine\n"
            f"init_schema(make_engine({url!r}))\nprint(any(m.startswith('alembic') for m in sys.modules))")
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (first.stdout.strip(), again.stdout.strip()) == ("False", "False")


@pytest.mark.parametrize("by_migrations", [True, False], ids=["migrations", "fresh"])
def test_postgres_schema_matches_models(by_migrations: bool) -> None:
    why = pg.ensure_server()
    if why:
        pytest.fail(why) if os.environ.get("CI") else pytest.skip(why)
    with pg.temp_database() as url:
        assert diff(url, by_migrations) == []


def test_pre_migration_database_is_stamped(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    Base.metadata.create_all(engine)
    init_schema(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select version_num from alembic_version").scalar() == HEAD
