"""The live sensor: capture on a SPAN port, run the replay pipeline, spool batches, ship them, lose nothing.

Loop: read frames (receive-only socket) -> pipeline -> every --flush seconds a batch (observations since the
last one, plus a heartbeat with the sensor's counters) goes into the on-disk spool -> the shipper sends spooled
batches oldest first to the collector (HTTP, write token) or straight into a database, deletes a batch only
once it is acknowledged, and backs off while the collector is away. SIGTERM/SIGINT: last batch, last
shipping attempt (bounded), clean exit; whatever is not acknowledged stays in the spool for the next start.
SIGHUP re-reads the BPF filter file (--bpf-file) and re-attaches it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from otscope.agent.capture import SpanSocket
from otscope.agent.pcapio import LE_RECORDS, Chunk
from otscope.agent.pipeline import Pipeline
from otscope.agent.spool import Spool

MAX_BACKOFF = 30.0


@dataclass
class SensorConfig:
    interface: str
    name: str
    spool: str
    collector: str | None = None
    token: str | None = None
    db: str | None = None
    bpf: str | None = None
    bpf_file: str | None = None
    flush_every: float = 10.0
    duration: float | None = None
    worker: int = 0
    workers: int = 1
    user: str | None = None


@dataclass
class Shipper:
    """Sends spooled batches; an acknowledged batch is deleted, anything else is retried with backoff."""

    spool: Spool
    send: Callable[[bytes], int]
    backoff: float = 0.0
    retry_at: float = 0.0
    sent: int = 0
    failures: int = 0
    last_error: str = ""
    log: Callable[[str], None] = field(default=lambda m: None)

    def ship(self, deadline: float) -> None:
        while time.monotonic() < deadline and time.monotonic() >= self.retry_at:
            rows = self.spool.oldest(8)
            if not rows:
                return
            for seq, _batch_id, body in rows:
                try:
                    code = self.send(body)
                except (OSError, urllib.error.URLError) as exc:
                    code, self.last_error = 0, str(exc)
                if code == 200:
                    self.spool.ack(seq)
                    self.sent += 1
                    self.backoff = 0.0
                    continue
                if code == 422:                       # the collector refuses this batch: keep it aside on disk
                    self.spool.db.execute("CREATE TABLE IF NOT EXISTS rejected AS SELECT * FROM batches WHERE 0")
                    self.spool.db.execute("INSERT INTO rejected SELECT * FROM batches WHERE seq = ?", (seq,))
                    self.spool.ack(seq)
                    self.log(f"collector rejected batch {_batch_id}: kept in the spool's rejected table")
                    continue
                self.failures += 1
                self.backoff = min(MAX_BACKOFF, max(0.5, self.backoff * 2))
                self.retry_at = time.monotonic() + self.backoff
                self.log(f"collector unavailable ({code or self.last_error}); retry in {self.backoff:.1f} s")
                return


def http_sender(url: str, token: str | None, timeout: float = 10.0) -> Callable[[bytes], int]:
    endpoint = url.rstrip("/") + "/api/v1/ingest"

    def send(body: bytes) -> int:
        req = urllib.request.Request(endpoint, data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    return send


def db_sender(url: str) -> Callable[[bytes], int]:
    from otscope.collector.db import init_schema, make_engine, session_factory
    from otscope.collector.service import ingest
    from otscope.contract import ContractError, batch_from_json

    engine = make_engine(url)
    init_schema(engine)
    factory = session_factory(engine)

    def send(body: bytes) -> int:
        try:
            batch = batch_from_json(body)
        except ContractError:
            return 422
        ingest(factory, batch)
        return 200

    return send


def drop_privileges(user: str) -> None:
    """After the socket is open nothing else needs root: become an ordinary user."""
    import pwd

    pw = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)


def run(cfg: SensorConfig, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> int:
    bpf = cfg.bpf or (open(cfg.bpf_file).read().strip() if cfg.bpf_file else None)
    sock = SpanSocket(cfg.interface, bpf=bpf,
                      fanout_group=(os.getppid() & 0xFFFF) if cfg.workers > 1 else None)
    spool = Spool(cfg.spool)
    if cfg.user and os.geteuid() == 0:
        drop_privileges(cfg.user)
    send = http_sender(cfg.collector, cfg.token) if cfg.collector else db_sender(cfg.db or "sqlite:///otscope.db")
    shipper = Shipper(spool, send, log=log)
    pipe = Pipeline(cfg.name, live=True)
    pipe.start_source(f"sensor:{cfg.name}")
    boot = uuid.uuid4().hex[:8]
    started = time.monotonic()
    state = {"stop": False, "reload": False}

    def on_term(_sig: int, _frame: object) -> None:
        state["stop"] = True

    def on_hup(_sig: int, _frame: object) -> None:
        state["reload"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)

    def flush() -> None:
        kp, kd = sock.kernel_stats()
        st = pipe.stats
        batch = pipe.cut_batch(f"{cfg.name}:{boot}:{cfg.worker}:{spool.next_seq()}")
        batch.stats.update({
            "uptime_s": round(time.monotonic() - started, 1), "interface": cfg.interface, "worker": cfg.worker,
            "kernel_packets": sock.counters.kernel_packets, "kernel_drops": sock.counters.kernel_drops,
            "received": sock.counters.received, "flows_active": len(pipe.active), "spool_pending": spool.pending(),
            "decoded_bytes": sum(t.bytes_decoded for t in batch.traffic),
            "ot_bytes": sum(t.bytes_seen for t in batch.traffic), "packets": st.packets,
        })
        del kp, kd
        spool.put(batch.batch_id, batch.to_json().encode())

    log(f"otscope sensor {cfg.name} on {cfg.interface}: receive-only, flushing every {cfg.flush_every:g} s to "
        f"{cfg.collector or cfg.db}")
    next_flush = time.monotonic() + cfg.flush_every
    try:
        while not state["stop"]:
            if cfg.duration is not None and time.monotonic() - started >= cfg.duration:
                break
            data, n = sock.read_chunk(max_wait=0.2)
            if n:
                pipe.feed_chunk(Chunk(1, LE_RECORDS, 1e-6, data, 0, len(data), n))
            if time.monotonic() >= next_flush:
                flush()
                next_flush = time.monotonic() + cfg.flush_every
            shipper.ship(time.monotonic() + 0.5)
            if state["reload"]:
                state["reload"] = False
                if cfg.bpf_file:
                    sock._attach(open(cfg.bpf_file).read().strip())
                    log("reloaded the BPF filter")
        flush()
        shipper.retry_at = 0.0
        shipper.ship(time.monotonic() + 10.0)
    finally:
        left = spool.pending()
        sock.close()
        spool.close()
    log(json.dumps({"sensor": cfg.name, "packets": pipe.stats.packets, "batches_sent": shipper.sent,
                    "spool_pending": left, "kernel_drops": sock.counters.kernel_drops}))
    return 0
