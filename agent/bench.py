"""Replay benchmark: packets/s and peak RSS of whole `otscope replay` processes, side by side with tshark.

    python -m otscope.agent.bench [FILE] [--runs 5] [--workers 1] [--no-tshark]

Without FILE it generates the reference workload with ../shared/bench/make_mixed_pcap.py (1M packets) into
/tmp/mixed_1m.pcap. Each run is a fresh process writing a fresh SQLite inventory (the whole job: decode,
flows, dissectors, inventory written); the figure is the median of the runs. Peak RSS comes from
wait4()'s rusage of that process (with workers, the largest process).

The machine this runs on is shared and its speed drifts by tens of percent within minutes, so two
references are measured in the same run, interleaved with otscope's runs: tshark's field extraction and a
bare CPython loop that only walks the pcap record headers (the issue's yardstick, ~1.24M packets/s on a
quiet machine). Compare ratios across runs, not raw figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from otscope.agent.pcapio import read_chunks

SHARED_GEN = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "make_mixed_pcap.py"


def count_packets(path: str) -> int:
    return sum(ch.count for ch in read_chunks(path))


def timed(cmd: list[str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, int, int]:
    """(seconds, peak RSS in MiB, exit code) of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if proc.stderr is not None:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


WALK = """
import struct, sys
data = open(sys.argv[1], 'rb').read()
le = data[:4] in (b'\\xd4\\xc3\\xb2\\xa1', b'\\x4d\\x3c\\xb2\\xa1')
rec = struct.Struct('<IIII' if le else '>IIII').unpack_from
pos, end, n = 24, len(data), 0
while pos < end:
    sec, frac, incl, orig = rec(data, pos)
    pos += 16 + incl
    n += 1
"""


def ensure_workload(path: Path, n: int) -> Path:
    if path.exists():
        return path
    if not SHARED_GEN.exists():
        sys.exit(f"bench: {path} is missing and {SHARED_GEN} is not there to make it")
    print(f"bench: generating {n:,} packets into {path} ...", flush=True)
    subprocess.run([sys.executable, str(SHARED_GEN), "-n", str(n), "-o", str(path), "-q"], check=True)
    return path


def tshark_filter() -> str:
    """Wireshark display filter of the OT protocols otscope has a flow dissector for (their spec names are
    Wireshark's protocol names too)."""
    from otscope.dissectors import registry

    return "||".join(str(s.name) for s in registry.specs() if s.ot and s.flows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", help="capture to replay (default: the 1M-packet reference workload)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--packets", type=int, default=1_000_000, help="size of a generated workload")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--dissectors", default="all", help="passed to otscope replay ('none' = the spine alone)")
    args = ap.parse_args(argv)
    path = Path(args.file) if args.file else ensure_workload(Path(f"/tmp/mixed_{args.packets // 1000}k.pcap"),
                                                              args.packets)
    n = count_packets(str(path))
    exe = shutil.which("otscope") or str(Path(sys.executable).with_name("otscope"))
    rows = []
    times, rss, walks = [], [], []
    for i in range(args.runs):
        walks.append(timed([sys.executable, "-c", WALK, str(path)])[0])
        with tempfile.TemporaryDirectory() as d:
            cmd = [exe, "replay", str(path), "--db", f"sqlite:///{d}/bench.db", "--no-progress"]
            cmd += ["--workers", str(args.workers)]           # explicit: the command's default depends on size
            if args.dissectors != "all":
                cmd += ["--dissectors", args.dissectors]
            sec, mib, code = timed(cmd)
        if code != 0:
            print(f"bench: otscope replay failed (exit {code})", file=sys.stderr)
            return 1
        times.append(sec)
        rss.append(mib)
        print(f"  run {i + 1}: {sec:.2f} s  {n / sec:,.0f} packets/s  peak RSS {mib} MiB", flush=True)
    med = statistics.median(times)
    label = f"otscope replay (workers={args.workers}" + (f", dissectors={args.dissectors})" if args.dissectors != "all"
                                                       else ")")
    rows.append((label, n / med, max(rss)))
    rows.append(("bare CPython pcap header walk (reference)", n / statistics.median(walks), 0))
    if not args.no_tshark and shutil.which("tshark"):
        shown = tshark_filter()
        sec, mib, _ = timed(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "ip.src", "-e", "ip.dst",
                             "-Y", shown])
        rows.append((f"tshark -T fields -Y {shown}", n / sec, mib))
    ref = rows[-1][1] if rows[-1][0].startswith("tshark") else None
    print(f"\nfile: {path} ({n:,} packets, {path.stat().st_size / 1e6:.1f} MB); median of {args.runs} run(s)")
    walk = rows[1][1]
    print(f"{'tool':<44} {'packets/s':>12} {'x tshark':>9} {'x walk':>7} {'peak RSS':>9}")
    for name, pps, mib in rows:
        ratio = f"{pps / ref:.1f}x" if ref else "-"
        mem = f"{mib:>6} MiB" if mib else f"{'-':>10}"
        print(f"{name:<44} {pps:>12,.0f} {ratio:>9} {pps / walk:>6.2f}x {mem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
