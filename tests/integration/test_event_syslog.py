"""Raised events reach a real syslog receiver: rsyslog (Debian's rsyslogd, started by the test on loopback with
its own configuration, UDP and TCP inputs, writing what it receives to a file); skipped when rsyslogd is absent."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from otscope.collector.service import ingest
from tests.conftest import Inventory
from tests.unit.test_events import T0, _stop, _steady

RSYSLOGD = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)
pytestmark = pytest.mark.skipif(RSYSLOGD is None, reason="rsyslogd not installed (scripts/setup.sh installs it)")


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rsyslog(tmp_path: Path):  # type: ignore[no-untyped-def]
    udp, tcp = _free_port(socket.SOCK_DGRAM), _free_port(socket.SOCK_STREAM)
    out = tmp_path / "received.log"
    conf = tmp_path / "rsyslog.conf"
    (tmp_path / "work").mkdir()
    conf.write_text(f'''
global(workDirectory="{tmp_path}/work")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="raw" type="string" string="%PRI% %APP-NAME% %MSGID% %msg%\\n")
action(type="omfile" file="{out}" template="raw")
''')
    proc = subprocess.Popen([RSYSLOGD, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslog.pid")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:              # ready when its TCP input accepts
            try:
                socket.create_connection(("127.0.0.1", tcp), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"rsyslogd exited: {proc.stdout.read().decode(errors='replace')[:500]}")  # type: ignore[union-attr]
                time.sleep(0.1)
        yield udp, tcp, out
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_lines(path: Path, n: int, timeout: float = 15) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text(errors="replace").splitlines()
            if len(lines) >= n:
                return lines
        time.sleep(0.1)
    return path.read_text(errors="replace").splitlines() if path.exists() else []


@pytest.mark.parametrize("scheme", ["udp", "tcp"])
def test_plc_stop_reaches_rsyslog_as_cef(rsyslog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                         scheme: str) -> None:
    udp, tcp, out = rsyslog
    monkeypatch.setenv("OTSCOPE_SYSLOG", f"{scheme}://127.0.0.1:{udp if scheme == 'udp' else tcp}")
    monkeypatch.setenv("OTSCOPE_EVENTS_QUEUE", str(tmp_path / "queue"))
    inv = Inventory(f"sqlite:///{tmp_path}/s.db")
    ingest(inv.factory, _steady("file:1:aaa", T0))                    # learning: nothing sent
    ingest(inv.factory, _stop("file:2:bbb", "replay", 42, T0 + 50, "b.pcap"))
    lines = _wait_lines(out, 2)
    stop = [x for x in lines if " plc-stop " in x]
    assert len(stop) == 1, lines
    pri, app, msgid, msg = stop[0].split(" ", 3)
    assert (pri, app, msgid) == ("130", "otscope", "plc-stop")
    assert msg.lstrip().startswith("CEF:0|otscope|otscope|") and "|plc-stop|plc-stop: PLC stop|8|" in msg
    assert "src=10.0.0.9" in msg and "dst=10.0.0.1" in msg and "cs1=b.pcap#frame 42" in msg and "T0858" in msg
    assert not any((tmp_path / "queue").rglob("*.json"))               # delivered: nothing left queued
