"""SNMP codes: BER tags (X.690 8.1.2, RFC 2578 7.1 application types), PDU types (RFC 3416 3, RFC 1157 4.1),
the system group OIDs (RFC 3418 SNMPv2-MIB), anomalies."""

from __future__ import annotations

from enum import IntEnum, StrEnum

SNMP_PORT, TRAP_PORT = 161, 162


class Tag(IntEnum):
    INTEGER = 0x02
    OCTET_STRING = 0x04
    NULL = 0x05
    OID = 0x06
    SEQUENCE = 0x30
    IP_ADDRESS = 0x40            # RFC 2578 7.1.5 [APPLICATION 0]
    COUNTER32 = 0x41
    GAUGE32 = 0x42
    TIMETICKS = 0x43
    OPAQUE = 0x44
    COUNTER64 = 0x46
    NO_SUCH_OBJECT = 0x80        # RFC 3416 3: exceptions in a Response varbind
    NO_SUCH_INSTANCE = 0x81
    END_OF_MIB_VIEW = 0x82


class Pdu(IntEnum):
    """Context-specific constructed tags of the PDUs (RFC 3416 3; RFC 1157 4.1.6 Trap-PDU is [4])."""

    GET = 0xA0
    GET_NEXT = 0xA1
    RESPONSE = 0xA2
    SET = 0xA3
    TRAP_V1 = 0xA4
    GET_BULK = 0xA5
    INFORM = 0xA6
    TRAP_V2 = 0xA7
    REPORT = 0xA8


PDU_NAMES = {Pdu.GET: "GetRequest", Pdu.GET_NEXT: "GetNextRequest", Pdu.RESPONSE: "GetResponse",
             Pdu.SET: "SetRequest", Pdu.TRAP_V1: "Trap", Pdu.GET_BULK: "GetBulkRequest",
             Pdu.INFORM: "InformRequest", Pdu.TRAP_V2: "SNMPv2-Trap", Pdu.REPORT: "Report"}
# PDUs a manager sends (its sender is the client), and those an agent / notification originator sends
REQUESTS = frozenset({Pdu.GET, Pdu.GET_NEXT, Pdu.SET, Pdu.GET_BULK})
FROM_AGENT = frozenset({Pdu.RESPONSE, Pdu.TRAP_V1, Pdu.TRAP_V2, Pdu.INFORM, Pdu.REPORT})


class Version(IntEnum):
    """msgVersion (RFC 3416 / RFC 1901 / RFC 3412 6): the wire value, not the name."""

    V1 = 0
    V2C = 1
    V3 = 3


VERSION_NAMES = {Version.V1: "1", Version.V2C: "2c", Version.V3: "3"}

# the system group, RFC 3418 (SNMPv2-MIB) 1.3.6.1.2.1.1.x.0
SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_CONTACT = "1.3.6.1.2.1.1.4.0"          # a person's address: not kept
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_LOCATION = "1.3.6.1.2.1.1.6.0"
SYS_SERVICES = "1.3.6.1.2.1.1.7.0"
ENTERPRISES = "1.3.6.1.4.1."               # RFC 1155 3.1: private enterprises, then the IANA number

USM = 3                                     # msgSecurityModel of the User-based Security Model (RFC 3414)
FLAG_REPORTABLE = 0x04                      # RFC 3412 6.4 msgFlags: set in Get/GetNext/GetBulk/Set/Inform
DEFAULT_COMMUNITIES = frozenset({b"public", b"private"})   # factory defaults: their use is a finding


class SnmpAnomaly(StrEnum):
    """What the SNMP dissector counts (values reach the collector as they are; detail after a dash)."""

    BAD_MESSAGE = "bad-message"              # detail: truncated / malformed (after the flow was confirmed)
    UNKNOWN_PDU = "unknown-pdu"              # detail: the tag, 0xNN
    TOO_MANY_VARBINDS = "too-many-varbinds"  # more varbinds than are read per message (the rest skipped)
    BAD_ENGINE_ID = "bad-engine-id"          # msgAuthoritativeEngineID outside RFC 3411 5's sizes
