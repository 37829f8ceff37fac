"""API latency benchmark: /assets and /coverage on an inventory of 10,000 assets and 100,000 communications.

    python -m otscope.api.bench [--assets 10000] [--comms 100000] [--requests 100]
    python -m otscope.api.bench --clients 50 --seconds 10 [--workers 2]     # load: 50 concurrent clients

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
    ap.add_argument("--clients", type=int, default=0, help="load mode: this many concurrent clients (max 200)")
    ap.add_argument("--seconds", type=float, default=10.0, help="load mode: how long each endpoint is loaded")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (otscope serve --workers)")
    args = ap.parse_args(argv)
    args.clients = min(max(args.clients, 0), 200)
    args.seconds = min(max(args.seconds, 1.0), 120.0)
    with tempfile.TemporaryDirectory() as d:
        url = args.db or f"sqlite:///{d}/bench.db"
        t = time.perf_counter()
        build(url, args.assets, args.comms)
        print(f"inventory: {args.assets:,} assets, {args.comms:,} communications ({time.perf_counter() - t:.1f} s)")
        port = free_port()
        exe = str(Path(sys.executable).with_name("otscope"))
        proc = subprocess.Popen([exe, "serve", "--db", url, "--port", str(port), "--workers", str(args.workers)],
                                stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as c:
                for _ in range(200):
                    try:
                        c.get("/healthz")
                        break
                    except httpx.TransportError:
                        time.sleep(0.05)
                if args.clients:
                    load(base, args.clients, args.seconds, args.workers)
                    return 0
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


# (label, path template): {n} is a random term per request, so a search load is not one cached page
LOAD_PATHS = (("first page", "/api/v1/assets", 1),
              ("text search, 20 terms", "/api/v1/assets?q=dev-{n}", 20),
              ("text search, 2000 terms", "/api/v1/assets?q=dev-{n}", 2000))


async def _get(reader, writer, host: str, path: str) -> int:  # type: ignore[no-untyped-def]
    """One GET on a kept-alive HTTP/1.1 connection; returns the status. A tiny client on purpose: a full HTTP
    library costs more CPU per request than the server on this 2-core machine and would measure itself."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


def load(base: str, clients: int, seconds: float, workers: int) -> None:
    """``clients`` concurrent clients (one kept-alive connection each) request one endpoint for ``seconds``;
    bounded in time and aimed at loopback only. Prints requests/s and latency percentiles per endpoint."""
    import asyncio
    from urllib.parse import urlsplit

    u = urlsplit(base)
    host, port = u.hostname or "127.0.0.1", u.port or 80

    async def client(k: int, path: str, terms: int, stop: float, out: list[float], errors: list[int]) -> None:
        rnd = random.Random(k)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                status = await _get(reader, writer, f"{host}:{port}", path.format(n=rnd.randint(1, terms)))
                if status != 200:
                    errors.append(status)
                out.append((time.perf_counter() - t) * 1000)
        finally:
            writer.close()

    async def run(path: str, terms: int) -> tuple[list[float], list[int], float]:
        out: list[float] = []
        errors: list[int] = []
        t0 = time.perf_counter()
        await asyncio.gather(*(client(k, path, terms, t0 + seconds, out, errors) for k in range(clients)))
        return out, errors, time.perf_counter() - t0

    print(f"load: {clients} concurrent clients, {seconds:.0f} s per endpoint, {workers} uvicorn worker(s)")
    print(f"{'endpoint':<32} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for label, path, terms in LOAD_PATHS:
        times, errors, took = asyncio.run(run(path, terms))
        times.sort()
        pct = (lambda q: times[min(len(times) - 1, int(q * (len(times) - 1)))])
        print(f"{label:<32} {len(times):>9} {len(times) / took:>8.1f} {pct(0.5):>8.1f} {pct(0.95):>8.1f} "
              f"{pct(0.99):>8.1f} {len(errors):>7}")


if __name__ == "__main__":
    sys.exit(main())
