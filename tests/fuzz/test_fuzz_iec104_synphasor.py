"""Property-based fuzzing of the IEC 60870-5-104 and IEEE C37.118 packages: no parser raises anything but
Truncated/Malformed; no dissector raises, on random bytes or on real frames with bytes overwritten; a stream cut
at random points gives the same facts; the per-flow state stays bounded."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.base import FATAL, Malformed, Truncated
from otscope.dissectors.iec104 import grammar as iec104
from otscope.dissectors.iec104.dissector import Iec104Dissector
from otscope.dissectors.synphasor import grammar as synphasor
from otscope.dissectors.synphasor.dissector import SynphasorDissector, SynphasorUdpDissector
from tests.unit.test_iec104 import GI_ACT, GI_CON, M_ME_TF, S_FRAME, SC_ACT, STARTDT_ACT, STARTDT_CON
from tests.unit.test_synphasor import CFG2, CMD_CFG2, cfg2, cfg3, frame, pmu_block

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DISSECTORS = (Iec104Dissector, SynphasorDissector, SynphasorUdpDissector)
MULTI = cfg2(60, [pmu_block(b"PMU1", 61), pmu_block(b"PMU2", 62, ph=2, an=1, dg=1)])
REAL = [STARTDT_ACT, GI_ACT, M_ME_TF, SC_ACT, CFG2, CMD_CFG2, MULTI, cfg3(9, b"Station Nine", 19)]
GRAMMARS = [
    iec104.parse_apdu, iec104.parse_asdu, lambda b: iec104.apdu_length(b, 0) if len(b) >= 2 else None,
    synphasor.parse_header, synphasor.parse_config, lambda b: synphasor.parse_config(b, cfg3=True),
    synphasor.parse_command, lambda b: synphasor.parse_header_text(b, 64),
    lambda b: synphasor.frame_size(b, 0) if len(b) >= 4 else None,
]


def _parse(which: int, data: bytes) -> None:
    try:
        GRAMMARS[which](data)
    except (Truncated, Malformed):
        pass


@FUZZ
@given(st.binary(max_size=400), st.integers(0, len(GRAMMARS) - 1))
def test_grammars_raise_only_their_own_errors(data: bytes, which: int) -> None:
    _parse(which, data)


@FUZZ
@given(st.binary(max_size=60), st.integers(0, 400), st.integers(0, len(REAL) - 1), st.integers(0, len(GRAMMARS) - 1))
def test_grammars_on_mutated_real_frames(noise: bytes, at: int, which: int, grammar: int) -> None:
    buf = bytearray(REAL[which])
    buf[at % len(buf):at % len(buf) + len(noise)] = noise
    _parse(grammar, bytes(buf))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=300)), max_size=12))
def test_dissectors_never_raise_on_random_bytes(msgs) -> None:
    for cls in DISSECTORS:
        d = cls()
        for i, (side, data) in enumerate(msgs):
            if d.feed(data, side, 1.0, i) == FATAL:
                break


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, len(REAL) - 1), st.binary(max_size=8),
                          st.integers(0, 300)), max_size=16))
def test_dissectors_never_raise_on_mutated_streams(msgs) -> None:
    """Valid openings (so the flow is labelled and goes on) followed by real frames with bytes overwritten."""
    opening = {Iec104Dissector: [(0, STARTDT_ACT), (1, STARTDT_CON)],
               SynphasorDissector: [(0, CMD_CFG2), (1, CFG2)], SynphasorUdpDissector: [(0, CMD_CFG2), (1, CFG2)]}
    for cls in DISSECTORS:
        d = cls()
        for side, data in opening[cls]:
            d.feed(data, side, 1.0, 0)
        for i, (side, which, noise, at) in enumerate(msgs):
            buf = bytearray(REAL[which])
            buf[at % len(buf):at % len(buf) + len(noise)] = noise
            if d.feed(bytes(buf), side, 1.0, i + 1) == FATAL:
                break
        assert len(d.out) < 4096 and len(d.anomalies) < 4096


STREAMS = {
    Iec104Dissector: [(0, STARTDT_ACT + GI_ACT + SC_ACT), (1, STARTDT_CON + GI_CON + M_ME_TF + S_FRAME)],
    SynphasorDissector: [(0, CMD_CFG2 + frame(4, 60, b"\x00\x02")), (1, CFG2 + MULTI + frame(0, 60, b"\1" * 30))],
}


def _facts(cls, stream, cuts: list[int]):
    d = cls()
    for side, data in stream:
        points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        for a, b in zip(points, points[1:]):
            assert d.feed(data[a:b], side, 1.0, 1) != FATAL
    return sorted(((f.who, f.field, f.value, f.component or "") for f in d.out)), dict(d.profile), d.decoded


@FUZZ
@given(st.lists(st.integers(0, 10_000), max_size=8), st.sampled_from(sorted(STREAMS, key=lambda c: c.__name__)))
def test_random_segmentation_gives_the_same_facts(cuts: list[int], cls) -> None:
    stream = STREAMS[cls]
    whole = _facts(cls, stream, [])
    assert whole[0] and _facts(cls, stream, cuts) == whole


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(REAL) - 1), st.binary(max_size=6), st.integers(0, 300)), max_size=12),
       st.sampled_from([(6, 2404), (6, 4712), (17, 4713)]))
def test_mutated_frames_through_the_pipeline(tmp_path_factory, msgs, proto_port) -> None:
    """Real frames with bytes overwritten, behind Ethernet/IPv4/TCP or UDP to the protocol's port: the capture
    loop never has to detach one of these dissectors for raising."""
    import struct as _struct

    from otscope.agent.pcapio import read_chunks
    from otscope.agent.pipeline import Pipeline
    from tests.conftest import write_pcap
    from tests.support.detach import dissector_errors

    proto, port = proto_port
    eth = bytes.fromhex("001b1b000001000c290000020800")
    pkts, seq = [], 1000
    for i, (which, noise, at) in enumerate(msgs):
        buf = bytearray(REAL[which])
        buf[at % len(buf):at % len(buf) + len(noise)] = noise
        if proto == 6:
            l4 = _struct.pack(">HHIIBBHHH", 40000, port, seq, 0, 0x50, 0x18, 1000, 0, 0)
            seq += len(buf)
        else:
            l4 = _struct.pack(">HHHH", 40000, port, 8 + len(buf), 0)
        ip = _struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4) + len(buf), i, 0, 64, proto, 0, b"\n\0\0\1",
                          b"\n\0\0\2")
        pkts.append(eth + ip + l4 + bytes(buf))
    path = write_pcap(tmp_path_factory.mktemp("fz") / "grid.pcap", pkts)
    pipe = Pipeline()
    for chunk in read_chunks(str(path)):
        pipe.feed_chunk(chunk)
    assert dissector_errors(pipe.cut_batch("fuzz")) == {}
