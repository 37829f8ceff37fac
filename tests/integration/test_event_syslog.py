"""Raised events reach a real syslog receiver: rsyslog (Debian's rsyslogd, started by the test on loopback with
its own configuration, UDP and TCP inputs, writing what it receives to a file); skipped when rsyslogd is absent."""

from __future__ import annotations

import json
import re
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


# --- TLS (RFC 5425) with a certificate the test makes, and the disk queue across a receiver outage --------------

OSSL = any(Path(p).exists() for p in ("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so",
                                      "/usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_ossl.so"))


def _self_signed(d: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (IP and DNS subjectAltName), made here with `cryptography`."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "otscope-test-syslog")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crt, pem = d / "syslog.crt", d / "syslog.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


class TlsReceiver:
    """rsyslogd with a TLS input (the ossl network stream driver, anonymous client auth) on loopback, writing
    what it receives to a file; stopped and started again on the same port for the outage."""

    def __init__(self, d: Path) -> None:
        self.dir, self.port, self.out = d, _free_port(socket.SOCK_STREAM), d / "received-tls.log"
        self.crt, key = _self_signed(d)
        (d / "work").mkdir(exist_ok=True)
        self.conf = d / "rsyslog-tls.conf"
        self.conf.write_text(f'''
global(workDirectory="{d}/work" defaultNetstreamDriver="ossl" defaultNetstreamDriverCAFile="{self.crt}"
       defaultNetstreamDriverCertFile="{self.crt}" defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="{self.port}")
template(name="raw" type="string" string="%PRI% %APP-NAME% %MSGID% %msg%\\n")
action(type="omfile" file="{self.out}" template="raw")
''')
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.dir / "tls.pid")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    pytest.fail(f"rsyslogd exited: {self.proc.stdout.read().decode(errors='replace')[:500]}")  # type: ignore[union-attr]
                time.sleep(0.1)
        pytest.fail("rsyslogd TLS input did not open")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture
def tls_receiver(tmp_path: Path):  # type: ignore[no-untyped-def]
    if not OSSL:
        pytest.skip("rsyslog's TLS driver lmnsd_ossl is not installed (scripts/setup.sh installs rsyslog-openssl)")
    pytest.importorskip("cryptography")
    r = TlsReceiver(tmp_path)
    r.start()
    try:
        yield r
    finally:
        r.stop()


def _stops(lines: list[str]) -> list[str]:
    return [x for x in lines if " plc-stop " in x]


def _external_ids(lines: list[str]) -> list[str]:
    return [x.split("externalId=", 1)[1].split(" ", 1)[0] for x in _stops(lines)]


def test_tls_syslog_to_rsyslog_with_a_self_signed_certificate(tls_receiver: TlsReceiver, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTSCOPE_SYSLOG", f"tls://127.0.0.1:{tls_receiver.port}")
    monkeypatch.setenv("OTSCOPE_SYSLOG_CA", str(tls_receiver.crt))
    monkeypatch.setenv("OTSCOPE_EVENTS_QUEUE", str(tmp_path / "queue"))
    inv = Inventory(f"sqlite:///{tmp_path}/t.db")
    ingest(inv.factory, _steady("file:1:aaa", T0))
    ingest(inv.factory, _stop("file:2:bbb", "replay", 42, T0 + 50, "b.pcap"))
    stop = _stops(_wait_lines(tls_receiver.out, 1))
    assert len(stop) == 1, stop
    pri, app, msgid, msg = stop[0].split(" ", 3)
    assert (pri, app, msgid) == ("130", "otscope", "plc-stop")
    assert msg.lstrip().startswith("CEF:0|otscope|otscope|") and "cs1=b.pcap#frame 42" in msg
    assert not any((tmp_path / "queue").rglob("*.json"))


def test_tls_syslog_refuses_a_receiver_it_cannot_verify(tls_receiver: TlsReceiver, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the receiver's certificate as CA the handshake fails: the event stays queued, nothing is sent
    in clear, and ingest goes on."""
    monkeypatch.setenv("OTSCOPE_SYSLOG", f"tls://127.0.0.1:{tls_receiver.port}")
    monkeypatch.delenv("OTSCOPE_SYSLOG_CA", raising=False)
    monkeypatch.setenv("OTSCOPE_EVENTS_QUEUE", str(tmp_path / "queue"))
    inv = Inventory(f"sqlite:///{tmp_path}/u.db")
    ingest(inv.factory, _steady("file:1:aaa", T0))
    res = ingest(inv.factory, _stop("file:2:bbb", "replay", 42, T0 + 50, "b.pcap"))
    assert res.status == "applied"
    queued = [json.loads(f.read_text()) for f in sorted((tmp_path / "queue" / "syslog").glob("*.json"))]
    raised = [e for e in res.events if not e.learning]
    assert [e["id"] for e in queued] == [e.id for e in raised] and "plc-stop" in [e["kind"] for e in queued]
    time.sleep(1.0)
    assert _wait_lines(tls_receiver.out, 1, timeout=1) == []          # nothing got through unverified


def test_disk_queue_across_a_tls_receiver_outage_loses_and_doubles_nothing(
        tls_receiver: TlsReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One stop is delivered; the receiver goes down; three more stops are raised and queued on disk (ingest
    never waits on the SIEM); the receiver comes back on the same port; the next publish delivers the three in
    order. rsyslog then holds each of the four events exactly once."""
    from otscope.collector import event_outputs

    queue = tmp_path / "queue"
    monkeypatch.setenv("OTSCOPE_SYSLOG", f"tls://127.0.0.1:{tls_receiver.port}")
    monkeypatch.setenv("OTSCOPE_SYSLOG_CA", str(tls_receiver.crt))
    monkeypatch.setenv("OTSCOPE_EVENTS_QUEUE", str(queue))
    inv = Inventory(f"sqlite:///{tmp_path}/o.db")
    ingest(inv.factory, _steady("file:1:aaa", T0))
    ingest(inv.factory, _stop("file:2:b", "replay", 10, T0 + 50, "b.pcap"))
    assert len(_stops(_wait_lines(tls_receiver.out, 1))) == 1
    tls_receiver.stop()
    for i in range(3):               # later than the window: three more stops, three more events
        res = ingest(inv.factory, _stop(f"file:3:c{i}", "replay", 20 + i, T0 + 50 + 1000 * (i + 1), f"c{i}.pcap"))
        assert res.status == "applied" and len(res.events) == 1
    pending = sorted((queue / "syslog").glob("*.json"))
    assert len(pending) == 3
    q = event_outputs.from_env().queues[0]
    assert q.failures >= 1
    tls_receiver.start()
    deadline = time.monotonic() + 20
    while q.pending() and time.monotonic() < deadline:     # the backoff runs out, the next publish delivers
        event_outputs.from_env().publish([])
        time.sleep(0.2)
    assert q.pending() == 0
    deadline = time.monotonic() + 15
    while len(_stops(lines := _wait_lines(tls_receiver.out, 1))) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)                                           # a fifth (doubled) line would be written by now
    lines = _wait_lines(tls_receiver.out, 1)
    ids = _external_ids(lines)
    assert len(ids) == 4 and len(set(ids)) == 4, lines       # nothing lost, nothing doubled
    assert [re.search(r"cs1=(\S+#frame \d+)", x).group(1) for x in _stops(lines)] == \
        ["b.pcap#frame 10", "c0.pcap#frame 20", "c1.pcap#frame 21", "c2.pcap#frame 22"]   # in order
