"""Replay on a bad day (issue 22): a FIFO or standard input is read once and never hangs; a file is known by
its whole content, so a repaired, cut or extended copy of a file already replayed is refused (exit 3, one
line) instead of being silently ignored or counted twice; a kill -9 of the replay parent takes its workers
with it; the .db file alone holds the inventory after a replay (WAL checkpointed)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import PCAPS, write_pcap
from tests.integration.test_cli import counts, otscope

PLANT = PCAPS / "modbus_plant.pcap"
EXE = str(Path(sys.executable).with_name("otscope"))


def batches(db: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("select sensor, batch_id from applied_batches order by id").fetchall()
    finally:
        con.close()


def record_ends(path: Path) -> list[int]:
    """Byte offsets where each record of a little-endian classic pcap ends."""
    data = path.read_bytes()
    pos, out = 24, []
    while pos + 16 <= len(data):
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
        out.append(pos)
    return out


def test_fifo_is_streamed_once_and_is_the_same_batch_as_the_file(tmp_path: Path) -> None:
    fifo = tmp_path / "cap.fifo"
    os.mkfifo(fifo)
    db = tmp_path / "inv.db"

    def feed() -> None:
        with open(fifo, "wb") as w:
            w.write(PLANT.read_bytes())

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    r = otscope("replay", str(fifo), "--db", f"sqlite:///{db}", "--workers", "2")   # one reader for a FIFO
    t.join(timeout=5)
    assert r.returncode == 0, r.stderr
    via_fifo = counts(db)
    assert via_fifo["assets"] > 0
    r2 = otscope("replay", str(PLANT), "--db", f"sqlite:///{db}")                 # the same content: no double
    assert r2.returncode == 0, r2.stderr
    assert counts(db) == via_fifo and len(batches(db)) == 1


def test_stdin_dash_is_streamed_and_equals_the_file(tmp_path: Path) -> None:
    db1, db2 = tmp_path / "a.db", tmp_path / "b.db"
    with open(PLANT, "rb") as fh:
        r = subprocess.run([EXE, "replay", "-", "--db", f"sqlite:///{db1}"], stdin=fh, capture_output=True,
                           text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert otscope("replay", str(PLANT), "--db", f"sqlite:///{db2}").returncode == 0
    assert counts(db1) == counts(db2)
    assert [b for _s, b in batches(db1)] == [b for _s, b in batches(db2)]


def _refused(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 3, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if "refused" in ln]
    assert len(lines) == 1 and "twice" in lines[0], r.stderr
    return lines[0]


def test_repaired_copy_after_its_corrupt_copy_is_refused_not_ignored_nor_doubled(tmp_path: Path) -> None:
    ends = record_ends(PLANT)
    raw = bytearray(PLANT.read_bytes())
    mid = ends[len(ends) // 2]
    struct.pack_into("<I", raw, mid + 8, 0x7FFFFFFF)                # a record length destroyed mid-file
    corrupt = tmp_path / "corrupt.pcap"
    corrupt.write_bytes(bytes(raw))
    db = tmp_path / "inv.db"
    r1 = otscope("replay", str(corrupt), "--db", f"sqlite:///{db}")
    assert r1.returncode == 1 and f"at byte offset {mid}" in r1.stderr
    before = counts(db)
    line = _refused(otscope("replay", str(PLANT), "--db", f"sqlite:///{db}"))
    assert str(PLANT) in line
    assert counts(db) == before and len(batches(db)) == 1


@pytest.mark.parametrize("order", ["cut-then-whole", "whole-then-cut"])
def test_cut_copy_and_whole_file_never_count_the_overlap_twice(tmp_path: Path, order: str) -> None:
    ends = record_ends(PLANT)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(PLANT.read_bytes()[:ends[len(ends) // 3]])       # a clean prefix: a file that is just shorter
    db = tmp_path / "inv.db"
    one, two = (cut, PLANT) if order == "cut-then-whole" else (PLANT, cut)
    assert otscope("replay", str(one), "--db", f"sqlite:///{db}").returncode == 0
    before = counts(db)
    _refused(otscope("replay", str(two), "--db", f"sqlite:///{db}"))
    assert counts(db) == before and len(batches(db)) == 1


def test_same_file_as_another_sensor_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    assert otscope("replay", str(PLANT), "--db", f"sqlite:///{db}").returncode == 0
    before = counts(db)
    _refused(otscope("replay", str(PLANT), "--db", f"sqlite:///{db}", "--sensor", "other"))
    assert counts(db) == before


def test_unrelated_files_are_both_applied(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    r = otscope("replay", str(PLANT), str(PCAPS / "s7_plant.pcap"), "--db", f"sqlite:///{db}")
    assert r.returncode == 0, r.stderr
    assert len(batches(db)) == 2


def test_identity_covers_the_whole_content(tmp_path: Path) -> None:
    """A byte changed anywhere (here in the middle of a payload, past the first MiB on a larger file) gives
    another batch id; the same bytes give the same id whatever the path."""
    from otscope.agent.pcapio import Identity, read_chunks
    from otscope.agent.replay import batch_id_of

    frames = [bytes([i % 256]) * 1400 for i in range(1600)]           # ~2.3 MB
    a = write_pcap(tmp_path / "a.pcap", frames)
    b = tmp_path / "b.pcap"
    raw = bytearray(a.read_bytes())
    raw[len(raw) // 2] ^= 0xFF                                         # same size, same head, same tail
    b.write_bytes(bytes(raw))
    c = tmp_path / "c.pcap"
    shutil.copy(a, c)

    def ident(p: Path) -> str:
        i = Identity()
        for _ in read_chunks(str(p), i):
            pass
        assert i.size == p.stat().st_size
        return batch_id_of(i)

    ia, ib, ic = ident(a), ident(b), ident(c)
    assert ia == ic and ia != ib
    assert ia.split(":")[1] == ib.split(":")[1]                      # same first packet: the same capture


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_of_the_replay_parent_takes_its_worker_with_it(tmp_path: Path) -> None:
    """The worker reads a FIFO that never ends: without PR_SET_PDEATHSIG it would wait forever."""
    fifo = tmp_path / "never.fifo"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)                                  # a writer that never closes
    os.write(writer, struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    parent = subprocess.Popen([EXE, "replay", str(fifo), "--db", f"sqlite:///{tmp_path}/inv.db"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 20
        while not workers and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = _children(parent.pid)
        assert workers, "the replay forked no worker"
        time.sleep(0.5)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers), "a replay worker outlived its parent"
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
        os.close(writer)
        if parent.poll() is None:
            parent.kill()


def test_the_db_file_alone_is_complete_after_replay(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    assert otscope("replay", str(PLANT), "--db", f"sqlite:///{db}").returncode == 0
    alone = tmp_path / "copy" / "inv.db"
    alone.parent.mkdir()
    shutil.copy(db, alone)              # the .db only, before anything opens the original (a last close would
    alone_counts = counts(alone)        # checkpoint it and hide the fault)
    whole = counts(db)
    assert whole["assets"] > 0 and alone_counts == whole


def test_a_file_replayed_by_the_previous_release_is_not_counted_again(tmp_path: Path) -> None:
    """Upgrade safety: an inventory holding a file under the previous release's id (sha256 of size, first MiB,
    last 64 KiB) takes the same file again as a duplicate."""
    import hashlib
    import os
    import sqlite3
    import subprocess
    import sys

    src = PCAPS / "modbus_plant.pcap"
    size = os.path.getsize(src)
    with open(src, "rb") as fh:
        h = hashlib.sha256(str(size).encode())
        h.update(fh.read(1 << 20))
        if size > (1 << 20):
            fh.seek(max(size - (1 << 16), 1 << 20))
            h.update(fh.read())
    old_id = "file:" + h.hexdigest()[:24]
    db = tmp_path / "old.db"
    exe = str(Path(sys.executable).with_name("otscope"))
    subprocess.run([exe, "replay", str(src), "--db", f"sqlite:///{db}"], check=True, capture_output=True)
    con = sqlite3.connect(db)
    before = con.execute("select sum(packets) from communications").fetchone()[0]
    con.execute("update applied_batches set batch_id = ?", (old_id,))     # as the previous release left it
    con.commit()
    con.close()
    r = subprocess.run([exe, "replay", str(src), "--db", f"sqlite:///{db}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(db)
    assert con.execute("select sum(packets) from communications").fetchone()[0] == before
    assert con.execute("select count(*) from applied_batches").fetchone()[0] == 1
