"""IEEE C37.118 grammar and per-flow dissectors: hex cases (C37.118.2-2011 6.2, 6.4, 6.6, Annex B), CRC,
segmentation, malformed frames, non-C37.118 bytes on 4712/4713."""

from __future__ import annotations

import struct

import pytest

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Malformed, Truncated, Who
from otscope.dissectors.synphasor.dissector import SynphasorDissector, SynphasorUdpDissector
from otscope.dissectors.synphasor.grammar import (crc_ccitt, crc_ok, frame_size, parse_command, parse_config,
                                                  parse_header)

# ITI C37.118_1PMU_TCP.pcap frames 4 (command "send CFG-2" to IDCODE 241) and 6 (its CFG-2: "Blue PMU", 50/s)
CMD_CFG2 = bytes.fromhex("aa41001200f100000000000000000005d7d0")
CFG2 = bytes.fromhex(
    "aa31008600f14893344a0019999a00ffffff0001426c756520504d55202020202020202000f1000600040000000056314c504d"
    "202020202020202020202056414c504d202020202020202020202056424c504d202020202020202020202056434c504d2020202020"
    "20202020202000000001000000010000000100000001000100590032c1e2")


def frame(ftype: int, idcode: int, payload: bytes, version: int = 1) -> bytes:
    """A C37.118 frame with a valid CHK (6.2, Annex B)."""
    size = 14 + len(payload) + 2
    head = struct.pack(">BBHHII", 0xAA, ftype << 4 | version, size, idcode, 0x5F000000, 0)
    body = head + payload
    return body + struct.pack(">H", crc_ccitt(body))


def pmu_block(name: bytes, idcode: int, ph: int = 1, an: int = 0, dg: int = 0) -> bytes:
    return (name.ljust(16) + struct.pack(">HHHHH", idcode, 0, ph, an, dg) + b"N" * 16 * (ph + an + 16 * dg)
            + b"\0" * 4 * (ph + an + dg) + struct.pack(">HH", 0, 1))


def cfg2(idcode: int, blocks: list[bytes], rate: int = 30, ftype: int = 3) -> bytes:
    return frame(ftype, idcode, struct.pack(">IH", 1000000, len(blocks)) + b"".join(blocks) + struct.pack(">h", rate))


def cfg3(idcode: int, name: bytes, pmu_id: int, rate: int = 60, cont: int = 0) -> bytes:
    block = (bytes([len(name)]) + name + struct.pack(">H", pmu_id) + b"G" * 16 + struct.pack(">HHHH", 0, 1, 0, 0)
             + b"\x02VA" + b"\0" * 12 + b"\0" * (4 + 4 + 4 + 1 + 4 + 4 + 2 + 2))
    return frame(5, idcode, struct.pack(">HIH", cont, 1000000, 1) + block + struct.pack(">h", rate), version=2)


def facts(d: SynphasorDissector) -> set[tuple[int, str, str, str | None]]:
    return {(f.who, f.field, f.value, f.component) for f in d.out}


def test_crc_is_crc_ccitt_false() -> None:
    assert crc_ccitt(b"123456789") == 0x29B1            # the CRC-CCITT (0xFFFF) check value
    assert crc_ok(CMD_CFG2) and crc_ok(CFG2)
    assert not crc_ok(CFG2[:-1] + b"\x00")


def test_header_command_and_config() -> None:
    h = parse_header(CFG2)
    assert (h.type.name, h.version, h.size, h.idcode) == ("CFG2", 1, 0x86, 241)
    assert parse_command(CMD_CFG2) == 5
    c = parse_config(CFG2)
    assert (c.num_pmu, c.data_rate, c.time_base) == (1, 50, 0xFFFFFF)
    assert [(p.station, p.idcode, p.phasors, p.analogs, p.digitals) for p in c.pmus] == [("Blue PMU", 241, 4, 0, 0)]
    assert parse_config(cfg2(7, [pmu_block(b"A", 7)], rate=-5)).data_rate == -5     # 1 frame per 5 s


def test_cfg3() -> None:
    c = parse_config(cfg3(9, b"Station Nine", 19), cfg3=True)
    assert [(p.station, p.idcode, p.phasors) for p in c.pmus] == [("Station Nine", 19, 1)] and c.data_rate == 60
    with pytest.raises(Malformed):
        parse_config(cfg3(9, b"X", 19, cont=1), cfg3=True)


@pytest.mark.parametrize("raw", [
    cfg2(7, [pmu_block(b"A", 7)])[:-4] + b"\0\0",                                 # blocks overrun FRAMESIZE
    frame(3, 7, struct.pack(">IH", 0, 2) + pmu_block(b"A", 7) + b"\0\0"),        # NUM_PMU 2, one block
    frame(3, 7, struct.pack(">IH", 0, 0) + b"\0\0\0\0"),                         # bytes after DATA_RATE
])
def test_config_malformed(raw: bytes) -> None:
    with pytest.raises((Truncated, Malformed)):
        parse_config(raw)


