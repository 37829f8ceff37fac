#!/usr/bin/env python3
"""Load test of the central store: many sensors shipping batches to one `otscope serve` on PostgreSQL.

    .venv/bin/python scripts/load_central.py [--sensors 50] [--assets 100000] [--conversations 1000000]
        [--workers 2] [--batch-obs 2000] [--restarts 2] [--restart-signal kill|term] [--requests 40]

What it does (every figure it prints is measured in this run):
1. creates a throw-away database on the local PostgreSQL (OTSCOPE_PG_ADMIN, default postgres@127.0.0.1:5432;
   the Debian cluster is started when it is down), one write-scoped token per sensor and one read token;
2. starts `otscope serve --workers W` on it (its own process group);
3. runs N simulated sensors (threads spread over a few processes). Each one owns a share of the plant (its
   assets: an ARP binding, a host and two facts each; then its conversations: Modbus/TCP 502 between its
   assets, and every ``--shared-every``-th one to a server another sensor owns, so several API processes
   resolve the same devices at once). A sensor ships exactly as `otscope sensor` does: every batch goes into
   its own durable spool (agent/spool.py) and the Shipper (agent/sensor.py) POSTs it with the sensor's token,
   retrying with backoff until acknowledged;
4. kills and restarts the collector ``--restarts`` times while batches are in flight (at evenly spaced shares
   of the batches applied);
5. prints: ingest throughput (observations/s), end-to-end delay from spool to query (a sampled batch's new
   asset found through GET /api/v1/assets), API p50/p95 of the list/detail/coverage/communications routes on
   the final inventory, and the check: batches sent = applied (none lost), no batch applied twice (asset,
   conversation and packet totals equal what was sent, which a doubly applied batch would break).

Exit status 0 when nothing was lost or duplicated, 1 when something was, 2 when PostgreSQL cannot be used.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("OTSCOPE_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
T0 = 1_760_000_000.0
PROBE_VENDOR = "LoadProbe"           # the vendor fact of a sampled asset: found by GET /api/v1/assets?vendor=


class Unavailable(Exception):
    """PostgreSQL cannot be reached or started."""


# --- the plant ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Plant:
    sensors: int
    assets: int
    conversations: int
    batch_obs: int
    shared_every: int               # every n-th conversation goes to a server another sensor owns (0: none)

    def owned(self, k: int) -> range:
        """Global asset numbers (1-based) sensor ``k`` owns: a contiguous share."""
        per, extra = divmod(self.assets, self.sensors)
        start = k * per + min(k, extra)
        return range(start + 1, start + per + (1 if k < extra else 0) + 1)

    def conversations_of(self, k: int) -> int:
        per, extra = divmod(self.conversations, self.sensors)
        return per + (1 if k < extra else 0)


def ip_of(g: int) -> str:
    return f"10.{(g >> 16) & 255}.{(g >> 8) & 255}.{g & 255}"


def mac_of(g: int) -> str:
    return f"02:00:00:{(g >> 16) & 255:02x}:{(g >> 8) & 255:02x}:{g & 255:02x}"


def packets_of(k: int, j: int) -> int:
    return 1 + (k * 7 + j) % 9


def pairs(plant: Plant, k: int) -> Iterator[tuple[int, int]]:
    """(client, server) global numbers of sensor k's conversations, all distinct: client c with the server d+1
    places after it in the sensor's share, for d = 0, 1, ...; every shared_every-th goes to the first asset of
    the next sensor's share instead (distinct: a client is paired with it at most once per d)."""
    own = plant.owned(k)
    n = len(own)
    if n < 2:
        raise SystemExit("each sensor needs at least 2 assets (--assets >= 2 * --sensors)")
    total = plant.conversations_of(k)
    if total > n * (n - 1):
        raise SystemExit(f"--conversations too large for --assets: at most {n * (n - 1)} per sensor")
    other = plant.owned((k + 1) % plant.sensors)
    for j in range(total):
        d, c = divmod(j, n)
        client = own[c]
        if plant.shared_every and plant.sensors > 1 and j % plant.shared_every == 0 and d == 0:
            yield client, other[0]
        else:
            yield client, own[(c + 1 + d) % n]


