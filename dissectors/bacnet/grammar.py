"""BACnet/IP: pure bytes -> dataclasses (Reader-bounded), one layer per function.

* BVLL (135 Annex J.2; packet-bvlc.c dissect_bvlc): type 0x81, function(1), length(2: the whole BVLL message,
  header included), then the function's body: a 2-octet result code, BDT entries of 10 octets (B/IP address
  and mask), FDT entries of 10 octets (B/IP address, TTL, seconds remaining), a 2-octet TTL, a 6-octet B/IP
  address, or an NPDU (a Forwarded-NPDU first carries the 6-octet B/IP address of its original source).
* NPDU (clause 6.2; packet-bacnet.c dissect_bacnet): version 0x01, control; DNET(2) DLEN(1) DADR when bit 5;
  SNET(2) SLEN(1) SADR when bit 3 (SLEN 0 is invalid); hop count(1) when bit 5; then when bit 7 a network
  message type(1) (with a vendor id(2) from 0x80), else the APDU.
* APDU (clause 20.1; packet-bacapp.c fConfirmedRequestPDU ...): the type in the high nibble of the first
  octet, then per type the invoke id, segmentation fields, service choice and the service's tagged body.
* Tagged values (clause 20.2): tag number (15 = next octet), class bit (context), length/value/type (5 = the
  length follows: one octet, 254 = two more, 255 = four more; 6/7 = opening/closing context tags; an application
  boolean's value is in its LVT). Character strings (20.2.9) start with their character set.

Every decoded value is bounded (strings: MAX_STRING octets; values per property: MAX_VALUES).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from otscope.dissectors.bacnet.constants import (B_IP_ADDRESS_LEN, BDT_ENTRY, BVLC_BODY_LEN, BVLC_HEADER, CTRL_DNET,
                                                 CTRL_NETWORK_MESSAGE, CTRL_RESERVED, CTRL_SNET, FDT_ENTRY,
                                                 INSTANCE_BITS, INSTANCE_MASK, MAX_RPM_RESULTS, MAX_STRING,
                                                 MAX_VALUES, NL_PROPRIETARY_FIRST, NPDU_FUNCTIONS, NPDU_VERSION,
                                                 AppTag, BvlcFunction, Charset, NetworkMessage, PduType)
from otscope.dissectors.base import Malformed, Reader, Truncated

# -- BVLL ----------------------------------------------------------------------------------------------------


def b_ip(raw: bytes) -> str:
    """A 6-octet B/IP address (J.1.2) as ``a.b.c.d:port``."""
    return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}:{raw[4] << 8 | raw[5]}"


@dataclass(frozen=True, slots=True)
class Bvlc:
    function: int
    length: int                         # the whole BVLL message, header included
    origin: bytes = b""                 # Forwarded-NPDU: the original source's B/IP address (6 octets)
    result: int | None = None           # BVLC-Result code
    ttl: int | None = None              # Register-Foreign-Device time-to-live (seconds)
    entries: tuple[str, ...] = ()       # BDT / FDT entries, Delete-FDT-Entry's address
    npdu: bytes | None = None           # the NPDU the function carries


def bvlc_header(buf: bytes | memoryview) -> tuple[int, int, int]:
    """(type, function, length) of the first 4 octets; the dissector judges them."""
    if len(buf) < BVLC_HEADER:
        raise Truncated("BVLC header")
    return buf[0], buf[1], buf[2] << 8 | buf[3]


def parse_bvlc_body(function: int, body: bytes) -> Bvlc:
    """A known function's body (after the 4 header octets, cut to the declared length)."""
    n = len(body) + BVLC_HEADER
    fixed = BVLC_BODY_LEN.get(function)     # type: ignore[call-overload]
    if fixed is not None and len(body) != fixed:
        raise Malformed(f"BVLC function 0x{function:02x} body of {len(body)} octets, not {fixed}")
    if function == BvlcFunction.RESULT:
        return Bvlc(function, n, result=body[0] << 8 | body[1])
    if function == BvlcFunction.REGISTER_FOREIGN_DEVICE:
        return Bvlc(function, n, ttl=body[0] << 8 | body[1])
    if function == BvlcFunction.DELETE_FDT_ENTRY:
        return Bvlc(function, n, entries=(b_ip(body),))
    if function in (BvlcFunction.WRITE_BDT, BvlcFunction.READ_BDT_ACK):
        return Bvlc(function, n, entries=_table(body, BDT_ENTRY, _bdt_entry))
    if function == BvlcFunction.READ_FDT_ACK:
        return Bvlc(function, n, entries=_table(body, FDT_ENTRY, _fdt_entry))
    if function == BvlcFunction.FORWARDED_NPDU:
        if len(body) < B_IP_ADDRESS_LEN:
            raise Truncated("Forwarded-NPDU original source address")
        return Bvlc(function, n, origin=body[:B_IP_ADDRESS_LEN], npdu=body[B_IP_ADDRESS_LEN:])
    if function in NPDU_FUNCTIONS:
        return Bvlc(function, n, npdu=body)
    return Bvlc(function, n)                # Read-BDT, Read-FDT, Secure-BVLL (not decoded)


