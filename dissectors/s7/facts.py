"""S7 messages -> facts: TSAP roles and rack/slot, SZL identity, S7comm-plus session strings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from otscope.dissectors.base import Malformed, Protocol, Truncated, Who, text
from otscope.dissectors.s7.constants import CONNECTION_TYPES, MODE_TRANSITIONS, SZL_0424_MODES, SZL_1C_FIELDS, \
    PlusAttribute, S7Anomaly, cpu_state_name
from otscope.dissectors.s7.grammar import Szl, Tsap, parse_component_id, parse_module_id, plus_attribute_strings, \
    session_identity

if TYPE_CHECKING:
    from otscope.dissectors.s7.dissector import S7Dissector

COTP = Protocol.COTP.value
S7 = Protocol.S7COMM.value
S7P = Protocol.S7COMM_PLUS.value
HMI_MARKERS = ("HMI", "SM@RT", "WinCC", "OMS+")
EWS_MARKERS = ("TCP/IP", "TIA Portal", "STEP 7")
# client session attributes kept as facts (the user name is not identity of a device and is not kept)
CLIENT_FIELDS = {PlusAttribute.SERVER_SESSION_HOST: "s7plus_client_host",
                 PlusAttribute.SERVER_SESSION_APPLICATION: "s7plus_client_application",
                 PlusAttribute.SERVER_SESSION_CLIENT_COMMENT: "s7plus_client_comment"}


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
            # an S7 reading of a binary TSAP (connection type, rack/slot) applies only once S7 is spoken
            d.pending_tsap = (called.conn_type or 0, *called.rack_slot, frame, ts)
    if calling is not None and calling.text is None:
        d.fact(Who.CLIENT, "cotp_calling_tsap", calling.raw.hex(), msg, frame, ts, protocol=COTP)


def s7_confirmed(d: S7Dissector, ts: float, frame: int) -> None:
    """Once S7comm is spoken on the connection, the binary TSAP's rack/slot and class are meaningful."""
    if d.pending_tsap is None:
        return
    ctype, rack, slot, cr_frame, cr_ts = d.pending_tsap
    d.pending_tsap = None
    msg = "COTP Connection Request (called TSAP)"            # the values are in the CR: it is their evidence
    d.fact(Who.CLIENT, "s7_connection_type", CONNECTION_TYPES.get(ctype, f"type {ctype}"), msg, cr_frame, cr_ts,
           protocol=COTP)
    d.fact(Who.SERVER, "s7_rack_slot", f"rack {rack} slot {slot}", msg, cr_frame, cr_ts, protocol=COTP)
    if ctype == 1:
        d.fact(Who.CLIENT, "role_hint", "engineering-workstation", "S7 PG connection (TSAP type 1)", cr_frame, cr_ts,
               protocol=COTP)
    elif ctype == 2:
        d.fact(Who.CLIENT, "role_hint", "hmi-scada", "S7 OP connection (TSAP type 2)", cr_frame, cr_ts, protocol=COTP)


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
            _cpu_state(d, z.records[0], msg, ts, frame)
        else:
            d.fact(Who.SERVER, "szl_read", f"0x{z.szl_id:04x}", msg, frame, ts, protocol=S7)
    except (Truncated, Malformed):
        d.anomaly(S7Anomaly.MALFORMED_SZL, frame, ts, f"0x{z.szl_id:04x}")


def _cpu_state(d: S7Dissector, rec: bytes, msg: str, ts: float, frame: int) -> None:
    """SZL 0x0424 record: ereig, ae, bzu-id (bits 0-3 the current mode, bits 4-7 the previous one)."""
    if len(rec) < 4:
        raise Malformed(f"SZL 0x0424 record of {len(rec)} bytes")
    bzu = rec[3]
    d.fact(Who.SERVER, "cpu_state_code", f"0x{bzu:02x}", msg, frame, ts, protocol=S7)
    d.fact(Who.SERVER, "cpu_state", cpu_state_name(SZL_0424_MODES, bzu & 0x0F), msg, frame, ts, protocol=S7)


def mode_transition(d: S7Dissector, subfunction: int, ts: float, frame: int) -> None:
    """A userdata mode-transition push (group 0): the CPU reports its new operating mode."""
    d.fact(Who.SERVER, "cpu_state", cpu_state_name(MODE_TRANSITIONS, subfunction),
           f"S7comm mode transition (userdata group 0, subfunction 0x{subfunction:02x})", frame, ts, protocol=S7)


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
            elif field == "module_name" and not any(parse_component_id(r)[0] == 7 for r in z.records):
                # the module name stands for the product when this answer has no module type name (index 7);
                # the collector ranks it against better product text (type name, order number)
                d.fact(Who.SERVER, "product", value, f"{msg} (module name)", frame, ts, protocol=S7)


def plus_create_object(d: S7Dissector, body: bytes, side: int, ts: float, frame: int) -> None:
    """CreateObject of a session: only string attributes of known contexts become facts."""
    attrs = plus_attribute_strings(body)
    if side == 1:
        _plus_server_identity(d, body, attrs, ts, frame)
        return
    msg = "S7comm-plus CreateObject request"
    for attr, value in attrs:
        field = CLIENT_FIELDS.get(attr)
        if field is not None:
            d.fact(Who.CLIENT, field, value, f"{msg} ({PlusAttribute(attr).name})", frame, ts, protocol=S7P)
    shown = [v for a, v in attrs if a != PlusAttribute.SERVER_SESSION_USER]
    if any(m in v for v in shown for m in HMI_MARKERS):
        d.fact(Who.CLIENT, "role_hint", "hmi-scada", f"{msg} (HMI session strings)", frame, ts, protocol=S7P)
    elif any(m in v for v in shown for m in EWS_MARKERS):
        d.fact(Who.CLIENT, "role_hint", "engineering-workstation", f"{msg} (TIA Portal session)", frame, ts,
               protocol=S7P)


def _plus_server_identity(d: S7Dissector, body: bytes, attrs: list[tuple[int, str]], ts: float, frame: int) -> None:
    """The PLC's session version string (order number and firmware, e.g. '1;6ES7 211-1BE31-0XB0 ;V3.0')."""
    ident = None
    for attr, value in attrs:
        if attr == PlusAttribute.SESSION_VERSION_SYSTEM_PAOM_STRING:
            ident = session_identity(value.encode())
            break
    if ident is None:
        ident = session_identity(body)           # the same strict format, where the attribute was not framed
    if ident is None:
        return
    mlfb, fw = ident
    msg = "S7comm-plus CreateObject response (ServerSessionVersion)"
    d.fact(Who.SERVER, "order_number", mlfb, msg, frame, ts, protocol=S7P)
    d.fact(Who.SERVER, "firmware", fw, msg, frame, ts, protocol=S7P)
    d.fact(Who.SERVER, "vendor", "Siemens", f"{msg} (Siemens order number)", frame, ts, protocol=S7P)
