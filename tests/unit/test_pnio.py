"""PROFINET IO: PNIO-CM (connectionless DCE/RPC) from the real captures' bytes, Connect/Control/I&M0 from the
builder (tests/support/pnio_frames.py, checked against tshark in tests/integration/test_pnio_captures.py),
PN-RT alarms and the cyclic-frame counter, the 0x8892 FrameID dispatch, malformed and truncated cases, every
anomaly kind."""

from __future__ import annotations

import struct
import uuid

import pytest

from otscope.agent.accumulate import Accumulator
from otscope.agent.l2 import FrameTables, L2Dispatcher, tables
from otscope.dissectors.base import FATAL, INCOMPLETE, OK, L2Anomaly, L2Fact, Malformed, Truncated, Who
from otscope.dissectors.pnio import rt
from otscope.dissectors.pnio.constants import (CONTROLLER_IF, DEVICE_IF, PnioAnomaly, alarm_type_name,
                                               data_status_text, opnum_name, rt_class)
from otscope.dissectors.pnio.dissector import PnioCmDissector
from otscope.dissectors.pnio.grammar import (blocks, device_ids, parse_alarm, parse_args, parse_cm, parse_im0,
                                             parse_rpc)
from tests.support import pnio_frames as F

# cisagov icsnpp-profinet-io-cm testing/traces/profinet_io_cm_read.pcapng (UDP payloads, tshark -e udp.payload)
# frame 13: 192.168.0.2 -> 192.168.0.50 Read Implicit request (big-endian drep), I&M0FilterData 0xf840, subslot 0x8000
READ13 = bytes.fromhex(
    "0400280000000000dea000006c9711d1827100010306002adea000016c9711d1827100a02442df7d37af89c809e64b39a0ae6c07fbc3"
    "de2b0000000000000001000000000005ffffffff0054000000000001036c000000400001036c00000000000000400009003c01000000"
    "0000000000000000000000000000000000000000000080000000f8400000100000000000000000000000000000000000000000000000"
    "0000")
# frame 14: its response: I&M0FilterDataSubmodul/Device, module 0x000fc700 (tshark pn_io.module_ident_number)
READ14 = bytes.fromhex(
    "04020a0000000000dea000006c9711d1827100010306002adea000016c9711d1827100a02442df7d37af89c809e64b39a0ae6c07fbc3"
    "de2b0000000a00000001000000000005ffffffff008c0000000000000000000000780001036c00000000000000788009003c01000000"
    "0000000000000000000000000000000000000000000080000000f8400000003800000000000000000000000000000000000000000000"
    "000000300018010000010000000000010000000fc700000100010000000100320018010000010000000000010000000fc70000010001"
    "00000001")
# frame 2: 10.10.0.129 -> 10.10.0.150 Read Implicit response (little-endian drep), I&M0FilterData, 3 blocks
READ2 = bytes.fromhex(
    "04022800100000000000a0de976cd111827100010003015a0100a0de976cd111827100a02442df7ddbabbaec1d005443b2500b01630a"
    "bafd0100000001000000000000000500ffffffffbc000000000000000000a80000004080000000000000a80000008009003c0100000a"
    "0000000000000000000000000000000000000000000000010000f8400000006800000000000000000000000000000000000000000000"
    "00000030002c0100000100000000000200000000000100020001000000010003ffff010a0001ffff814000010001ffff814000310018"
    "010000010000000000010001ffff814000010001ffff814000320018010000010000000000010000000000010001000100000001")
# profinet_io_cm_release.pcapng frames 1 (request, big-endian) and 2 (response, little-endian)
RELEASE1 = bytes.fromhex(
    "0400200000000000dea000006c9711d1827100010003015adea000016c9711d1827100a02442df7d13142f9000001000a994d2106890"
    "ca5a0000000000000001000000040001ffffffff00340000000000001000000000200000100000000000000000200114001c01000000"
    "7c74224e166c4a58bf6b6c25a75870f00001000000040000")