def _bdt_entry(e: bytes) -> str:
    return f"{b_ip(e[:6])}/{e[6]}.{e[7]}.{e[8]}.{e[9]}"


def _fdt_entry(e: bytes) -> str:
    return f"{b_ip(e[:6])} ttl {e[6] << 8 | e[7]}"


def _table(body: bytes, size: int, fmt) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    if len(body) % size:
        raise Malformed(f"table of {len(body)} octets is not whole {size}-octet entries")
    return tuple(fmt(body[i:i + size]) for i in range(0, min(len(body), 16 * size), size))


# -- NPDU ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Npdu:
    control: int
    dnet: int | None = None
    dadr: bytes = b""                   # empty with a DNET: a broadcast on that network
    snet: int | None = None
    sadr: bytes = b""
    hop_count: int | None = None
    message_type: int | None = None     # network layer message (control bit 7), else None: an APDU follows
    vendor_id: int | None = None        # proprietary network messages (0x80..0xFF)
    body: bytes = b""                   # the APDU, or the network message's data

    @property
    def expecting_reply(self) -> bool:
        return bool(self.control & 0x04)


def parse_npdu(buf: bytes) -> Npdu:
    r = Reader(buf)
    version, control = r.u8(), r.u8()
    if version != NPDU_VERSION:
        raise Malformed(f"NPDU version {version}")
    if control & CTRL_RESERVED:
        raise Malformed(f"NPDU control 0x{control:02x}: reserved bits set")
    dnet = snet = hop = mtype = vendor = None
    dadr = sadr = b""
    if control & CTRL_DNET:
        dnet = r.u16be()
        dadr = r.take(r.u8())
    if control & CTRL_SNET:
        snet = r.u16be()
        slen = r.u8()
        if slen == 0:
            raise Malformed("SLEN 0 (6.2.2: invalid)")
        sadr = r.take(slen)
        if snet in (0, 0xFFFF):
            raise Malformed(f"SNET {snet}")
    if control & CTRL_DNET:
        hop = r.u8()
    if control & CTRL_NETWORK_MESSAGE:
        mtype = r.u8()
        if mtype >= NL_PROPRIETARY_FIRST:
            vendor = r.u16be()
    return Npdu(control, dnet, dadr, snet, sadr, hop, mtype, vendor, r.rest())


def parse_networks(body: bytes) -> tuple[int, ...]:
    """A list of 2-octet network numbers (I-Am-Router-To-Network 6.4.2, Router-Busy/Available 6.4.5/6)."""
    if len(body) % 2:
        raise Malformed("odd network number list")
    return tuple(body[i] << 8 | body[i + 1] for i in range(0, min(len(body), 128), 2))


