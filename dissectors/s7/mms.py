"""ISO session (ISO 8327-1) -> presentation (ISO 8823) -> ACSE (ISO 8650-1) -> MMS (ISO 9506-2) on a COTP DT
payload, walked with a bounded BER reader (pure; raises Malformed). Layouts: Wireshark packet-ses.c,
packet-pres.c (ISO8823-PRESENTATION.asn), packet-acse.c (ACSE.asn), packet-mms.c (mms.asn).

Nothing recurses: each layer is a fixed path of at most MAX_ITEMS sibling TLVs, tags and lengths are bounded
(3 tag bytes, 3 length bytes, definite lengths only), and every content must lie inside its container."""

from __future__ import annotations

from dataclasses import dataclass

from otscope.dissectors.base import Malformed
from otscope.dissectors.s7.constants import SES_ABORT, SES_ACCEPT, SES_CONNECT, SES_DISCONNECT, SES_FINISH, \
    SES_GIVE_TOKENS_OR_DATA, SES_REFUSE
from otscope.dissectors.s7.mms_constants import MAX_ITEMS, MAX_NAME, MAX_NAMES, MMS_CONTEXT_OID, \
    SES_EXTENDED_USER_DATA, SES_USER_DATA, ConfirmedService, MmsPduType

UNIVERSAL, APPLICATION, CONTEXT = 0x00, 0x40, 0x80


# --- BER (X.690 8.1): identifier, definite length, contents -------------------------------------------------

@dataclass(frozen=True, slots=True)
class Tlv:
    cls: int            # UNIVERSAL / APPLICATION / CONTEXT / PRIVATE (the top two bits)
    constructed: bool
    number: int
    start: int          # contents start
    stop: int           # contents end
    at: int = 0         # where its identifier starts (the TLV whole is buf[at:stop])

    def is_(self, cls: int, number: int) -> bool:
        return self.cls == cls and self.number == number


def tlv(buf: bytes, pos: int, end: int) -> Tlv:
    """One TLV at pos whose contents end inside ``end`` (X.690 8.1.2 high tag numbers, 8.1.3 lengths)."""
    if pos + 2 > end:
        raise Malformed("short BER TLV")
    at = pos
    first = buf[pos]
    number = first & 0x1F
    pos += 1
    if number == 0x1F:                                # high tag number: base-128, at most 3 bytes
        number = 0
        for i in range(3):
            if pos >= end:
                raise Malformed("short BER tag")
            b = buf[pos]
            pos += 1
            number = number << 7 | (b & 0x7F)
            if not b & 0x80:
                break
        else:
            raise Malformed("BER tag longer than 3 bytes")
    if pos >= end:
        raise Malformed("short BER length")
    n = buf[pos]
    pos += 1
    if n & 0x80:
        k = n & 0x7F
        if not 1 <= k <= 3 or pos + k > end:        # 0x80 (indefinite) is not used by MMS stacks
            raise Malformed("BER length form")
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    if pos + n > end:
        raise Malformed("BER contents past their container")
    return Tlv(first & 0xC0, bool(first & 0x20), number, pos, pos + n, at)


def children(buf: bytes, outer: Tlv) -> list[Tlv]:
    """The TLVs inside a constructed value, at most MAX_ITEMS of them."""
    if not outer.constructed:
        raise Malformed("primitive value where a constructed one is expected")
    out: list[Tlv] = []
    pos = outer.start
    while pos < outer.stop:
        if len(out) >= MAX_ITEMS:
            raise Malformed("too many BER items")
        t = tlv(buf, pos, outer.stop)
        out.append(t)
        pos = t.stop
    return out


def find(buf: bytes, outer: Tlv, cls: int, number: int) -> Tlv | None:
    for t in children(buf, outer):
        if t.is_(cls, number):
            return t
    return None


def integer(buf: bytes, t: Tlv) -> int:
    """A BER INTEGER / Unsigned32 content (at most 8 bytes, two's complement)."""
    if t.constructed or not 1 <= t.stop - t.start <= 8:
        raise Malformed("BER integer length")
    return int.from_bytes(buf[t.start:t.stop], "big", signed=True)


