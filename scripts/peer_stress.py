#!/usr/bin/env python3
"""Run one real-peer test file several times while busy loops load the CPUs (a loaded CI machine), and print
each run's result: the check that a peer test does not depend on tcpdump or a server getting a CPU in time.

    sudo .venv/bin/python scripts/peer_stress.py tests/integration/test_http_banner_peer.py --runs 5 --load 2

The busy loops are this script's own children, killed by PID at the end; each run is bounded (--timeout)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BUSY = "while True: pass"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("test", help="a pytest file or node id")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--load", type=int, default=2, help="busy-loop processes for the whole duration")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    args = ap.parse_args()
    burners = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(args.load)]
    failed = 0
    try:
        for i in range(1, args.runs + 1):
            t0 = time.monotonic()
            try:
                r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                    args.test], capture_output=True, text=True, timeout=args.timeout)
                rc, tail = r.returncode, (r.stdout.strip().splitlines() or ["(no output)"])[-1]
            except subprocess.TimeoutExpired:
                rc, tail = -1, f"timed out after {args.timeout} s"
            failed += rc != 0
            took = time.monotonic() - t0
            print(f"run {i}/{args.runs} under {args.load} busy loops: rc={rc} in {took:.1f} s: {tail}", flush=True)
    finally:
        for b in burners:
            b.kill()
            b.wait(timeout=5)
    print(f"{args.runs - failed}/{args.runs} runs passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
