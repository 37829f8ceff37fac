"""A/B the whole `otscope replay` of one file between checkouts, alternating runs (a drifting, shared machine
hits both sides alike): CPU (user+sys of the replay and its workers) and wall time, median and min.

    python3 scripts/bench_ab.py FILE RUNS NAME=CHECKOUT [NAME=CHECKOUT ...]
    e.g. python3 scripts/bench_ab.py /tmp/mixed_1m.pcap 10 old=/tmp/old new=.

Each checkout needs its own set-up (bash scripts/setup.sh). Every run replays into a fresh SQLite file.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__)
        return 2
    path, runs = argv[0], int(argv[1])
    sides = dict(a.split("=", 1) for a in argv[2:])
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    wall: dict[str, list[float]] = {k: [] for k in sides}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(max(1, min(runs, 100))):
            for name, checkout in sides.items():
                db = os.path.join(d, f"{name}.db")
                for ext in ("", "-wal", "-shm"):
                    if os.path.exists(db + ext):
                        os.remove(db + ext)
                exe = os.path.join(os.path.abspath(checkout), ".venv", "bin", "otscope")
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                subprocess.run([exe, "replay", path, "--db", f"sqlite:///{db}"], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
                wall[name].append(time.perf_counter() - t)
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[name].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    for name in sides:
        print(f"{name:>8}: cpu median {statistics.median(cpu[name]):.3f} s (min {min(cpu[name]):.3f}), "
              f"wall median {statistics.median(wall[name]):.3f} s (min {min(wall[name]):.3f}), n={len(cpu[name])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