def parse_network_number_is(body: bytes) -> tuple[int, int]:
    """6.4.20 Network-Number-Is: network number(2), flag(1: 1 configured, 0 learned)."""
    if len(body) < 3:
        raise Truncated("Network-Number-Is")
    return body[0] << 8 | body[1], body[2]


def network_message_name(mtype: int) -> str:
    try:
        return NetworkMessage(mtype).name.lower().replace("_", "-")
    except ValueError:
        return f"0x{mtype:02x}"


# -- APDU ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Apdu:
    pdu_type: int
    flags: int                          # low nibble of the first octet
    invoke_id: int | None = None
    service: int | None = None          # service (ack) choice; the error's service; None for segment-ACK ...
    sequence: int | None = None         # segmented messages and segment-ACK
    reason: int | None = None           # reject / abort reason
    max_apdu: int | None = None         # confirmed request: max APDU length accepted code
    body: bytes = b""

    @property
    def segmented(self) -> bool:
        return self.pdu_type in (PduType.CONFIRMED_REQUEST, PduType.COMPLEX_ACK) and bool(self.flags & 0x08)

    @property
    def from_server(self) -> bool:
        """Abort / segment-ACK: the SRV bit (20.1.6, 20.1.9)."""
        return bool(self.flags & 0x01)


def parse_apdu(buf: bytes) -> Apdu:
    """The APDU header (20.1.2-20.1.9); an unknown type is returned with its number, no more."""
    r = Reader(buf)
    b0 = r.u8()
    t, flags = b0 >> 4, b0 & 0x0F
    if t == PduType.CONFIRMED_REQUEST:
        sizes, invoke = r.u8(), r.u8()
        seq = None
        if flags & 0x08:
            seq = r.u8()
            r.u8()                          # proposed window size
        return Apdu(t, flags, invoke, r.u8(), seq, None, sizes & 0x0F, r.rest())
    if t == PduType.UNCONFIRMED_REQUEST:
        return Apdu(t, flags, None, r.u8(), body=r.rest())
    if t == PduType.SIMPLE_ACK:
        return Apdu(t, flags, r.u8(), r.u8())
    if t == PduType.COMPLEX_ACK:
        invoke = r.u8()
        seq = None
        if flags & 0x08:
            seq = r.u8()
            r.u8()
        return Apdu(t, flags, invoke, r.u8(), seq, body=r.rest())
    if t == PduType.SEGMENT_ACK:
        invoke, seq = r.u8(), r.u8()
        r.u8()                              # actual window size
        return Apdu(t, flags, invoke, None, seq)
    if t == PduType.ERROR:
        return Apdu(t, flags, r.u8(), r.u8(), body=r.rest())
    if t in (PduType.REJECT, PduType.ABORT):
        return Apdu(t, flags, r.u8(), None, reason=r.u8())
    return Apdu(t, flags)


# -- tagged values (20.2) ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Tag:
    number: int
    context: bool
    lvt: int                            # the raw length/value/type bits
    length: int                         # content octets (0 for opening/closing tags and application booleans)

    @property
    def opening(self) -> bool:
        return self.context and self.lvt == 6

    @property
    def closing(self) -> bool:
        return self.context and self.lvt == 7


def read_tag(r: Reader) -> Tag:
    b = r.u8()
    number = b >> 4
    if number == 15:
        number = r.u8()
    context, lvt = bool(b & 0x08), b & 0x07
    if context and lvt in (6, 7):
        return Tag(number, True, lvt, 0)
    if not context and number == AppTag.BOOLEAN:
        if lvt > 1:
            raise Malformed(f"boolean value {lvt}")
        return Tag(number, False, lvt, 0)
    if not context and lvt > 5:
        raise Malformed(f"application tag {number} with LVT {lvt}")
    length = lvt
    if lvt == 5:
        length = r.u8()
        if length == 254:
            length = r.u16be()
        elif length == 255:
            length = r.u32be()
    if length > r.remaining():
        raise Truncated(f"tag {number} of {length} octets, {r.remaining()} left")
    return Tag(number, context, lvt, length)


