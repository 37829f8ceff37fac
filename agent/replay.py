"""Offline audit: stream capture files through the pipeline into an inventory.

Each file gets its own pipeline (or N pipelines, one per shard of the conversations) and is read exactly once,
front to back, so a FIFO or standard input (``-``) works like a file. Its identity is computed while it streams
(agent/pcapio.py Identity: BLAKE3 of the whole content, and a key of its first packet); its observations go
to the collector as one batch ``file:<first packet>:<content>``. The same file replayed again (by any
command line, from a copy, through a pipe) gives the same batch id, which the collector has already applied:
nothing doubles. A *different* file holding the same frames (a cut copy, a repaired copy, the whole file
after a cut one) would count the shared packets twice; ``checked_sink`` refuses it (``Overlap``) with a
one-line message naming the batch it overlaps. Refusing, rather than replacing what the earlier replay
contributed, because the collector merges counts into conversations and traffic totals and keeps no
per-batch ledger to subtract; a refused file can be replayed into a fresh inventory.
Memory stays flat: the pipeline keeps flows (capped), hosts and distinct facts, never packets.
Forked workers die with the parent (PR_SET_PDEATHSIG, and a parent-pid check against the race).
"""

from __future__ import annotations

import gc
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from otscope.agent.pcapio import STDIN, CaptureError, Identity, display_name, is_regular, read_chunks
from otscope.agent.snapshot import NOT_DECODED, TUNNEL, Snapshot, build_batch, merge
from otscope.contract import Batch

FILE_PREFIX = "file:"
NO_PACKETS = "none"


class Overlap(Exception):
    """A capture whose frames overlap those of a different capture already in the inventory."""


def batch_id_of(ident: Identity) -> str:
    return f"{FILE_PREFIX}{ident.first or NO_PACKETS}:{ident.digest()}"


@dataclass
class FileResult:
    path: str
    packets: int = 0
    bytes: int = 0
    flows: int = 0
    anomalies: int = 0
    span_duplicates: int = 0
    error: str | None = None
    batches: list[str] = field(default_factory=list)
    ot_bytes: int = 0
    ot_decoded: int = 0
    refused: str | None = None
    not_decoded: dict[str, int] = field(default_factory=dict)   # "LINKTYPE_X (N): reason" -> frames
    tunnels: dict[str, int] = field(default_factory=dict)       # tunnel kind -> packets unwrapped


Sink = Callable[[Batch], object]
Progress = Callable[[int, int], None]


def replay_file(path: str, sink: Sink, *, sensor: str = "replay", on_progress: Progress | None = None,
                workers: int = 1, dissectors: set[str] | None = None) -> FileResult:
    """Replay one file into ``sink`` as a single batch ``file:<first packet>:<content>`` (the same batch
    whatever the number of workers, so a file replayed again, by any command line, is applied once)."""
    return start(path, sensor=sensor, workers=workers, on_progress=on_progress, fork=workers > 1,
                 dissectors=dissectors).finish(sink)


class Job:
    """A replay under way: in this process (finish() does the work) or in forked workers (already running,
    so the caller can set up its database meanwhile). A source that can be read only once (FIFO, ``-``)
    has one worker."""

    def __init__(self, path: str, sensor: str, workers: int, on_progress: Progress | None, fork: bool,
                 dissectors: set[str] | None) -> None:
        self.path, self.sensor, self.on_progress = path, sensor, on_progress
        self.dissectors = dissectors
        self.res = FileResult(path)
        self.running: tuple | None = None
        self.ok = True
        if path != STDIN:
            try:
                os.stat(path)
            except OSError as exc:
                self.res.error = f"{path}: {exc.strerror or exc} at byte offset 0"
                self.ok = False
                return
        self.workers = workers if is_regular(path) else 1
        if fork:
            source, dup = path, None
            if path == STDIN:                      # multiprocessing closes fd 0 in a child: hand it a copy
                dup = os.dup(0)
                source = f"/dev/fd/{dup}"
            self.running = _spawn(source, display_name(path), sensor, self.workers, dissectors)
            if dup is not None:
                os.close(dup)

    def finish(self, sink: Sink) -> FileResult:
        res = self.res
        if not self.ok:
            return res
        if self.running is not None:
            snap, res.error, ident = _collect(*self.running, self.on_progress)
        else:
            snap, res.error, ident = _run_shard(self.path, display_name(self.path), self.sensor, 0, 1,
                                                self.on_progress, self.dissectors)
        assert ident is not None
        batch = build_batch(snap, self.sensor, batch_id_of(ident))
        st = snap.stats
        res.packets, res.bytes, res.flows = st["packets"], st["bytes"], st["flows"]
        res.anomalies, res.span_duplicates = st["anomalies"], st["span_duplicates"]
        res.not_decoded = {k.removeprefix(NOT_DECODED): v for k, v in st.items() if k.startswith(NOT_DECODED)}
        res.tunnels = {k.removeprefix(TUNNEL): v for k, v in st.items() if k.startswith(TUNNEL)}
        for t in batch.traffic:
            res.ot_bytes += t.bytes_seen
            res.ot_decoded += t.bytes_decoded
        seen_before = getattr(sink, "already_applied", None)
        if seen_before is not None and seen_before(self.sensor, ident.legacy()):
            return res                                 # counted by the previous release under its old id
        try:
            sink(batch)
        except Overlap as exc:
            res.refused = str(exc)
            return res
        res.batches.append(batch.batch_id)
        return res


