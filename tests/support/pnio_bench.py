"""Per-frame cost of PN-RT cyclic frames in the capture loop: 200k synthetic cyclic frames through the Pipeline
(no inventory), best of N runs.

    .venv/bin/python -m tests.support.pnio_bench [--frames 200000] [--runs 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from otscope.agent.pcapio import read_chunks
from otscope.agent.pipeline import Pipeline
from tests.conftest import write_pcap
from tests.support.pnio_frames import cyclic_frames


def run(path: str) -> float:
    p = Pipeline()
    p.start_source("bench")
    t0 = time.perf_counter()
    for chunk in read_chunks(path):
        p.feed_chunk(chunk)
    p.cut_batch("bench")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = str(write_pcap(Path(d) / "cyclic.pcap", cyclic_frames(a.frames)))
        times = sorted(run(path) for _ in range(a.runs))
    best = times[0]
    print(f"{a.frames} PN-RT cyclic frames: best {best:.3f} s of {a.runs} (median {times[len(times) // 2]:.3f} s), "
          f"{best / a.frames * 1e6:.2f} us/frame, {a.frames / best:,.0f} frames/s")


if __name__ == "__main__":
    main()
