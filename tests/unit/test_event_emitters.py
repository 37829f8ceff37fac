"""The control actions the events layer still lacked (issue 17), as each dissector emits them from hand-built
frames whose layouts follow Wireshark's dissectors (packet-s7comm.c, packet-pn-dcp.c, packet-cip.c / OpENer's
cipfile.h, the UMAS dissector packet-umas.h): S7 jobs on system data blocks, UMAS start/stop/download/upload, the
CIP File object, DCP Set of other than the IP address; each new parser branch with its malformed cases, and how
collector/events.py reads each new value."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from otscope.agent.accumulate import Accumulator
from otscope.agent.l2 import L2Dispatcher
from otscope.collector.events import classify_action
from otscope.contract import Subject
from otscope.dissectors.base import L2Binding, L2Fact, Malformed, Truncated, Who
from otscope.dissectors.enip.dissector import EnipDissector
from otscope.dissectors.modbus.dissector import ModbusDissector
from otscope.dissectors.modbus.grammar import parse_umas_request
from otscope.dissectors.pndcp import facts as dcp_facts, grammar as dcp
from otscope.dissectors.s7.dissector import S7Dissector
from otscope.dissectors.s7.grammar import parse_block_file, parse_pi_blocks
from tests.unit.test_enip import rr_data, unconnected_send
from tests.unit.test_modbus import READ_REQ, READ_RSP
from tests.unit.test_s7 import connected, dt


# --- S7comm: block files, system data blocks ---------------------------------------------------------------

def s7_job(params: bytes, data: bytes = b"", ref: int = 0x0E00) -> bytes:
    return struct.pack(">BBHHHH", 0x32, 1, 0, ref, len(params), len(data)) + params + data


def block_job(fn: int, filename: bytes) -> bytes:
    """Request download (0x1a) and friends: function, status, 2 unknown, 4 (upload id), name length, name."""
    return bytes([fn, 0, 1, 0, 0, 0, 0, 0, len(filename)]) + filename


def pi_job(service: bytes, blocks: list[bytes], count: int | None = None) -> bytes:
    block = bytes([len(blocks) if count is None else count, 0]) + b"".join(blocks)
    return b"\x28\x00\x00\x00\x00\x00\x00\xfd" + struct.pack(">H", len(block)) + block + bytes([len(service)]) \
        + service


def actions(d: S7Dissector) -> list[tuple[str, str]]:
    return [(f.value, f.message) for f in d.out if f.field == "control_action" and f.who == Who.SERVER]


def s7_after(*jobs: bytes) -> S7Dissector:
    d = S7Dissector()
    connected(d)
    for i, job in enumerate(jobs):
        d.feed(dt(job), 0, 2.0 + i, 3 + i)
    return d


def test_block_file_names_the_block() -> None:
    # the bytes of ITI s7comm_downloading_block_db1.pcap frame 43 (tshark: filename _0A00001P, block type 0A)
    params = bytes.fromhex("1a0001000000000009") + b"_0A00001P" + b"\x0d1000500000400"
    b = parse_block_file(params)
    assert (b.type_code, b.number, b.filesystem, b.name) == ("0A", 1, "P", "DB 1")
    assert parse_block_file(block_job(0x1D, b"_0B00002A")).name == "SDB 2"


@pytest.mark.parametrize("params, exc", [
    (b"\x1a\x00\x01\x00", Truncated),                                  # no name length
    (block_job(0x1A, b"_0B00001P")[:-3], Truncated),                  # name runs past the parameters
    (block_job(0x1A, b"_0B0"), Malformed),                            # a name shorter than a block file
    (block_job(0x1A, b"X0B00001P"), Malformed),                       # not a file identifier
    (block_job(0x1A, b"_0Z00001P"), Malformed),                       # not a block type
    (block_job(0x1A, b"_0B0x001P"), Malformed),                       # not a block number
])
def test_block_file_malformed(params: bytes, exc: type) -> None:
    with pytest.raises(exc):
        parse_block_file(params)


@pytest.mark.parametrize("params, exc", [
    (b"\x28\x00\x00", Truncated),
    (b"\x28\x00\x00\x00\x00\x00\x00\xfd\x00\x0a\x01\x00", Truncated),   # the block is shorter than its length
    (pi_job(b"_INSE", [b"0B00001P"], count=3), Malformed),               # 3 blocks announced, room for 1
    (pi_job(b"_INSE", [b"0B00001\x00"]), Malformed),
])
def test_pi_blocks_malformed(params: bytes, exc: type) -> None:
    with pytest.raises(exc):
        parse_pi_blocks(params)


def test_system_data_download_is_a_config_write_not_a_program_download() -> None:
    d = s7_after(s7_job(block_job(0x1A, b"_0B00001P") + b"\x0d1000500000400"),
                 s7_job(pi_job(b"_INSE", [b"0B00001P", b"0B00002P"])))
    got = actions(d)
    assert [v for v, _m in got] == ["system data download", "system data download"]
    assert "block SDB 1" in got[0][1] and "SDB 1, SDB 2" in got[1][1]
    rule = classify_action("control_action", "s7comm", got[0][0])
    assert rule is not None and (rule.kind, rule.detail, rule.technique) == \
        ("config-write", "system data download", "T0836")


def test_program_blocks_stay_program_transfers_and_a_mixed_pi_job_is_both() -> None:
    d = s7_after(s7_job(block_job(0x1A, b"_0A00001P")), s7_job(block_job(0x1D, b"_0C00010A")),
                 s7_job(pi_job(b"_INSE", [b"0C00001P", b"0B00001P"])), s7_job(pi_job(b"_DELE", [b"0B00003B"])))
    values = [v for v, _m in actions(d)]
    assert values == ["block download", "block upload", "system data download", "PLC control (PI service _INSE)",
                      "system data delete"]
    kinds = {v: getattr(classify_action("control_action", "s7comm", v), "kind", None)
             for v in ("system data delete", "system data upload")}
    assert kinds == {"system data delete": "config-write", "system data upload": "program-upload"}


def test_a_bad_block_name_is_an_anomaly_and_the_job_is_still_its_function() -> None:
    d = s7_after(s7_job(block_job(0x1A, b"_0Z00001P")), s7_job(pi_job(b"_DELE", [b"0B00001P"], count=9)))
    assert [v for v, _m in actions(d)] == ["block download", "PLC control (PI service _DELE)"]
    assert [a.kind for a in d.anomalies] == ["malformed-block-file", "malformed-block-file"]


# --- UMAS (Modbus FC 90) ---------------------------------------------------------------------------------


def mbap(tid: int, pdu: bytes, unit: int = 0) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def umas(tid: int, function: int, data: bytes = b"", key: int = 0x12) -> bytes:
    return mbap(tid, bytes([0x5A, key, function]) + data)


def modbus_after(*requests: bytes) -> ModbusDissector:
    d = ModbusDissector()
    d.feed(READ_REQ, 0, 1.0, 1)
    d.feed(READ_RSP, 1, 1.0, 2)
    for i, r in enumerate(requests):
        d.feed(r, 0, 2.0 + i, 3 + i)
        d.feed(mbap(int.from_bytes(r[:2], "big"), b"\x5a\x12\xfe"), 1, 2.0 + i, 100 + i)
    return d


def test_umas_request_layout() -> None:
    r = parse_umas_request(bytes.fromhex("5a0041ff00"))
    assert (r.pairing_key, r.function, r.data) == (0, 0x41, b"\xff\x00")
    with pytest.raises(Truncated):
        parse_umas_request(b"\x5a\x00")
    with pytest.raises(Malformed):
        parse_umas_request(b"\x03\x00\x41")


def test_umas_start_stop_download_upload_are_control_actions() -> None:
    d = modbus_after(umas(7, 0x41), umas(8, 0x40), umas(9, 0x33, b"\x00\x01"), umas(10, 0x34, b"\x00" * 8),
                     umas(11, 0x35), umas(12, 0x30), umas(13, 0x20, b"\x00" * 4))      # 0x20: read memory block
    got = [(f.value, f.message, f.frame) for f in d.out if f.field == "control_action"]
    assert [v for v, _m, _f in got] == ["stop PLC (UMAS)", "start PLC (UMAS)", "program download (UMAS)",
                                        "program download (UMAS)", "program download (UMAS)", "program upload (UMAS)"]
    assert got[0][1] == "Modbus FC90 UMAS function 0x41 (stop plc)" and got[0][2] == 3
    assert (Who.CLIENT, "role_hint", "engineering-workstation") in {(f.who, f.field, f.value) for f in d.out}
    kinds = [classify_action("control_action", "modbus", v) for v, _m, _f in got]
    assert [(k.kind, k.detail) for k in kinds if k] == [
        ("plc-stop", "stop PLC (UMAS)"), ("plc-start", "start PLC (UMAS)")] + \
        [("program-download", "program download (UMAS)")] * 3 + [("program-upload", "program upload (UMAS)")]


def test_umas_request_without_its_function_is_an_anomaly() -> None:
    d = modbus_after(mbap(7, b"\x5a\x00"))
    assert not [f for f in d.out if f.field == "control_action"]
    assert [a.kind for a in d.anomalies] == ["malformed-umas-request"]


# --- CIP File object (class 0x37) ------------------------------------------------------------------------


def cip(service: int, klass: int, instance: int, data: bytes = b"") -> bytes:
    return bytes([service, 2, 0x20, klass, 0x24, instance]) + data


@pytest.mark.parametrize("service, value, kind", [
    (0x4C, "file download (class 0x37 instance 200)", "program-download"),      # Initiate Download
    (0x50, "file download (class 0x37 instance 200)", "program-download"),      # Download Transfer
    (0x4B, "file upload (class 0x37 instance 200)", "program-upload"),          # Initiate Upload
    (0x4F, "file upload (class 0x37 instance 200)", "program-upload"),          # Upload Transfer
    (0x51, "file clear (class 0x37 instance 200)", "program-delete"),           # Clear File
])
def test_cip_file_object_transfers(service: int, value: str, kind: str) -> None:
    d = EnipDissector()
    d.feed(rr_data(cip(service, 0x37, 200, b"\x00\x10\x00\x00")), 0, 1.0, 1)
    got = [(f.value, f.message) for f in d.out if f.field == "control_action"]
    assert [v for v, _m in got] == [value]
    assert got[0][1].startswith("CIP File object ") and f"service 0x{service:02x}" in got[0][1]
    rule = classify_action("control_action", "enip", value)
    assert rule is not None and rule.kind == kind


def test_cip_file_object_behind_a_route_is_credited_to_the_slot() -> None:
    d = EnipDissector()
    d.feed(rr_data(unconnected_send(cip(0x4C, 0x37, 1), 2)), 0, 1.0, 1)
    assert [(f.value, f.component) for f in d.out if f.field == "control_action"] == \
        [("file download (class 0x37 instance 1)", "slot:2")]


def test_same_service_codes_on_other_classes_are_not_file_transfers() -> None:
    d = EnipDissector()
    for i, raw in enumerate((cip(0x4C, 0x6B, 1), cip(0x4B, 0x67, 1), cip(0x4C, 0x37, 1)[:2])):   # Read Tag, PCCC, cut
        d.feed(rr_data(raw), 0, 1.0, i + 1)
    assert not [f for f in d.out if f.field == "control_action"]


# --- PROFINET DCP Set of other than the IP address ------------------------------------------------------


TOOL, DEVICE = "00:0c:29:ba:09:ea", "08:00:06:93:cf:32"


def dcp_block(option: int, sub: int, value: bytes, qualifier: int = 1) -> bytes:
    body = struct.pack(">H", qualifier) + value
    return struct.pack(">BBH", option, sub, len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def dcp_set(*blocks: bytes) -> bytes:
    data = b"".join(blocks)
    return bytes.fromhex("fefd" "0400" "00000007" "0000") + struct.pack(">H", len(data)) + data


START, END = dcp_block(5, 1, b""), dcp_block(5, 2, b"")          # Control/Start, Control/End Transaction


def writes(raw: bytes) -> list[L2Fact]:
    return [x for x in dcp_facts.facts(dcp.parse(raw), TOOL, DEVICE)
            if isinstance(x, L2Fact) and x.field == "config_change"]


def test_set_name_of_station_is_a_config_change_of_the_target_by_the_tool() -> None:
    raw = dcp_set(START, dcp_block(2, 2, b"plc-line-3"), END)
    assert dcp.parse(raw).blocks == [(5, 1), (2, 2), (5, 2)]
    got = writes(raw)
    assert got == [L2Fact(DEVICE, None, "config_change", "DCP Set name of station", "PN-DCP Set-request",
                          client=TOOL)]
    out = dcp_facts.facts(dcp.parse(raw), TOOL, DEVICE)
    assert L2Fact(DEVICE, None, "pn_name_requested", "plc-line-3", "PN-DCP Set-request") in out
    rule = classify_action("config_change", "pn_dcp", got[0].value)
    assert rule is not None and (rule.kind, rule.detail, rule.technique) == \
        ("config-write", "DCP Set name of station", "T0836")


@pytest.mark.parametrize("blocks, values", [
    ([dcp_block(5, 6, b"\x00\x02")], ["DCP Set reset to factory"]),
    ([dcp_block(5, 5, b"")], ["DCP Set reset factory settings"]),
    ([dcp_block(3, 61, b"\x00abc")], ["DCP Set DHCP parameters"]),
    ([dcp_block(6, 1, b"\x00\x01")], ["DCP Set device initiative"]),
    ([dcp_block(2, 2, b"a"), dcp_block(2, 2, b"b")], ["DCP Set name of station"]),      # one value a frame
    ([dcp_block(5, 3, b"\x01\x00")], []),                                # Signal: flashes the LED, writes nothing
    ([dcp_block(1, 2, bytes.fromhex("c0a8000affffff00c0a80001"))], []),  # IP: the binding's ip-change
])
def test_set_blocks_that_write(blocks: list[bytes], values: list[str]) -> None:
    assert [x.value for x in writes(dcp_set(*blocks))] == values
    for v in values:
        rule = classify_action("config_change", "pn_dcp", v)
        assert rule is not None and rule.kind == "config-write" and rule.detail.startswith("DCP Set ")


def test_set_ip_stays_a_binding_and_writes_nothing_else() -> None:
    raw = dcp_set(dcp_block(1, 2, bytes.fromhex("c0a8000affffff00c0a80001")))
    out = dcp_facts.facts(dcp.parse(raw), TOOL, DEVICE)
    assert L2Binding("192.168.0.10", DEVICE, "PN-DCP Set-request") in out
    assert not [x for x in out if isinstance(x, L2Fact) and x.field == "config_change"]


@pytest.mark.parametrize("raw, exc", [
    (dcp_set(struct.pack(">BBH", 2, 2, 1) + b"\x00\x00"), Malformed),   # a Set block shorter than its qualifier
    (dcp_set(struct.pack(">BBH", 2, 2, 12) + b"\x00\x01abc"), Truncated),   # a block running past the data
])
def test_set_malformed(raw: bytes, exc: type) -> None:
    with pytest.raises(exc):
        writes(raw)


def test_identify_and_responses_write_nothing() -> None:
    ident = bytes.fromhex("fefe" "0500" "00000003" "0001" "000b" "0202" "0007" "73776974636833" "00")
    assert writes(ident) == []
    rsp = bytes.fromhex("fefd" "0401" "00000007" "0000" "0008" "0504" "0003" "020200" "00")     # Set response
    assert writes(rsp) == []


def test_l2_dispatcher_reports_the_write_as_an_action_with_its_requester_memo_or_not() -> None:
    frame = bytes.fromhex(DEVICE.replace(":", "") + TOOL.replace(":", "") + "8892") + \
        dcp_set(START, dcp_block(2, 2, b"plc-line-3"), END)
    results = []
    for memo in (True, False):
        acc = Accumulator("t")
        d = L2Dispatcher(acc)
        for i in range(2):
            if not memo:
                d.memo.clear()
            d.frame(0x8892, frame, 0, 14, len(frame), 0, 5 + i, 100.0 + i)
        results.append(dict(acc.actions))
    assert results[0] == results[1]
    key = (Subject(0, None, DEVICE), Subject(0, None, TOOL), "config_change", "DCP Set name of station", "pn_dcp")
    first, last, ev, _msg, count = results[0][key]
    assert (first, last, ev.frame, count) == (100.0, 101.0, 5, 2)


# --- hostile bytes: the new parsers fail only with Truncated / Malformed, the dissectors never raise ---------

@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_new_parsers_fail_cleanly(raw: bytes) -> None:
    for parse in (parse_block_file, parse_pi_blocks, parse_umas_request, dcp.parse):
        try:
            parse(raw)
        except (Truncated, Malformed):
            pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([0x1A, 0x1B, 0x1C, 0x1D, 0x28]), st.binary(max_size=48))
def test_engineering_jobs_with_hostile_parameters_never_raise(fn: int, tail: bytes) -> None:
    d = s7_after(s7_job(bytes([fn]) + tail))
    assert all(v for v, _m in actions(d))                       # every job is still an action with a value
    assert {a.kind for a in d.anomalies} <= {"malformed-block-file"}