RELEASE2 = bytes.fromhex(
    "04022800100000000000a0de976cd111827100010003015a0100a0de976cd111827100a02442df7d902f141300000010a994d2106890"
    "ca5a0200000001000000040000000100ffffffff34000000000000000000200000000010000000000000200000008114001c01000000"
    "7c74224e166c4a58bf6b6c25a75870f00001000000080000")


def facts_of(d: PnioCmDissector) -> set[tuple[int, str, str, str | None]]:
    return {(f.who, f.field, f.value, f.component) for f in d.out}


def kinds(d: PnioCmDissector) -> list[str]:
    return [a.kind for a in d.anomalies]


# -- DCE/RPC header and NDR arguments ---------------------------------------------------------------------

def test_rpc_header_both_byte_orders_from_the_real_capture() -> None:
    be, le = parse_rpc(READ13), parse_rpc(READ2)
    assert (be.little, be.ptype, be.opnum, be.interface, be.seq) == (False, 0, 5, DEVICE_IF, 0)
    assert be.activity == uuid.UUID("37af89c8-09e6-4b39-a0ae-6c07fbc3de2b")
    assert device_ids(be.object) == (0x002A, 0x0306, 1)            # tshark dcerpc.obj_id ...00010306002a
    assert (le.little, le.ptype, le.opnum, le.interface) == (True, 2, 5, DEVICE_IF)
    assert device_ids(le.object) == (0x015A, 0x0003, 1)
    assert device_ids(uuid.UUID(int=5)) is None


def test_real_read_responses_give_the_module_idents() -> None:
    le = parse_rpc(READ2)
    m = parse_cm(parse_args(le.body, le.little, response=True).blocks)
    assert m.read == (0, 0, 1, 0xF840)
    got = [(s.slot, s.subslot, s.module_ident, s.submodule_ident) for s in m.filter_data]
    assert got[:5] == [(0, None, 1, None), (0, 1, 1, 1), (0, 3, 1, 0xFFFF010A), (1, None, 0xFFFF8140, None),
                       (1, 1, 0xFFFF8140, 0xFFFF8140)]
    be = parse_rpc(READ14)
    m = parse_cm(parse_args(be.body, be.little, response=True).blocks)
    assert {(s.slot, s.subslot, s.module_ident, s.submodule_ident) for s in m.filter_data} == {
        (0, None, 0x000FC700, None), (0, 1, 0x000FC700, 1)}


@pytest.mark.parametrize("cut", [0, 10, 79])
def test_short_header_is_truncated(cut: int) -> None:
    with pytest.raises(Truncated):
        parse_rpc(READ13[:cut])


def test_body_shorter_than_fragment_length_is_truncated() -> None:
    with pytest.raises(Truncated):
        parse_rpc(READ13[:-1])


@pytest.mark.parametrize("patch", [(0, 5), (4, 0x20), (4, 0x01), (1, 11)])
def test_not_connectionless_dcerpc_is_malformed(patch: tuple[int, int]) -> None:
    raw = bytearray(READ13)
    raw[patch[0]] = patch[1]
    with pytest.raises(Malformed):
        parse_rpc(bytes(raw))


def test_ndr_offset_must_be_zero() -> None:
    body = struct.pack("<IIIII", 10, 0, 10, 4, 0)
    with pytest.raises(Malformed):
        parse_args(body, True, response=False)


def test_block_length_below_the_version_bytes_is_malformed() -> None:
    with pytest.raises(Malformed):
        blocks(struct.pack(">HH", 0x0101, 1) + b"\x00" * 8)


# -- the dissector on the real exchanges ------------------------------------------------------------------

def test_real_implicit_read_labels_roles_and_vendor() -> None:
    d = PnioCmDissector()
    assert d.feed(READ13, 0, 1.0, 13) == OK
    assert d.feed(READ14, 1, 1.1, 14) == OK
    assert d.confirmed and d.profile == {"read 0xf840": 1}
    f = facts_of(d)
    assert (Who.SERVER, "protocol", "pnio-cm-server", None) in f and (Who.CLIENT, "protocol", "pnio-cm-client", None) in f
    assert (Who.CLIENT, "role_hint", "engineering-workstation", None) in f
    # the object UUID names the callee: vendor 0x002a (Siemens, pndcp's table), device 0x0306
    assert {(Who.SERVER, "pnio_vendor_id", "0x002a", None), (Who.SERVER, "vendor", "Siemens", None),
            (Who.SERVER, "pnio_device_id", "0x0306", None)} <= f
    assert (Who.SERVER, "pnio_module_ident", "0x000fc700", "slot:0") in f
    assert (Who.SERVER, "pnio_submodule_ident", "0x00000001", "slot:0/subslot:1") in f
    assert not d.anomalies


