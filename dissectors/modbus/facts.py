"""Modbus messages -> facts about the client, the server, or a unit behind a gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from otscope.dissectors.base import Malformed, Truncated, Who, text
from otscope.dissectors.modbus.constants import DEVICE_ID_FIELDS, ModbusAnomaly
from otscope.dissectors.modbus.grammar import parse_device_id_response, parse_report_server_id, printable_runs

if TYPE_CHECKING:
    from otscope.dissectors.modbus.dissector import ModbusDissector

DEVID_MSG = "FC43/14 Read Device Identification"
SERVER_ID_MSG = "FC17 Report Server ID"
MAX_SERVER_ID_RUNS = 4


def component(unit: int) -> str | None:
    """The unit an answer is credited to: its own MBAP unit id (MODBUS Messaging on TCP/IP Implementation Guide
    V1.0b 4.4.1.1: 1..247 address a device behind a gateway; 0 and 255 the device at the IP itself)."""
    return f"unit:{unit}" if 0 < unit < 248 else None


def device_object(d: ModbusDissector, unit: int, oid: int, raw: bytes, msg: str, ts: float, frame: int) -> None:
    comp = component(unit)
    field = DEVICE_ID_FIELDS.get(oid)
    if field is not None:
        d.fact(Who.SERVER, field, text(raw), msg, frame, ts, comp)
    else:
        # private objects 0x80-0xFF (and reserved ids) keep their number and raw bytes
        shown = text(raw) if raw and all(0x20 <= b < 0x7F for b in raw) else raw.hex()[:128]
        d.fact(Who.SERVER, f"modbus_object_0x{oid:02x}", shown, msg, frame, ts, comp)


def response(d: ModbusDissector, pdu: bytes, fc: int, unit: int, req: int, ts: float, frame: int) -> None:
    if fc == 43:
        _device_id(d, pdu, unit, req, ts, frame)
    elif fc == 17:
        _server_id(d, pdu, unit, ts, frame)
    elif fc == 90:
        umas_seen(d, unit, ts, frame)


def _device_id(d: ModbusDissector, pdu: bytes, unit: int, req: int, ts: float, frame: int) -> None:
    if len(pdu) < 2 or pdu[1] != 14:
        return
    try:
        rsp = parse_device_id_response(pdu)
    except (Truncated, Malformed):
        d.anomaly(ModbusAnomaly.MALFORMED_DEVICE_ID_RESPONSE, frame, ts)
        return
    d.count(f"fc43 read code {rsp.read_code} response")
    for oid, raw in rsp.objects:
        device_object(d, unit, oid, raw, DEVID_MSG, ts, frame)
    if rsp.more_follows:
        d.count("fc43 more follows")


def _server_id(d: ModbusDissector, pdu: bytes, unit: int, ts: float, frame: int) -> None:
    try:
        sid = parse_report_server_id(pdu)
    except (Truncated, Malformed):
        d.anomaly(ModbusAnomaly.MALFORMED_REPORT_SERVER_ID, frame, ts)
        return
    comp = component(unit)
    d.fact(Who.SERVER, "modbus_server_id_raw", sid.data.hex()[:200], SERVER_ID_MSG, frame, ts, comp)
    # the layout after the byte count is device specific (spec 6.13: server id, run indicator, additional
    # data): no vendor or product is read from it, only its text runs are kept, as text
    for run in printable_runs(sid.data)[:MAX_SERVER_ID_RUNS]:
        d.fact(Who.SERVER, "modbus_server_id_text", run, SERVER_ID_MSG, frame, ts, comp)


def umas_seen(d: ModbusDissector, unit: int, ts: float, frame: int) -> None:
    """FC 90 is Schneider Electric's UMAS: engineering traffic to a Modicon controller."""
    if d.profile.get("umas-marked"):
        return
    d.profile["umas-marked"] = 1
    d.fact(Who.CLIENT, "role_hint", "engineering-workstation", "FC90 UMAS (Schneider engineering)", frame, ts)
    d.fact(Who.SERVER, "vendor", "Schneider Electric", "FC90 UMAS (Schneider engineering protocol)", frame, ts,
           component(unit))