def start(path: str, *, sensor: str = "replay", workers: int = 1, on_progress: Progress | None = None,
          fork: bool = True, dissectors: set[str] | None = None) -> Job:
    """Start a replay (``dissectors``: protocol names to run, None = all, empty = the spine alone). With
    ``fork`` the workers are processes that import the dissectors themselves, so the caller's process forks
    before it has loaded them and sets up its database meanwhile."""
    return Job(path, sensor, max(1, workers), on_progress, fork, dissectors)


def overlapping(factory, batch: Batch) -> str | None:  # type: ignore[no-untyped-def]
    """Why ``batch`` (a replayed file) would double counts already in the inventory, or None. It would when
    a different file with the same first packet was replayed (the same frames: a cut, repaired or extended
    copy), or the same file under another sensor name. The same file under the same name is a duplicate the
    collector skips by itself."""
    from sqlalchemy import or_, select

    from otscope.collector.models import AppliedBatch

    parts = batch.batch_id.split(":")
    if len(parts) != 3 or parts[1] == NO_PACKETS:
        return None                                # no packets: nothing to count twice
    first, whole = parts[1], parts[2]
    with factory() as s:
        rows = s.execute(select(AppliedBatch.sensor, AppliedBatch.batch_id).where(or_(
            AppliedBatch.batch_id.like(f"{FILE_PREFIX}{first}:%"),
            AppliedBatch.batch_id.like(f"{FILE_PREFIX}%:{whole}"))).order_by(AppliedBatch.id)).all()
    for sensor, bid in rows:
        if bid == batch.batch_id and sensor == batch.sensor:
            return None
    for sensor, bid in rows:
        if bid == batch.batch_id:
            return f"this file was already replayed as sensor {sensor!r} (batch {bid}): replaying it as " \
                   f"{batch.sensor!r} would count its packets twice"
        if bid.startswith(f"{FILE_PREFIX}{first}:"):
            return f"this file starts with the same packet as a different file already replayed (batch {bid}, " \
                   f"sensor {sensor!r}): a cut, repaired or extended copy, whose shared packets would count " \
                   f"twice; replay it into a fresh inventory instead"
    return None


def _applied(factory, sensor: str, batch_id: str) -> bool:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from otscope.collector.models import AppliedBatch

    with factory() as s:
        return s.scalar(select(AppliedBatch.id).where(AppliedBatch.sensor == sensor,
                                                       AppliedBatch.batch_id == batch_id)) is not None


def checked_sink(factory) -> Sink:  # type: ignore[no-untyped-def]
    """A sink that ingests a replayed file's batch unless it overlaps one already applied (raises Overlap)."""
    from otscope.collector.service import ingest

    def sink(batch: Batch) -> object:
        why = overlapping(factory, batch)
        if why:
            raise Overlap(why)
        return ingest(factory, batch)

    # an inventory made by the previous release holds a file under its old id (size, first MiB, last 64 KiB):
    # replayed again, it is a duplicate, not a new file
    sink.already_applied = lambda sensor, legacy: _applied(factory, sensor, f"{FILE_PREFIX}{legacy}")  # type: ignore[attr-defined]
    return sink


