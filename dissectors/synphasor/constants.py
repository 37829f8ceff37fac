"""IEEE C37.118 codes. Frame layout: IEEE C37.118.2-2011 section 6 (6.2 common frame: SYNC, FRAMESIZE, IDCODE, SOC,
FRACSEC ... CHK, Table 2 SYNC bits), 6.4 configuration frames CFG-1/CFG-2 (Table 8) and CFG-3 (Table 10), 6.5
header frame, 6.6 command frame (Table 13 CMD codes); CHK is CRC-CCITT (polynomial 0x1021, initial 0xFFFF, no
final XOR: Annex B). Layouts checked against Wireshark's packet-synphasor.c (dissect_header, config_frame_fast,
dissect_config_frame, command_names)."""

from __future__ import annotations

from enum import IntEnum, StrEnum

TCP_PORT = 4712
UDP_PORT = 4713
SYNC_BYTE = 0xAA
HEADER_LEN = 14            # SYNC 2, FRAMESIZE 2, IDCODE 2, SOC 4, FRACSEC 4 (6.2)
CHK_LEN = 2
MIN_FRAME = HEADER_LEN + CHK_LEN
CHNAM_LEN = 16             # CFG-1/2 station and channel names (6.4, Table 8)
CFG3_PMU_FIXED = 2 + 16 + 2 + 6       # IDCODE, G_PMU_ID, FORMAT, PHNMR/ANNMR/DGNMR (Table 10)
CFG3_PMU_TAIL = 4 + 4 + 4 + 1 + 4 + 4 + 2 + 2   # PMU_LAT/LON/ELEV, SVC_CLASS, WINDOW, GRP_DLY, FNOM, CFGCNT
BUFFER_CAP = 2 * 65536     # a FRAMESIZE is at most 65535: at most two frames pending per direction
MAX_PMUS = 64              # PMU blocks credited as components per flow (bounded state)
MAX_IDCODES = 64           # distinct stream IDCODEs reported per flow
MAX_RESYNC = 8
MAX_HEADER_TEXT = 256
CFG3_LAST = 0xFFFF         # Table 10 CONT_IDX: 0 = not fragmented, 1..n = fragment index, 0xFFFF = the last one
CFG3_MAX_BYTES = 256 * 1024   # a fragmented CFG-3 reassembled per direction at most (bounded state)
CFG3_MAX_FRAGMENTS = 64


class FrameType(IntEnum):
    """Table 2, SYNC bits 6-4."""

    DATA = 0
    HEADER = 1
    CFG1 = 2
    CFG2 = 3
    COMMAND = 4
    CFG3 = 5


class Command(IntEnum):
    """Table 13: CMD word of a command frame (6.6)."""

    DATA_OFF = 1
    DATA_ON = 2
    SEND_HDR = 3
    SEND_CFG1 = 4
    SEND_CFG2 = 5
    SEND_CFG3 = 6
    EXTENDED_FRAME = 8


def command_name(cmd: int) -> str:
    member = Command._value2member_map_.get(cmd)
    return member.name.lower().replace("_", " ") if member is not None else f"command {cmd}"


class SynphasorAnomaly(StrEnum):
    """What the C37.118 dissector counts as an anomaly (the values reach the collector as they are)."""

    BAD_SYNC = "bad-sync"                 # a frame not starting with 0xAA or with an undefined type (Table 2)
    BAD_FRAMESIZE = "bad-framesize"       # FRAMESIZE below 16 (6.2)
    BAD_CRC = "bad-crc"                   # CHK does not match CRC-CCITT of the frame (Annex B)
    MALFORMED_CONFIG = "malformed-config"     # a configuration frame whose blocks overrun FRAMESIZE (6.4)
    MALFORMED_COMMAND = "malformed-command"   # a command frame without its CMD word (6.6)
    UNKNOWN_COMMAND = "unknown-command"   # a CMD code Table 13 does not define (kept by number)
    TRUNCATED_DATAGRAM = "truncated-datagram"  # a UDP datagram ending inside a frame
    PMUS_CAP = "pmus-cap"                 # more PMU blocks than MAX_PMUS in one flow
    CFG3_FRAGMENT_GAP = "cfg3-fragment-gap"   # a CFG-3 fragment out of sequence (Table 10 CONT_IDX): series dropped
    CFG3_TOO_LARGE = "cfg3-too-large"     # a fragmented CFG-3 over CFG3_MAX_BYTES / CFG3_MAX_FRAGMENTS: dropped
