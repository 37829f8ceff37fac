"""The sensor's durable spool: batches not yet acknowledged by the collector, in SQLite (WAL).

A batch is written (and fsync'd by SQLite's commit) before the sensor forgets the observations in it, and
deleted only after the collector acknowledged it. A restart resumes with whatever is left; the collector
applies a (sensor, batch_id) once, so a batch sent twice (acknowledgement lost) is not applied twice.
A full disk makes put() raise: the sensor then keeps the batch in memory and retries, it never drops it.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


class Spool:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                        "batch_id TEXT UNIQUE NOT NULL, body BLOB NOT NULL, created REAL NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")

    def next_seq(self, key: str = "batch_seq") -> int:
        """A counter that survives restarts (batch ids never repeat for one sensor)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
            n = int(row[0]) + 1 if row else 1
            self.db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, str(n)))
        return n

    def put(self, batch_id: str, body: bytes) -> None:
        self.db.execute("INSERT OR IGNORE INTO batches (batch_id, body, created) VALUES (?, ?, ?)",
                        (batch_id, body, time.time()))

    def oldest(self, limit: int = 16) -> list[tuple[int, str, bytes]]:
        return self.db.execute("SELECT seq, batch_id, body FROM batches ORDER BY seq LIMIT ?", (limit,)).fetchall()

    def ack(self, seq: int) -> None:
        self.db.execute("DELETE FROM batches WHERE seq = ?", (seq,))

    def pending(self) -> int:
        return self.db.execute("SELECT count(*) FROM batches").fetchone()[0]

    def close(self) -> None:
        self.db.close()
