"""Two network namespaces joined by a veth pair, a tcpdump on the server's end, peers run with time limits.
Names carry a caller's prefix and the test's PID; everything is removed in ``close()``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=20, check=check)


class NsPair:
    def __init__(self, prefix: str, server_ip: str, client_ip: str) -> None:
        pid = os.getpid() % 100000
        self.srv, self.cli = f"{prefix}s{pid}", f"{prefix}c{pid}"
        self.vs, self.vc = f"{prefix}vs{pid}"[:15], f"{prefix}vc{pid}"[:15]
        self.server_ip, self.client_ip = server_ip, client_ip
        self.procs: list[subprocess.Popen] = []

    def open(self) -> NsPair:
        sh("ip", "netns", "add", self.srv)
        sh("ip", "netns", "add", self.cli)
        sh("ip", "link", "add", self.vs, "netns", self.srv, "type", "veth", "peer", "name", self.vc, "netns", self.cli)
        for ns, dev, ip in ((self.srv, self.vs, self.server_ip), (self.cli, self.vc, self.client_ip)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        return self

    def capture(self, out: Path, bpf: str) -> None:
        self.procs.append(subprocess.Popen(["ip", "netns", "exec", self.srv, "tcpdump", "--immediate-mode", "-U",
                                            "-n", "-i", self.vs, "-w", str(out), bpf],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.0)                                   # "listening on" comes before the first packet

    def serve(self, code: str, secs: int = 20) -> None:
        self.procs.append(subprocess.Popen(["ip", "netns", "exec", self.srv, "timeout", str(secs), sys.executable,
                                            "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.5)

    def client(self, code: str, secs: int = 15) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.cli, "timeout", str(secs), sys.executable, "-c", code],
                              timeout=secs + 5, capture_output=True, text=True)

    def close(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        sh("ip", "netns", "del", self.srv, check=False)
        sh("ip", "netns", "del", self.cli, check=False)
