"""The capture pipeline alone (no process start-up, no database) on one file, with sets of dissectors: CPU time
(time.process_time) per set, min and median of RUNS, the sets interleaved (a drifting machine hits all alike).

    .venv/bin/python scripts/bench_pipeline.py FILE [RUNS]
    e.g. .venv/bin/python scripts/bench_pipeline.py /tmp/mixed_1m.pcap 3

Sets: every dissector; none (the spine: decode, flows, hosts, L2); the OT protocols of the reference workload;
those plus HTTP, plus TLS; every dissector but the IT identity ones. Also prints the peek memo's counts
(flows and events C counted against a memo) of the last full run.
"""

from __future__ import annotations

import statistics
import sys
import time

from otscope.agent.pcapio import read_chunks
from otscope.agent.pipeline import Pipeline
from otscope.dissectors import registry

OT = {"modbus", "enip", "enip-io", "s7comm"}
IT = {"http", "tls", "snmp", "nbns", "mdns", "llmnr", "ssdp", "browser", "dhcpv6", "smb", "ssh", "ftp", "smtp",
      "telnet"}


def run(path: str) -> tuple[float, Pipeline]:
    t = time.process_time()
    p = Pipeline()
    p.start_source(path.rsplit("/", 1)[-1])
    for chunk in read_chunks(path):
        p.feed_chunk(chunk)
    p.cut_batch("bench")
    return time.process_time() - t, p


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    path, runs = argv[0], int(argv[1]) if len(argv) > 1 else 3
    every = set(registry.names())
    sets: dict[str, set[str] | None] = {"all": None, "none": set(), "ot": OT, "ot+http": OT | {"http"},
                                        "ot+tls": OT | {"tls"}, "all-it": every - IT}
    times: dict[str, list[float]] = {k: [] for k in sets}
    last = None
    for _ in range(max(1, runs)):
        for name, enabled in sets.items():
            registry.enable(enabled)
            dt, p = run(path)
            times[name].append(dt)
            if name == "all":
                last = p
    registry.enable(None)
    for name, v in times.items():
        print(f"{name:>8}: cpu min {min(v):.3f} s, median {statistics.median(v):.3f} s, n={len(v)}")
    if last is not None and last.fast is not None:
        whole, events = last.fast.memo_counts()
        print(f"peek memo: {whole} flows matched whole, {events} events matched")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
