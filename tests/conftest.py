from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from otscope.agent.pcapio import read_chunks
from otscope.agent.pipeline import Pipeline
from otscope.agent.replay import replay_file
from otscope.collector.db import init_schema, make_engine, session_factory
from otscope.collector.queries import list_assets
from otscope.collector.service import ingest
from otscope.contract import Batch
from tests.support.truth import CAPTURES

ROOT = Path(__file__).resolve().parents[1]
PCAPS = ROOT / "pcaps"

needs_shared = pytest.mark.skipif(not CAPTURES.is_dir(), reason="../shared/pcaps is not beside the project")


def write_pcap(path: Path, frames: Iterable[bytes | tuple[float, bytes]], linktype: int = 1, endian: str = "<",
               nano: bool = False) -> Path:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    with open(path, "wb") as fh:
        fh.write(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype))
        for i, fr in enumerate(frames):
            ts, data = fr if isinstance(fr, tuple) else (1_700_000_000 + i * 0.001, fr)
            sec = int(ts)
            frac = int(round((ts - sec) * (1e9 if nano else 1e6)))
            fh.write(struct.pack(endian + "IIII", sec, frac, len(data), len(data)) + data)
    return path


def run_pipeline(path: Path | str, **kw) -> tuple[Pipeline, Batch]:
    p = Pipeline(**kw)
    p.start_source(os.path.basename(str(path)))
    for chunk in read_chunks(str(path)):
        p.feed_chunk(chunk)
    return p, p.cut_batch("test")


class Inventory:
    """A temporary SQLite inventory with helpers to replay files into it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        init_schema(self.engine)
        self.factory = session_factory(self.engine)
        self.batches: list[Batch] = []          # every batch ingested (tests look at their anomalies)

    def replay(self, *paths: Path | str, sensor: str = "replay", workers: int = 1):
        return [replay_file(str(p), self._ingest, sensor=sensor, workers=workers) for p in paths]

    def _ingest(self, batch: Batch) -> None:
        self.batches.append(batch)
        ingest(self.factory, batch)

    def assets(self) -> list[dict]:
        with self.factory() as s:
            return list_assets(s)

    def by_ip(self, ip: str) -> list[dict]:
        return [a for a in self.assets() if ip in a["ips"]]


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    return Inventory(f"sqlite:///{tmp_path}/inv.db")


@pytest.fixture
def make_inventory(tmp_path: Path) -> Callable[[str], Inventory]:
    return lambda name: Inventory(f"sqlite:///{tmp_path}/{name}.db")


@pytest.fixture(scope="session")
def tmpdir_session() -> Iterable[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)