@dataclass(frozen=True, slots=True)
class ObjectId:
    type: int
    instance: int

    def __str__(self) -> str:
        return f"{object_type_name(self.type)},{self.instance}"


@dataclass(frozen=True, slots=True)
class CharString:
    charset: int
    text: str | None                    # None: a character set we do not decode (DBCS, JIS X 0208)
    cut: bool = False                   # longer than MAX_STRING octets: decoded in part

    def __str__(self) -> str:
        return self.text or ""


Value = None | bool | int | float | str | bytes | ObjectId | CharString


_ENCODINGS = {Charset.UTF8: "utf-8", Charset.ISO_8859_1: "latin-1", Charset.UCS2: "utf-16-be",
              Charset.UCS4: "utf-32-be"}


def char_string(raw: bytes) -> CharString:
    if not raw:
        raise Malformed("character string without its character set")
    cs, data = raw[0], raw[1:]
    cut = len(data) > MAX_STRING
    data = data[:MAX_STRING]
    enc = _ENCODINGS.get(cs)            # type: ignore[call-overload]
    if enc is None:
        return CharString(cs, None, cut)
    if cs == Charset.UCS2:
        data = data[:len(data) & ~1]
    elif cs == Charset.UCS4:
        data = data[:len(data) & ~3]
    return CharString(cs, data.decode(enc, "replace"), cut)


def unsigned(raw: bytes) -> int:
    if not 1 <= len(raw) <= 8:
        raise Malformed(f"unsigned of {len(raw)} octets")
    return int.from_bytes(raw, "big")


def app_value(tag: Tag, raw: bytes) -> Value:
    """An application-tagged primitive's value (20.2.2 - 20.2.14)."""
    n = tag.number
    if n == AppTag.NULL:
        return None
    if n == AppTag.BOOLEAN:
        return bool(tag.lvt)
    if n in (AppTag.UNSIGNED, AppTag.ENUMERATED):
        return unsigned(raw)
    if n == AppTag.SIGNED:
        unsigned(raw)
        return int.from_bytes(raw, "big", signed=True)
    if n == AppTag.REAL:
        if len(raw) != 4:
            raise Malformed("REAL not 4 octets")
        return struct.unpack(">f", raw)[0]
    if n == AppTag.DOUBLE:
        if len(raw) != 8:
            raise Malformed("DOUBLE not 8 octets")
        return struct.unpack(">d", raw)[0]
    if n == AppTag.CHARACTER_STRING:
        return char_string(raw)
    if n == AppTag.OBJECT_IDENTIFIER:
        return object_id(raw)
    return raw[:MAX_STRING]             # octet string, bit string, date, time, reserved tags: the octets


def object_id(raw: bytes) -> ObjectId:
    if len(raw) != 4:
        raise Malformed(f"object identifier of {len(raw)} octets")
    v = int.from_bytes(raw, "big")
    return ObjectId(v >> INSTANCE_BITS, v & INSTANCE_MASK)


def app(r: Reader, want: AppTag) -> Value:
    """The next application-tagged value, which must be of type ``want``."""
    tag = read_tag(r)
    if tag.context or tag.number != want:
        raise Malformed(f"expected application tag {want.name}, got {'context' if tag.context else 'application'} "
                        f"{tag.number}")
    return app_value(tag, r.take(tag.length))


def peek_context(r: Reader, number: int) -> bool:
    """The next tag is context tag ``number`` (primitive or opening)."""
    if not r.remaining():
        return False
    b = r.buf[r.pos]
    return bool(b & 0x08) and (b >> 4) == number and (b & 0x07) != 7


def ctx_raw(r: Reader, number: int) -> bytes:
    tag = read_tag(r)
    if not tag.context or tag.number != number or tag.opening or tag.closing:
        raise Malformed(f"expected context tag [{number}], got {tag.number}")
    return r.take(tag.length)


def ctx_uint(r: Reader, number: int) -> int:
    return unsigned(ctx_raw(r, number))