@pytest.mark.parametrize("raw", [b"\xab\x41\x00\x12", b"\xaa\xc1\x00\x12", b"\xaa\x71\x00\x12", b"\xaa\x41\x00\x0f"])
def test_frame_size_refuses_bad_sync_type_and_size(raw: bytes) -> None:
    with pytest.raises(Malformed):
        frame_size(raw, 0)


def test_pmu_and_pdc_roles_names_and_idcodes() -> None:
    d = SynphasorDissector()
    data = frame(0, 241, b"\x00" * 20)
    assert [d.feed(m, s, 1.0, i + 1) for i, (s, m) in enumerate([(0, CMD_CFG2), (1, CFG2), (1, data)])] == [OK] * 3
    assert d.confirmed
    f = facts(d)
    assert {(Who.SERVER, "protocol", "synphasor-server", None), (Who.CLIENT, "protocol", "synphasor-client", None),
            (Who.SERVER, "role_hint", "rtu-ied", None), (Who.CLIENT, "role_hint", "hmi-scada", None),
            (Who.SERVER, "name", "Blue PMU", None), (Who.SERVER, "synphasor_idcode", "241", None),
            (Who.SERVER, "synphasor_pmus", "1", None), (Who.SERVER, "synphasor_data_rate", "50", None)} <= f
    assert not any(x[0] == Who.CLIENT and x[1] in ("name", "synphasor_idcode") for x in f)
    name = next(x for x in d.out if x.field == "name")
    assert name.frame == 2
    assert d.profile["send cfg2"] == 1 and d.profile["CFG-2"] == 1 and d.profile["data"] == 1


def test_roles_follow_the_frames_not_the_flow_direction() -> None:
    """A PMU seen as the flow's initiator (UDP, capture started mid-stream) is still the server."""
    d = SynphasorUdpDissector()
    assert d.feed(CFG2, 0, 1.0, 1) == OK
    assert (Who.CLIENT, "protocol", "synphasor-server", None) in facts(d)
    assert (Who.SERVER, "protocol", "synphasor-client", None) in facts(d)


def test_several_pmus_are_components() -> None:
    d = SynphasorDissector()
    raw = cfg2(60, [pmu_block(b"PMU1", 61), pmu_block(b"PMU2", 62, ph=2, an=1, dg=1)])
    assert d.feed(raw, 1, 1.0, 1) == OK
    f = facts(d)
    assert {(Who.SERVER, "name", "PMU1", "pmu:61"), (Who.SERVER, "name", "PMU2", "pmu:62"),
            (Who.SERVER, "synphasor_pmus", "2", None), (Who.SERVER, "synphasor_idcode", "60", None)} <= f
    assert not any(x[1] == "name" and x[3] is None for x in f)


def test_cfg3_station_and_lone_fragment() -> None:
    d = SynphasorDissector()
    assert d.feed(cfg3(9, b"Station Nine", 19), 1, 1.0, 1) == OK
    assert d.feed(cfg3(9, b"Other", 20, cont=1), 1, 1.0, 2) == OK        # a first fragment: waits for the rest
    f = facts(d)
    assert (Who.SERVER, "name", "Station Nine", None) in f and (Who.SERVER, "name", "Other", None) not in f
    assert d.profile["CFG-3 fragment"] == 1 and not d.anomalies


def cfg3_fragments(idcode: int, names: list[bytes], cuts: list[int]) -> list[bytes]:
    """A CFG-3 of several PMU blocks cut into fragments at ``cuts`` (Table 10: CONT_IDX 1, 2, ..., 0xFFFF)."""
    whole = cfg3(idcode, names[0], 100)
    blocks = [cfg3(idcode, n, 100 + i)[14 + 8:-4] for i, n in enumerate(names)]      # each PMU block alone
    conf = struct.pack(">IH", 1000000, len(names)) + b"".join(blocks) + struct.pack(">h", 60)
    assert whole[14 + 2:14 + 6] == conf[:4]            # TIME_BASE as cfg3() writes it
    edges = [0, *cuts, len(conf)]
    idx = [*range(1, len(edges) - 1), 0xFFFF]
    return [frame(5, idcode, struct.pack(">H", i) + conf[a:b], version=2) for i, a, b in zip(idx, edges, edges[1:])]


