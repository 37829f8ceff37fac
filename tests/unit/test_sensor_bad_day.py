"""The sensor on a bad day (issue 22): a full spool disk, a locked or unreachable --db, a collector that answers
413, 422 or 500. Each test is bounded (seconds) and needs no capture interface. The full disk is a real one: a
tmpfs of a few hundred KiB mounted for the test (root), else an injected SQLITE_FULL."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otscope.agent.batches import split
from otscope.agent.sensor import DbSender, HttpSender, Outcome, Shipper
from otscope.agent.spool import Spool, SpoolFull
from otscope.contract import Batch, Evidence, FactObs, HostObs, Subject, batch_from_json


def make_batch(batch_id: str, n: int, pad: int = 0) -> Batch:
    b = Batch(sensor="edge", batch_id=batch_id, stats={"packets": n})
    for i in range(n):
        sub = Subject(1, f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}")
        b.hosts.append(HostObs(sub, True, 1.7e9, 1.7e9 + 1))
        b.facts.append(FactObs(sub, "name", ("x" * pad) or f"h{i}", "dhcp", "m", Evidence("sensor:edge", None, 1.7e9),
                               1.7e9, 1.7e9))
    return b


# --- a real small filesystem -----------------------------------------------------------------------------

@contextlib.contextmanager
def small_fs(tmp_path: Path, kib: int = 512) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(mnt)], check=True, timeout=10)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, timeout=10)


def fill(where: Path, name: str = "filler") -> Path:
    """Fill the filesystem to the last byte."""
    filler = where / name
    with open(filler, "wb", buffering=0) as fh:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError:
                pass
    return filler


class Collector:
    def __init__(self) -> None:
        self.up = True
        self.got: list[str] = []

    def send(self, body: bytes) -> int:
        if not self.up:
            raise ConnectionRefusedError("collector down")
        self.got.append(json.loads(body)["batch_id"])
        return 200


def test_full_disk_keeps_batches_in_memory_and_resumes(tmp_path: Path) -> None:
    with small_fs(tmp_path) as mnt:
        spool = Spool(mnt / "spool.db", reserve=64 << 10)
        col = Collector()
        logs: list[str] = []
        sh = Shipper(spool, col.send, log=logs.append)
        spool.put("b0", make_batch("b0", 5).to_json().encode())          # one batch on disk before it fills
        filler = fill(mnt)
        with pytest.raises(SpoolFull):
            spool.put("x", b"y" * 200_000)
        seq = spool.next_seq()                                           # the counter still counts
        assert spool.next_seq() == seq + 1
        for i in (1, 2):
            body = make_batch(f"b{i}", 50).to_json().encode()
            sh.hold(f"b{i}", body)
            sh.spool_held()
        assert len(sh.held) == 2 and sh.full_since is not None           # nothing lost: kept in memory
        assert any("disk full" in m and "in memory" in m for m in logs)
        col.up = False
        sh.ship(time.monotonic() + 5)
        assert len(sh.held) == 2 and spool.pending() == 1                # collector down: still kept
        col.up = True
        sh.retry_at = 0
        sh.ship(time.monotonic() + 5)                                    # the ack of b0 needs no free space
        assert col.got == ["b0", "b1", "b2"] and not sh.held and spool.pending() == 0
        filler2 = fill(mnt, "filler2")                                        # the freed reserve is used up again
        sh.hold("b3", make_batch("b3", 50).to_json().encode())
        sh.spool_held()
        assert len(sh.held) == 1
        filler.unlink()                                                  # space comes back
        filler2.unlink()
        sh.spool_held()
        assert not sh.held and spool.pending() == 1 and sh.full_since is None
        assert any("space again" in m for m in logs)
        spool.close()


def test_ack_on_a_full_disk_never_fails_even_after_a_restart(tmp_path: Path) -> None:
    """Before: the sensor crash-looped at spool.ack after every restart on a full disk."""
    with small_fs(tmp_path) as mnt:
        spool = Spool(mnt / "spool.db", reserve=0)                       # not even a reserve to free
        for i in range(3):
            spool.put(f"b{i}", make_batch(f"b{i}", 20).to_json().encode())
        spool.close()
        fill(mnt)
        spool = Spool(mnt / "spool.db", reserve=0)                       # the restart
        col = Collector()
        Shipper(spool, col.send).ship(time.monotonic() + 5)
        assert col.got == ["b0", "b1", "b2"] and spool.pending() == 0
        spool.close()


def test_injected_sqlite_full_is_a_spool_full(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")

    class Full:
        def execute(self, sql: str, *a: object) -> object:
            if sql.startswith(("INSERT", "DELETE")):
                raise sqlite3.OperationalError("database or disk is full")
            return spool_db.execute(sql, *a)

    spool_db = spool.db
    spool.db = Full()  # type: ignore[assignment]
    with pytest.raises(SpoolFull):
        spool.put("a", b"b")
    spool.ack(1)                                                          # remembered, no exception
    assert spool.acked == {1}
    spool.db = spool_db
    spool.put("c", b"d")                                                  # space back: the delete is written
    assert spool.acked == set()


# --- a collector that refuses ----------------------------------------------------------------------------

class Refusing(http.server.BaseHTTPRequestHandler):
    limit = 60_000
    seen: list[tuple[int, str]] = []
    fail_5xx = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        n = int(self.headers["Content-Length"])
        body = self.rfile.read(n)
        bid = json.loads(body)["batch_id"]
        if Refusing.fail_5xx:
            Refusing.fail_5xx -= 1
            code = 500
        elif n > self.limit:
            code = 413
        elif b'"invalid"' in body:
            code = 422
        else:
            code = 200
        Refusing.seen.append((code, bid))
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"detail": "no" if code != 200 else "ok"}).encode())

    def log_message(self, *a: object) -> None:
        pass


@pytest.fixture
def refusing() -> Iterator[str]:
    Refusing.seen = []
    Refusing.fail_5xx = 0
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_413_splits_instead_of_wedging_the_spool(tmp_path: Path, refusing: str) -> None:
    spool = Spool(tmp_path / "s.db")
    big = make_batch("big", 600).to_json().encode()                       # ~150 KB: over the 60 KB limit
    spool.put("big", big)
    spool.put("next", make_batch("next", 3).to_json().encode())
    logs: list[str] = []
    sh = Shipper(spool, HttpSender(refusing, None), log=logs.append)
    sh.ship(time.monotonic() + 20)
    assert spool.pending() == 0                                           # not wedged at its oldest batch
    ok = sorted(b for c, b in Refusing.seen if c == 200)
    assert "next" in ok and all(b == "next" or b.startswith("big.") for b in ok)
    assert any("too large" in m for m in logs)
    assert len(ok) == len(set(ok))                                        # every part sent once, ids unique
    # the halves together hold exactly the batch's observations
    assert sum(1 for c, b in Refusing.seen if c == 200 and b != "next") >= 4


def test_422_is_quarantined_500_is_retried(tmp_path: Path, refusing: str) -> None:
    spool = Spool(tmp_path / "s.db")
    bad = make_batch("bad", 1)
    bad.facts[0].value = "invalid"
    spool.put("bad", bad.to_json().encode())
    spool.put("good", make_batch("good", 1).to_json().encode())
    logs: list[str] = []
    Refusing.fail_5xx = 1
    sh = Shipper(spool, HttpSender(refusing, None), log=logs.append)
    sh.ship(time.monotonic() + 5)
    assert spool.pending() == 2 and sh.retry_at > time.monotonic()        # 500: retried later, nothing dropped
    sh.retry_at = 0
    sh.ship(time.monotonic() + 5)
    assert spool.pending() == 0
    assert spool.db.execute("select batch_id from rejected").fetchall() == [("bad",)]
    line = next(m for m in logs if "rejected batch bad" in m)
    assert "HTTP 422" in line and "\n" not in line
    assert [b for c, b in Refusing.seen if c == 200] == ["good"]


def test_auth_errors_are_retried_not_quarantined(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.put("a", b"{}")
    sh = Shipper(spool, lambda body: 401)
    sh.ship(time.monotonic() + 5)
    assert spool.pending() == 1 and sh.failures == 1


def test_flush_cuts_a_large_window_into_parts_under_the_limit() -> None:
    b = make_batch("edge:boot:0:7", 2000, pad=40)
    parts = split(b, max_bytes=50_000)
    assert len(parts) > 1 and all(len(body) <= 50_000 for _id, body in parts)
    assert [pid for pid, _ in parts] == [f"edge:boot:0:7.{i}" for i in range(1, len(parts) + 1)]
    assert split(b, max_bytes=50_000) == parts                            # deterministic: same ids, same bodies
    back = [batch_from_json(body) for _id, body in parts]
    assert sum(len(p.hosts) for p in back) == 2000 and sum(len(p.facts) for p in back) == 2000
    assert all(p.stats == b.stats for p in back)
    assert split(make_batch("small", 3)) == [("small", make_batch("small", 3).to_json().encode())]


# --- --db mode: locked or unreachable --------------------------------------------------------------------

def test_db_mode_locked_database_is_retried_not_fatal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/inv.db"
    send = DbSender(url)
    assert send(make_batch("warm", 1).to_json().encode()) == 200
    locker = sqlite3.connect(tmp_path / "inv.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    spool = Spool(tmp_path / "s.db")
    spool.put("b1", make_batch("b1", 2).to_json().encode())
    sh = Shipper(spool, send)
    t0 = time.monotonic()
    sh.ship(time.monotonic() + 1)
    assert spool.pending() == 1 and sh.failures == 1 and time.monotonic() - t0 < 10
    assert "locked" in sh.last_error
    locker.execute("ROLLBACK")
    sh.retry_at = 0
    sh.ship(time.monotonic() + 5)
    assert spool.pending() == 0


def test_db_mode_unreachable_database_is_retried_not_fatal(tmp_path: Path) -> None:
    where = tmp_path / "later"
    send = DbSender(f"sqlite:///{where}/inv.db")                          # its directory does not exist yet
    spool = Spool(tmp_path / "s.db")
    spool.put("b1", make_batch("b1", 2).to_json().encode())
    sh = Shipper(spool, send)
    sh.ship(time.monotonic() + 1)
    assert spool.pending() == 1 and sh.failures == 1
    where.mkdir()
    sh.retry_at = 0
    sh.ship(time.monotonic() + 5)
    assert spool.pending() == 0


def test_outcomes_are_typed() -> None:
    assert {o.value for o in Outcome} == {"delivered", "rejected", "retry"}