def expected(plant: Plant) -> dict[str, int]:
    """What the inventory must hold after every batch was applied exactly once."""
    comms = set()
    packets = 0
    for k in range(plant.sensors):
        for j, (cl, sv) in enumerate(pairs(plant, k)):
            comms.add((cl, sv))
            packets += packets_of(k, j)
    return {"assets": plant.assets, "communications": len(comms), "packets": packets}


def batches_of(plant: Plant, k: int, name: str, probe_every: int):  # type: ignore[no-untyped-def]
    """Sensor k's batches in order: (Batch, probe vendor or None). Assets first, then conversations."""
    from otscope.contract import Batch, BindingObs, CommObs, Evidence, FactObs, HostObs, Subject

    seq = 0
    cur = Batch(sensor=name, batch_id="")
    probe: str | None = None
    n_asset_batches = 0

    def cut():  # type: ignore[no-untyped-def]
        nonlocal seq, cur, probe
        seq += 1
        cur.batch_id = f"load-{seq:06d}"
        cur.stats = {"batch_seq": seq, "mode": "load"}
        out = (cur, probe)
        cur, probe = Batch(sensor=name, batch_id=""), None
        return out

    for g in plant.owned(k):
        ts = T0 + g
        ip, mac = ip_of(g), mac_of(g)
        ev = Evidence(source=f"sensor:{name}", frame=None, ts=ts)
        sj = Subject(vlan=0, ip=ip)
        if probe is None and n_asset_batches % probe_every == 0:
            probe = f"{PROBE_VENDOR}-{name}-{g}"
            vendor = probe
        else:
            vendor = "Schneider Electric"
        cur.bindings.append(BindingObs(vlan=0, ip=ip, mac=mac, confidence="high", protocol="arp", evidence=ev,
                                       first_seen=ts, last_seen=ts))
        cur.hosts.append(HostObs(subject=sj, sent=True, first_seen=ts, last_seen=ts))
        cur.facts.append(FactObs(subject=sj, field="vendor", value=vendor, protocol="modbus",
                                 message="load test", evidence=ev, first_seen=ts, last_seen=ts))
        cur.facts.append(FactObs(subject=sj, field="product", value=f"M{g % 97}", protocol="modbus",
                                 message="load test", evidence=ev, first_seen=ts, last_seen=ts))
        if cur.size() >= plant.batch_obs:
            n_asset_batches += 1
            yield cut()
    if cur.size():
        yield cut()
    for j, (cl, sv) in enumerate(pairs(plant, k)):
        p = packets_of(k, j)
        ts = T0 + plant.assets + j
        cur.comms.append(CommObs(client=Subject(vlan=0, ip=ip_of(cl)), server=Subject(vlan=0, ip=ip_of(sv)),
                                 transport="tcp", port=502, protocol="modbus", packets=p, bytes=64 * p,
                                 first_seen=ts, last_seen=ts))
        if cur.size() >= plant.batch_obs:
            yield cut()
    if cur.size():
        yield cut()


# --- PostgreSQL ----------------------------------------------------------------------------------------------

def _pg_connect(url: str = ADMIN_URL):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(url.replace("+psycopg", ""), autocommit=True, connect_timeout=3)


def ensure_pg() -> None:
    """A server answers, starting the local Debian cluster if needed; else Unavailable."""
    try:
        _pg_connect().close()
        return
    except Exception as first:  # noqa: BLE001 - any failure to connect is the same answer
        try:
            for v in os.listdir("/etc/postgresql"):
                subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", v, "main", "start"],
                               capture_output=True, timeout=60)
            _pg_connect().close()
        except Exception:  # noqa: BLE001
            raise Unavailable(f"PostgreSQL not reachable at {ADMIN_URL}: {first}") from None