def expect_open(r: Reader, number: int) -> None:
    tag = read_tag(r)
    if not tag.opening or tag.number != number:
        raise Malformed(f"expected opening tag [{number}]")


def expect_close(r: Reader, number: int) -> None:
    tag = read_tag(r)
    if not tag.closing or tag.number != number:
        raise Malformed(f"expected closing tag [{number}]")


def values_until_close(r: Reader, number: int) -> list[Value]:
    """The application values inside an opened [number] ... [number] pair (nested constructions walked; context
    primitives inside skipped); the closing tag is consumed. At most MAX_VALUES values are kept."""
    out: list[Value] = []
    depth = 0
    while True:
        tag = read_tag(r)
        if tag.opening:
            depth += 1
            continue
        if tag.closing:
            if depth == 0:
                if tag.number != number:
                    raise Malformed(f"closing tag [{tag.number}] closes [{number}]")
                return out
            depth -= 1
            continue
        raw = r.take(tag.length)
        if not tag.context and len(out) < MAX_VALUES:
            out.append(app_value(tag, raw))


# -- services ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class IAm:
    """16.10.3 I-Am: iAmDeviceIdentifier, maxAPDULengthAccepted, segmentationSupported, vendorID."""

    device: ObjectId
    max_apdu: int
    segmentation: int
    vendor_id: int


def parse_i_am(body: bytes) -> IAm:
    r = Reader(body)
    dev = app(r, AppTag.OBJECT_IDENTIFIER)
    max_apdu = app(r, AppTag.UNSIGNED)
    seg = app(r, AppTag.ENUMERATED)
    vendor = app(r, AppTag.UNSIGNED)
    assert isinstance(dev, ObjectId) and isinstance(max_apdu, int) and isinstance(seg, int)
    assert isinstance(vendor, int)
    return IAm(dev, max_apdu, seg, vendor)


@dataclass(frozen=True, slots=True)
class IHave:
    """16.9.3 I-Have: deviceIdentifier, objectIdentifier, objectName."""

    device: ObjectId
    object: ObjectId
    name: CharString


def parse_i_have(body: bytes) -> IHave:
    r = Reader(body)
    dev, obj, name = app(r, AppTag.OBJECT_IDENTIFIER), app(r, AppTag.OBJECT_IDENTIFIER), \
        app(r, AppTag.CHARACTER_STRING)
    assert isinstance(dev, ObjectId) and isinstance(obj, ObjectId) and isinstance(name, CharString)
    return IHave(dev, obj, name)


def parse_who_is(body: bytes) -> tuple[int, int] | None:
    """16.10.1 Who-Is: both limits [0] [1], or none."""
    if not body:
        return None
    r = Reader(body)
    low, high = ctx_uint(r, 0), ctx_uint(r, 1)
    if any(r.rest()):                       # zero octets: an 802.3 frame's padding (BACnet/Ethernet, clause 7)
        raise Malformed("bytes after Who-Is limits")
    return low, high


@dataclass(frozen=True, slots=True)
class WhoHas:
    """16.9.1 Who-Has: optional limits [0] [1], then [2] objectIdentifier or [3] objectName."""

    limits: tuple[int, int] | None
    object: ObjectId | None
    name: CharString | None


def parse_who_has(body: bytes) -> WhoHas:
    r = Reader(body)
    limits = None
    if peek_context(r, 0):
        limits = (ctx_uint(r, 0), ctx_uint(r, 1))
    if peek_context(r, 2):
        return WhoHas(limits, object_id(ctx_raw(r, 2)), None)
    return WhoHas(limits, None, char_string(ctx_raw(r, 3)))


@dataclass(frozen=True, slots=True)
class PropertyRef:
    """A ReadProperty / WriteProperty request's object, property and array index (15.5.1, 15.9.1)."""

    object: ObjectId
    property: int
    index: int | None


def parse_property_ref(body: bytes) -> PropertyRef:
    r = Reader(body)
    obj = object_id(ctx_raw(r, 0))
    prop = ctx_uint(r, 1)
    index = ctx_uint(r, 2) if peek_context(r, 2) else None
    return PropertyRef(obj, prop, index)


