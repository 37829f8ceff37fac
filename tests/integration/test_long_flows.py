"""A confirmed flow survives what it does not know, and identity that comes late in a long flow is found:
hand-made flows through the whole capture loop (with and without the C fast path), thousands of messages
before the identity exchange, unknown commands / function codes / PDUs in between."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.conftest import run_pipeline, write_pcap
from tests.support.frames import TcpSession
from tests.unit.test_enip import encap, identity_attrs, list_identity_reply
from tests.unit.test_modbus import mbap

N = 2000


def facts_of(path: Path, fast: bool) -> tuple[set[tuple], list[tuple]]:
    p, batch = run_pipeline(path, fast=fast)
    got = {(f.subject.ip, f.subject.component, f.field, f.value, f.evidence.frame) for f in batch.facts}
    return got, [(a.protocol, a.kind) for a in batch.anomalies]


def sud(seq: int, service: int) -> bytes:
    """SendUnitData: connected address item, connected data item (sequence count + CIP service)."""
    cip = struct.pack("<H", seq) + bytes([service, 2, 0x20, 0x6B, 0x24, 0x01]) + b"\x00" * 6
    cpf = struct.pack("<IHH", 0, 0, 2) + struct.pack("<HHI", 0xA1, 4, 0x1234) + struct.pack("<HH", 0xB1, len(cip)) + cip
    return encap(0x70, cpf)


def rr(cip: bytes, ctx: bytes) -> bytes:
    cpf = struct.pack("<IHH", 0, 10, 2) + struct.pack("<HH", 0, 0) + struct.pack("<HH", 0xB2, len(cip)) + cip
    return encap(0x6F, cpf, context=ctx)


@pytest.fixture(scope="module")
def enip_long(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    s = TcpSession("10.0.0.5", "10.0.0.20", 50000, 44818).handshake()
    s.to_server(encap(0x65, b"\x01\x00\x00\x00"))
    s.to_client(encap(0x65, b"\x01\x00\x00\x00"))
    for i in range(N):                                                   # thousands of tag writes and replies
        s.to_server(sud(i, 0x4D))
        s.to_client(sud(i, 0xCD))
    blob = b"\x5a" * 4000                                                # a firmware block, split into segments
    msg = rr(bytes([0x4D, 2, 0x20, 0xA1, 0x24, 0x01]) + blob, b"fwxfer01")
    for off in range(0, len(msg), 1400):
        s.to_server(msg[off:off + 1400])
    s.to_server(encap(0x0001, b"\x00" * 16))                             # undocumented command (Rockwell)
    s.to_server(rr(bytes([0x01, 2, 0x20, 0x01, 0x24, 0x01]), b"ident001"))
    s.to_client(rr(bytes([0x81, 0, 0, 0]) + identity_attrs(dtype=14, serial=0xCAFE0001,
                                                            name=b"1756-L73/B LOGIX5573"), b"ident001"))
    s.to_server(encap(0x63))
    s.to_client(list_identity_reply(ip=b"\x0a\x00\x00\x14"))
    return write_pcap(tmp_path_factory.mktemp("enip") / "enip_long.pcap", s.frames), len(s.frames)


@pytest.mark.parametrize("fast", [True, False])
def test_enip_identity_after_writes_firmware_transfer_and_an_unknown_command(enip_long: tuple[Path, int],
                                                                             fast: bool) -> None:
    path, last = enip_long
    got, anomalies = facts_of(path, fast)
    assert ("10.0.0.20", None, "product", "1756-L73/B LOGIX5573", last - 2) in got
    assert ("10.0.0.20", None, "serial", "0xcafe0001", last - 2) in got
    assert ("10.0.0.20", None, "role_hint", "plc", last - 2) in got
    assert ("10.0.0.20", None, "product", "1756-ENBT/A", last) in got
    assert ("enip", "unknown-command-0x0001") in anomalies
    assert not any(k.startswith("detached") for _, k in anomalies)


@pytest.fixture(scope="module")
def modbus_long(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    s = TcpSession("10.0.0.5", "10.0.0.30", 50001, 502).handshake()
    for i in range(N):
        tid = i & 0xFFFF
        s.to_server(mbap(tid, bytes.fromhex("06") + struct.pack(">HH", i & 0xFF, i & 0xFFFF), 1))
        s.to_client(mbap(tid, bytes.fromhex("06") + struct.pack(">HH", i & 0xFF, i & 0xFFFF), 1))
    s.to_server(mbap(4000, bytes.fromhex("6401"), 1))                    # FC100: no such function
    s.to_client(mbap(4000, bytes.fromhex("e401"), 1))                    # illegal function
    s.to_server(mbap(4001, bytes.fromhex("0600020001"), 7))              # a write to unit 7, never answered
    s.to_server(mbap(4002, bytes.fromhex("2b0e0100"), 1))
    s.to_client(mbap(4002, bytes.fromhex("2b0e0181000002") + b"\x00\x04Acme\x01\x03Z10", 1))
    return write_pcap(tmp_path_factory.mktemp("modbus") / "modbus_long.pcap", s.frames), len(s.frames)


@pytest.mark.parametrize("fast", [True, False])
def test_modbus_identity_after_writes_and_unknown_functions(modbus_long: tuple[Path, int], fast: bool) -> None:
    path, last = modbus_long
    got, anomalies = facts_of(path, fast)
    assert ("10.0.0.30", "unit:1", "vendor", "Acme", last) in got
    assert ("10.0.0.30", "unit:1", "product_code", "Z10", last) in got
    assert ("10.0.0.30", "unit:7", "modbus_unit", "7", last - 2) in got
    assert not any(k.startswith("detached") for _, k in anomalies)
