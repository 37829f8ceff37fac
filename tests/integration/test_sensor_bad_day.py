"""The live sensor on a bad day (issue 22), each in a network namespace the test creates with a veth pair in it
(torn down afterwards, also on failure), bounded to seconds:
- SIGHUP and SIGTERM with --workers N reach every worker through the parent (each reloads its BPF file);
- IPv6 or an address on the capture interface is warned about loudly, and --strict-passive refuses to start;
- a full spool disk (a tmpfs of a few hundred KiB) keeps the sensor capturing and shipping from memory, says so
  in the heartbeat and the log, and spooling resumes when space returns."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                                reason="needs root and iproute2 to build a namespace")
OTSCOPE = str(Path(sys.executable).with_name("otscope"))


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=20)


@pytest.fixture
def netns() -> Iterator[str]:
    """A namespace with a veth pair cap0 <-> peer0, both up, IPv6 left as the kernel sets it (enabled)."""
    ns = f"otg-{uuid.uuid4().hex[:8]}"
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "-n", ns, "link", "add", "cap0", "type", "veth", "peer", "name", "peer0")
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.peer0.disable_ipv6=1")
        for link in ("lo", "cap0", "peer0"):
            sh("ip", "-n", ns, "link", "set", link, "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def silence(ns: str) -> None:
    sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.cap0.disable_ipv6=1")


class Lines:
    """Collects a process's stderr lines in a thread."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        assert proc.stderr is not None
        self.t = threading.Thread(target=lambda: self.lines.extend(iter(proc.stderr.readline, "")), daemon=True)
        self.t.start()

    def wait_for(self, text: str, count: int = 1, timeout: float = 20) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(ln.count(text) for ln in list(self.lines)) >= count:
                return True
            time.sleep(0.05)
        return False


def sensor(ns: str, tmp_path: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", ns, OTSCOPE, "sensor", "-i", "cap0",
                             "--db", f"sqlite:///{tmp_path}/inv.db", "--flush", "0.3", "--sensor", "edge", *extra],
                            stderr=subprocess.PIPE, text=True)


def test_sighup_and_sigterm_reach_every_worker(netns: str, tmp_path: Path) -> None:
    silence(netns)
    bpf = tmp_path / "capture.bpf"
    bpf.write_text("tcp port 502\n")
    p = sensor(netns, tmp_path, "--workers", "2", "--bpf-file", str(bpf), "--spool", str(tmp_path / "spool"),
               "--duration", "60")
    out = Lines(p)
    try:
        assert out.wait_for("receive-only", 2), out.lines
        bpf.write_text("tcp port 502 or udp port 44818\n")
        p.send_signal(signal.SIGHUP)
        assert out.wait_for("reloaded the BPF filter", 2, timeout=10), out.lines
        assert p.poll() is None, "SIGHUP killed the parent"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0, out.lines
        out.t.join(timeout=5)
        # both workers flushed and summed up (two workers share the parent's stderr: a long line of one can
        # interleave with the other's, so count the occurrences, not the lines)
        assert sum(ln.count('"batches_sent"') for ln in out.lines) == 2
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_ipv6_on_the_capture_interface_warns_and_strict_refuses(netns: str, tmp_path: Path) -> None:
    r = subprocess.run(["ip", "netns", "exec", netns, OTSCOPE, "sensor", "-i", "cap0", "--db",
                        f"sqlite:///{tmp_path}/inv.db", "--spool", str(tmp_path / "s"), "--strict-passive",
                        "--duration", "0.5"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "IPv6 is enabled on cap0" in r.stderr, r.stderr
    r = subprocess.run(["ip", "netns", "exec", netns, OTSCOPE, "sensor", "-i", "cap0", "--db",
                        f"sqlite:///{tmp_path}/inv.db", "--spool", str(tmp_path / "s"), "--duration", "0.5"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "WARNING: NOT PASSIVE: IPv6 is enabled on cap0" in r.stderr
    silence(netns)
    sh("ip", "-n", netns, "addr", "add", "198.18.77.1/24", "dev", "cap0")
    r = subprocess.run(["ip", "netns", "exec", netns, OTSCOPE, "sensor", "-i", "cap0", "--db",
                        f"sqlite:///{tmp_path}/inv.db", "--spool", str(tmp_path / "s"), "--strict-passive",
                        "--duration", "0.5"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "198.18.77.1" in r.stderr and "IPv6" not in r.stderr, r.stderr
    sh("ip", "-n", netns, "addr", "flush", "dev", "cap0")
    r = subprocess.run(["ip", "netns", "exec", netns, OTSCOPE, "sensor", "-i", "cap0", "--db",
                        f"sqlite:///{tmp_path}/inv.db", "--spool", str(tmp_path / "s"), "--strict-passive",
                        "--duration", "0.5"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "WARNING" not in r.stderr, r.stderr


def heartbeat(db: Path) -> dict:
    import json

    con = sqlite3.connect(db, timeout=10)
    try:
        row = con.execute("select stats from sensors where name = 'edge'").fetchone()
    finally:
        con.close()
    return json.loads(row[0]) if row else {}


def test_full_spool_disk_keeps_capturing_and_says_so(netns: str, tmp_path: Path) -> None:
    silence(netns)
    small = tmp_path / "small"
    small.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=384k", "tmpfs", str(small))
    p = None
    try:
        p = sensor(netns, tmp_path, "--spool", str(small / "spool"), "--duration", "60")
        out = Lines(p)
        assert out.wait_for("receive-only"), out.lines
        time.sleep(1.0)
        filler = small / "filler"
        with open(filler, "wb", buffering=0) as fh:                       # the disk fills up
            for size in (65536, 4096, 512, 1):
                try:
                    while True:
                        fh.write(b"\0" * size)
                except OSError:
                    pass
        assert out.wait_for("spool disk full", timeout=10), out.lines
        deadline = time.monotonic() + 15
        while heartbeat(tmp_path / "inv.db").get("spool_full") != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        hb = heartbeat(tmp_path / "inv.db")
        assert hb.get("spool_full") == 1, hb                             # shipped from memory, says so
        assert p.poll() is None                                          # still capturing
        filler.unlink()                                                  # space comes back
        assert out.wait_for("space again", timeout=10), out.lines
        deadline = time.monotonic() + 15
        while heartbeat(tmp_path / "inv.db").get("spool_full") != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert heartbeat(tmp_path / "inv.db").get("spool_full") == 0
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0, out.lines
    finally:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        subprocess.run(["umount", "-l", str(small)], capture_output=True, timeout=10)