def create_db() -> tuple[str, str]:
    name = f"otscope_load_{uuid.uuid4().hex[:10]}"
    with _pg_connect() as con:
        con.execute(f'CREATE DATABASE "{name}"')          # a name this script made: no user text in it
    return name, ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_db(name: str) -> None:
    with _pg_connect() as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_tokens(url: str, names: list[str]) -> tuple[dict[str, str], str]:
    from otscope.api.security import Scope, create_token
    from otscope.collector.db import init_schema, make_engine, session_factory

    engine = make_engine(url)
    init_schema(engine)
    with session_factory(engine)() as s, s.begin():
        writes = {n: create_token(s, Scope.WRITE, f"sensor {n}") for n in names}
        read = create_token(s, Scope.READ, "load test reader")
    engine.dispose()
    return writes, read


def db_counts(url: str) -> dict[str, int]:
    with _pg_connect(url) as con:
        one = lambda q: int(con.execute(q).fetchone()[0])  # noqa: E731
        return {"applied": one("SELECT count(*) FROM applied_batches"),
                "distinct_applied": one("SELECT count(*) FROM (SELECT DISTINCT sensor, batch_id FROM "
                                        "applied_batches) d"),
                "observations": one("SELECT coalesce(sum(observations), 0) FROM applied_batches"),
                "assets": one("SELECT count(*) FROM assets WHERE parent_id IS NULL"),
                "communications": one("SELECT count(*) FROM communications"),
                "packets": one("SELECT coalesce(sum(packets), 0) FROM communications")}


def applied_ids(url: str) -> set[tuple[str, str]]:
    with _pg_connect(url) as con:
        return {(a, b) for a, b in con.execute("SELECT sensor, batch_id FROM applied_batches")}


# --- the collector -------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return int(sk.getsockname()[1])


