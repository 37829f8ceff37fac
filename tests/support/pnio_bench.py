"""Per-frame cost of PN-RT cyclic frames in the capture loop: 200k synthetic cyclic frames (two MACs, 0xC001 and
0xC002 every 4 ms) through the Pipeline (no inventory), best of N runs.

    .venv/bin/python -m tests.support.pnio_bench [--frames 200000] [--runs 5]     # this checkout, fresh file
    .venv/bin/python -m tests.support.pnio_bench --write /tmp/cyc200k.pcap         # only write the file
    python tests/support/pnio_bench.py --file /tmp/cyc200k.pcap                      # time a file with any
                                                          # checkout's python (imports nothing but otscope)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def run(path: str) -> float:
    from otscope.agent.pcapio import read_chunks
    from otscope.agent.pipeline import Pipeline

    p = Pipeline()
    p.start_source("bench")
    t0 = time.perf_counter()
    for chunk in read_chunks(path):
        p.feed_chunk(chunk)
    p.cut_batch("bench")
    return time.perf_counter() - t0


def write(path: Path, frames: int) -> str:
    from tests.conftest import write_pcap
    from tests.support.pnio_frames import cyclic_frames

    return str(write_pcap(path, cyclic_frames(frames)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--file", help="time this capture instead of writing one")
    ap.add_argument("--write", help="only write the synthetic capture here")
    a = ap.parse_args()
    if a.write:
        print(write(Path(a.write), a.frames))
        return
    with tempfile.TemporaryDirectory() as d:
        path = a.file or write(Path(d) / "cyclic.pcap", a.frames)
        times = sorted(run(path) for _ in range(a.runs))
    best = times[0]
    print(f"{a.frames} frames: best {best:.3f} s of {a.runs} (median {times[len(times) // 2]:.3f} s), "
          f"{best / a.frames * 1e6:.2f} us/frame, {a.frames / best:,.0f} frames/s")


if __name__ == "__main__":
    main()
