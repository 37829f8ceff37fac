"""The C fast path (agent/_fastscan.c) and the pure-Python loop must produce the same observations."""

from __future__ import annotations

import dataclasses
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from otscope.agent.pcapio import read_chunks
from otscope.agent.pipeline import Pipeline
from tests.conftest import PCAPS, run_pipeline, write_pcap
from tests.support.detach import detachments, dissector_errors
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


def canonical(path: Path, fast: bool, valid: bool = False) -> dict:
    """The batch of a file, canonical; no dissector raised (and, on valid traffic, none was detached)."""
    p = Pipeline(fast=fast)
    assert (p.fast is not None) == fast
    p.start_source(path.name)
    for ch in read_chunks(str(path)):
        p.feed_chunk(ch)
    b = p.cut_batch("x")
    assert dissector_errors(b) == {}
    if valid:
        assert detachments(b) == {} and p.stats.dissector_detached == 0
    key = lambda o: repr(o)  # noqa: E731
    # a conversation's profile is a counter: its keys' order is not an observation
    comm = lambda c: repr(dataclasses.replace(c, profile=dict(sorted(c.profile.items()))))  # noqa: E731
    return {"facts": sorted(map(key, b.facts)), "bindings": sorted(map(key, b.bindings)),
            "hosts": sorted(map(key, b.hosts)), "comms": sorted(map(comm, b.comms)),
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
    assert canonical(out, True, valid=True) == canonical(out, False, valid=True)


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


# ---- light flows: conversations on ports no dissector claims live in C alone (agent/_fastscan.c) ----------

HOSTS4 = [b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02", b"\x0a\x00\x00\xff", b"\xe0\x00\x00\x05", b"\x00\x00\x00\x00"]
HOSTS6 = [bytes.fromhex("fd00000000000000000000000000000" + c) for c in "12"] + [bytes.fromhex("ff02" + "00" * 13 + "01")]
LIGHT_PORTS = [53, 40000, 40001, 502]      # 502: a dissector's port beside light ones
TCP_FLAGS = [0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01]


def _ip4(src: bytes, dst: bytes, proto: int, body: bytes, ipid: int, ttl: int, frag: int) -> bytes:
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ipid, frag, ttl, proto, 0, src, dst) + body


def _light_frame(spec: tuple) -> bytes:
    v6, a, b, sp, dp, is_tcp, flags, plen, ipid, ttl, frag, group, ext = spec
    body = bytes(range(plen))
    if is_tcp:
        l4 = struct.pack(">HHIIBBHHH", LIGHT_PORTS[sp], LIGHT_PORTS[dp], 1000 + ipid * 7, 0, 0x50, TCP_FLAGS[flags],
                         1000, 0, 0) + body
    else:
        l4 = struct.pack(">HHHH", LIGHT_PORTS[sp], LIGHT_PORTS[dp], 8 + plen, 0) + body
    proto = 6 if is_tcp else 17
    if v6:
        src, dst = HOSTS6[a % 3], HOSTS6[b % 3]
        if ext:                                   # a hop-by-hop header: the fast path leaves it to Python
            l4 = bytes([proto, 0, 0, 0, 0, 0, 0, 0]) + l4
        ip = struct.pack(">IHBB16s16s", 6 << 28, len(l4), 0 if ext else proto, ttl, src, dst) + l4
        et = b"\x86\xdd"
    else:
        ip = _ip4(HOSTS4[a], HOSTS4[b], proto, l4, ipid, ttl, 0x2000 if frag else 0)
        et = b"\x08\x00"
    smac = b"\x01\x00\x5e\x00\x00\x01" if group else bytes([0, 0x1b, 0x1b, 0, 0, a])
    return bytes([0, 0x0c, 0x29, 0, 0, b]) + smac + et + ip


light_packets = st.lists(st.tuples(
    # few hosts and ports, so packets often meet a flow again (reuse, duplicates, adoption, eviction)
    st.tuples(st.integers(0, 4).map(lambda x: x == 0), st.sampled_from([0, 1, 0, 1, 2, 3, 4]),
              st.sampled_from([0, 1, 0, 1, 2, 3, 4]), st.sampled_from([0, 1, 1, 2, 3]), st.sampled_from([0, 1, 1, 2, 3]),
              st.booleans(), st.integers(0, 7), st.sampled_from([0, 0, 3, 40]), st.integers(0, 3),
              st.sampled_from([64, 63, 128]), st.integers(0, 9).map(lambda x: x == 0),
              st.integers(0, 9).map(lambda x: x == 0), st.integers(0, 9).map(lambda x: x == 0)),
    st.sampled_from([0.0, 0.0, 0.01, 0.02, 40.0, 200.0, 1000.0])), max_size=40)


def canonical_run(path: Path | list[Path], fast: bool, max_flows: int) -> dict | list[dict]:
    """One batch per file (several files: one pipeline, a batch cut after each, as the live sensor does)."""
    p = Pipeline(fast=fast, max_flows=max_flows)
    out = []
    for one in path if isinstance(path, list) else [path]:
        p.start_source(one.name)
        for ch in read_chunks(str(one)):
            p.feed_chunk(ch)
        b = p.cut_batch("x")
        assert dissector_errors(b) == {}
        got = {k: sorted(map(repr, getattr(b, k))) for k in ("facts", "bindings", "hosts", "comms", "traffic")}
        st_ = p.stats
        got["stats"] = (st_.packets, st_.bytes, st_.span_duplicates, st_.flows_created, st_.flows_expired,
                        st_.flows_evicted, st_.ip_fragments)
        out.append(got)
    return out if isinstance(path, list) else out[0]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(light_packets, st.sampled_from([200_000, 3, 1]))
# found by this test: a host talking to itself on one port, then a fragment (adoption must take the table's side)
@example([((False, 0, 0, 0, 0, True, 0, 0, 1, 64, False, True, True), 0.0),
          ((False, 0, 0, 0, 0, True, 0, 0, 1, 64, True, True, True), 0.0)], 200_000)
# an adopted flow's duplicate: C must know its last time, or the sweep expires it at once
@example([((False, 1, 0, 1, 1, True, 0, 0, 1, 64, False, True, True), 0.0),
          ((False, 1, 0, 1, 1, True, 0, 0, 1, 64, True, True, True), 0.0)], 200_000)
# a group source MAC on a flow C already knew: the next frame must go to Python again
@example([((False, 1, 0, 3, 0, False, 0, 0, 0, 64, True, True, True), 0.0),
          ((False, 1, 0, 3, 0, False, 0, 0, 0, 64, False, True, True), 40.0),
          ((False, 1, 0, 3, 0, False, 0, 0, 0, 64, False, False, True), 40.0)], 200_000)
def test_light_flows_match_the_python_loop(tmp_path: Path, packets, max_flows: int) -> None:
    ts, frames = 1_700_000_000.0, []
    for spec, gap in packets:
        ts += gap
        frames.append((ts, _light_frame(spec)))
    path = write_pcap(tmp_path / "light.pcap", frames)
    assert canonical_run(path, True, max_flows) == canonical_run(path, False, max_flows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(light_packets, st.integers(1, 6))
# found by this test: the Python loop took two IPv6 packets with the same frame number in two files for a
# SPAN duplicate (IPv6 has no IP id: never a duplicate)
@example([((True, 1, 0, 0, 1, True, 0, 0, 0, 64, True, True, False), 0.0),
          ((True, 1, 0, 0, 1, True, 0, 0, 0, 64, True, True, True), 0.0)], 1)
def test_light_flows_match_the_python_loop_batch_after_batch(tmp_path: Path, packets, per_batch: int) -> None:
    """Batches cut every few packets (live sensor): the sums C keeps per conversation, and the first-frame
    news it does not repeat within a batch, give the same batches."""
    ts, frames = 1_700_000_000.0, []
    for spec, gap in packets:
        ts += gap
        frames.append((ts, _light_frame(spec)))
    paths = [write_pcap(tmp_path / f"part{i}.pcap", frames[i:i + per_batch]) for i in range(0, len(frames), per_batch)]
    assert canonical_run(paths, True, 200_000) == canonical_run(paths, False, 200_000)


def test_light_flows_are_made_by_the_fast_path(tmp_path: Path) -> None:
    """DNS and HTTP flows never become Python objects; their totals still reach the batch."""
    frames = [_light_frame((False, 0, 1, 1, 0, False, 0, 3, i, 64, False, False, False)) for i in range(3)] + \
             [_light_frame((False, 1, 0, 0, 1, False, 0, 40, i, 64, False, False, False)) for i in range(3)]
    path = write_pcap(tmp_path / "dns.pcap", frames)
    p = Pipeline(fast=True)
    for ch in read_chunks(str(path)):
        p.feed_chunk(ch)
    assert p.active == {} and p.fast.light_count() == (1, 1)
    b = p.cut_batch("x")
    assert [(c.client.ip, c.server.ip, c.port, c.packets) for c in b.comms] == [("10.0.0.1", "10.0.0.2", 53, 6)]
    assert canonical_run(path, True, 10) == canonical_run(path, False, 10)


def test_flow_table_stays_bounded_by_live_flows(tmp_path: Path) -> None:
    """Days of short flows: the C table is rebuilt without its tombstones instead of doubling for every flow
    ever seen (30,000 DNS lookups, about 360 alive at a time)."""
    frames = []
    for i in range(30_000):
        ts = 1_700_000_000.0 + i * 0.5
        q = _light_frame((False, 0, 1, 1, 0, False, 0, 3, i & 3, 64, False, False, False))
        q = q[:34] + struct.pack(">H", 1024 + i % 60000) + q[36:]           # a new client port per lookup
        frames.append((ts, q + bytes(1400)))      # (an Ethernet trailer: 1 MiB chunks of ~6 min, swept often)
    path = write_pcap(tmp_path / "dns.pcap", frames)
    p = Pipeline(fast=True)
    for ch in read_chunks(str(path)):
        p.feed_chunk(ch)
    assert p.fast.light_count()[1] >= 29_900           # (a few client ports are OT ports: Python flows)
    assert p.fast.table_size()[0] <= 8192
    b = p.cut_batch("x")
    assert p.stats.flows_created == 30_000
    assert sum(c.packets for c in b.comms) == 30_000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(light_packets)
def test_host_cap_is_the_same_in_both_loops(tmp_path: Path, packets) -> None:
    """Beyond max_hosts a host is not tracked (a batch with refusals says so once), identically in both loops."""
    ts, frames = 1_700_000_000.0, []
    for spec, gap in packets:
        ts += gap
        frames.append((ts, _light_frame(spec)))
    path = write_pcap(tmp_path / "cap.pcap", frames)
    runs = []
    for fast in (True, False):
        p = Pipeline(fast=fast, max_hosts=2)
        for ch in read_chunks(str(path)):
            p.feed_chunk(ch)
        b = p.cut_batch("x")
        assert dissector_errors(b) == {}
        assert len(p.hosts) <= 2
        runs.append((sorted(map(repr, b.hosts)), sorted(map(repr, b.comms)), sorted(map(repr, b.anomalies)),
                     p.stats.anomalies))
    assert runs[0] == runs[1]


class AlwaysRaises:
    """A dissector with a bug on every input: the capture goes on, the checks above must still see it."""

    def __new__(cls):  # type: ignore[no-untyped-def]
        from otscope.dissectors.modbus.dissector import ModbusDissector

        class Raising(ModbusDissector):
            def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
                raise ValueError("always")
        return Raising()


@pytest.mark.parametrize("fast", [True, False], ids=["c-fast-path", "python-loop"])
def test_a_dissector_that_always_raises_is_seen(monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    from otscope.agent import pipeline as pipeline_mod

    monkeypatch.setattr(pipeline_mod, "tcp_dissector_for", lambda s, c=-1: AlwaysRaises if s == 502 else None)
    p = Pipeline(fast=fast)
    p.start_source("modbus_plant.pcap")
    for ch in read_chunks(str(PCAPS / "modbus_plant.pcap")):
        p.feed_chunk(ch)
    b = p.cut_batch("x")
    errors = dissector_errors(b)
    assert list(errors) == ["modbus: detached: dissector-error ValueError"]
    assert errors == detachments(b) and sum(errors.values()) == p.stats.dissector_detached > 0


def test_a_stale_c_build_falls_back_to_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """A _fastscan built from another version of the C file would misread every event: not used, said once."""
    from otscope.agent import _fastscan as built, flowtable

    assert flowtable.c_table(0.05, (0, 1)) is not None
    monkeypatch.setattr(built, "EV_DRAIN", 99)
    with pytest.warns(RuntimeWarning, match="EV_DRAIN"):
        assert flowtable.c_table(0.05, (0, 1)) is None
    monkeypatch.undo()
    monkeypatch.delattr(built, "LightTotals")
    with pytest.warns(RuntimeWarning, match="LightTotals"):
        assert Pipeline(fast=True).fast is None


def test_c_records_have_the_fields_python_reads() -> None:
    from otscope.agent import _fastscan as built

    t = built.Table(0.05, 0, 1)
    assert (t.light_count().live, t.light_count().created) == (0, 0)
    assert t.counters(0).pk0 == 0 and t.state(0).fin == 0 and t.spec_counts(0).decoded == 0
    assert built.LightTotals.n_fields == 11 and built.Adopted.n_fields == 20 and built.Event.n_fields == 7
    assert built.Peek.n_fields == 10 and built.ScanResult.n_fields == 7 and built.FirstFrame.n_fields == 7


# ---- random valid OT traffic: both loops agree and no dissector is detached --------------------------------

def _mbap(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu           # MBAP header (Modbus/TCP 3.1.3)


def _modbus_exchange(tid: int, unit: int, kind: str, n: int, addr: int) -> tuple[bytes, bytes]:
    """A request and its answer, well formed (Modbus Application Protocol V1.1b3 6.3, 6.6, 6.12, 7)."""
    if kind == "read":
        req, rsp = struct.pack(">BHH", 3, addr, n), bytes([3, 2 * n]) + bytes(range(2 * n))
    elif kind == "write1":
        req = rsp = struct.pack(">BHH", 6, addr, n)
    elif kind == "writen":
        req, rsp = struct.pack(">BHHB", 16, addr, n, 2 * n) + bytes(2 * n), struct.pack(">BHH", 16, addr, n)
    else:
        req, rsp = struct.pack(">BHH", 3, addr, n), bytes([0x83, 2])         # exception: illegal data address
    return _mbap(tid, unit, req), _mbap(tid, unit, rsp)


modbus_traffic = st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(1, 247),
                                    st.sampled_from(["read", "write1", "writen", "exception"]), st.integers(1, 100),
                                    st.integers(0, 0xFFFF), st.integers(0, 12), st.integers(0, 12)),
                          min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(modbus_traffic, st.booleans())
def test_random_valid_modbus_is_never_detached(tmp_path: Path, exchanges, handshake: bool) -> None:
    from tests.support.frames import TcpSession

    s = TcpSession("10.0.0.1", "10.0.0.2", 40000, 502)
    if handshake:
        s.handshake()
    for tid, unit, kind, n, addr, cut_req, cut_rsp in exchanges:
        req, rsp = _modbus_exchange(tid, unit, kind, n, addr)
        for send, adu, cut in ((s.to_server, req, cut_req), (s.to_client, rsp, cut_rsp)):
            if 0 < cut < len(adu):                 # one ADU in two segments
                send(adu[:cut])
                send(adu[cut:])
            else:
                send(adu)
    path = write_pcap(tmp_path / "mb.pcap", s.frames)
    assert canonical(path, True, valid=True) == canonical(path, False, valid=True)
    (t,) = run_pipeline(path)[1].traffic
    assert (t.protocol, t.bytes_decoded) == ("modbus", t.bytes_seen)          # every byte understood


# ---- peeked IT flows (issue 16): light in C, their first bytes to a dissector; the same as the Python loop ----

_HTTP_REQ = b"GET / HTTP/1.1\r\nHost: plc\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\n\r\n"
_HTTP_RSP = (b"HTTP/1.1 200 OK\r\nServer: Apache/2.4.41 (Ubuntu)\r\nContent-Type: text/html\r\n\r\n"
             b"<html><head><title>Plant HMI</title></head></html>")
_SSH_C, _SSH_S = b"SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11\r\n", b"SSH-2.0-OpenSSH_7.4\r\n"
_PEEK_PORTS = (80, 22, 8080, 21)
_PEEK_PAYLOADS = {80: (_HTTP_REQ, _HTTP_RSP), 8080: (_HTTP_REQ, b"garbage, not http\r\n" * 3),
                  22: (_SSH_C, _SSH_S), 21: (b"USER anonymous\r\n", b"220 (vsFTPd 3.0.3)\r\n")}


def _peek_session(spec: tuple, ts: float) -> list[tuple[float, bytes]]:
    """One conversation on a peeked port: handshake or not, the payloads cut into pieces, some sent twice
    (retransmission), some held back (a gap), big bodies (the budget), all in capture order."""
    from tests.support.frames import TcpSession

    port_i, handshake, cut, dup, hold, pad, cport, host = spec
    port = _PEEK_PORTS[port_i]
    s = TcpSession(f"10.1.0.{10 + host}", "10.1.0.2", 40000 + cport, port, cmac=f"00:0c:29:00:01:{host:02x}")
    if handshake:
        s.handshake()
    frames: list[bytes] = list(s.frames)
    req, rsp = _PEEK_PAYLOADS[port]
    for side, data in ((0, req), (1, rsp + b"x" * pad)):
        pieces = [data[i:i + cut] for i in range(0, len(data), cut)] if cut else [data]
        sent = []
        for i, piece in enumerate(pieces):
            f = s.to_server(piece) if side == 0 else s.to_client(piece)
            sent.append(f)
            if i == dup:
                sent.append(f)                       # the same segment again (a retransmission; a SPAN copy)
        if hold is not None and 0 <= hold < len(sent) - 1:
            sent[hold], sent[hold + 1] = sent[hold + 1], sent[hold]     # out of order: a gap for the peek
        frames.extend(sent)
    return [(ts + i * 0.001, f) for i, f in enumerate(frames)]


peek_sessions = st.lists(st.tuples(
    st.integers(0, len(_PEEK_PORTS) - 1), st.booleans(), st.sampled_from([0, 0, 7, 40, 1500]),
    st.sampled_from([-1, -1, 0, 1]), st.sampled_from([None, None, 0, 1]), st.sampled_from([0, 0, 3000, 20000]),
    st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(peek_sessions)
def test_peeked_it_flows_match_the_python_loop(tmp_path: Path, sessions) -> None:
    frames: list[tuple[float, bytes]] = []
    for i, spec in enumerate(sessions):
        frames.extend(_peek_session(spec, 1_700_000_000.0 + i * 0.5))
    frames.sort(key=lambda f: f[0])
    path = write_pcap(tmp_path / "peek.pcap", frames)
    assert canonical_run(path, True, 200_000) == canonical_run(path, False, 200_000)


def test_peeked_flows_stay_light_and_are_identified(tmp_path: Path) -> None:
    """An HTTP exchange on tcp/80: C keeps the flow light (no Python flow), hands over its first bytes only,
    and the facts, the label and the conversation are those of the Python loop."""
    frames = _peek_session((0, True, 1460, -1, None, 20000, 0, 0), 1_700_000_000.0)
    path = write_pcap(tmp_path / "one.pcap", frames)
    p = Pipeline(fast=True)
    seen: list[int] = []
    orig = p.peeks.event                                # type: ignore[union-attr]
    p.peeks.event = lambda ev: (seen.append(len(ev.payload.data)), orig(ev))[1]  # type: ignore[union-attr]
    p.start_source("one.pcap")
    for ch in read_chunks(str(path)):
        p.feed_chunk(ch)
    assert not p.active                                 # no Python flow was made
    b = p.cut_batch("x")
    facts = {(f.field, f.value) for f in b.facts}
    assert {("http_server", "Apache/2.4.41 (Ubuntu)"), ("http_title", "Plant HMI"), ("os_family", "linux"),
            ("protocol", "http-server"), ("protocol", "http-client")} <= facts
    assert [c.protocol for c in b.comms] == ["http"]
    assert len(seen) == 2 and sum(seen) < 2000          # the request and the answer's first segment, not 20 kB
    assert canonical_run(path, True, 200_000) == canonical_run(path, False, 200_000)