def test_real_response_without_its_request_still_describes_the_device() -> None:
    d = PnioCmDissector()
    assert d.feed(READ2, 1, 1.0, 2) == OK
    assert d.confirmed and d.profile == {"read-implicit response": 1}
    f = facts_of(d)
    assert (Who.SERVER, "pnio_submodule_ident", "0xffff010a", "slot:0/subslot:3") in f
    assert (Who.SERVER, "pnio_module_ident", "0xffff8140", "slot:1") in f
    assert (Who.SERVER, "protocol", "pnio-cm-server", None) in f


def test_real_release_is_a_control_action() -> None:
    d = PnioCmDissector()
    assert d.feed(RELEASE1, 0, 1.0, 1) == OK and d.feed(RELEASE2, 1, 1.0, 2) == OK
    assert d.confirmed and d.profile == {"release": 1}
    assert any(f.field == "control_action" and f.who == Who.SERVER for f in d.out)


# -- Connect, Control, I&M0 (builder) ---------------------------------------------------------------------

def _feed_exchange(frames: list[bytes], sides: list[int]) -> PnioCmDissector:
    d = PnioCmDissector()
    for i, (fr, side) in enumerate(zip(frames, sides)):
        assert d.feed(fr[42:], side, 1.0 + i, i + 1) == OK
    return d


def test_connect_gives_controller_and_device() -> None:
    ex = F.connect_exchange()
    d = _feed_exchange(ex[:4], [0, 1, 0, 1])
    f = facts_of(d)
    assert d.confirmed and d.profile == {"connect": 1, "control prm-end": 1}
    assert {(Who.CLIENT, "role_hint", "plc", None), (Who.CLIENT, "name", "plc-line-1", None),
            (Who.CLIENT, "pnio_cm_mac", F.IOC_MAC, None), (Who.SERVER, "role_hint", "io-device", None),
            (Who.SERVER, "name", "io-device-7", None), (Who.SERVER, "pnio_cm_mac", F.IOD_MAC, None)} <= f
    assert {(Who.SERVER, "pnio_module_ident", "0x00000032", "slot:1"),
            (Who.SERVER, "pnio_submodule_ident", "0x00008001", "slot:0/subslot:32769"),
            (Who.SERVER, "pnio_module_state", "wrong-module", "slot:1"),
            (Who.SERVER, "pnio_iocr", "0xc001 input (sent by this end)", None),
            (Who.CLIENT, "pnio_iocr", "0xc002 output (sent by this end)", None)} <= f
    assert not d.anomalies


def test_application_ready_to_the_controller_interface_labels_the_caller_the_device() -> None:
    ex = F.connect_exchange()
    d = _feed_exchange(ex[4:6], [0, 1])        # the device calls the controller: it is this flow's client
    f = facts_of(d)
    assert (Who.CLIENT, "protocol", "pnio-cm-server", None) in f
    assert (Who.SERVER, "protocol", "pnio-cm-client", None) in f
    assert d.profile == {"control application-ready": 1} and d.confirmed


def test_im0_read_gives_the_identity() -> None:
    ex = F.connect_exchange()
    d = _feed_exchange(ex[6:8], [0, 1])
    f = facts_of(d)
    assert {(Who.SERVER, "order_number", "6ES7 151-1AA05-0AB0", None), (Who.SERVER, "serial", "S C-X4U123456", None),
            (Who.SERVER, "hardware_version", "3", None), (Who.SERVER, "firmware", "V3.2.1", None),
            (Who.SERVER, "vendor", "Siemens", None), (Who.SERVER, "pnio_vendor_id", "0x002a", None),
            (Who.CLIENT, "role_hint", "engineering-workstation", None)} <= f


