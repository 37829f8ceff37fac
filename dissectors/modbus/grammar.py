"""Modbus/TCP grammar: bytes -> dataclasses (pure; raises Truncated / Malformed)."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from otscope.dissectors.base import Malformed, Reader, Truncated
from otscope.dissectors.modbus.constants import MAX_PDU, Mei, ReadDeviceIdCode

_MBAP = struct.Struct(">HHHB")
_RUN = re.compile(rb"[ -~]+")


@dataclass(frozen=True, slots=True)
class Mbap:
    transaction_id: int
    protocol_id: int
    length: int                  # unit id + PDU
    unit_id: int


def parse_mbap(data: bytes) -> Mbap:
    """MBAP header (Messaging Implementation Guide 3.1.3); ``length`` must leave room for a function code."""
    if len(data) < 7:
        raise Malformed("short MBAP header")
    tid, pid, length, unit = _MBAP.unpack_from(data)
    if pid != 0:
        raise Malformed(f"MBAP protocol id {pid} (Modbus is 0)")
    if not 2 <= length <= MAX_PDU + 1:
        raise Malformed(f"MBAP length {length} outside 2..{MAX_PDU + 1}")
    return Mbap(tid, pid, length, unit)


@dataclass(frozen=True, slots=True)
class DeviceIdRequest:
    read_code: int
    object_id: int


@dataclass(frozen=True, slots=True)
class DeviceIdResponse:
    read_code: int
    conformity: int
    more_follows: bool
    next_object_id: int
    objects: tuple[tuple[int, bytes], ...]


def parse_device_id_request(pdu: bytes) -> DeviceIdRequest:
    """FC 43 / MEI 14 request (spec 6.21): MEI type, ReadDevId code, object id."""
    r = Reader(pdu)
    if r.u8() != 43 or r.u8() != Mei.READ_DEVICE_IDENTIFICATION:
        raise Malformed("not a Read Device Identification request")
    code, obj = r.u8(), r.u8()
    if code not in ReadDeviceIdCode.__members__.values():
        raise Malformed(f"ReadDevId code {code}")
    return DeviceIdRequest(code, obj)


def parse_device_id_response(pdu: bytes) -> DeviceIdResponse:
    """FC 43 / MEI 14 response: code, conformity, more follows (00/FF), next id, count, objects."""
    r = Reader(pdu)
    if r.u8() != 43 or r.u8() != Mei.READ_DEVICE_IDENTIFICATION:
        raise Malformed("not a Read Device Identification response")
    code, conformity, more, next_id, count = r.u8(), r.u8(), r.u8(), r.u8(), r.u8()
    if code not in (1, 2, 3, 4):
        raise Malformed(f"ReadDevId code {code}")
    if more not in (0x00, 0xFF):
        raise Malformed(f"MoreFollows 0x{more:02x} (must be 00 or FF)")
    objects = []
    for _ in range(count):
        oid, olen = r.u8(), r.u8()
        objects.append((oid, r.take(olen)))
    if r.remaining():
        raise Malformed(f"{r.remaining()} bytes after the last object")
    return DeviceIdResponse(code, conformity, more == 0xFF, next_id, tuple(objects))


@dataclass(frozen=True, slots=True)
class ServerId:
    data: bytes                  # server id, run indicator and additional data: layout is device specific


def parse_report_server_id(pdu: bytes) -> ServerId:
    """FC 17 response (spec 6.13): byte count, then device-specific bytes."""
    r = Reader(pdu)
    if r.u8() != 17:
        raise Malformed("not a Report Server ID response")
    n = r.u8()
    data = r.take(n)
    if r.remaining():
        raise Malformed("bytes after the Report Server ID data")
    return ServerId(data)


def printable_runs(data: bytes, minimum: int = 4, maximum: int = 128) -> list[str]:
    """Text runs in device-specific bytes (e.g. b'\\xfa\\xffPM710PowerMeter' -> ['PM710PowerMeter']): ASCII runs
    of at least ``minimum`` characters holding at least two letters (a binary field that happens to be printable,
    such as b'\\x20\\x31\\x7e', is not text), each cut to ``maximum`` characters."""
    runs = []
    for m in _RUN.finditer(data):
        run = m.group().decode("ascii").strip()
        if len(run) >= minimum and sum(ch.isalpha() for ch in run) >= 2:
            runs.append(run[:maximum])
    return runs


@dataclass(frozen=True, slots=True)
class UmasRequest:
    pairing_key: int
    function: int
    data: bytes


def parse_umas_request(pdu: bytes) -> UmasRequest:
    """A UMAS request PDU (Modbus FC 90): function code 0x5A, pairing key (1), UMAS function code (1), data
    (packet-umas.c dissect_umas: the pairing key at offset 0 after the function, the UMAS code at 1)."""
    if len(pdu) < 3:
        raise Truncated(f"UMAS request of {len(pdu)} bytes has no UMAS function code")
    if pdu[0] != 90:
        raise Malformed(f"function {pdu[0]} is not UMAS")
    return UmasRequest(pdu[1], pdu[2], bytes(pdu[3:]))
