"""S7 messages -> facts: TSAP roles and rack/slot, SZL identity, S7comm-plus session strings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from otscope.dissectors.base import Malformed, Protocol, Truncated, Who, text
from otscope.dissectors.s7.constants import CONNECTION_TYPES, SZL_1C_FIELDS, S7Anomaly
from otscope.dissectors.s7.grammar import Szl, Tsap, parse_component_id, parse_module_id, session_identity, strings

if TYPE_CHECKING:
    from otscope.dissectors.s7.dissector import S7Dissector

COTP = Protocol.COTP.value
S7 = Protocol.S7COMM.value
S7P = Protocol.S7COMM_PLUS.value
HMI_MARKERS = ("HMI", "SM@RT", "WinCC", "OMS+")


def connect_request(d: S7Dissector, calling: Tsap | None, called: Tsap | None, ts: float, frame: int) -> None:
    msg = "COTP Connection Request"
    if called is not None:
        t = called.text
        if t is not None:
            d.fact(Who.CLIENT, "cotp_called_tsap", t, msg, frame, ts, protocol=COTP)
            if t.endswith("-ES"):
                d.fact(Who.CLIENT, "role_hint", "engineering-workstation", f"{msg} ({t}: TIA Portal)", frame, ts,
                       protocol=COTP)
            elif t.endswith("-HMI"):
                d.fact(Who.CLIENT, "role_hint", "hmi-scada", f"{msg} ({t}: WinCC)", frame, ts, protocol=COTP)
        elif called.rack_slot is not None:
            ctype = called.conn_type or 0
            d.pending_tsap = (ctype, *called.rack_slot)
            d.fact(Who.CLIENT, "s7_connection_type", CONNECTION_TYPES.get(ctype, f"type {ctype}"), msg, frame, ts,
                   protocol=COTP)
    if calling is not None and calling.text is None:
        d.fact(Who.CLIENT, "cotp_calling_tsap", calling.raw.hex(), msg, frame, ts, protocol=COTP)


def s7_confirmed(d: S7Dissector, ts: float, frame: int) -> None:
    """Once S7comm is spoken on the connection, the binary TSAP's rack/slot and class are meaningful."""
    if d.pending_tsap is None:
        return
    ctype, rack, slot = d.pending_tsap
    d.pending_tsap = None
    d.fact(Who.SERVER, "s7_rack_slot", f"rack {rack} slot {slot}", "COTP called TSAP", frame, ts, protocol=COTP)
    if ctype == 1:
        d.fact(Who.CLIENT, "role_hint", "engineering-workstation", "S7 PG connection (TSAP type 1)", frame, ts,
               protocol=COTP)
    elif ctype == 2:
        d.fact(Who.CLIENT, "role_hint", "hmi-scada", "S7 OP connection (TSAP type 2)", frame, ts, protocol=COTP)


def szl(d: S7Dissector, z: Szl, ts: float, frame: int) -> None:
    msg = f"S7 Read SZL 0x{z.szl_id:04x} index 0x{z.index:04x}"
    d.count(f"szl 0x{z.szl_id:04x}")
    low = z.szl_id & 0x00FF
    try:
        if low == 0x11:
            _module_ids(d, z, msg, ts, frame)
        elif low == 0x1C:
            _component_ids(d, z, msg, ts, frame)
        elif z.szl_id == 0x0424 and z.records:
            rec = z.records[0]
            if len(rec) >= 4:
                d.fact(Who.SERVER, "cpu_state_code", f"0x{rec[3]:02x}", msg, frame, ts, protocol=S7)
        else:
            d.fact(Who.SERVER, "szl_read", f"0x{z.szl_id:04x}", msg, frame, ts, protocol=S7)
    except (Truncated, Malformed):
        d.anomaly(S7Anomaly.MALFORMED_SZL, frame, ts, f"0x{z.szl_id:04x}")


def _module_ids(d: S7Dissector, z: Szl, msg: str, ts: float, frame: int) -> None:
    for rec in z.records:
        m = parse_module_id(rec)
        if m.index in (1, 6) and m.mlfb:
            d.fact(Who.SERVER, "order_number", m.mlfb, msg, frame, ts, protocol=S7)
            if m.mlfb.startswith(("6ES", "6GK", "6AV", "6ED", "6AG")):
                d.fact(Who.SERVER, "vendor", "Siemens", f"{msg} (Siemens order number)", frame, ts, protocol=S7)
        elif m.index == 7 and m.version:
            d.fact(Who.SERVER, "firmware", m.version, msg, frame, ts, protocol=S7)
        elif m.index == 0x81 and m.version is None and m.mlfb:
            d.fact(Who.SERVER, "s7_bootloader", f"{m.mlfb} {m.ausbg:04x}{m.ausbe:04x}", msg, frame, ts, protocol=S7)
        if m.index == 1 and m.version and not any(r[:2] == b"\x00\x07" for r in z.records):
            d.fact(Who.SERVER, "hardware_version", m.version, msg, frame, ts, protocol=S7)


def _component_ids(d: S7Dissector, z: Szl, msg: str, ts: float, frame: int) -> None:
    for rec in z.records:
        index, body = parse_component_id(rec)
        field = SZL_1C_FIELDS.get(index)
        if field is None:
            if index == 9 and len(body) >= 2:
                d.fact(Who.SERVER, "manufacturer_id", f"0x{body[0] << 8 | body[1]:04x}", msg, frame, ts, protocol=S7)
            continue
        value = text(body)
        if value:
            d.fact(Who.SERVER, field, value, msg, frame, ts, protocol=S7)
            if field == "copyright" and "Siemens" in value:
                d.fact(Who.SERVER, "vendor", "Siemens", f"{msg} (copyright)", frame, ts, protocol=S7)


def plus_create_object(d: S7Dissector, body: bytes, side: int, ts: float, frame: int) -> None:
    if side == 1:
        ident = session_identity(body)
        if ident is not None:
            mlfb, fw = ident
            msg = "S7comm-plus CreateObject response (ServerSessionVersion)"
            d.fact(Who.SERVER, "order_number", mlfb, msg, frame, ts, protocol=S7P)
            d.fact(Who.SERVER, "firmware", fw, msg, frame, ts, protocol=S7P)
            d.fact(Who.SERVER, "vendor", "Siemens", f"{msg} (Siemens order number)", frame, ts, protocol=S7P)
        return
    found = strings(body)
    msg = "S7comm-plus CreateObject request"
    for s in found[:8]:
        d.fact(Who.CLIENT, "s7plus_client_string", s[:120], msg, frame, ts, protocol=S7P)
    if any(m in s for s in found for m in HMI_MARKERS):
        d.fact(Who.CLIENT, "role_hint", "hmi-scada", f"{msg} (HMI session strings)", frame, ts, protocol=S7P)
    elif any("TCP/IP" in s for s in found):
        d.fact(Who.CLIENT, "role_hint", "engineering-workstation", f"{msg} (TIA Portal session)", frame, ts,
               protocol=S7P)