def test_im0_of_a_module_is_the_components() -> None:
    d = PnioCmDissector()
    req = F.rpc(0, 5, F.read_request(slot=2, subslot=1))
    rsp = F.rpc(2, 5, F.read_response(slot=2, subslot=1, data=F.im0(vendor=0x0999)))
    assert d.feed(req, 0, 1.0, 1) == OK and d.feed(rsp, 1, 1.0, 2) == OK
    f = facts_of(d)
    assert (Who.SERVER, "order_number", "6ES7 151-1AA05-0AB0", "slot:2/subslot:1") in f
    assert (Who.SERVER, "pnio_vendor_id", "0x0999", "slot:2/subslot:1") in f
    assert not any(x[1] == "vendor" and x[3] == "slot:2/subslot:1" for x in f)     # unknown id: the number only


def test_im0_grammar() -> None:
    i = parse_im0(F.im0(sw=("\x01", 1, 2, 3)))
    assert (i.vendor_id, i.hardware_revision, i.software_revision) == (0x002A, 3, "?1.2.3")
    with pytest.raises(Malformed):
        parse_im0(F.block(0x0021, b"\x00" * 54))
    with pytest.raises(Truncated):
        parse_im0(F.im0()[:30])


def test_big_endian_connect_parses_the_same() -> None:
    req = F.rpc(0, 0, F.connect_request(), little=False)
    p = parse_rpc(req)
    assert not p.little and p.opnum == 0
    m = parse_cm(parse_args(p.body, p.little, response=False).blocks)
    assert m.initiator_station == "plc-line-1" and m.initiator_mac == F.IOC_MAC and len(m.expected) == 6


# -- hostile input ----------------------------------------------------------------------------------------

def test_not_dcerpc_first_is_fatal() -> None:
    d = PnioCmDissector()
    assert d.feed(b"\x17\x03\x03" + b"\x00" * 100, 0, 1.0, 1) == FATAL and "DCE/RPC" in d.fatal_reason


def test_foreign_interface_first_is_fatal_later_an_anomaly() -> None:
    other = F.rpc(0, 0, F.ndr_request(b""), interface=uuid.UUID(int=99))
    assert PnioCmDissector().feed(other, 0, 1.0, 1) == FATAL
    d = PnioCmDissector()
    assert d.feed(READ13, 0, 1.0, 1) == OK
    assert d.feed(other, 0, 1.0, 2) == OK and kinds(d) == ["unknown-interface-00000000"]
    assert d.feed(b"garbage" * 20, 0, 1.0, 3) == OK and d.feed(READ13[:50], 0, 1.0, 4) == OK
    assert kinds(d)[1:] == [PnioAnomaly.NOT_DCERPC, PnioAnomaly.RPC_TRUNCATED]


def test_unknown_opnum_bad_block_unknown_block_fault_error() -> None:
    d = PnioCmDissector()
    assert d.feed(F.rpc(0, 9, F.ndr_request(F.block(0x7777, b"\x00\x00"))), 0, 1.0, 1) == OK
    assert d.feed(F.rpc(0, 0, F.ndr_request(F.block(0x0101, b"\x00\x01"))), 0, 1.0, 2) == OK        # cut AR block
    assert d.feed(F.rpc(0, 0, F.ndr_request(struct.pack(">HH", 0x0101, 0) + b"\x00" * 6)), 0, 1.0, 3) == OK
    assert d.feed(F.rpc(3, 0, struct.pack("<I", 0x1C010003), seq=7), 1, 1.0, 4) == OK
    d.feed(F.rpc(0, 2, F.read_request(), seq=8), 0, 1.0, 5)
    assert d.feed(F.rpc(2, 2, F.ndr_response(b"", status=bytes.fromhex("de80b001")), seq=8), 1, 1.0, 6) == OK
    assert d.feed(F.rpc(9, 0, b"", seq=9), 1, 1.0, 7) == OK
    assert kinds(d) == ["unknown-opnum-0x09", "unknown-block-0x7777", PnioAnomaly.RPC_TRUNCATED,
                        PnioAnomaly.BAD_BLOCK, "rpc-fault-connect", "pnio-error-de80b001"]
    assert d.profile["fault"] == 1 and d.profile["pnio-error"] == 1 and d.profile["fack"] == 1
    assert opnum_name(9) == "0x09" and opnum_name(5) == "read-implicit"