def visible(buf: bytes, t: Tlv, limit: int = MAX_NAME) -> str:
    """A VisibleString (X.680 41: printable ASCII only), at most ``limit`` characters."""
    raw = buf[t.start:t.stop]
    if t.constructed or len(raw) > limit or not all(0x20 <= b < 0x7F for b in raw):
        raise Malformed("not a VisibleString")
    return raw.decode("ascii")


# --- ISO session (ISO 8327-1 8.3) ---------------------------------------------------------------------------

def _length(buf: bytes, pos: int) -> tuple[int, int]:
    """A session LI: one byte, or 0xFF and two bytes (8.2.5)."""
    if pos >= len(buf):
        raise Malformed("short session length")
    n = buf[pos]
    if n != 0xFF:
        return n, pos + 1
    if pos + 3 > len(buf):
        raise Malformed("short session length")
    return int.from_bytes(buf[pos + 1:pos + 3], "big"), pos + 3


def _spdu(buf: bytes, pos: int) -> tuple[int, int, int]:
    """One SPDU at pos: (SI, parameters start, parameters end)."""
    if pos >= len(buf):
        raise Malformed("short SPDU")
    li, p = _length(buf, pos + 1)
    if p + li > len(buf):
        raise Malformed("SPDU parameters past the TSDU")
    return buf[pos], p, p + li


def _user_data(buf: bytes, start: int, stop: int) -> tuple[int, int] | None:
    """The Session User Data (or Extended User Data) parameter among a SPDU's PI/PGI units (8.3.1.x)."""
    pos = start
    for _ in range(MAX_ITEMS):
        if pos >= stop:
            return None
        code = buf[pos]
        n, p = _length(buf, pos + 1)
        if p + n > stop:
            raise Malformed("session parameter past its SPDU")
        if code in (SES_USER_DATA, SES_EXTENDED_USER_DATA):
            return p, p + n
        pos = p + n
    raise Malformed("too many session parameters")


@dataclass(frozen=True, slots=True)
class Envelope:
    """What one TSDU carried: the session SPDU, the ACSE APDU (if any) and the MMS PDU bytes (if any)."""

    spdu: int
    acse: int | None = None          # AcseApdu number
    mms_context: bool = False        # the ACSE application context is MMS (1.0.9506.2.3)
    aare_result: int | None = None
    mms: bytes | None = None


SESSION_KINDS = {SES_CONNECT: "connect", SES_ACCEPT: "accept", SES_GIVE_TOKENS_OR_DATA: "data",
                 SES_FINISH: "finish", SES_DISCONNECT: "disconnect", SES_REFUSE: "refuse", SES_ABORT: "abort"}


DIRECT = -1            # Envelope.spdu of an MMS PDU straight on COTP (no session / presentation)


_PRIMITIVE_PDUS = {0x80 | k for k in (MmsPduType.CANCEL_REQUEST, MmsPduType.CANCEL_RESPONSE,
                                      MmsPduType.CONCLUDE_REQUEST, MmsPduType.CONCLUDE_RESPONSE)}


def unwrap(payload: bytes, established: bool = False) -> Envelope | None:
    """The layers of a COTP DT payload that is not S7: None when it starts neither a session SPDU nor a
    constructed MMS PDU spanning the whole payload (MMS straight on COTP, as Wireshark's MMS heuristic on COTP
    accepts; once the flow is ``established`` as MMS, also the primitive cancel / conclude PDUs, e.g. 8B 00);
    Malformed when it starts one of them but does not parse."""
    if not payload:
        return None
    first = payload[0]
    if first & 0xE0 == 0xA0 and first & 0x1F in MmsPduType._value2member_map_ or \
            established and first in _PRIMITIVE_PDUS:
        try:
            top = tlv(payload, 0, len(payload))
        except Malformed:
            return None
        return Envelope(DIRECT, mms=payload) if top.stop == len(payload) else None
    if first in SESSION_KINDS:
        return walk(payload)
    return None


