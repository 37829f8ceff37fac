"""SNMP messages: a bounded BER walk (ITU-T X.690 8.1: tag, definite length, contents) of

* v1 / v2c (RFC 1157 4, RFC 1901 3): SEQUENCE { version, community OCTET STRING, PDU };
* v3 (RFC 3412 6): SEQUENCE { version 3, msgGlobalData SEQUENCE { msgID, msgMaxSize, msgFlags, msgSecurityModel },
  msgSecurityParameters OCTET STRING (USM, RFC 3414 2.4: SEQUENCE { msgAuthoritativeEngineID, boots, time,
  userName, authParams, privParams }), msgData: ScopedPDU SEQUENCE { contextEngineID, contextName, PDU } or an
  encrypted OCTET STRING };
* PDUs (RFC 3416 3): request-id, error-status, error-index, varbinds SEQUENCE OF { name OID, value }; the v1
  Trap-PDU (RFC 1157 4.1.6): enterprise OID, agent-addr, generic-trap, specific-trap, time-stamp, varbinds.

Bounds: single-octet tags only (SNMP uses no high tag numbers), definite lengths of at most 4 octets and never
past their parent, OIDs of at most 128 arcs of at most 32 bits, at most ``MAX_VARBINDS`` varbinds read, values
kept to ``MAX_VALUE`` bytes. The structure is fixed, so the walk is iterative: no recursion on wire data.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Reader, Truncated
from otscope.dissectors.snmp.constants import USM, Pdu, Tag, Version

MAX_VARBINDS = 64
MAX_VALUE = 1024
MAX_ARCS = 128
MAX_INT_OCTETS = 9            # Counter64 0xFFFF... is 9 octets with its sign octet


@dataclass(slots=True)
class VarBind:
    oid: str
    tag: int
    value: bytes              # the contents octets (bounded), interpreted by tag


@dataclass(slots=True)
class SnmpMessage:
    version: int
    community: bytes = b""                 # v1/v2c; a secret: never a fact (facts.py)
    pdu: int | None = None                 # None: v3 with an encrypted scoped PDU
    request_id: int = 0
    error_status: int = 0
    varbinds: list[VarBind] = field(default_factory=list)
    more_varbinds: bool = False            # varbinds beyond MAX_VARBINDS were skipped
    msg_flags: int = 0                     # v3
    security_model: int = 0                # v3
    engine_id: bytes = b""                 # v3 USM msgAuthoritativeEngineID
    trap_enterprise: str = ""              # v1 Trap
    agent_addr: str = ""                   # v1 Trap


def tlv(r: Reader) -> tuple[int, Reader]:
    """One BER TLV: (tag, a reader over its contents); ``r`` moves past it (X.690 8.1.2, 8.1.3)."""
    tag = r.u8()
    if tag & 0x1F == 0x1F:
        raise Malformed("BER high tag number form (not used by SNMP)")
    first = r.u8()
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0:
            raise Malformed("BER indefinite length (not allowed in SNMP)")
        if n > 4:
            raise Malformed(f"BER length of {n} octets")
        length = int.from_bytes(r.take(n), "big")
    return tag, r.sub(length)


def expect(r: Reader, tag: int) -> Reader:
    got, body = tlv(r)
    if got != tag:
        raise Malformed(f"BER tag 0x{got:02x} where 0x{tag:02x} was expected")
    return body


def integer(body: Reader) -> int:
    n = body.remaining()
    if n == 0 or n > MAX_INT_OCTETS:
        raise Malformed(f"BER INTEGER of {n} octets")
    return int.from_bytes(body.rest(), "big", signed=True)


def read_int(r: Reader) -> int:
    return integer(expect(r, Tag.INTEGER))


def oid_str(raw: bytes) -> str:
    """X.690 8.19: the first subidentifier is 40*X+Y; each one base-128, big-endian, minimal."""
    if not raw:
        raise Malformed("empty OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    started = False
    for b in raw:
        if not started and b == 0x80:
            raise Malformed("OBJECT IDENTIFIER subidentifier not minimal")
        started = True
        value = (value << 7) | (b & 0x7F)
        if value > 0xFFFFFFFF:
            raise Malformed("OBJECT IDENTIFIER arc beyond 32 bits")
        if not b & 0x80:
            arcs.append(value)
            if len(arcs) > MAX_ARCS:
                raise Malformed("OBJECT IDENTIFIER of more than 128 arcs")
            value = 0
            started = False
    if started:
        raise Truncated("OBJECT IDENTIFIER ends inside a subidentifier")
    first = arcs[0]
    head = [first // 40, first % 40] if first < 80 else [2, first - 80]
    return ".".join(map(str, head + arcs[1:]))


def _varbinds(r: Reader, msg: SnmpMessage) -> None:
    body = expect(r, Tag.SEQUENCE)
    while body.remaining():
        if len(msg.varbinds) >= MAX_VARBINDS:
            msg.more_varbinds = True
            return
        vb = expect(body, Tag.SEQUENCE)
        name = oid_str(expect(vb, Tag.OID).rest())
        tag, value = tlv(vb)
        n = value.remaining()
        msg.varbinds.append(VarBind(name, tag, value.take(min(n, MAX_VALUE))))


def _pdu(r: Reader, msg: SnmpMessage) -> None:
    tag, body = tlv(r)
    msg.pdu = tag
    if tag == Pdu.TRAP_V1:
        msg.trap_enterprise = oid_str(expect(body, Tag.OID).rest())
        addr = expect(body, Tag.IP_ADDRESS).rest()
        if len(addr) != 4:
            raise Malformed("v1 Trap agent-addr is not 4 octets")
        msg.agent_addr = socket.inet_ntoa(addr)
        read_int(body)                                       # generic-trap
        read_int(body)                                       # specific-trap
        expect(body, Tag.TIMETICKS)
    elif tag in Pdu._value2member_map_:
        msg.request_id = read_int(body)
        msg.error_status = read_int(body)                    # (GetBulk: non-repeaters)
        read_int(body)                                       # error-index (GetBulk: max-repetitions)
    else:
        return                                               # an unknown PDU keeps its tag (facts.py)
    _varbinds(body, msg)


def _usm(params: bytes, msg: SnmpMessage) -> None:
    """RFC 3414 2.4 UsmSecurityParameters: only the authoritative engine id is kept (the user name, the
    authentication and privacy parameters are credentials material)."""
    r = expect(Reader(params), Tag.SEQUENCE)
    msg.engine_id = _octets(r, 64)                           # RFC 3411 5: 5..32 octets (facts.py checks)


def _octets(r: Reader, limit: int) -> bytes:
    body = expect(r, Tag.OCTET_STRING)
    if body.remaining() > limit:
        raise Malformed(f"OCTET STRING longer than {limit}")
    return body.rest()


def parse(data: bytes) -> SnmpMessage:
    top = Reader(data)
    r = expect(top, Tag.SEQUENCE)
    version = read_int(r)
    if version not in (Version.V1, Version.V2C, Version.V3):
        raise Malformed(f"SNMP version {version}")
    msg = SnmpMessage(version)
    if version == Version.V3:
        head = expect(r, Tag.SEQUENCE)
        read_int(head)                                       # msgID
        read_int(head)                                       # msgMaxSize
        flags = _octets(head, 1)
        if len(flags) != 1:
            raise Malformed("msgFlags is not one octet")
        msg.msg_flags = flags[0]
        msg.security_model = read_int(head)
        params = _octets(r, 1024)
        if msg.security_model == USM and params:
            _usm(params, msg)
        tag, scoped = tlv(r)
        if tag == Tag.SEQUENCE:                              # plaintext ScopedPDU
            _octets(scoped, 64)                              # contextEngineID
            _octets(scoped, 255)                             # contextName
            _pdu(scoped, msg)
        elif tag != Tag.OCTET_STRING:                        # encrypted: an OCTET STRING (RFC 3412 6)
            raise Malformed(f"v3 msgData tag 0x{tag:02x}")
    else:
        msg.community = _octets(r, 255)
        _pdu(r, msg)
    return msg
