"""Event outputs: CEF mapping and escaping, RFC 5424 framing, JSON lines, syslog over UDP/TCP to local receivers,
the bounded on-disk queue (an outage loses nothing, delivery resumes in order), the webhook with retries."""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from otscope.collector import event_outputs as eo
from otscope.collector.service import ingest
from tests.conftest import Inventory
from tests.unit.test_events import T0, _stop, _steady

EVENT = {"id": 7, "kind": "plc-stop", "severity": "high", "time": "2023-11-14T22:14:10.000000Z",
         "first_seen": 1700000050.0, "last_seen": 1700000051.5, "count": 2, "asset_id": 1, "asset": "10.0.0.1",
         "client_id": 2, "client": "EWS|1=x (10.0.0.9)", "protocol": "s7comm", "detail": "PLC stop",
         "message": "S7comm job 0x29: a=b\nnext", "evidence": ["b.pcap#frame 42"], "sensors": ["replay"],
         "technique": "T0858", "technique_name": "Change Operating Mode", "learning": False, "acknowledged": False}


def test_cef_mapping_and_escaping() -> None:
    line = eo.cef(EVENT)
    head = line.split("|")
    assert head[:7] == ["CEF:0", "otscope", "otscope", head[3], "plc-stop", "plc-stop: PLC stop", "8"]
    assert "rt=1700000050000 end=1700000051500 cnt=2 externalId=7 app=s7comm dst=10.0.0.1 dhost=10.0.0.1" in line
    assert "src=10.0.0.9 shost=EWS|1\\=x (10.0.0.9)" in line         # = escaped in extension values
    assert "msg=S7comm job 0x29: a\\=b\\nnext" in line and "\n" not in line
    assert "cs1Label=evidence cs1=b.pcap#frame 42" in line and "cs2=T0858 Change Operating Mode" in line
    hostile = dict(EVENT, kind="config-write", detail="x|y\\z\nw")
    assert "config-write: x\\|y\\\\z w|6|" in eo.cef(dict(hostile, severity="medium"))


def test_rfc5424_framing() -> None:
    msg = eo.rfc5424(EVENT, hostname="sensor one", now=1700000000.25).decode()
    assert re.match(r"^<130>1 2023-11-14T22:13:20\.250000Z sensorone otscope \d+ plc-stop - CEF:0\|", msg), msg


def test_json_lines_from_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "events.jsonl"
    monkeypatch.setenv("OTSCOPE_EVENTS_JSONL", str(out))
    inv = Inventory(f"sqlite:///{tmp_path}/o.db")
    ingest(inv.factory, _steady("file:1:aaa", T0))                 # learning: nothing published
    assert not out.exists() or out.read_text() == ""
    ingest(inv.factory, _stop("file:2:bbb", "replay", 42, T0 + 50, "b.pcap"))
    ingest(inv.factory, _stop("file:3:ccc", "replay", 43, T0 + 55, "b.pcap"))     # joins the event: not again
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(e["kind"], e["evidence"], e["client"]) for e in lines if e["kind"] == "plc-stop"] == \
        [("plc-stop", ["b.pcap#frame 42"], "10.0.0.9")]
    assert sorted(e["kind"] for e in lines) == ["new-asset", "plc-stop"]        # the engineering station is new
    assert not any(e["learning"] for e in lines)


def _udp_receiver() -> tuple[socket.socket, int]:
    sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sk.bind(("127.0.0.1", 0))
    sk.settimeout(5)
    return sk, sk.getsockname()[1]


def test_syslog_udp() -> None:
    sk, port = _udp_receiver()
    try:
        eo.Syslog(f"udp://127.0.0.1:{port}", hostname="h").send([EVENT])
        data, _ = sk.recvfrom(65535)
    finally:
        sk.close()
    assert data.startswith(b"<130>1 ") and b"CEF:0|otscope|otscope|" in data


class _TcpReceiver(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.srv.settimeout(5)
        self.port = self.srv.getsockname()[1]
        self.data = b""

    def run(self) -> None:
        try:
            conn, _ = self.srv.accept()
            conn.settimeout(5)
            with conn:
                while chunk := conn.recv(65536):
                    self.data += chunk
        except OSError:
            pass
        finally:
            self.srv.close()


def _frames(data: bytes) -> list[bytes]:
    """RFC 6587 octet counting: 'LEN SP MSG' repeated."""
    out = []
    while data:
        n, _, rest = data.partition(b" ")
        out.append(rest[: int(n)])
        data = rest[int(n):]
    return out


def test_queue_survives_an_outage_and_delivers_in_order(tmp_path: Path) -> None:
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()                                       # nobody listens: the SIEM is down
    q = eo.DiskQueue(eo.Syslog(f"tcp://127.0.0.1:{port}", hostname="h"), tmp_path / "q", backoff=10)
    q.put([dict(EVENT, id=1)])
    assert q.flush(now=0.0) == 0 and q.pending() == 1 and q.failures == 1
    q.put([dict(EVENT, id=2)])
    assert q.flush(now=5.0) == 0 and q.failures == 1      # backing off: not even tried
    rx = _TcpReceiver()
    q.out = eo.Syslog(f"tcp://127.0.0.1:{rx.port}", hostname="h")
    rx.start()
    assert q.flush(now=11.0) == 2 and q.pending() == 0
    rx.join(10)
    frames = _frames(rx.data)
    assert [re.search(rb"externalId=(\d+)", f).group(1) for f in frames] == [b"1", b"2"]  # type: ignore[union-attr]


def test_queue_is_bounded(tmp_path: Path) -> None:
    class Down:
        def send(self, items):  # type: ignore[no-untyped-def]
            raise OSError("down")
    q = eo.DiskQueue(Down(), tmp_path / "q", max_items=3)
    q.put([dict(EVENT, id=i) for i in range(5)])
    assert q.pending() == 3 and q.dropped == 2
    assert [json.loads(p.read_text())["id"] for p in sorted((tmp_path / "q").glob("*.json"))] == [2, 3, 4]


def test_webhook_retries_until_accepted(tmp_path: Path) -> None:
    got: list[dict] = []
    answers = [500, 200]

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            code = answers.pop(0) if answers else 200
            if code == 200:
                got.append(json.loads(body))
            self.send_response(code)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        q = eo.DiskQueue(eo.Webhook(f"http://127.0.0.1:{srv.server_port}/hook"), tmp_path / "w", backoff=1)
        q.put([EVENT])
        assert q.flush(now=0.0) == 0 and q.pending() == 1            # 500: kept
        assert q.flush(now=0.5) == 0                                  # backoff
        assert q.flush(now=2.0) == 1 and q.pending() == 0
    finally:
        srv.shutdown()
        srv.server_close()
    assert got == [{"data": [EVENT], "count": 1}]


def test_bad_urls_refused() -> None:
    with pytest.raises(ValueError):
        eo.Syslog("http://x")
    with pytest.raises(ValueError):
        eo.Webhook("ftp://x")


def test_tls_syslog_with_an_unreadable_ca_is_an_outage_not_a_crash(tmp_path: Path) -> None:
    """A CA file that cannot be read fails the delivery like a receiver that is down: the queue keeps the event."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        out = eo.Syslog(f"tls://127.0.0.1:{srv.getsockname()[1]}", ca=str(tmp_path / "missing.pem"))
        q = eo.DiskQueue(out, tmp_path / "q")
        q.put([{"id": 1, "kind": "plc-stop", "severity": "high", "first_seen": 1.0, "last_seen": 1.0, "count": 1}])
        assert q.flush(now=0.0) == 0 and q.pending() == 1 and q.failures == 1
    finally:
        srv.close()