def walk(payload: bytes) -> Envelope:
    """Session -> presentation -> ACSE -> MMS. CONNECT / ACCEPT carry a CP / CPA-PPDU in their user data;
    GIVE TOKENS (SI 1) + DATA TRANSFER (SI 1) carry a fully-encoded-data PPDU as user information; FINISH /
    DISCONNECT / ABORT / REFUSE carry (when they carry anything) a fully-encoded-data PPDU in their user data."""
    si, start, stop = _spdu(payload, 0)
    if si == SES_GIVE_TOKENS_OR_DATA:
        si2, _s, user = _spdu(payload, stop)          # DATA TRANSFER: its user information follows its parameters
        if si2 != SES_GIVE_TOKENS_OR_DATA:
            raise Malformed(f"SPDU {si2} after GIVE TOKENS")
        if user >= len(payload):
            return Envelope(si)
        return _fully_encoded(payload, tlv(payload, user, len(payload)), si)
    if si not in SESSION_KINDS:
        raise Malformed(f"SPDU {si}")
    ud = _user_data(payload, start, stop)
    if ud is None:
        return Envelope(si)
    t = tlv(payload, ud[0], ud[1])
    if si in (SES_CONNECT, SES_ACCEPT):
        return _cp(payload, t, si)
    return _fully_encoded(payload, t, si)


# --- presentation (ISO 8823 8.2: CP-type, CPA-PPDU; User-data) ------------------------------------------------

def _cp(buf: bytes, t: Tlv, si: int) -> Envelope:
    """CP-type / CPA-PPDU: SET { mode-selector [0], normal-mode-parameters [2] SEQUENCE { ... user-data } }."""
    if not t.is_(UNIVERSAL, 17):
        raise Malformed("CP-type is not a SET")
    normal = find(buf, t, CONTEXT, 2)
    if normal is None:
        return Envelope(si)
    for c in children(buf, normal):
        if c.is_(APPLICATION, 1):
            return _fully_encoded(buf, c, si)
    return Envelope(si)


def _fully_encoded(buf: bytes, t: Tlv, si: int) -> Envelope:
    """fully-encoded-data [APPLICATION 1] SEQUENCE OF PDV-list { transfer-syntax-name?, context id,
    presentation-data-values CHOICE { single-ASN1-type [0], octet-aligned [1], arbitrary [2] } }: the first
    single-ASN1-type value is the ACSE APDU or the MMS PDU."""
    if not t.is_(APPLICATION, 1):
        raise Malformed("presentation user data is not fully-encoded-data")
    for pdv in children(buf, t):
        if not pdv.is_(UNIVERSAL, 16):
            raise Malformed("PDV-list is not a SEQUENCE")
        value = find(buf, pdv, CONTEXT, 0)
        if value is not None and not value.constructed:
            raise Malformed("single-ASN1-type value is not constructed (an explicit tag)")
        if value is not None and value.stop > value.start:
            return _inner(buf, tlv(buf, value.start, value.stop), si)
    return Envelope(si)


def _inner(buf: bytes, t: Tlv, si: int) -> Envelope:
    if t.cls == APPLICATION:
        return _acse(buf, t, si)
    if t.cls == CONTEXT and t.number in MmsPduType._value2member_map_:
        return Envelope(si, mms=buf[t.at:t.stop])
    raise Malformed("presentation value is neither ACSE nor MMS")


# --- ACSE (ISO 8650-1 / X.227 7: AARQ, AARE, RLRQ, RLRE, ABRT) ----------------------------------------------

def _acse(buf: bytes, t: Tlv, si: int) -> Envelope:
    """aSO-context-name [1] { OID }, AARE result [2] { INTEGER }, user-information [30] SEQUENCE OF EXTERNAL
    { direct-reference?, indirect-reference?, encoding single-ASN1-type [0] { MMS PDU } }."""
    if t.number > 4:
        raise Malformed(f"ACSE APDU [APPLICATION {t.number}]")
    ctx, result, mms = False, None, None
    for c in children(buf, t):
        if c.is_(CONTEXT, 1) and t.number in (0, 1):
            oid = tlv(buf, c.start, c.stop)
            ctx = oid.is_(UNIVERSAL, 6) and buf[oid.start:oid.stop] == MMS_CONTEXT_OID
        elif c.is_(CONTEXT, 2) and t.number == 1:
            result = integer(buf, tlv(buf, c.start, c.stop))
        elif c.is_(CONTEXT, 30):
            mms = _external(buf, c)
    # the MMS PDU is read only inside an association whose application context is MMS (ISO 9506-2 Annex A);
    # release and abort APDUs name no context
    return Envelope(si, t.number, ctx, result, mms if ctx or t.number > 1 else None)


