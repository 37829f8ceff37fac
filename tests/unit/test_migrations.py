"""The Alembic migrations build exactly the schema of the models, on SQLite and PostgreSQL; a database made
before migrations existed is stamped, not rebuilt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from otscope.collector.db import init_schema, make_engine
from otscope.collector.models import Base
from tests.support import pg


def diff(url: str) -> list:
    engine = make_engine(url)
    init_schema(engine)
    init_schema(engine)                                  # a second start changes nothing
    with engine.connect() as conn:
        out = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert "alembic_version" in tables
    return out


def test_sqlite_schema_matches_models(tmp_path: Path) -> None:
    assert diff(f"sqlite:///{tmp_path}/m.db") == []


def test_postgres_schema_matches_models() -> None:
    why = pg.ensure_server()
    if why:
        pytest.fail(why) if os.environ.get("CI") else pytest.skip(why)
    with pg.temp_database() as url:
        assert diff(url) == []


def test_pre_migration_database_is_stamped(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    Base.metadata.create_all(engine)
    init_schema(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select version_num from alembic_version").scalar() == "0001"
