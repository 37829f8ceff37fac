"""The C fast path (agent/_fastscan.c) and the pure-Python loop must produce the same observations."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.agent.pcapio import read_chunks
from otscope.agent.pipeline import Pipeline
from tests.conftest import PCAPS, write_pcap
from tests.support.truth import CAPTURES

try:
    from otscope.agent import _fastscan  # noqa: F401
    BUILT = True
except ImportError:
    BUILT = False

pytestmark = pytest.mark.skipif(not BUILT and not os.environ.get("CI"), reason="C fast path not built")
SHARED_GEN = Path(__file__).resolve().parents[2].parent / "shared" / "bench" / "make_mixed_pcap.py"


def test_fast_path_is_built_in_ci() -> None:
    assert BUILT, "the C extension must build here (gcc and Python headers are on this machine)"


def canonical(path: Path, fast: bool) -> dict:
    p = Pipeline(fast=fast)
    assert (p.fast is not None) == fast
    p.start_source(path.name)
    for ch in read_chunks(str(path)):
        p.feed_chunk(ch)
    b = p.cut_batch("x")
    key = lambda o: repr(o)  # noqa: E731
    return {"facts": sorted(map(key, b.facts)), "bindings": sorted(map(key, b.bindings)),
            "hosts": sorted(map(key, b.hosts)), "comms": sorted(map(key, b.comms)),
            "traffic": sorted(map(key, b.traffic)), "anomalies": sorted(map(key, b.anomalies)),
            "stats": (p.stats.packets, p.stats.bytes, p.stats.span_duplicates, p.stats.flows_created)}


def files() -> list[Path]:
    shared = sorted(p for p in CAPTURES.rglob("*") if p.is_file()) if CAPTURES.is_dir() else []
    return sorted(PCAPS.glob("*.pcap")) + shared


@pytest.mark.parametrize("path", files(), ids=lambda p: p.name)
def test_same_observations(path: Path) -> None:
    assert canonical(path, True) == canonical(path, False)


@pytest.mark.skipif(not SHARED_GEN.exists(), reason="../shared/bench is not beside the project")
def test_same_observations_on_the_reference_workload(tmp_path: Path) -> None:
    out = tmp_path / "mixed.pcap"
    subprocess.run([sys.executable, str(SHARED_GEN), "-n", "40000", "-o", str(out), "-q"], check=True, timeout=300)
    assert canonical(out, True) == canonical(out, False)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from([b"\x08\x00", b"\x86\xdd", b"\x81\x00", b"\x08\x06"]),
                          st.binary(min_size=0, max_size=120)), max_size=30))
def test_same_observations_on_random_frames(tmp_path: Path, frames) -> None:
    pkts = []
    for i, (et, body) in enumerate(frames):
        # a real IPv4/TCP header most of the time, so random bodies reach the flow table and dissectors
        if et == b"\x08\x00" and i % 2 == 0:
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + len(body), i, 0, 64, 6, 0, b"\n\0\0\1", b"\n\0\0\2")
            body = ip + struct.pack(">HHIIBBHHH", 40000 + i % 3, 502, 1000 + i, 0, 0x50, 0x18, 1000, 0, 0) + body
        pkts.append(b"\x00\x1b\x1b\x00\x00\x01\x00\x0c\x29\x00\x00\x02" + et + body)
    path = write_pcap(tmp_path / "r.pcap", pkts)
    assert canonical(path, True) == canonical(path, False)
