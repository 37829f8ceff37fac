"""API latency benchmark: /assets and /coverage on an inventory of 10,000 assets and 100,000 communications.

    python -m otscope.api.bench [--assets 10000] [--comms 100000] [--requests 100]

Builds the inventory in a temporary SQLite file (or --db URL), serves it with uvicorn in a child process,
and times real HTTP requests from this process; prints p50/p95/max per endpoint (cold = first request).
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from otscope.collector.db import init_schema, make_engine
from otscope.collector.models import Address, Asset, Communication, Fact, TrafficStat
from otscope.dissectors import registry

# the benchmark inventory speaks the first registered OT protocol with a flow dissector
_SPEC = next(s for s in registry.specs() if s.ot and s.flows)
_PROTO, _PORT = str(_SPEC.name), _SPEC.flows[0].ports[0]
_CLIENT, _SERVER = (next(lb for lb in _SPEC.labels if lb.endswith(end)) for end in ("-client", "-server"))

VENDORS = ["Siemens", "Rockwell Automation/Allen-Bradley", "Schneider Electric", "WAGO", "Moxa", None]
ROLES = ["plc", "hmi-scada", "io-device", "engineering-workstation", "gateway", "it-host"]


def build(url: str, n_assets: int, n_comms: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    engine = make_engine(url)
    init_schema(engine)
    t0 = 1_700_000_000.0
    assets, addrs, facts = [], [], []
    for i in range(1, n_assets + 1):
        vendor = rnd.choice(VENDORS)
        ident = vendor is not None and rnd.random() < 0.8
        role = rnd.choice(ROLES)
        assets.append({"id": i, "role": role, "vendor": vendor, "product": f"model-{i % 97}" if vendor else None,
                       "firmware": f"V{i % 5}.{i % 7}" if ident else None, "identified": ident, "sent": True,
                       "first_seen": t0, "last_seen": t0 + i, "name": f"dev-{i}"})
        ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        addrs.append({"asset_id": i, "kind": "ip", "vlan": i % 4, "value": ip, "first_seen": t0, "last_seen": t0 + i})
        addrs.append({"asset_id": i, "kind": "mac", "vlan": i % 4, "value": f"02:00:00:{(i >> 16) & 255:02x}:"
                      f"{(i >> 8) & 255:02x}:{i & 255:02x}", "first_seen": t0, "last_seen": t0 + i})
        proto = _SERVER if role in ("plc", "gateway", "io-device") else _CLIENT
        for field, value in (("protocol", proto), ("vendor", vendor or ""), ("firmware", f"V{i % 5}"),
                             ("product", f"model-{i % 97}"), ("name", f"dev-{i}"), ("serial", f"SN{i:08d}")):
            if value:
                facts.append({"asset_id": i, "field": field, "value": value, "protocol": _PROTO,
                              "message": "bench", "evidence": f"bench.pcap#frame {i}", "sensor": "bench",
                              "first_seen": t0, "last_seen": t0 + i})
    pairs: set[tuple[int, int, int]] = set()
    while len(pairs) < n_comms:
        pairs.add((rnd.randint(1, n_assets), rnd.randint(1, n_assets), _PORT + rnd.randrange(7)))
    comms = [{"client_id": c, "server_id": sv, "protocol": _PROTO, "transport": "tcp", "port": port,
              "packets": 10, "bytes": 1000, "first_seen": t0, "last_seen": t0 + k, "profile": {"read": 5}}
             for k, (c, sv, port) in enumerate(sorted(pairs))]
    with engine.begin() as con:
        con.execute(insert(Asset), assets)
        con.execute(insert(Address), addrs)
        con.execute(insert(Fact), facts)
        for k in range(0, len(comms), 20_000):
            con.execute(insert(Communication), comms[k:k + 20_000])
        con.execute(insert(TrafficStat), [{"sensor": "bench", "protocol": _PROTO, "packets": 1, "bytes_seen": 10,
                                           "bytes_decoded": 9}])
    engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    import httpx

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--comms", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--db")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        url = args.db or f"sqlite:///{d}/bench.db"
        t = time.perf_counter()
        build(url, args.assets, args.comms)
        print(f"inventory: {args.assets:,} assets, {args.comms:,} communications ({time.perf_counter() - t:.1f} s)")
        port = free_port()
        exe = str(Path(sys.executable).with_name("otscope"))
        proc = subprocess.Popen([exe, "serve", "--db", url, "--port", str(port)], stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as c:
                for _ in range(200):
                    try:
                        c.get("/healthz")
                        break
                    except httpx.TransportError:
                        time.sleep(0.05)
                print(f"{'endpoint':<48} {'cold ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
                for path in ("/api/v1/assets", "/api/v1/assets?role=plc&vendor=siem&limit=100",
                             "/api/v1/assets?q=dev-99", "/api/v1/coverage", "/api/v1/communications?limit=500"):
                    times = []
                    for _ in range(args.requests + 1):
                        t = time.perf_counter()
                        r = c.get(path)
                        r.raise_for_status()
                        times.append((time.perf_counter() - t) * 1000)
                    cold, warm = times[0], sorted(times[1:])
                    p95 = warm[int(0.95 * (len(warm) - 1))]
                    print(f"{path:<48} {cold:>8.1f} {statistics.median(warm):>8.1f} {p95:>8.1f} {warm[-1]:>8.1f}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