def _external(buf: bytes, info: Tlv) -> bytes | None:
    for ext in children(buf, info):
        if not ext.is_(UNIVERSAL, 8):
            raise Malformed("ACSE user-information is not EXTERNAL")
        enc = find(buf, ext, CONTEXT, 0)
        if enc is not None and enc.constructed and enc.stop > enc.start:
            inner = tlv(buf, enc.start, enc.stop)
            if inner.cls != CONTEXT:
                raise Malformed("ACSE user-information is not an MMS PDU")
            return buf[inner.at:inner.stop]
    return None


# --- MMS (ISO 9506-2 7) ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Identify:
    vendor: str
    model: str
    revision: str


@dataclass(frozen=True, slots=True)
class NameList:
    names: tuple[str, ...]
    more_follows: bool


@dataclass(frozen=True, slots=True)
class NameListRequest:
    object_class: int | None         # basicObjectClass; None for a csObjectClass or an extension
    scope: int                       # 0 vmdSpecific, 1 domainSpecific, 2 aaSpecific


@dataclass(frozen=True, slots=True)
class Initiate:
    local_detail: int | None         # the largest MMS PDU the sender accepts, octets
    max_outstanding_calling: int | None
    max_outstanding_called: int | None
    nesting_level: int | None
    version: int | None


@dataclass(frozen=True, slots=True)
class MmsPdu:
    kind: int                        # MmsPduType
    invoke_id: int | None = None
    service: int | None = None       # ConfirmedService / UnconfirmedService number, kept when unknown
    identify: Identify | None = None
    name_list: NameList | None = None
    name_list_request: NameListRequest | None = None
    initiate: Initiate | None = None


def parse_mms(pdu: bytes) -> MmsPdu:
    """One MMSpdu: its type, the invokeID and service of confirmed PDUs, and the bodies otscope reads."""
    top = tlv(pdu, 0, len(pdu))
    if top.cls != CONTEXT or top.number not in MmsPduType._value2member_map_:
        raise Malformed("not an MMS PDU")
    kind = top.number
    if kind in (MmsPduType.CONFIRMED_REQUEST, MmsPduType.CONFIRMED_RESPONSE):
        return _confirmed(pdu, top)
    if kind == MmsPduType.CONFIRMED_ERROR:
        t = find(pdu, top, CONTEXT, 0)
        return MmsPdu(kind, integer(pdu, t) if t is not None else None)
    if kind == MmsPduType.UNCONFIRMED:
        items = children(pdu, top)
        if not items or items[0].cls != CONTEXT:
            raise Malformed("unconfirmed-PDU without a service")
        return MmsPdu(kind, service=items[0].number)
    if kind in (MmsPduType.INITIATE_REQUEST, MmsPduType.INITIATE_RESPONSE):
        return MmsPdu(kind, initiate=_initiate(pdu, top))
    if kind in (MmsPduType.CANCEL_REQUEST, MmsPduType.CANCEL_RESPONSE):
        return MmsPdu(kind, integer(pdu, top))
    if kind in (MmsPduType.CONCLUDE_REQUEST, MmsPduType.CONCLUDE_RESPONSE) and top.stop != top.start:
        raise Malformed("conclude PDU is not NULL")
    return MmsPdu(kind)


def _confirmed(pdu: bytes, top: Tlv) -> MmsPdu:
    """Confirmed-RequestPDU / -ResponsePDU: SEQUENCE { invokeID Unsigned32, [listOfModifier,] service }."""
    items = children(pdu, top)
    if not items or not items[0].is_(UNIVERSAL, 2):
        raise Malformed("confirmed PDU without invokeID")
    invoke = integer(pdu, items[0])
    # the service: the first context-tagged item after the invokeID and an optional listOfModifier (a
    # SEQUENCE); a request's service-ext [79] may follow it
    svc = next((t for t in items[1:] if t.cls == CONTEXT), None)
    if svc is None:
        if len(items) == 1:                           # seen from real servers: an invokeID and nothing else
            return MmsPdu(top.number, invoke)
        raise Malformed("confirmed service is not context-tagged")
    out = MmsPdu(top.number, invoke, svc.number)
    request = top.number == MmsPduType.CONFIRMED_REQUEST
    if svc.number == ConfirmedService.IDENTIFY and not request:
        return MmsPdu(top.number, invoke, svc.number, identify=_identify(pdu, svc))
    if svc.number == ConfirmedService.GET_NAME_LIST:
        if request:
            return MmsPdu(top.number, invoke, svc.number, name_list_request=_name_list_request(pdu, svc))
        return MmsPdu(top.number, invoke, svc.number, name_list=_name_list(pdu, svc))
    return out


