"""Offline audit: stream capture files through the pipeline into an inventory.

Each file gets its own pipeline (or N pipelines, one per shard of the conversations) and a content
fingerprint; its observations go to the collector as one batch named ``file:<fingerprint>``, so replaying
the same file again produces the same batch id, which the collector has already applied: nothing doubles.
Memory stays flat: the pipeline keeps flows (capped), hosts and distinct facts, never packets.
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from otscope.agent.pcapio import CaptureError, read_chunks
from otscope.agent.snapshot import Snapshot, build_batch, merge
from otscope.contract import Batch



def fingerprint(path: str) -> str:
    """sha256 over size, the first MiB and the last 64 KiB: cheap on a 50 GB file, stable across runs."""
    h = hashlib.sha256()
    size = os.path.getsize(path)
    h.update(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 20))
        if size > (1 << 20):
            fh.seek(max(size - (1 << 16), 1 << 20))
            h.update(fh.read())
    return h.hexdigest()[:24]


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


Sink = Callable[[Batch], object]
Progress = Callable[[int, int], None]


def replay_file(path: str, sink: Sink, *, sensor: str = "replay", on_progress: Progress | None = None,
                workers: int = 1, dissectors: set[str] | None = None) -> FileResult:
    """Replay one file into ``sink`` as a single batch ``file:<fingerprint>`` (the same batch whatever the
    number of workers, so a file replayed again, by any command line, is recognised and applied once)."""
    return start(path, sensor=sensor, workers=workers, on_progress=on_progress, fork=workers > 1,
                 dissectors=dissectors).finish(sink)


class Job:
    """A replay under way: in this process (finish() does the work) or in forked workers (already running,
    so the caller can set up its database meanwhile)."""

    def __init__(self, path: str, sensor: str, workers: int, on_progress: Progress | None, fork: bool,
                 dissectors: set[str] | None) -> None:
        self.path, self.sensor, self.workers, self.on_progress = path, sensor, workers, on_progress
        self.dissectors = dissectors
        self.res = FileResult(path)
        self.fp: str | None = None
        self.running: tuple | None = None
        try:
            self.fp = fingerprint(path)
        except OSError as exc:
            self.res.error = f"{path}: {exc.strerror or exc} at byte offset 0"
            return
        if fork:
            self.running = _spawn(path, sensor, workers, dissectors)

    def finish(self, sink: Sink) -> FileResult:
        res = self.res
        if self.fp is None:
            return res
        if self.running is not None:
            snap, res.error = _collect(*self.running, self.on_progress)
        else:
            snap, res.error = _run_shard(self.path, self.sensor, 0, 1, self.on_progress, self.dissectors)
        batch = build_batch(snap, self.sensor, f"file:{self.fp}")
        st = snap.stats
        res.packets, res.bytes, res.flows = st["packets"], st["bytes"], st["flows"]
        res.anomalies, res.span_duplicates = st["anomalies"], st["span_duplicates"]
        for t in batch.traffic:
            res.ot_bytes += t.bytes_seen
            res.ot_decoded += t.bytes_decoded
        res.batches.append(batch.batch_id)
        sink(batch)
        return res


def start(path: str, *, sensor: str = "replay", workers: int = 1, on_progress: Progress | None = None,
          fork: bool = True, dissectors: set[str] | None = None) -> Job:
    """Start a replay (``dissectors``: protocol names to run, None = all, empty = the spine alone). With
    ``fork`` the workers are processes that import the dissectors themselves, so the caller's process forks
    before it has loaded them and sets up its database meanwhile."""
    return Job(path, sensor, max(1, workers), on_progress, fork, dissectors)


def _run_shard(path: str, sensor: str, k: int, n: int, on_progress: Progress | None,
               dissectors: set[str] | None = None) -> tuple[Snapshot, str | None]:
    from otscope.agent.pipeline import Pipeline
    from otscope.dissectors import registry

    registry.enable(dissectors)
    pipe = Pipeline(sensor, shard=(k, n))
    pipe.start_source(os.path.basename(path))
    error = None
    old = gc.get_threshold()
    gc.set_threshold(50_000, 50, 100)          # the loop allocates few cycles; fewer collections
    try:
        for chunk in read_chunks(path):
            pipe.feed_chunk(chunk)
            if on_progress is not None:
                on_progress(chunk.end - chunk.start, chunk.count)
    except CaptureError as exc:
        error = str(exc)
    except OSError as exc:
        error = f"{path}: {exc.strerror or exc} at byte offset 0"
    finally:
        gc.set_threshold(*old)
    return pipe.snapshot(), error


def _worker(path: str, sensor: str, k: int, n: int, dissectors: set[str] | None, conn) -> None:  # type: ignore[no-untyped-def]
    """One shard of a replay, in a child process; worker 0 also reports progress."""
    try:
        progress = (lambda b, c: conn.send(("progress", b, c))) if k == 0 else None
        snap, error = _run_shard(path, sensor, k, n, progress, dissectors)
        conn.send(("done", snap, error))
    except BaseException as exc:  # noqa: BLE001 - report, never leave the parent waiting
        conn.send(("crash", f"{type(exc).__name__}: {exc}", None))
    finally:
        conn.close()


def _spawn(path: str, sensor: str, n: int, dissectors: set[str] | None) -> tuple[list, list]:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    pipes, procs = [], []
    for k in range(n):
        parent, child = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_worker, args=(path, sensor, k, n, dissectors, child), daemon=True)
        p.start()
        child.close()
        pipes.append(parent)
        procs.append(p)
    return pipes, procs


def _collect(pipes: list, procs: list, on_progress: Progress | None) -> tuple[Snapshot, str | None]:
    snaps: list[Snapshot] = []
    error = None
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
                break
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    return merge(snaps), error


def now() -> float:
    return time.perf_counter()
