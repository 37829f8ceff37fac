"""The sensor's spool and shipper: nothing is lost across a collector outage or a sensor restart, and
nothing is sent twice once acknowledged."""

from __future__ import annotations

from pathlib import Path

from otscope.agent.sensor import Shipper
from otscope.agent.spool import Spool


class FlakyCollector:
    def __init__(self) -> None:
        self.up = False
        self.applied: dict[bytes, int] = {}

    def send(self, body: bytes) -> int:
        if not self.up:
            raise ConnectionRefusedError("collector down")
        self.applied[body] = self.applied.get(body, 0) + 1
        return 200


def test_outage_then_restart_loses_nothing(tmp_path: Path) -> None:
    col = FlakyCollector()
    spool = Spool(tmp_path / "s.db")
    for i in range(5):
        spool.put(f"b{spool.next_seq()}", f"batch {i}".encode())
    sh = Shipper(spool, col.send)
    sh.ship(deadline=1e18)
    assert spool.pending() == 5 and sh.failures == 1 and sh.retry_at > 0   # backs off, keeps everything
    spool.close()                                                         # the sensor dies here

    spool = Spool(tmp_path / "s.db")                                      # ... and starts again
    assert spool.pending() == 5
    assert spool.next_seq() == 6                                           # batch ids never repeat
    col.up = True
    sh = Shipper(spool, col.send)
    sh.ship(deadline=1e18)
    assert spool.pending() == 0
    assert sorted(col.applied) == [f"batch {i}".encode() for i in range(5)]
    assert set(col.applied.values()) == {1}


def test_refused_batch_is_kept_aside_not_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.put("bad", b"{}")
    spool.put("good", b"ok")
    sent = []
    sh = Shipper(spool, lambda body: 422 if body == b"{}" else (sent.append(body), 200)[1])
    sh.ship(deadline=1e18)
    assert sent == [b"ok"] and spool.pending() == 0
    assert spool.db.execute("select batch_id from rejected").fetchall() == [("bad",)]