def _identify(pdu: bytes, svc: Tlv) -> Identify:
    """Identify-Response SEQUENCE { vendorName [0], modelName [1], revision [2], listOfAbstractSyntaxes [3]? }
    (ISO 9506-2 10.3); the three strings are mandatory MMSString (VisibleString here)."""
    got: dict[int, str] = {}
    for c in children(pdu, svc):
        if c.cls == CONTEXT and c.number in (0, 1, 2):
            got[c.number] = visible(pdu, c)
    if len(got) != 3:
        raise Malformed("Identify response without vendorName, modelName and revision")
    return Identify(got[0].strip(), got[1].strip(), got[2].strip())


def _name_list(pdu: bytes, svc: Tlv) -> NameList:
    """GetNameList-Response SEQUENCE { listOfIdentifier [0] SEQUENCE OF Identifier, moreFollows [1] BOOLEAN
    DEFAULT TRUE } (ISO 9506-2 10.5)."""
    names: list[str] = []
    more = True
    for c in children(pdu, svc):
        if c.is_(CONTEXT, 0):
            for ident in children(pdu, c)[:MAX_NAMES]:
                if not ident.is_(UNIVERSAL, 26):
                    raise Malformed("listOfIdentifier item is not a VisibleString")
                names.append(visible(pdu, ident))
        elif c.is_(CONTEXT, 1):
            if c.stop - c.start != 1:
                raise Malformed("moreFollows length")
            more = pdu[c.start] != 0
    return NameList(tuple(names), more)


def _name_list_request(pdu: bytes, svc: Tlv) -> NameListRequest:
    """GetNameList-Request SEQUENCE { objectClass [0] CHOICE { basicObjectClass [0] INTEGER, ... },
    objectScope [1] CHOICE { vmdSpecific [0] NULL, domainSpecific [1] Identifier, aaSpecific [2] NULL },
    continueAfter [2]? }."""
    cls, scope = None, -1
    for c in children(pdu, svc):
        if c.is_(CONTEXT, 0) and c.constructed:
            inner = tlv(pdu, c.start, c.stop)
            if inner.is_(CONTEXT, 0):
                cls = integer(pdu, inner)
        elif c.is_(CONTEXT, 1) and c.constructed:
            scope = tlv(pdu, c.start, c.stop).number
    if scope < 0:
        raise Malformed("GetNameList request without objectScope")
    return NameListRequest(cls, scope)


def _initiate(pdu: bytes, top: Tlv) -> Initiate:
    """Initiate-RequestPDU / -ResponsePDU SEQUENCE { localDetail [0]?, maxServOutstandingCalling [1],
    maxServOutstandingCalled [2], dataStructureNestingLevel [3]?, init(Request|Response)Detail [4]
    { versionNumber [0], parameterCBB [1], servicesSupported [2] } } (ISO 9506-2 8.2)."""
    vals: dict[int, int] = {}
    version = None
    for c in children(pdu, top):
        if c.cls != CONTEXT:
            continue
        if c.number in (0, 1, 2, 3) and not c.constructed:
            vals[c.number] = integer(pdu, c)
        elif c.number == 4 and c.constructed:
            v = find(pdu, c, CONTEXT, 0)
            version = integer(pdu, v) if v is not None else None
    return Initiate(vals.get(0), vals.get(1), vals.get(2), vals.get(3), version)


def common_prefix(names: list[str] | tuple[str, ...]) -> str | None:
    """The IED name the logical-device names carry (IEC 61850-7-2 22.2: LDName = IEDName + LDInst), only when
    it is unambiguous: two or more names, a prefix starting with a letter, every LDInst (the rest) non-empty
    and not starting with a digit (LD0 / LD1 share 'LD': the prefix would cut an LDInst)."""
    if len(names) < 2:
        return None
    first, last = min(names), max(names)
    n = 0
    while n < len(first) and n < len(last) and first[n] == last[n]:
        n += 1
    prefix = first[:n]
    if not prefix or not prefix[0].isalpha():
        return None
    if any(len(name) == n or name[n].isdigit() for name in names):
        return None
    return prefix
