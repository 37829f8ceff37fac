"""Live capture benchmark: the highest replay rate the sensor takes with 0 kernel drops.

    python -m otscope.agent.live_bench [--pcap FILE] [--rates 50000,100000,...] [--seconds 5] [--workers 1,2]

A veth pair joins a generator namespace (tcpreplay --pps) to a capture interface in the root namespace (no
address, IPv6 off on that interface only). For each worker count and rate, a fresh sensor captures while
tcpreplay sends, writing into a throwaway SQLite file; its final report gives the kernel drop counter
(PACKET_STATISTICS) and the frames received. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OTSCOPE = str(Path(sys.executable).with_name("otscope"))


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)


def run_once(iface: str, gen_ns: str, pcap: Path, rate: int, seconds: float, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        sensor = subprocess.Popen([OTSCOPE, "sensor", "-i", iface, "--db", f"sqlite:///{d}/b.db", "--spool",
                                   f"{d}/spool", "--flush", "2", "--workers", str(workers),
                                   "--duration", str(seconds + 4)], stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        n = int(rate * seconds)
        t0 = time.perf_counter()
        sh("ip", "netns", "exec", gen_ns, "tcpreplay", "-q", "-i", "gen0", f"--pps={rate}", f"--limit={n}",
           "--loop=0", str(pcap))
        sent_s = time.perf_counter() - t0
        _, err = sensor.communicate(timeout=120)
    reports = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    if len(reports) != workers:
        print(err[-2000:], file=sys.stderr)
    return {"rate": rate, "workers": workers, "sent": n, "send_seconds": round(sent_s, 2),
            "received": sum(r["packets"] for r in reports), "kernel_drops": sum(r["kernel_drops"] for r in reports)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pcap", default="/tmp/mixed_100k.pcap")
    ap.add_argument("--rates", default="50000,100000,150000,200000,250000")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("live_bench needs root (namespaces, tcpreplay)")
    pcap = Path(args.pcap)
    if not pcap.exists():
        gen = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "make_mixed_pcap.py"
        subprocess.run([sys.executable, str(gen), "-n", "100000", "-o", str(pcap), "-q"], check=True)
    gen_ns, iface = f"otb{os.getpid() % 10000}", f"otb{os.getpid() % 10000}c"
    try:
        sh("ip", "netns", "add", gen_ns)
        sh("ip", "link", "add", "gen0", "netns", gen_ns, "type", "veth", "peer", "name", iface)
        sh("ip", "netns", "exec", gen_ns, "sysctl", "-qw", "net.ipv6.conf.gen0.disable_ipv6=1")
        sh("sysctl", "-qw", f"net.ipv6.conf.{iface}.disable_ipv6=1")
        sh("ip", "-n", gen_ns, "link", "set", "gen0", "up")
        sh("ip", "link", "set", iface, "up")
        print(f"{'workers':>7} {'rate pps':>9} {'sent':>8} {'received':>9} {'kernel drops':>12}")
        best: dict[int, int] = {}
        for w in (int(x) for x in args.workers.split(",")):
            for rate in (int(x) for x in args.rates.split(",")):
                r = run_once(iface, gen_ns, pcap, rate, args.seconds, w)
                print(f"{w:>7} {rate:>9,} {r['sent']:>8,} {r['received']:>9,} {r['kernel_drops']:>12,}"
                      f"   (tcpreplay took {r['send_seconds']} s)", flush=True)
                if r["kernel_drops"] == 0 and r["received"] >= r["sent"]:
                    best[w] = rate
        for w, rate in sorted(best.items()):
            print(f"workers={w}: highest rate with 0 kernel drops: {rate:,} packets/s")
    finally:
        sh("ip", "netns", "del", gen_ns, check=False)
        sh("ip", "link", "del", iface, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