def _run_shard(path: str, name: str, sensor: str, k: int, n: int, on_progress: Progress | None,
               dissectors: set[str] | None = None) -> tuple[Snapshot, str | None, Identity | None]:
    from otscope.agent.pipeline import Pipeline
    from otscope.dissectors import registry

    registry.enable(dissectors)
    pipe = Pipeline(sensor, shard=(k, n))
    pipe.start_source(name)
    ident = Identity() if k == 0 else None         # every worker reads the file; one hashes it
    error = None
    old = gc.get_threshold()
    gc.set_threshold(50_000, 50, 100)          # the loop allocates few cycles; fewer collections
    try:
        for chunk in read_chunks(path, ident):
            pipe.feed_chunk(chunk)
            if on_progress is not None:
                on_progress(chunk.end - chunk.start, chunk.count)
    except CaptureError as exc:
        error = str(exc)
    except OSError as exc:
        error = f"{path}: {exc.strerror or exc} at byte offset 0"
    finally:
        gc.set_threshold(*old)
    return pipe.snapshot(), error, ident


PR_SET_PDEATHSIG = 1                           # prctl(2)


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Make this (forked) process receive ``sig`` when its parent dies (prctl(2) PR_SET_PDEATHSIG), and exit
    now if the parent already died before the call (the child was re-parented: getppid() changed)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass                                    # not Linux: the pipes still EOF once the parent is gone
    if os.getppid() != parent:
        os._exit(1)


def _worker(path: str, name: str, sensor: str, k: int, n: int, dissectors: set[str] | None, conn,  # type: ignore[no-untyped-def]
            inherited: list, parent: int) -> None:
    """One shard of a replay, in a child process; worker 0 also reports progress and the file's identity."""
    die_with_parent(parent)
    for other in inherited:                    # read ends this child inherited: the parent alone holds them,
        other.close()                          # so a send fails (never blocks) once the parent is gone
    try:
        progress = (lambda b, c: conn.send(("progress", b, c))) if k == 0 else None
        snap, error, ident = _run_shard(path, name, sensor, k, n, progress, dissectors)
        conn.send(("done", snap, error, ident and (ident.first, ident.digest(), ident.size, ident.legacy())))
    except BaseException as exc:  # noqa: BLE001 - report, never leave the parent waiting
        try:
            conn.send(("crash", f"{type(exc).__name__}: {exc}", None, None))
        except OSError:
            pass
    finally:
        conn.close()


def _spawn(path: str, name: str, sensor: str, n: int, dissectors: set[str] | None) -> tuple[list, list]:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    pipes, procs = [], []
    me = os.getpid()
    for k in range(n):
        parent, child = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_worker, args=(path, name, sensor, k, n, dissectors, child, [*pipes, parent], me),
                        daemon=True)
        p.start()
        child.close()
        pipes.append(parent)
        procs.append(p)
    return pipes, procs


class _Seen(Identity):
    """A worker's identity as it came back through the pipe."""

    def __init__(self, first: str | None, digest: str, size: int, legacy: str) -> None:  # noqa: D107
        self.first, self._digest, self.size, self._legacy = first, digest, size, legacy

    def digest(self) -> str:
        return self._digest

    def legacy(self) -> str:
        return self._legacy


def _collect(pipes: list, procs: list, on_progress: Progress | None) -> tuple[Snapshot, str | None, Identity | None]:
    snaps: list[Snapshot] = []
    error = None
    ident: Identity | None = None
    try:
        for k, conn in enumerate(pipes):
            while True:
                try:
                    msg = conn.recv()
                except EOFError:
                    raise RuntimeError(f"replay worker {k} died") from None
                if msg[0] == "progress":
                    if on_progress is not None:
                        on_progress(msg[1], msg[2])
                    continue
                if msg[0] == "crash":
                    raise RuntimeError(f"replay worker {k} failed: {msg[1]}")
                snaps.append(msg[1])
                error = error or msg[2]
                if msg[3] is not None:
                    ident = _Seen(*msg[3])
                break
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    return merge(snaps), error, ident


def now() -> float:
    return time.perf_counter()
