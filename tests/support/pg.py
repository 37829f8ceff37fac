"""A throwaway PostgreSQL database for tests: the local server is started if it is down (Debian cluster)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

ADMIN_URL = os.environ.get("OTSCOPE_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _connect():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(ADMIN_URL.replace("+psycopg", ""), autocommit=True, connect_timeout=3)


def ensure_server() -> str | None:
    """None when a server answers (starting the local cluster if needed), else why not."""
    try:
        _connect().close()
        return None
    except Exception as first:  # noqa: BLE001
        try:
            versions = os.listdir("/etc/postgresql")
            for v in versions:
                subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", v, "main", "start"],
                               capture_output=True, timeout=60)
            _connect().close()
            return None
        except Exception:  # noqa: BLE001
            return f"PostgreSQL not reachable at {ADMIN_URL}: {first}"


@contextmanager
def temp_database() -> Iterator[str]:
    name = f"otscope_test_{uuid.uuid4().hex[:10]}"
    with _connect() as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        from sqlalchemy.pool import NullPool  # noqa: F401 - engines are disposed by the tests
        with _connect() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
