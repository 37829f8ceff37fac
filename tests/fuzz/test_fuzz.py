"""Property-based fuzzing: no parser raises anything but Truncated/Malformed; no dissector raises at all;
the same stream cut at random points gives the same facts."""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.agent.pcapio import CaptureError, read_chunks
from otscope.agent.pipeline import Pipeline
from otscope.dissectors.arp import grammar as arp
from otscope.dissectors.base import FATAL, Malformed, Truncated
from otscope.dissectors.cdp import grammar as cdp
from otscope.dissectors.dhcp import grammar as dhcp
from otscope.dissectors.enip.dissector import CipIoDissector, EnipDissector, EnipUdpDissector
from otscope.dissectors.enip.grammar import parse_epath, parse_list_identity, parse_request, parse_response
from otscope.dissectors.lldp import grammar as lldp
from otscope.dissectors.modbus.dissector import ModbusDissector
from otscope.dissectors.modbus.grammar import parse_device_id_response, parse_report_server_id
from otscope.dissectors.pndcp import grammar as dcp
from otscope.dissectors.s7.dissector import S7Dissector
from otscope.dissectors.s7.grammar import parse_cotp, parse_plus, parse_s7, parse_szl, parse_userdata, \
    plus_attribute_strings, vlq
from tests.support.detach import dissector_errors
from tests.unit.test_enip import encap, list_identity_reply, rr_data, unconnected_send, GET_ALL_IDENTITY
from tests.unit.test_modbus import DEVID_REQ, DEVID_RSP, READ_REQ, READ_RSP
from tests.unit.test_s7 import CC, HMI_CREATE, MMS_REQUEST, cr, dt, mms_pdu, szl11, userdata_szl_response

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GRAMMARS = [arp.parse, lldp.parse, cdp.parse, dhcp.parse, dcp.parse, parse_device_id_response, parse_report_server_id,
            parse_list_identity, parse_epath, parse_request, parse_response, parse_cotp, parse_s7, parse_szl,
            parse_plus, lambda b: parse_userdata(parse_s7(b)), mms_pdu, plus_attribute_strings, lambda b: vlq(b, 0)]


@FUZZ
@given(st.binary(max_size=400), st.integers(0, len(GRAMMARS) - 1))
def test_grammars_raise_only_their_own_errors(data: bytes, which: int) -> None:
    try:
        GRAMMARS[which](data)
    except (Truncated, Malformed):
        pass


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=300)), max_size=12))
def test_dissectors_never_raise(msgs) -> None:
    for cls in (ModbusDissector, EnipDissector, EnipUdpDissector, CipIoDissector, S7Dissector):
        d = cls()
        for i, (side, data) in enumerate(msgs):
            if d.feed(data, side, 1.0, i) == FATAL:
                break


STREAMS = {
    ModbusDissector: [(0, READ_REQ + DEVID_REQ), (1, READ_RSP + DEVID_RSP)],
    EnipDissector: [(0, encap(0x63) + rr_data(unconnected_send(GET_ALL_IDENTITY, 2))), (1, list_identity_reply())],
    S7Dissector: [(0, cr(b"\x01\x02")), (1, CC + dt(userdata_szl_response(0x11, 0, 28, [
        szl11(1, b"6ES7 151-8AB01-0AB0", 3, 1), szl11(7, b"", 0x5603, 0x0206)]))), (0, dt(HMI_CREATE))],
}


def _facts(cls, stream, cuts: list[int]):
    d = cls()
    for side, data in stream:
        points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        for a, b in zip(points, points[1:]):
            d.feed(data[a:b], side, 1.0, 1)
    return sorted(((f.who, f.field, f.value, f.component) for f in d.out), key=lambda t: (*t[:3], t[3] or ""))


@FUZZ
@given(st.lists(st.integers(0, 10_000), max_size=8), st.sampled_from(sorted(STREAMS, key=lambda c: c.__name__)))
def test_random_segmentation_gives_the_same_facts(cuts: list[int], cls) -> None:
    stream = STREAMS[cls]
    assert _facts(cls, stream, cuts) == _facts(cls, stream, [])


HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000), st.booleans())
def test_capture_reader_and_pipeline_never_crash(tmp_path: Path, body: bytes, with_header: bool) -> None:
    p = tmp_path / "fuzz.pcap"
    p.write_bytes((HEADER if with_header else b"") + body)
    pipe = Pipeline()
    try:
        for chunk in read_chunks(str(p)):
            pipe.feed_chunk(chunk)
    except CaptureError:
        pass
    assert dissector_errors(pipe.cut_batch("fuzz")) == {}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(min_size=0, max_size=200), max_size=20))
def test_random_frames_through_the_pipeline(tmp_path: Path, frames: list[bytes]) -> None:
    from tests.conftest import write_pcap

    # random frames behind a plausible Ethernet+IPv4+TCP/502 header, to reach the dissectors
    hdr = bytes.fromhex("001b1b000001000c2900000208004500")
    pkts = []
    seq = 1000
    for i, f in enumerate(frames):
        ip = struct.pack(">HHHBBH4s4s", 40 + len(f), i, 0, 64, 6, 0, b"\n\0\0\1", b"\n\0\0\2")
        tcp = struct.pack(">HHIIBBHHH", 40000, 502, seq, 0, 0x50, 0x18, 1000, 0, 0)
        seq += len(f)
        pkts.append(hdr + ip + tcp + f)
    path = write_pcap(tmp_path / "frames.pcap", pkts)
    pipe = Pipeline()
    for chunk in read_chunks(str(path)):
        pipe.feed_chunk(chunk)
    assert dissector_errors(pipe.cut_batch("fuzz")) == {}


@FUZZ
@given(st.binary(max_size=120), st.integers(0, 200))
def test_recognisers_never_raise_on_mutated_real_pdus(noise: bytes, at: int) -> None:
    """MMS and S7comm-plus attribute parsing on real PDUs with bytes overwritten: an answer, never an error."""
    for real in (MMS_REQUEST, HMI_CREATE):
        buf = bytearray(real)
        buf[at % len(buf):at % len(buf) + len(noise)] = noise
        assert mms_pdu(bytes(buf)) is None or isinstance(mms_pdu(bytes(buf)), str)
        assert all(isinstance(v, str) and len(v) <= 256 for _, v in plus_attribute_strings(bytes(buf)))