def test_fragmented_connect_is_reassembled_in_order() -> None:
    body = F.connect_request()
    a, b = body[:200], body[200:]
    f1 = F.rpc(0, 0, a, flags1=0x2C)
    f2 = bytearray(F.rpc(0, 0, b, flags1=0x2E))
    f2[76:78] = struct.pack("<H", 1)                        # fragment number 1
    d = PnioCmDissector()
    assert d.feed(f1, 0, 1.0, 1) == INCOMPLETE
    assert d.feed(bytes(f2), 0, 1.0, 2) == OK
    assert d.profile == {"connect": 1} and any(f.field == "name" and f.value == "plc-line-1" for f in d.out)
    # out of order: the missing fragment drops the reassembly (counted)
    d = PnioCmDissector()
    assert d.feed(bytes(f2), 0, 1.0, 1) == INCOMPLETE and not d.anomalies     # first fragment not captured
    f3 = bytearray(f2)
    f3[76:78] = struct.pack("<H", 2)
    assert d.feed(f1, 0, 1.0, 2) == INCOMPLETE and d.feed(bytes(f3), 0, 1.0, 3) == INCOMPLETE
    assert kinds(d) == [PnioAnomaly.FRAGMENTS_DROPPED]


def test_pending_fragments_are_bounded() -> None:
    d = PnioCmDissector()
    for i in range(12):
        d.feed(F.rpc(0, 0, b"\x00" * 10, flags1=0x2C, activity=uuid.UUID(int=i)), 0, 1.0, i)
    assert len(d.frags) <= 8 and kinds(d).count(PnioAnomaly.FRAGMENTS_DROPPED) == 4


def test_pending_requests_are_bounded() -> None:
    d = PnioCmDissector()
    for i in range(100):
        d.feed(F.rpc(0, 2, F.read_request(), seq=i), 0, 1.0, i)
    assert len(d.pending) <= 64


def test_epm_lookup_is_counted() -> None:
    d = PnioCmDissector()
    epm = uuid.UUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa")
    assert d.feed(F.rpc(0, 2, b"\x00" * 20, interface=epm), 0, 1.0, 1) == OK and d.profile == {"epm": 1}


# -- PN-RT alarms -----------------------------------------------------------------------------------------

def test_alarm_notification_and_ack() -> None:
    n = parse_alarm(F.alarm(0xFE01, block_type=0x0002, alarm_type=0x0004, slot=3, subslot=1))
    assert (n.priority, n.is_notification, n.alarm_type, n.slot, n.module_ident) == ("low", True, 4, 3, 0x32)
    out = rt.facts(n, F.IOD_MAC, F.IOC_MAC)
    assert L2Fact(F.IOD_MAC, None, "pnio_alarm", "low plug", out[2].message) in out
    assert any(f.field == "role_hint" and f.value == "io-device" for f in out)
    a = parse_alarm(F.alarm(0xFC01, block_type=0x8001))
    assert a.is_ack and a.priority == "high"
    assert any(f.field == "role_hint" and f.value == "plc" for f in rt.facts(a, F.IOC_MAC, F.IOD_MAC))
    ack = parse_alarm(F.alarm(0xFC01, pdu_type=3))
    assert ack.block_type is None and [f.field for f in rt.facts(ack, F.IOC_MAC, F.IOD_MAC)] == ["protocol"]
    assert alarm_type_name(0x0001) == "diagnosis" and alarm_type_name(0x00FF) == "0x00ff"


@pytest.mark.parametrize("raw", [
    F.alarm(0xFC02),                                       # not an alarm frame id
    bytes.fromhex("fc01000100020911000000000000"),         # PDUType version 0 / type 9
    F.alarm(0xFE01, block_type=0x0003),                    # DATA with an unknown block
])
def test_bad_alarm_is_malformed(raw: bytes) -> None:
    with pytest.raises(Malformed):
        parse_alarm(raw)


