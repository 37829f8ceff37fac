"""HART-IP and HART token-passing codes (HCF_SPEC-085 HART-IP, HCF_SPEC-081 data link, HCF_SPEC-127 universal
commands), as Wireshark's epan/dissectors/packet-hartip.c decodes them."""

from __future__ import annotations

from enum import IntEnum, StrEnum

HARTIP_PORT = 5094              # IANA hart-ip tcp/udp (packet-hartip.c HARTIP_PORT)
# A UDP server answers a Session Initiate from another port and the session continues there (packet-hartip.c
# hartip_set_conversation). The capture we have (ntop nDPI hart_ip.pcap) uses 5095: a hint only, parsing confirms.
UDP_SESSION_PORT = 5095
HEADER_LEN = 8                  # version, type, id, status, sequence(2), byte count(2) (packet-hartip.c hartip_hdr)
MAX_MESSAGE = 4096              # our sanity bound on a message's byte count (HART PDUs are < 300 bytes)
MAX_DEVICES = 64                # device addresses remembered per flow
MAX_RESYNC = 3                  # bad frames in a row after confirmation before the flow is given up
VERSIONS = frozenset({1, 2})    # HART-IP protocol versions
MAX_PREAMBLES = 20              # 0xFF preamble bytes skipped before a pass-through delimiter
SESSION_INIT_LEN = 5            # master type(1) + inactivity close timer(4)


class MessageType(IntEnum):
    REQUEST = 0
    RESPONSE = 1
    PUBLISH = 2
    ERROR = 3
    NAK = 15


class MessageId(IntEnum):
    SESSION_INITIATE = 0
    SESSION_CLOSE = 1
    KEEP_ALIVE = 2
    PASS_THROUGH = 3            # a HART token-passing PDU (HCF_SPEC-081) in the body


class HostType(IntEnum):
    """Session Initiate master type (packet-hartip.c hartip_master_type_values)."""

    SECONDARY = 0
    PRIMARY = 1


class FrameType(IntEnum):
    """Delimiter bits 2..0 (HCF_SPEC-081 5.1.1; packet-hartip.c dissect_pass_through)."""

    BACK = 1                    # burst / publish (slave to master)
    STX = 2                     # master to slave
    ACK = 6                     # slave to master


LONG_ADDRESS_BIT = 0x80         # delimiter bit 7: 5-byte unique address, else 1-byte polling address
ADDRESS_MASTER_BURST_BITS = 0xC0   # first address byte: master and burst-mode bits, not the device's
RC_COMM_ERROR_BIT = 0x80        # first response byte with bit 7 set: communication status, no data (HCF_SPEC-099)


class Command(IntEnum):
    """Universal commands whose responses carry identity (HCF_SPEC-127)."""

    READ_UNIQUE_ID = 0
    READ_MESSAGE = 12
    READ_TAG_DESCRIPTOR_DATE = 13
    READ_LONG_TAG = 20


class HartAnomaly(StrEnum):
    BAD_VERSION = "hartip-bad-version"
    BAD_LENGTH = "hartip-bad-length"
    UNKNOWN_MESSAGE_TYPE = "hartip-unknown-message-type"
    UNKNOWN_MESSAGE_ID = "hartip-unknown-message-id"
    MALFORMED_PASS_THROUGH = "hartip-malformed-pass-through"
    BAD_CHECKSUM = "hartip-bad-checksum"
    SHORT_RESPONSE = "hartip-short-response"         # a command response shorter than its layout
    BUFFER_OVERFLOW = "hartip-buffer-overflow"
    DEVICES_LIMIT = "hartip-devices-limit"            # more device addresses than MAX_DEVICES in one flow
    PENDING_REQUESTS_CAP = "pending-requests-cap"
    TRAILING_BYTES = "hartip-trailing-bytes"         # a UDP datagram's bytes after its last whole message
