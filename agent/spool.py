"""The sensor's durable spool: batches not yet acknowledged by the collector, in SQLite (WAL).

A batch is written (and fsync'd by SQLite's commit) before the sensor forgets the observations in it, and
deleted only after the collector acknowledged it. A restart resumes with whatever is left; the collector
applies a (sensor, batch_id) once, so a batch sent twice (acknowledgement lost) is not applied twice.

A full disk (SQLITE_FULL "database or disk is full", ENOSPC) never stops the sensor:
- put() raises ``SpoolFull``; the sensor keeps the batch in memory (bounded) and writes it once space returns;
- ack() always succeeds: it first frees the reserve file kept beside the spool (space set aside at start for
  exactly this), and if the delete still cannot be written it is remembered in memory (the batch is skipped
  by oldest() and deleted later; after a restart it is re-sent, which the collector ignores as a duplicate);
- next_seq() falls back to a counter in memory (batch ids carry the boot id, so they still never repeat).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from pathlib import Path

RESERVE = 1 << 20                  # bytes set aside beside the spool for acknowledgements on a full disk


class SpoolFull(Exception):
    """The spool's filesystem is full: the write did not happen."""


def is_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return isinstance(exc, sqlite3.Error) and ("full" in text or "disk i/o error" in text)


class Spool:
    def __init__(self, path: str | Path, reserve: int = RESERVE) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = self._open(exclusive=False)
        except sqlite3.Error as exc:
            if not is_full(exc):
                raise
            # no room for the WAL index (-shm): in exclusive locking mode SQLite keeps it in memory (WAL docs
            # section 9, "Use of WAL without shared-memory"); the spool has a single writer, this sensor worker
            self.db = self._open(exclusive=True)
        self.reserve_path = self.path + ".reserve"
        self.reserve_size = reserve
        self.acked: set[int] = set()          # acknowledged, delete not yet written (full disk)
        self._seq: dict[str, int] = {}
        self.full = False
        self._make_reserve()

    def _open(self, exclusive: bool) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            if exclusive:
                db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"batches", "meta"} <= tables:
                db.execute("CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                           "batch_id TEXT UNIQUE NOT NULL, body BLOB NOT NULL, created REAL NOT NULL)")
                db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        except BaseException:
            db.close()
            raise
        return db

    def _make_reserve(self) -> None:
        if self.reserve_size <= 0 or os.path.exists(self.reserve_path):
            return
        try:
            with open(self.reserve_path, "wb") as fh:
                fh.write(b"\0" * self.reserve_size)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError:
            try:
                os.unlink(self.reserve_path)      # a partial reserve is no reserve
            except OSError:
                pass

    def _free_reserve(self) -> bool:
        try:
            os.unlink(self.reserve_path)
            return True
        except OSError:
            return False

    def next_seq(self, key: str = "batch_seq") -> int:
        """A counter that survives restarts (batch ids never repeat for one sensor); in memory while the disk
        is full."""
        row = self.db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        n = max(int(row[0]) + 1 if row else 1, self._seq.get(key, 0) + 1)
        try:
            self.db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, str(n)))
        except sqlite3.Error as exc:
            if not is_full(exc):
                raise
        self._seq[key] = n
        return n

    def put(self, batch_id: str, body: bytes) -> None:
        try:
            self.db.execute("INSERT OR IGNORE INTO batches (batch_id, body, created) VALUES (?, ?, ?)",
                            (batch_id, body, time.time()))
        except sqlite3.Error as exc:
            if is_full(exc):
                self.full = True
                raise SpoolFull(f"spool {self.path}: {exc}") from None
            raise
        if self.full:                          # space came back: write the deletes kept in memory, re-reserve
            self.full = False
            self._flush_acks()
            self._make_reserve()

    def oldest(self, limit: int = 16) -> list[tuple[int, str, bytes]]:
        rows = self.db.execute("SELECT seq, batch_id, body FROM batches ORDER BY seq LIMIT ?",
                               (limit + len(self.acked),)).fetchall()
        return [r for r in rows if r[0] not in self.acked][:limit]

    def ack(self, seq: int) -> None:
        """Forget an acknowledged batch. Never fails for want of space (see the module docstring)."""
        self.acked.add(seq)
        self._flush_acks()

    def _flush_acks(self) -> None:
        freed = False
        for seq in sorted(self.acked):
            while True:
                try:
                    self.db.execute("DELETE FROM batches WHERE seq = ?", (seq,))
                    self.acked.discard(seq)
                    break
                except sqlite3.Error as exc:
                    if not is_full(exc):
                        raise
                    self.full = True
                    if freed or not self._free_reserve():
                        return                 # kept in memory; written by a later ack or put
                    freed = True

    def reject(self, seq: int, batch_id: str, body: bytes) -> bool:
        """Keep a batch the collector refused aside (table ``rejected``), then ack it. False: could not be
        written (full disk); the caller keeps it."""
        try:
            self.db.execute("CREATE TABLE IF NOT EXISTS rejected (seq INTEGER, batch_id TEXT, body BLOB, "
                            "created REAL)")
            self.db.execute("INSERT INTO rejected (seq, batch_id, body, created) VALUES (?, ?, ?, ?)",
                            (seq, batch_id, body, time.time()))
        except sqlite3.Error as exc:
            if not is_full(exc):
                raise
            return False
        if seq >= 0:
            self.ack(seq)
        return True

    def pending(self) -> int:
        n = self.db.execute("SELECT count(*) FROM batches").fetchone()[0]
        return n - len(self.acked)

    def close(self) -> None:
        self.db.close()
