"""The live sensor: capture on a SPAN port, run the replay pipeline, spool batches, ship them, lose nothing.

Loop: read frames (receive-only socket) -> pipeline -> every --flush seconds a batch (observations since the
last one, plus a heartbeat with the sensor's counters) goes into the on-disk spool -> the shipper sends spooled
batches oldest first to the collector (HTTP, write token) or straight into a database, deletes a batch only
once it is acknowledged, and backs off while the collector is away. SIGTERM/SIGINT: last batch, last
shipping attempt (bounded), clean exit; whatever is not acknowledged stays in the spool for the next start.
SIGHUP re-reads the BPF filter file (--bpf-file) and re-attaches it (an invalid new filter keeps the old one).

On a bad day: a full disk keeps batches in memory (bounded; past the bound the pipeline keeps aggregating and
no batch is cut) and says so in the heartbeat and the log; a batch is cut to the collector's size before it is
spooled (agent/batches.py), split in halves if the collector still answers 413, kept aside when the collector
rejects it as invalid (other 4xx), and retried only on 5xx, network errors and the 4xx that are about the
route or the credentials, not the batch; ``--db`` mode retries a locked or unreachable database the same way.
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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from otscope.agent.batches import DEFAULT_MAX_BYTES, halves, split
from otscope.agent.capture import CaptureOpenError, SpanSocket
from otscope.agent.pcapio import LE_RECORDS, Chunk
from otscope.agent.pipeline import Pipeline
from otscope.agent.spool import Spool, SpoolFull

MAX_BACKOFF = 30.0
MAX_HELD_BYTES = 64 << 20          # batches kept in memory while the spool's disk is full
# 4xx answers about the request's route, credentials or rate, not about the batch: retry them (RFC 9110 15.5)
RETRY_4XX = frozenset({401, 403, 404, 405, 407, 408, 421, 425, 429})
TOO_LARGE = 413


class Outcome(Enum):
    DELIVERED = "delivered"
    REJECTED = "rejected"          # the collector will never take it: kept aside
    RETRY = "retry"


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
    max_batch_bytes: int = DEFAULT_MAX_BYTES
    max_held_bytes: int = MAX_HELD_BYTES
    passive_risks: str = ""


@dataclass
class Shipper:
    """Sends spooled batches oldest first, then the ones held in memory (disk full); an acknowledged batch is
    deleted, a refused one kept aside, anything else retried with backoff."""

    spool: Spool
    send: Callable[[bytes], int]
    backoff: float = 0.0
    retry_at: float = 0.0
    sent: int = 0
    failures: int = 0
    rejected: int = 0
    last_error: str = ""
    log: Callable[[str], None] = field(default=lambda m: None)
    held: deque = field(default_factory=deque)        # (batch_id, body) not yet in the spool
    held_bytes: int = 0
    max_held: int = MAX_HELD_BYTES
    full_since: float | None = None

    # --- memory while the disk is full ---------------------------------------------------------------
    def hold(self, batch_id: str, body: bytes) -> None:
        self.held.append((batch_id, body))
        self.held_bytes += len(body)

    def spool_held(self) -> None:
        """Write held batches to the spool in order, until the disk is full again."""
        while self.held:
            batch_id, body = self.held[0]
            try:
                self.spool.put(batch_id, body)
            except SpoolFull as exc:
                if self.full_since is None:
                    self.full_since = time.monotonic()
                    self.log(f"spool disk full ({exc}): keeping {len(self.held)} batch(es), {self.held_bytes:,} "
                             f"bytes in memory (bound {self.max_held:,}), capturing on")
                return
            self._pop_held()
            if self.full_since is not None:
                self.log(f"spool has space again after {time.monotonic() - self.full_since:.0f} s: writing the "
                         f"batches held in memory ({len(self.held) + 1} left)")
                self.full_since = None

    def _pop_held(self) -> None:
        _bid, body = self.held.popleft()
        self.held_bytes -= len(body)

    # --- shipping --------------------------------------------------------------------------------------
    def ship(self, deadline: float) -> None:
        while time.monotonic() < deadline and time.monotonic() >= self.retry_at:
            rows = self.spool.oldest(8)
            if not rows:
                rows = [(-1, bid, body) for bid, body in list(self.held)[:8]]    # straight from memory
            if not rows:
                return
            for seq, batch_id, body in rows:
                outcome = self.deliver(batch_id, body)
                if outcome is Outcome.RETRY:
                    self.failures += 1
                    self.backoff = min(MAX_BACKOFF, max(0.5, self.backoff * 2))
                    self.retry_at = time.monotonic() + self.backoff
                    self.log(f"collector unavailable ({self.last_error}); retry in {self.backoff:.1f} s")
                    return
                self.backoff = 0.0
                if outcome is Outcome.REJECTED:
                    self._keep_aside(seq, batch_id, body)
                elif seq >= 0:
                    self.spool.ack(seq)
                if seq < 0:
                    self._pop_held()
                self.sent += outcome is Outcome.DELIVERED

    def _send(self, body: bytes) -> int:
        try:
            code = self.send(body)
        except (OSError, urllib.error.URLError) as exc:
            self.last_error = str(exc)
            return 0
        if code != 200:
            self.last_error = f"HTTP {code}" + (f": {self.send.detail}" if getattr(self.send, "detail", "") else "")  # type: ignore[attr-defined]
        return code

    def deliver(self, batch_id: str, body: bytes) -> Outcome:
        """Send one batch; one refused as too large goes as two halves (recursively, ids ``<id>.a``/``.b``)."""
        code = self._send(body)
        if code == 200:
            return Outcome.DELIVERED
        if code == TOO_LARGE:
            return self._deliver_halves(batch_id, body)
        if code == 0 or code >= 500 or code in RETRY_4XX:
            return Outcome.RETRY
        self.log(f"collector rejected batch {batch_id} as invalid ({self.last_error}): kept aside in the spool's "
                 f"rejected table, not retried")
        return Outcome.REJECTED

    def _deliver_halves(self, batch_id: str, body: bytes) -> Outcome:
        from otscope.contract import ContractError, batch_from_json

        try:
            parts = halves(batch_from_json(body))
        except ContractError as exc:
            self.last_error = str(exc)
            parts = []
        if not parts:
            self.log(f"collector refused batch {batch_id} ({len(body):,} bytes) as too large and it cannot be "
                     f"split further: kept aside in the spool's rejected table")
            return Outcome.REJECTED
        self.log(f"collector refused batch {batch_id} ({len(body):,} bytes) as too large: sending it in two halves")
        for part in parts:
            pbody = part.to_json().encode()
            outcome = self.deliver(part.batch_id, pbody)
            if outcome is Outcome.RETRY:
                return outcome                  # the whole batch again later: delivered halves are duplicates
            if outcome is Outcome.REJECTED:
                self._keep_aside(-1, part.batch_id, pbody)
        return Outcome.DELIVERED

    def _keep_aside(self, seq: int, batch_id: str, body: bytes) -> None:
        self.rejected += 1
        if not self.spool.reject(seq, batch_id, body):
            self.log(f"could not keep rejected batch {batch_id} aside (disk full): dropped")
            if seq >= 0:
                self.spool.ack(seq)


class HttpSender:
    """POST a batch to the collector's ingest endpoint; the status code, and the collector's reason in
    ``detail`` when it refuses."""

    def __init__(self, url: str, token: str | None, timeout: float = 10.0) -> None:
        self.endpoint = url.rstrip("/") + "/api/v1/ingest"
        self.token, self.timeout = token, timeout
        self.detail = ""

    def __call__(self, body: bytes) -> int:
        req = urllib.request.Request(self.endpoint, data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        self.detail = ""
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            try:
                self.detail = exc.read(300).decode("utf-8", "replace").replace("\n", " ")
            except OSError:
                pass
            return exc.code


def http_sender(url: str, token: str | None, timeout: float = 10.0) -> Callable[[bytes], int]:
    return HttpSender(url, token, timeout)


BUSY_MS = 2000                     # --db mode: a locked SQLite database is waited for this long, then retried


class DbSender:
    """Write a batch straight into a database (``--db``). The database may be locked, missing or down when the
    sensor starts or at any time later: that is a retry (503, with backoff), never an exit. A batch the
    contract or the database refuses as data (DataError) is a 422: kept aside."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.factory = None
        self.detail = ""

    def _connect(self):  # type: ignore[no-untyped-def]
        from sqlalchemy import event

        from otscope.collector.db import init_schema, make_engine, session_factory

        engine = make_engine(self.url)
        if engine.dialect.name == "sqlite":
            @event.listens_for(engine, "connect")
            def _busy(dbapi_conn, _rec):  # type: ignore[no-untyped-def]
                dbapi_conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        try:
            init_schema(engine)
        except Exception:
            engine.dispose()
            raise
        return session_factory(engine)

    def __call__(self, body: bytes) -> int:
        from sqlalchemy.exc import DataError, SQLAlchemyError

        from otscope.collector.service import ingest
        from otscope.contract import ContractError, batch_from_json

        self.detail = ""
        try:
            batch = batch_from_json(body)
        except ContractError as exc:
            self.detail = str(exc)
            return 422
        try:
            if self.factory is None:
                self.factory = self._connect()
            ingest(self.factory, batch)
            return 200
        except DataError as exc:
            self.detail = str(exc).splitlines()[0][:300]
            return 422
        except (SQLAlchemyError, OSError) as exc:
            self.detail = str(exc).splitlines()[0][:300]
            return 503


