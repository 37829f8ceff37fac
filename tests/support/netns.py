"""Real peers for the integration tests: a tcpdump that is finished before its file is read, a bounded wait
for a server's listening socket, and two network namespaces joined by a veth pair (``NsPair``) with a capture
on the server's end. Names carry a caller's prefix and the test's PID; everything is removed in ``close()``.

Why ``Tcpdump.finish()`` and not a sleep: with ``-U --immediate-mode`` tcpdump writes each packet when it gets
to read it from the kernel's ring, and on a loaded machine that can be long after the peers are done. Reading
the file then misses the last packets (the SSH banners of test_http_banner_peer did). SIGTERM alone is not
enough either: tcpdump's handler calls pcap_breakloop(), which leaves the packets still in the ring unread
(measured: 0 of 300 written when tcpdump had not run yet). So ``finish()`` asks tcpdump for its counters
(SIGUSR1, tcpdump(8) "print packet counts"), waits until every packet the kernel's filter accepted was
captured or counted as dropped and nothing new came for a short quiet period, then stops it (SIGTERM) and
waits for it to exit: the file is complete and closed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=20, check=check)


def in_ns(ns: str | None, *cmd: str) -> list[str]:
    """``cmd`` run in namespace ``ns`` (``ip netns exec`` execs it: the Popen pid is the command's)."""
    return ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, limit: float = 10.0) -> int | None:
    """Send ``sig`` unless the process has ended, wait for it (bounded), kill it after ``limit`` seconds."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
    try:
        return proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=5)


def wait_listening(ns: str | None, tcp: tuple[int, ...] = (), udp: tuple[int, ...] = (), limit: float = 15.0,
                   proc: subprocess.Popen | None = None) -> None:
    """Every port in ``tcp`` has a listening socket and every port in ``udp`` a bound one in ``ns``
    (``ss -ltnH``, ``ss -lunH``): a loaded machine starts a peer slowly. Fails with a clear message after
    ``limit`` seconds, or at once when ``proc`` (the server) has exited."""
    deadline = time.monotonic() + limit
    missing: list[str] = []
    where = ns or "the root namespace"
    while time.monotonic() < deadline:
        missing = [f"{kind}/{port}" for kind, ports in (("tcp", tcp), ("udp", udp)) if ports
                   for port in ports if port not in _bound(ns, kind)]
        if not missing:
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the peer server in {where} exited ({proc.returncode}) before listening on "
                                 f"{', '.join(missing)}")
        time.sleep(0.1)
    raise AssertionError(f"the peer server in {where} did not listen on {', '.join(missing)} within "
                         f"{limit} s")


def wait_capturing(proc: subprocess.Popen, iface: str, ns: str | None = None, limit: float = 15.0) -> None:
    """``proc`` has a packet socket bound to ``iface`` (``ss -0pH``: ``p_raw ... *:IFACE * users:((.., pid=N``):
    a capturing program (the sensor) sees the port from now on. Fails clearly after ``limit`` seconds or when
    it has exited."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for line in sh(*in_ns(ns, "ss", "-0pH"), check=False).stdout.splitlines():
            cols = line.split()
            if len(cols) > 3 and cols[3].endswith(f":{iface}") and f"pid={proc.pid}," in line:
                return
        if proc.poll() is not None:
            raise AssertionError(f"the capturing process exited ({proc.returncode}) before it opened {iface}")
        time.sleep(0.1)
    raise AssertionError(f"process {proc.pid} did not open a packet socket on {iface} within {limit} s")


def _bound(ns: str | None, kind: str) -> set[int]:
    out = sh(*in_ns(ns, "ss", "-ltnH" if kind == "tcp" else "-lunH"), check=False).stdout
    ports = set()
    for line in out.splitlines():
        cols = line.split()
        if len(cols) > 3 and cols[3].rpartition(":")[2].isdigit():      # State Recv-Q Send-Q Local:Port Peer
            ports.add(int(cols[3].rpartition(":")[2]))
    return ports


# tcpdump.c info(): "N packets captured, M packets received by filter, K packets dropped by kernel", on one
# line when asked with SIGUSR1, one a line at exit
_COUNTS = re.compile(r"(\d+) packets? captured\D+?(\d+) packets? received by filter\D+?"
                     r"(\d+) packets? dropped by kernel")


@dataclass(frozen=True)
class Counts:
    captured: int          # written to the file (tcpdump counts a packet after pcap_dump() and the -U flush)
    received: int          # accepted by the kernel's filter, read or not yet (libpcap pcap_stats ps_recv)
    dropped: int           # the ring was full (ps_drop)


class Tcpdump:
    """``tcpdump -w out`` on ``iface`` (in ``ns``, or the root namespace), its stderr in ``out``.tcpdump.log.
    Started once it says "listening on" (the filter is set: no packet after that is missed); ``finish()``
    before the file is read."""

    def __init__(self, out: Path, iface: str, bpf: str = "", ns: str | None = None,
                 extra: tuple[str, ...] = (), limit: float = 10.0) -> None:
        self.out, self.iface = out, iface
        # -Q: libpcap drops the other direction itself (pcap-linux.c), after the kernel counted it as received
        self.directed = any(a in ("-Q", "--direction") or a.startswith("--direction=") for a in extra)
        self.log = out.with_name(out.name + ".tcpdump.log")
        self.counts: Counts | None = None
        # -B: a 32 MiB ring (the 2 MiB default holds a few dozen frames of the offload-sized snapshot: a burst
        # while tcpdump waits for a CPU would be dropped); -Z root: write the file as root
        cmd = in_ns(ns, "tcpdump", "-i", iface, "--immediate-mode", "-U", "-n", "-B", "32768", "-Z", "root",
                    "-w", str(out), *extra, *([bpf] if bpf else []))
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + limit
        while "listening on" not in self._text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                stop(self.proc)
                raise AssertionError(f"tcpdump on {iface} did not start: {self._text()[-500:]}")
            time.sleep(0.02)

    def _text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _ask(self, limit: float = 2.0) -> Counts | None:
        """tcpdump's counters now (SIGUSR1), or None if it has exited or does not answer within ``limit``."""
        before = len(_COUNTS.findall(self._text()))
        try:
            self.proc.send_signal(signal.SIGUSR1)
        except ProcessLookupError:
            return None
        deadline = time.monotonic() + limit
        while self.proc.poll() is None and time.monotonic() < deadline:
            found = _COUNTS.findall(self._text())
            if len(found) > before:
                return Counts(*map(int, found[-1]))
            time.sleep(0.01)
        return None

    def _caught_up(self, c: Counts) -> bool:
        if self.directed:                     # part of "received" is never captured: only the quiet period tells
            return True
        # on loopback the kernel hands every packet to the socket twice (sent and received) and libpcap drops
        # the outgoing copy itself (pcap-linux.c), so only half of "received" is ever captured there
        received = c.received // 2 if self.iface == "lo" else c.received
        return c.captured + c.dropped >= received

    def finish(self, quiet: float = 0.3, limit: float = 10.0) -> Path:
        """Wait until tcpdump has written every packet the kernel gave it and none came for ``quiet`` seconds
        (longer for a source that hands packets over late: nfnetlink_log batches for a second), bounded by
        ``limit``; stop it and wait for it to exit: then the file is complete. Fails if the kernel dropped
        packets (the ring was full) or tcpdump was still behind when ``limit`` ran out."""
        deadline = time.monotonic() + limit
        last, since = None, time.monotonic()
        while self.proc.poll() is None and time.monotonic() < deadline:
            now = self._ask()
            if now is None:                               # exited, or busy: the loop's condition decides
                continue
            if now != last:
                last, since = now, time.monotonic()
            elif self._caught_up(now) and time.monotonic() - since >= quiet:
                break
            time.sleep(0.05)
        running = self.proc.poll() is None
        behind = running and time.monotonic() >= deadline and not (last and self._caught_up(last))
        stop(self.proc)
        found = _COUNTS.findall(self._text())
        self.counts = Counts(*map(int, found[-1])) if found else last
        if behind or (self.counts is not None and self.counts.dropped):
            raise AssertionError(f"tcpdump on {self.iface} lost packets ({self.counts}, still behind after "
                                 f"{limit} s: {behind}): {self.out} is incomplete")
        return self.out


class NsPair:
    """Namespaces ``{prefix}s{pid}`` (server) and ``{prefix}c{pid}`` (client) joined by a veth pair."""

    def __init__(self, prefix: str, server_ip: str | None, client_ip: str | None, *,
                 server_mac: str | None = None, client_mac: str | None = None, ipv6: bool = True) -> None:
        pid = os.getpid() % 100000
        self.srv, self.cli = f"{prefix}s{pid}", f"{prefix}c{pid}"
        self.vs, self.vc = f"{prefix}vs{pid}"[:15], f"{prefix}vc{pid}"[:15]
        self.server_ip, self.client_ip = server_ip, client_ip
        self.server_mac, self.client_mac = server_mac, client_mac
        self.ipv6 = ipv6
        self.procs: list[subprocess.Popen] = []
        self.dumps: list[Tcpdump] = []

    def open(self) -> NsPair:
        """The namespaces and the veth pair, up; an address on each end (optional: a DHCP client starts
        without one)."""
        sh("ip", "netns", "add", self.srv)
        sh("ip", "netns", "add", self.cli)
        smac = ("address", self.server_mac) if self.server_mac else ()
        cmac = ("address", self.client_mac) if self.client_mac else ()
        sh("ip", "link", "add", self.vs, "netns", self.srv, *smac, "type", "veth", "peer", "name", self.vc,
           "netns", self.cli, *cmac)
        for ns, dev, ip in ((self.srv, self.vs, self.server_ip), (self.cli, self.vc, self.client_ip)):
            if not self.ipv6:
                sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            if ip:
                sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        return self

    def capture(self, out: Path, bpf: str) -> Tcpdump:
        """tcpdump on the server's end of the veth pair, started once it listens."""
        dump = Tcpdump(out, self.vs, bpf, ns=self.srv)
        self.dumps.append(dump)
        self.procs.append(dump.proc)          # as before: a caller that pops the last process gets the tcpdump
        return dump

    def finish_capture(self, **kw: float) -> None:
        """Every capture of this pair finished (``Tcpdump.finish``): read their files after this."""
        for dump in self.dumps:
            dump.finish(**kw)

    def serve(self, code: str | None = None, secs: int = 20, *, tcp: tuple[int, ...] = (),
              udp: tuple[int, ...] = (), argv: tuple[str, ...] = (), cwd: Path | str | None = None,
              log: Path | None = None, limit: float = 15.0) -> subprocess.Popen:
        """Run a server in the server's namespace (``python -c code *argv``, or ``argv`` as a command when
        ``code`` is None) for at most ``secs`` seconds; return once it listens on every ``tcp`` and ``udp``
        port (after a fixed 1.5 s when none is given)."""
        cmd = [sys.executable, "-c", code, *argv] if code is not None else list(argv)
        out = log.open("wb") if log else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(in_ns(self.srv, "timeout", str(secs), *cmd), cwd=cwd, stdout=out,
                                    stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
        finally:
            if log:
                out.close()
        self.procs.append(proc)
        if tcp or udp:
            wait_listening(self.srv, tcp, udp, limit=limit, proc=proc)
        else:                                 # nothing to wait on: the fixed wait of old (give it tcp= or udp=)
            time.sleep(1.5)
        return proc

    def client(self, code: str | None, secs: int = 15, *, argv: tuple[str, ...] = (),
               cwd: Path | str | None = None) -> subprocess.CompletedProcess:
        """Run a client in the client's namespace (``python -c code *argv``, or ``argv`` as a command when
        ``code`` is None) to its end, for at most ``secs`` seconds; its output as text."""
        cmd = [sys.executable, "-c", code, *argv] if code is not None else list(argv)
        return subprocess.run(in_ns(self.cli, "timeout", str(secs), *cmd), timeout=secs + 5,
                              capture_output=True, text=True, cwd=cwd)

    def close(self) -> None:
        """Every capture and process started stopped by PID (a capture not finished is cut), the namespaces
        removed."""
        for dump in self.dumps:
            if dump.proc.poll() is None:
                stop(dump.proc)
        for p in reversed(self.procs):
            stop(p)
        sh("ip", "netns", "del", self.srv, check=False)
        sh("ip", "netns", "del", self.cli, check=False)