class Collector:
    """`otscope serve` in its own process group, killed (SIGKILL: a crash, or SIGTERM) and restarted."""

    def __init__(self, url: str, port: int, workers: int, log: Path) -> None:
        self.url, self.port, self.workers, self.log = url, port, workers, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> float:
        t = time.monotonic()
        exe = ROOT / ".venv" / "bin" / "otscope"
        cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "otscope.agent.cli"]),
               "serve", "--db", self.url, "--port", str(self.port), "--workers", str(self.workers),
               "--events-queue", str(self.log.with_suffix(".queue"))]
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=fh, start_new_session=True)
        while time.monotonic() - t < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"otscope serve exited ({self.proc.returncode}); see {self.log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - t
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        raise RuntimeError(f"otscope serve did not answer within {timeout:.0f} s; see {self.log}")

    def stop(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        if sig != signal.SIGKILL:                      # uvicorn's workers are children: be sure they are gone
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- sensors -------------------------------------------------------------------------------------------------

@dataclass
class SensorReport:
    name: str
    batches: list[str] = field(default_factory=list)
    observations: int = 0
    posts: int = 0                      # HTTP requests made (a retried batch counts again)
    failures: int = 0                   # answers that were not 200 (collector down, timeouts)
    delays: list[float] = field(default_factory=list)   # spool -> visible through the API, seconds
    spool_left: int = 0
    rejected: int = 0
    error: str = ""
    codes: dict[int, int] = field(default_factory=dict)


class CountingSender:
    """The sensor's HttpSender, counting requests."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.posts = inner, 0
        self.codes: dict[int, int] = {}         # HTTP status -> count (0: no answer: refused, reset, timeout)

    @property
    def detail(self) -> str:
        return str(self.inner.detail)

    def __call__(self, body: bytes) -> int:
        self.posts += 1
        try:
            code = int(self.inner(body))
        except (OSError, urllib.error.URLError):
            self.codes[0] = self.codes.get(0, 0) + 1
            raise
        self.codes[code] = self.codes.get(code, 0) + 1
        return code


def visible(base: str, read_token: str, vendor: str, timeout: float = 5.0) -> bool:
    q = urllib.parse.urlencode({"vendor": vendor, "limit": 1})
    req = urllib.request.Request(f"{base}/api/v1/assets?{q}", headers={"Authorization": f"Bearer {read_token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return int(json.loads(r.read())["count"]) > 0
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return False


def run_sensor(plant: Plant, k: int, base: str, token: str, read_token: str, spool_dir: str,
               probe_every: int, stop_at: float) -> SensorReport:
    from otscope.agent.sensor import HttpSender, Shipper
    from otscope.agent.spool import Spool

    name = f"load-{k:03d}"
    rep = SensorReport(name)
    spool = Spool(Path(spool_dir) / f"{name}.db", reserve=0)
    sender = CountingSender(HttpSender(base, token, timeout=300.0))
    shipper = Shipper(spool, sender)
    try:
        for batch, probe in batches_of(plant, k, name, probe_every):
            body = batch.to_json().encode()
            spool.put(batch.batch_id, body)                 # durable before it is sent, as the sensor does
            put_at = time.monotonic()
            rep.batches.append(batch.batch_id)
            rep.observations += batch.size()
            while spool.pending() and time.monotonic() < stop_at:
                shipper.ship(deadline=time.monotonic() + 30)
                if spool.pending():
                    time.sleep(max(0.05, min(1.0, shipper.retry_at - time.monotonic())))
            if probe is not None:
                while time.monotonic() < stop_at and not visible(base, read_token, probe):
                    time.sleep(0.05)
                rep.delays.append(time.monotonic() - put_at)
            if time.monotonic() >= stop_at:
                rep.error = "time limit reached"
                break
    except Exception as exc:  # noqa: BLE001 - reported, never a traceback
        rep.error = f"{type(exc).__name__}: {exc}"
    rep.posts, rep.failures, rep.rejected = sender.posts, shipper.failures, shipper.rejected
    rep.codes = dict(sender.codes)
    rep.spool_left = spool.pending()
    spool.close()
    return rep


def sensor_host(args: tuple) -> list[SensorReport]:  # type: ignore[type-arg]
    """One process running several sensors as threads."""
    plant, ks, base, tokens, read_token, spool_dir, probe_every, stop_at_wall = args
    stop_at = time.monotonic() + (stop_at_wall - time.time())
    out: list[SensorReport] = []
    lock = threading.Lock()

    def one(k: int) -> None:
        r = run_sensor(plant, k, base, tokens[k], read_token, spool_dir, probe_every, stop_at)
        with lock:
            out.append(r)

    threads = [threading.Thread(target=one, args=(k,), daemon=True) for k in ks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


# --- the API on the final inventory --------------------------------------------------------------------------

def timed_get(base: str, path: str, token: str) -> tuple[float, int]:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()
            code = r.status
    except urllib.error.HTTPError as exc:
        code = exc.code
    return time.perf_counter() - t, code


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]


def api_latency(base: str, token: str, url: str, requests: int, clients: int) -> dict[str, dict[str, float]]:
    import random

    with _pg_connect(url) as con:
        ids = [r[0] for r in con.execute("SELECT id FROM assets WHERE parent_id IS NULL ORDER BY random() "
                                         "LIMIT %s", (requests,))]
        total = int(con.execute("SELECT count(*) FROM assets").fetchone()[0])
    rnd = random.Random(5)
    routes = {
        "GET /api/v1/assets?limit=50 (list)": lambda i: "/api/v1/assets?limit=50",
        "GET /api/v1/assets?offset=random": lambda i: f"/api/v1/assets?limit=50&offset={rnd.randrange(max(1, total - 50))}",
        "GET /api/v1/assets?vendor=probe (filter)": lambda i: f"/api/v1/assets?vendor={PROBE_VENDOR}-load-000&limit=50",
        "GET /api/v1/assets/{id} (detail)": lambda i: f"/api/v1/assets/{ids[i % len(ids)]}",
        "GET /api/v1/coverage": lambda i: "/api/v1/coverage",
        "GET /api/v1/communications?limit=500": lambda i: "/api/v1/communications?limit=500",
    }
    out: dict[str, dict[str, float]] = {}
    for label, path in routes.items():
        cold, code = timed_get(base, path(0), token)
        if code != 200:
            raise RuntimeError(f"{label}: HTTP {code}")
        times: list[float] = []
        lock = threading.Lock()
        paths = [path(i) for i in range(requests)]

        def work(part: list[str]) -> None:
            for p in part:
                dt, c = timed_get(base, p, token)
                with lock:
                    times.append(dt if c == 200 else float("inf"))

        ts = [threading.Thread(target=work, args=(paths[i::clients],)) for i in range(clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        out[label] = {"cold_ms": cold * 1000, "p50_ms": statistics.median(times) * 1000,
                      "p95_ms": p95(times) * 1000, "max_ms": max(times) * 1000}
    return out


# --- the run -------------------------------------------------------------------------------------------------

def watch_and_restart(collector: Collector, url: str, total_batches: int, restarts: int, sig: int,
                      done: threading.Event, log: list[str]) -> None:
    """Restart the collector when the applied batches pass 1/(r+1), 2/(r+1), ... of the total."""
    marks = [total_batches * (i + 1) // (restarts + 1) for i in range(restarts)]
    for mark in marks:
        while not done.is_set():
            if db_counts(url)["applied"] >= max(1, mark):
                break
            time.sleep(0.2)
        if done.is_set():
            log.append(f"restart at {mark} batches not made: the run ended first")
            continue
        applied = db_counts(url)["applied"]
        t = time.monotonic()
        collector.stop(sig)
        up = collector.start()
        log.append(f"collector {signal.Signals(sig).name} at {applied}/{total_batches} batches applied, "
                   f"answering again after {time.monotonic() - t:.1f} s (start-up {up:.1f} s)")


def run(a: argparse.Namespace) -> int:
    plant = Plant(a.sensors, a.assets, a.conversations, a.batch_obs, a.shared_every)
    names = [f"load-{k:03d}" for k in range(plant.sensors)]
    try:
        ensure_pg()
        db_name, url = create_db()
    except Unavailable as exc:
        print(f"load_central: {exc}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="otscope-load-"))
    collector = Collector(url, a.port or free_port(), a.workers, work / "serve.log")
    try:
        return _run(a, plant, names, url, work, collector)
    finally:
        collector.stop()
        if not a.keep:
            drop_db(db_name)
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept database {db_name} and {work}")


def _run(a: argparse.Namespace, plant: Plant, names: list[str], url: str, work: Path, collector: Collector) -> int:
    print(f"plant: {plant.sensors} sensors, {plant.assets:,} assets, {plant.conversations:,} conversations, "
          f"batches of {plant.batch_obs:,} observations; collector: otscope serve --workers {a.workers} on "
          f"PostgreSQL; {a.restarts} restart(s) ({a.restart_signal})")
    t = time.monotonic()
    want = expected(plant)
    total_batches = sum(1 for k in range(plant.sensors) for _ in batches_of(plant, k, names[k], a.probe_every))
    print(f"prepared: {total_batches:,} batches to send ({time.monotonic() - t:.1f} s)")
    tokens, read_token = make_tokens(url, names)
    up = collector.start()
    print(f"collector up in {up:.1f} s on port {collector.port}")
    base = f"http://127.0.0.1:{collector.port}"
    hosts = max(1, min(a.sensor_procs, plant.sensors))
    groups = [list(range(plant.sensors))[i::hosts] for i in range(hosts)]
    stop_at = time.time() + a.time_limit
    done = threading.Event()
    restart_log: list[str] = []
    watcher = threading.Thread(target=watch_and_restart, daemon=True,
                               args=(collector, url, total_batches, a.restarts,
                                     signal.SIGKILL if a.restart_signal == "kill" else signal.SIGTERM, done,
                                     restart_log))
    t_ingest = time.monotonic()
    watcher.start()
    with mp.get_context("spawn").Pool(hosts) as pool:
        results = pool.map(sensor_host, [(plant, ks, base, [tokens[n] for n in names], read_token, str(work),
                                          a.probe_every, stop_at) for ks in groups])
    ingest_s = time.monotonic() - t_ingest
    done.set()
    watcher.join(timeout=120)
    reports = sorted((r for group in results for r in group), key=lambda r: r.name)
    got = db_counts(url)
    sent = {(r.name, b) for r in reports for b in r.batches}
    applied = applied_ids(url)
    obs = sum(r.observations for r in reports)
    delays = [d for r in reports for d in r.delays]
    print()
    for line in restart_log:
        print(line)
    print(f"ingest: {obs:,} observations in {len(sent):,} batches from {len(reports)} sensors in {ingest_s:.1f} s"
          f" = {obs / ingest_s:,.0f} observations/s ({len(sent) / ingest_s:,.1f} batches/s), "
          f"{sum(r.posts for r in reports):,} POSTs, {sum(r.failures for r in reports):,} retried")
    codes: dict[int, int] = {}
    for r in reports:
        for c, n in r.codes.items():
            codes[c] = codes.get(c, 0) + n
    print("answers to the sensors: " + ", ".join(f"{'no answer' if c == 0 else f'HTTP {c}'} x{n:,}"
                                                 for c, n in sorted(codes.items())))
    if delays:
        print(f"end-to-end spool -> query: n={len(delays)} p50 {statistics.median(delays) * 1000:,.0f} ms, "
              f"p95 {p95(delays) * 1000:,.0f} ms, max {max(delays) * 1000:,.0f} ms")
    lost = sent - applied
    unknown = applied - sent
    doubled = got["applied"] - got["distinct_applied"]
    checks = {
        "batches sent": len(sent), "batches applied": got["applied"], "lost": len(lost),
        "applied but not sent": len(unknown), "applied twice": doubled,
        "left in spools": sum(r.spool_left for r in reports), "rejected": sum(r.rejected for r in reports),
        "assets": f"{got['assets']:,} (expected {want['assets']:,})",
        "communications": f"{got['communications']:,} (expected {want['communications']:,})",
        "packets": f"{got['packets']:,} (expected {want['packets']:,})",
    }
    print("delivery: " + ", ".join(f"{k} {v}" for k, v in checks.items()))
    errors = [f"{r.name}: {r.error}" for r in reports if r.error]
    for e in errors[:10]:
        print(f"sensor error: {e}")
    ok = (not lost and not unknown and not doubled and not errors and got["assets"] == want["assets"]
          and got["communications"] == want["communications"] and got["packets"] == want["packets"]
          and got["applied"] == len(sent) and not checks["left in spools"] and not checks["rejected"])
    if a.requests:
        print(f"API on the final inventory ({got['assets']:,} assets, {got['communications']:,} conversations), "
              f"{a.requests} requests per route from {a.clients} clients:")
        for label, m in api_latency(base, read_token, url, a.requests, a.clients).items():
            print(f"  {label:44s} cold {m['cold_ms']:8.1f} ms  p50 {m['p50_ms']:8.1f} ms  "
                  f"p95 {m['p95_ms']:8.1f} ms  max {m['max_ms']:8.1f} ms")
    print(f"RESULT: {'OK' if ok else 'FAILED'}: {len(lost)} lost, {doubled} duplicated, "
          f"{len(restart_log and [x for x in restart_log if x.startswith('collector')])} restart(s)")
    return 0 if ok else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sensors", type=int, default=50)
    p.add_argument("--assets", type=int, default=100_000)
    p.add_argument("--conversations", type=int, default=1_000_000)
    p.add_argument("--batch-obs", type=int, default=2000, help="observations per batch")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes of otscope serve")
    p.add_argument("--restarts", type=int, default=2, help="collector restarts during the run")
    p.add_argument("--restart-signal", choices=("kill", "term"), default="kill")
    p.add_argument("--shared-every", type=int, default=50,
                   help="every n-th conversation goes to a server another sensor owns (0: never)")
    p.add_argument("--probe-every", type=int, default=1,
                   help="measure spool -> query on every n-th batch of new assets")
    p.add_argument("--sensor-procs", type=int, default=2, help="processes the simulated sensors run in")
    p.add_argument("--requests", type=int, default=40, help="timed requests per API route (0: skip)")
    p.add_argument("--clients", type=int, default=4, help="concurrent API clients for the latency figures")
    p.add_argument("--time-limit", type=float, default=3600.0, help="seconds before sensors give up")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--keep", action="store_true", help="keep the database and the spools")
    a = p.parse_args(argv)
    for name in ("sensors", "assets", "batch_obs", "workers"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if a.conversations < 0 or a.restarts < 0 or a.probe_every < 1:
        p.error("--conversations and --restarts must be >= 0, --probe-every >= 1")
    if a.assets < 2 * a.sensors:
        p.error("--assets must be at least twice --sensors")
    return a


def main(argv: list[str] | None = None) -> int:
    return run(parse(argv))


if __name__ == "__main__":
    sys.exit(main())