def test_cut_alarm_is_truncated() -> None:
    with pytest.raises(Truncated):
        parse_alarm(F.alarm(0xFE01)[:20])


# -- cyclic frames: the counter and the dispatch ----------------------------------------------------------

def test_dispatch_by_frame_id_and_cyclic_counting() -> None:
    acc = Accumulator("t")
    l2 = L2Dispatcher(acc)
    frames = F.cyclic_frames(40)
    for i, (ts, fr) in enumerate(frames):
        l2.frame(0x8892, fr, 0, 14, len(fr), 0, i + 1, ts)
    # a DataStatus change (provider to STOP) is a new fact
    stop = F.eth(F.IOC_MAC, F.IOD_MAC, F.cyclic(0xC001, 20 * 128, data_status=0x25))
    l2.frame(0x8892, stop, 0, 14, len(stop), 0, 41, frames[-1][0] + 0.004)
    l2.flush()
    got = {(s.mac, fld, v) for (s, fld, v, _p) in acc.facts}
    assert (F.IOD_MAC, "protocol", "pnio-rt") in got and (F.IOC_MAC, "protocol", "pnio-rt") in got
    assert (F.IOD_MAC, "pnio_frame_id", f"0xc001 RT_CLASS_1 to {F.IOC_MAC}") in got
    assert (F.IOD_MAC, "pnio_data_status", "0xc001 0x25 (primary, valid, stop, station ok)") in got
    assert (F.IOD_MAC, "pnio_cyclic", f"0xc001 to {F.IOC_MAC}: cycle 4 ms, 250 frames/s") in got
    assert (F.IOC_MAC, "pnio_cyclic", f"0xc002 to {F.IOD_MAC}: cycle 4 ms, 250 frames/s") in got
    assert not any(fld == "role_hint" for _m, fld, _v in got)      # cyclic data alone proves no role
    hosts = l2.drain_hosts()
    assert {m for (_v, m) in hosts} == {F.IOC_MAC, F.IOD_MAC}


def test_cyclic_counter_bounds_and_short_frames() -> None:
    c = rt.Cyclic()
    short = F.eth(F.IOC_MAC, F.IOD_MAC, b"\xc0\x01\x00")
    assert c.frame(short, 0, 14, len(short), 0, 0xC001, 1, 1.0)[1] == [L2Anomaly("short-cyclic")]
    for i in range(rt.MAX_ENTRIES + 3):
        fr = F.eth(F.IOC_MAC, F.IOD_MAC, F.cyclic(0x0100 + i, 0))
        _src, items = c.frame(fr, 0, 14, len(fr), 0, 0x0100 + i, i, 1.0)
    assert len(c.entries) == rt.MAX_ENTRIES and items is None
    assert c.capped
    assert c.flush() == []                                          # one frame each: no rate yet


def test_frame_id_ranges_must_not_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    from otscope.dissectors import registry
    from otscope.domain import FrameEntry, spec

    bad = spec("overlap", title="x", ot=False, rank=5, labels=(), roles=(),
               frames=(FrameEntry("a:b", "a:c", ethertype=0x8892, frame_ids=((0xFEFE, 0xFEFE),)),))
    monkeypatch.setattr(registry, "SPECS", [*registry.SPECS, bad])
    with pytest.raises(ValueError, match="overlap"):
        FrameTables()
    assert tables().by_id[0x8892]                                   # the shared tables are untouched


def test_names() -> None:
    assert rt_class(0xC001) == "RT_CLASS_1" and rt_class(0x8000) == "RT_CLASS_2" and rt_class(0x0100) == "RT_CLASS_3"
    assert rt_class(0xFE02) == "0xfe02"
    assert data_status_text(0x35) == "0x35 (primary, valid, run, station ok)"
    assert data_status_text(0x42) == "0x42 (backup, invalid, stop, station problem, redundancy, ignore)"
    assert CONTROLLER_IF != DEVICE_IF