@dataclass(frozen=True, slots=True)
class PropertyValue:
    object: ObjectId
    property: int
    index: int | None
    values: list[Value] = field(default_factory=list)


def parse_read_property_ack(body: bytes) -> PropertyValue:
    """15.5.1.3 ReadProperty-ACK: [0] objectIdentifier, [1] propertyIdentifier, [2] index?, [3] value."""
    r = Reader(body)
    obj = object_id(ctx_raw(r, 0))
    prop = ctx_uint(r, 1)
    index = ctx_uint(r, 2) if peek_context(r, 2) else None
    expect_open(r, 3)
    return PropertyValue(obj, prop, index, values_until_close(r, 3))


def parse_rpm_ack(body: bytes) -> list[PropertyValue]:
    """15.7.1.3 ReadPropertyMultiple-ACK: per object [0] objectIdentifier, [1] { [2] property, [3] index?,
    [4] value | [5] error } [1]; a property read with an error is left out."""
    r = Reader(body)
    out: list[PropertyValue] = []
    while r.remaining() and len(out) < MAX_RPM_RESULTS:
        obj = object_id(ctx_raw(r, 0))
        expect_open(r, 1)
        while not _at_close(r, 1):
            prop = ctx_uint(r, 2)
            index = ctx_uint(r, 3) if peek_context(r, 3) else None
            tag = read_tag(r)
            if tag.opening and tag.number == 4:
                vals = values_until_close(r, 4)
                if len(out) < MAX_RPM_RESULTS:
                    out.append(PropertyValue(obj, prop, index, vals))
            elif tag.opening and tag.number == 5:
                values_until_close(r, 5)
            else:
                raise Malformed(f"RPM result tag {tag.number}")
        expect_close(r, 1)
    return out


def _at_close(r: Reader, number: int) -> bool:
    if not r.remaining():
        raise Truncated(f"list [{number}] not closed")
    b = r.buf[r.pos]
    return b == (number << 4 | 0x0F)


@dataclass(frozen=True, slots=True)
class Reinitialize:
    """16.4.1 ReinitializeDevice: [0] reinitializedStateOfDevice, [1] password?"""

    state: int
    password: bool


def parse_reinitialize(body: bytes) -> Reinitialize:
    r = Reader(body)
    state = ctx_uint(r, 0)
    return Reinitialize(state, peek_context(r, 1))


@dataclass(frozen=True, slots=True)
class CommunicationControl:
    """16.1.1 DeviceCommunicationControl: [0] timeDuration? (minutes), [1] enable-disable, [2] password?"""

    duration: int | None
    enable_disable: int
    password: bool


def parse_communication_control(body: bytes) -> CommunicationControl:
    r = Reader(body)
    duration = ctx_uint(r, 0) if peek_context(r, 0) else None
    action = ctx_uint(r, 1)
    return CommunicationControl(duration, action, peek_context(r, 2))


class ObjectType:
    """21 BACnetObjectType names (the common ones; others keep their number)."""

    NAMES = ("analog-input", "analog-output", "analog-value", "binary-input", "binary-output", "binary-value",
             "calendar", "command", "device", "event-enrollment", "file", "group", "loop", "multi-state-input",
             "multi-state-output", "notification-class", "program", "schedule", "averaging",
             "multi-state-value", "trend-log", "life-safety-point", "life-safety-zone", "accumulator",
             "pulse-converter", "event-log", "global-group", "trend-log-multiple", "load-control",
             "structured-view", "access-door")


def object_type_name(t: int) -> str:
    return ObjectType.NAMES[t] if 0 <= t < len(ObjectType.NAMES) else str(t)


def known_network_message(mtype: int) -> bool:
    return mtype >= NL_PROPRIETARY_FIRST or mtype in NetworkMessage._value2member_map_


def is_npdu_function(function: int) -> bool:
    return function in NPDU_FUNCTIONS