def db_sender(url: str) -> Callable[[bytes], int]:
    return DbSender(url)


def drop_privileges(user: str) -> None:
    """After the socket is open nothing else needs root: become an ordinary user."""
    import pwd

    pw = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)


def log_line(message: str) -> None:
    """One log line, written with one write(2) call: the workers of ``--workers N`` share the parent's stderr,
    and a line written in two pieces could interleave with another worker's (a pipe write under PIPE_BUF,
    4 KiB, is atomic; longer lines are cut to stay whole)."""
    data = (message.replace("\n", " ")[:4000] + "\n").encode("utf-8", "replace")
    try:
        sys.stderr.flush()
        os.write(sys.stderr.fileno(), data)
    except (OSError, ValueError, AttributeError):
        print(message, file=sys.stderr)


def run(cfg: SensorConfig, log: Callable[[str], None] = log_line) -> int:
    bpf = cfg.bpf or (open(cfg.bpf_file).read().strip() if cfg.bpf_file else None)
    sock = SpanSocket(cfg.interface, bpf=bpf,
                      fanout_group=(os.getppid() & 0xFFFF) if cfg.workers > 1 else None)
    spool = Spool(cfg.spool)
    if cfg.user and os.geteuid() == 0:
        drop_privileges(cfg.user)
    send = http_sender(cfg.collector, cfg.token) if cfg.collector else db_sender(cfg.db or "sqlite:///otscope.db")
    shipper = Shipper(spool, send, log=log, max_held=cfg.max_held_bytes)
    pipe = Pipeline(cfg.name, live=True)
    pipe.start_source(f"sensor:{cfg.name}")
    boot = uuid.uuid4().hex[:8]
    started = time.monotonic()
    state = {"stop": False, "reload": False, "over_bound": False}

    def on_term(_sig: int, _frame: object) -> None:
        state["stop"] = True

    def on_hup(_sig: int, _frame: object) -> None:
        state["reload"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)

    def flush() -> None:
        """Cut a batch (the observations since the last one, with the heartbeat), in parts under the collector's
        size, into memory, then into the spool as far as the disk allows. Past the memory bound no batch is
        cut: the pipeline keeps aggregating (its state is bounded) until the spool takes batches again."""
        shipper.spool_held()
        if shipper.held_bytes >= cfg.max_held_bytes:
            if not state["over_bound"]:
                log(f"spool disk still full and {shipper.held_bytes:,} bytes held in memory: not cutting batches "
                    f"(observations keep aggregating in memory) until the spool has space")
            state["over_bound"] = True
            return
        state["over_bound"] = False
        kp, kd = sock.kernel_stats()
        st = pipe.stats
        batch = pipe.cut_batch(f"{cfg.name}:{boot}:{cfg.worker}:{spool.next_seq()}")
        batch.stats.update({
            "uptime_s": round(time.monotonic() - started, 1), "interface": cfg.interface, "worker": cfg.worker,
            "kernel_packets": sock.counters.kernel_packets, "kernel_drops": sock.counters.kernel_drops,
            "received": sock.counters.received, "flows_active": len(pipe.active), "spool_pending": spool.pending(),
            "decoded_bytes": sum(t.bytes_decoded for t in batch.traffic),
            "ot_bytes": sum(t.bytes_seen for t in batch.traffic), "packets": st.packets,
            "spool_full": int(shipper.full_since is not None), "held_batches": len(shipper.held),
            "held_bytes": shipper.held_bytes, "rejected_batches": shipper.rejected,
            **({"passive_risks": cfg.passive_risks[:250]} if cfg.passive_risks else {}),
        })
        del kp, kd
        for batch_id, body in split(batch, cfg.max_batch_bytes):
            shipper.hold(batch_id, body)
        shipper.spool_held()

    def reload() -> None:
        if not cfg.bpf_file:
            log("SIGHUP: no --bpf-file to reload")
            return
        try:
            with open(cfg.bpf_file) as fh:
                sock._attach(fh.read().strip())
            log(f"reloaded the BPF filter from {cfg.bpf_file}")
        except (OSError, CaptureOpenError) as exc:
            log(f"SIGHUP: kept the previous BPF filter: {exc}")

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
                reload()
        flush()
        shipper.retry_at = 0.0
        shipper.ship(time.monotonic() + 10.0)
    finally:
        left = spool.pending()
        if shipper.held:
            log(f"{len(shipper.held)} batch(es) could be neither spooled (disk full) nor shipped: lost at exit")
        sock.close()
        spool.close()
    log(json.dumps({"sensor": cfg.name, "packets": pipe.stats.packets, "batches_sent": shipper.sent,
                    "spool_pending": left, "kernel_drops": sock.counters.kernel_drops}))
    return 0
