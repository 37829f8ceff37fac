"""tests/support/netns.py itself, in namespaces of its own (prefix ``pt``): a tcpdump that did not get a CPU
while the peers talked (held with SIGSTOP, let go a second later) still writes every packet once
``finish()`` returns, where stopping it at once loses the ones still in the kernel's ring; the wait for a
server's socket returns when it listens and fails clearly when the server exits first. Skipped without root,
iproute2 or tcpdump; bounded (seconds); the namespaces are removed."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from pathlib import Path

import pytest

from otscope.agent.pcapio import read_chunks
from tests.support.netns import NsPair, stop, wait_listening

pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]

SERVER_IP, CLIENT_IP, PORT, N = "10.250.7.10", "10.250.7.20", 5007, 200
SINK = f"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("{SERVER_IP}", {PORT})); time.sleep(20)
"""
SEND = f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range({N}):
    s.sendto(i.to_bytes(2, "big") * 50, ("{SERVER_IP}", {PORT}))
"""


@pytest.fixture
def pair():
    ns = NsPair("pt", SERVER_IP, CLIENT_IP)
    try:
        yield ns.open()
    finally:
        ns.close()


def packets(path: Path) -> int:
    return sum(c.count for c in read_chunks(str(path)))


def held_capture(pair: NsPair, out: Path):  # type: ignore[no-untyped-def]
    """A capture whose tcpdump is stopped (SIGSTOP) while the client sends N datagrams."""
    dump = pair.capture(out, f"udp port {PORT}")
    pair.serve(SINK, udp=(PORT,))
    os.kill(dump.proc.pid, signal.SIGSTOP)
    assert pair.client(SEND).returncode == 0
    return dump


def test_finish_writes_what_a_late_tcpdump_had_not_read_yet(pair: NsPair, tmp_path: Path) -> None:
    dump = held_capture(pair, tmp_path / "late.pcap")
    threading.Timer(1.0, os.kill, (dump.proc.pid, signal.SIGCONT)).start()
    assert dump.finish() == tmp_path / "late.pcap"
    assert dump.proc.returncode is not None                      # stopped and reaped
    assert packets(dump.out) == N
    assert dump.counts is not None and (dump.counts.captured, dump.counts.dropped) == (N, 0)


def test_stopping_at_once_loses_the_ring(pair: NsPair, tmp_path: Path) -> None:
    """The control: SIGTERM and wait (what the fixtures did) while the packets are still in the ring."""
    dump = held_capture(pair, tmp_path / "early.pcap")
    dump.proc.send_signal(signal.SIGTERM)
    os.kill(dump.proc.pid, signal.SIGCONT)
    stop(dump.proc)
    assert packets(dump.out) < N


def test_wait_listening_returns_once_bound_and_fails_when_the_server_exits(pair: NsPair) -> None:
    pair.serve(SINK, udp=(PORT,))
    wait_listening(pair.srv, udp=(PORT,), limit=2)
    with pytest.raises(AssertionError, match="exited"):
        pair.serve("raise SystemExit(3)", tcp=(PORT,))
    with pytest.raises(AssertionError, match=f"did not listen on tcp/{PORT + 1} within 0.5 s"):
        wait_listening(pair.srv, tcp=(PORT + 1,), limit=0.5)