def test_c_fast_path_counts_cyclic_frames_as_python_does(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The C fast path (l2_watch) counts watched cyclic frames itself: the same facts, hosts and frame counts as
    the pure-Python pipeline, through a DataStatus change (to STOP and back), VLAN tags, an alarm, and a
    snapshot in the middle."""
    from otscope.agent.pcapio import read_chunks
    from otscope.agent.pipeline import Pipeline
    from tests.conftest import write_pcap

    frames = F.cyclic_frames(400)
    t = frames[-1][0]
    frames.append((t + 0.004, F.eth(F.IOC_MAC, F.IOD_MAC, F.cyclic(0xC001, 200 * 128, data_status=0x25))))
    frames += [(t + 0.008 + i * 0.004, F.eth(F.IOC_MAC, F.IOD_MAC, F.cyclic(0xC001, (201 + i) * 128)))
               for i in range(20)]
    frames.append((t + 0.1, F.eth(F.IOC_MAC, F.IOD_MAC, F.alarm(0xFE01, block_type=0x0002))))
    tagged = [(t + 0.2 + i * 0.002, F.mac(F.EWS_MAC) + F.mac(F.IOD_MAC) + bytes.fromhex("810000078892")
               + F.cyclic(0x8001, i * 64)) for i in range(30)]
    path = write_pcap(tmp_path / "c.pcap", frames[:200] + frames[200:] + tagged)

    def run(fast: bool) -> tuple:
        p = Pipeline(fast=fast)
        p.start_source("c")
        batches = []
        for i, chunk in enumerate(read_chunks(str(path))):
            p.feed_chunk(chunk)
            if i == 0:
                batches.append(p.cut_batch("a"))
        batches.append(p.cut_batch("b"))
        facts = sorted((f.subject.vlan, f.subject.mac, f.field, f.value, f.evidence.frame) for b in batches
                       for f in b.facts)
        hosts = sorted((h.subject.vlan, h.subject.mac, h.last_seen) for b in batches for h in b.hosts)
        return facts, hosts, p.stats.non_ip_frames, p.stats.packets

    fast, slow = run(True), run(False)
    assert fast == slow
    facts = fast[0]
    assert (7, F.IOD_MAC, "pnio_cyclic", f"0x8001 to {F.EWS_MAC}: cycle 2 ms, 500 frames/s", 423) in facts
    assert any(f[2] == "pnio_data_status" and "stop" in f[3] for f in facts)
    assert fast[2] == len(frames) + len(tagged)


def test_the_device_answer_from_another_port_gets_the_dissector(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A request to udp/34964 from the controller's port 49152, the device's answer from its port 50001 (a new
    flow no port claims) and the controller's next request to 50001: both backends give the answer's flow the
    PNIO-CM dissector; an unrelated datagram to the same device port from elsewhere does not get it."""
    from tests.conftest import run_pipeline, write_pcap

    ex = F.connect_exchange()
    req, rsp = ex[6][42:], ex[7][42:]
    frames = [F.udp_frame(F.EWS_MAC, F.IOD_MAC, F.EWS_IP, F.IOD_IP, 49152, 34964, req),
              F.udp_frame(F.IOD_MAC, F.EWS_MAC, F.IOD_IP, F.EWS_IP, 50001, 49152, rsp),
              F.udp_frame(F.EWS_MAC, F.IOD_MAC, F.EWS_IP, F.IOD_IP, 49152, 50001, F.rpc(0, 5, F.read_request(), seq=1)),
              F.udp_frame(F.IOC_MAC, F.IOD_MAC, F.IOC_IP, F.IOD_IP, 40000, 50001, b"not for pnio" * 8)]
    path = write_pcap(tmp_path / "answer.pcap", frames)
    for fast in (True, False):
        _p, b = run_pipeline(path, fast=fast)
        comms = {(c.client.ip, c.server.ip, c.port, c.protocol) for c in b.comms}
        assert (F.EWS_IP, F.IOD_IP, 34964, "pnio") in comms, (fast, comms)
        assert (F.EWS_IP, F.IOD_IP, 50001, "pnio") in comms, (fast, comms)
        assert not any(c[0] == F.IOC_IP and c[3] == "pnio" for c in comms), (fast, comms)
        got = {(f.subject.ip, f.field, f.value, f.evidence.frame) for f in b.facts}
        assert (F.IOD_IP, "order_number", "6ES7 151-1AA05-0AB0", 2) in got