def test_cfg3_fragments_are_reassembled() -> None:
    """C37.118.2-2011 Table 10: the CONT_IDX series 1, 2, 0xFFFF is one configuration (three PMUs)."""
    frags = cfg3_fragments(90, [b"North", b"South", b"East"], [20, 70])
    assert len(frags) == 3
    d = SynphasorDissector()
    for i, fr in enumerate(frags):
        assert d.feed(fr, 1, 1.0, i + 1) == OK
    f = facts(d)
    assert {(Who.SERVER, "name", n, f"pmu:{100 + i}") for i, n in enumerate(("North", "South", "East"))} <= f
    assert (Who.SERVER, "synphasor_pmus", "3", None) in f and not d.anomalies and not d.cfg3_parts
    assert d.profile["CFG-3 fragment"] == 3


def test_cfg3_fragment_out_of_sequence_or_oversized_is_dropped() -> None:
    frags = cfg3_fragments(90, [b"North", b"South", b"East"], [20, 70])
    d = SynphasorDissector()
    d.feed(frags[0], 1, 1.0, 1)
    d.feed(frags[2], 1, 1.0, 2)                       # the middle fragment lost: the joined bytes do not parse
    assert not any(x[1] == "name" for x in facts(d)) and [a.kind for a in d.anomalies] == ["malformed-config"]
    d2 = SynphasorDissector()
    d2.feed(frags[1], 1, 1.0, 1)                      # a continuation without its first fragment
    assert [a.kind for a in d2.anomalies] == ["cfg3-fragment-gap"] and not d2.cfg3_parts
    from otscope.dissectors.synphasor import constants
    d3 = SynphasorDissector()
    big = frame(5, 90, struct.pack(">H", 1) + bytes(60000), version=2)
    for i in range(constants.CFG3_MAX_BYTES // 60000 + 1):
        d3.feed(big if i == 0 else frame(5, 90, struct.pack(">H", i + 1) + bytes(60000), version=2), 1, 1.0, i + 1)
    assert [a.kind for a in d3.anomalies] == ["cfg3-too-large"] and not d3.cfg3_parts


def test_segmented_stream() -> None:
    d = SynphasorDissector()
    stream = CMD_CFG2 + CFG2
    assert d.feed(stream[:3], 0, 1.0, 1) == INCOMPLETE
    assert d.feed(stream[3:40], 0, 1.0, 2) == INCOMPLETE
    assert d.feed(stream[40:], 0, 1.0, 3) == OK
    assert d.decoded == len(stream) and d.profile["CFG-2"] == 1


def test_non_synphasor_is_fatal() -> None:
    assert SynphasorDissector().feed(b"GET / HTTP/1.1\r\n\r\n", 0, 1.0, 1) == FATAL
    d = SynphasorDissector()
    assert d.feed(CFG2[:-1] + b"\x00", 1, 1.0, 1) == FATAL and "CHK" in d.fatal_reason     # 0xAA, bad CRC
    assert SynphasorUdpDissector().feed(CFG2[:40], 1, 1.0, 1) == FATAL


def test_after_labelling_bad_frames_are_counted() -> None:
    d = SynphasorUdpDissector()
    d.feed(CMD_CFG2, 0, 1.0, 1)
    assert d.feed(CFG2[:-1] + b"\x00", 1, 1.0, 2) == OK                  # bad CRC: counted, body not read
    assert d.feed(frame(4, 241, struct.pack(">H", 11)), 0, 1.0, 3) == OK   # CMD 11: unknown, kept by number
    assert d.feed(frame(4, 241, b""), 0, 1.0, 4) == OK                     # no CMD word
    assert d.feed(CFG2[:50], 1, 1.0, 5) == OK                               # datagram cut
    assert d.feed(b"\x55" * 20, 1, 1.0, 6) == OK                            # lost sync
    assert [a.kind for a in d.anomalies] == ["bad-crc", "unknown-command-11", "malformed-command",
                                             "truncated-datagram", "bad-sync"]
    assert not any(f.field == "name" for f in d.out) and d.profile["command 11"] == 1


def test_pmu_components_are_bounded() -> None:
    d = SynphasorDissector()
    for i in range(40):
        d.feed(cfg2(60, [pmu_block(b"P%d" % (2 * i), 1000 + 2 * i), pmu_block(b"Q", 1001 + 2 * i)]), 1, 1.0, i)
    assert len(d.pmus) == 64 and "pmus-cap" in {a.kind for a in d.anomalies}


def test_lost_framing_kinds_and_the_resync_bound() -> None:
    d = SynphasorDissector()
    d.feed(CFG2, 1, 1.0, 1)
    assert d.feed(b"\xaa\x41\x00\x05" + b"\0" * 12, 1, 1.0, 2) == OK     # FRAMESIZE 5
    assert d.feed(b"\xaa\x71\x00\x12" + b"\0" * 14, 1, 1.0, 3) == OK     # frame type 7
    assert [a.kind for a in d.anomalies] == ["bad-framesize", "bad-sync"]
    statuses = [d.feed(b"\x00" * 8, 1, 1.0, 4 + i) for i in range(10)]
    assert statuses[-1] == FATAL and "lost framing" in d.fatal_reason
