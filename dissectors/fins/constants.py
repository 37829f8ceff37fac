"""Omron FINS (FINS Commands Reference Manual W227/W342; FINS/TCP: W421 section 7): codes and layouts.

Command codes are MRC<<8 | SRC. Names follow the manual's command list (W342, command list); a code not in the table keeps
its number (``0x1f3c``). End codes are MRES/SRES (W342, end codes): bit 7 of MRES is the relay-error flag, bits 6/7 of
SRES the CPU non-fatal/fatal error flags; the code proper is (MRES & 0x7F, SRES & 0x3F).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

FINS_PORT = 9600
HEADER_LEN = 10                 # ICF RSV GCT DNA DA1 DA2 SNA SA1 SA2 SID
COMMAND_LEN = 2                 # MRC SRC
END_CODE_LEN = 2                # MRES SRES (responses)
MAX_FINS_FRAME = 2012 + HEADER_LEN + COMMAND_LEN   # FINS over Ethernet: at most 2012 bytes of text (W342)

ICF_GATEWAY = 0x80              # bit 7: gateway usage (set in practice)
ICF_RESPONSE = 0x40             # bit 6: 0 command, 1 response
ICF_RESERVED = 0x3E             # bits 1-5: 0
ICF_NO_RESPONSE = 0x01          # bit 0: response not required

MODEL_LEN = 20                  # 0501 response: controller model, controller version (ASCII, W342 CONTROLLER DATA READ)
VERSION_LEN = 20
UNIT_MODEL_LEN = 20             # 0502 response: per unit, unit address (1) + model number (20)
MAX_NODES = 64                  # distinct FINS node addresses remembered per flow
MAX_RESYNC = 3

# FINS/TCP (W421, FINS/TCP headers): "FINS" magic, length (bytes after the length field), command, error code, data
TCP_MAGIC = b"FINS"
TCP_HEADER_LEN = 16
TCP_MAX_LENGTH = 8 + 8 + MAX_FINS_FRAME


class TcpCommand(IntEnum):
    CLIENT_NODE_ADDRESS = 0         # node address data send, client -> server (data: client node, 0 = auto)
    SERVER_NODE_ADDRESS = 1         # node address data send, server -> client (data: client node, server node)
    FRAME_SEND = 2                  # a FINS frame follows
    FRAME_SEND_ERROR = 3            # FINS frame send error notification
    CONNECTION_CONFIRMATION = 6


class Command(IntEnum):
    MEMORY_AREA_READ = 0x0101
    MEMORY_AREA_WRITE = 0x0102
    MEMORY_AREA_FILL = 0x0103
    MULTIPLE_MEMORY_AREA_READ = 0x0104
    MEMORY_AREA_TRANSFER = 0x0105
    PARAMETER_AREA_READ = 0x0201
    PARAMETER_AREA_WRITE = 0x0202
    PARAMETER_AREA_CLEAR = 0x0203
    DATA_LINK_TABLE_READ = 0x0220
    DATA_LINK_TABLE_WRITE = 0x0221
    PROGRAM_AREA_PROTECT = 0x0304
    PROGRAM_AREA_PROTECT_CLEAR = 0x0305
    PROGRAM_AREA_READ = 0x0306
    PROGRAM_AREA_WRITE = 0x0307
    PROGRAM_AREA_CLEAR = 0x0308
    RUN = 0x0401
    STOP = 0x0402
    CONTROLLER_DATA_READ = 0x0501
    CONNECTION_DATA_READ = 0x0502
    CONTROLLER_STATUS_READ = 0x0601
    NETWORK_STATUS_READ = 0x0602
    DATA_LINK_STATUS_READ = 0x0603
    CYCLE_TIME_READ = 0x0620
    CLOCK_READ = 0x0701
    CLOCK_WRITE = 0x0702
    LOOPBACK_TEST = 0x0801
    BROADCAST_TEST_RESULTS_READ = 0x0802
    BROADCAST_TEST_DATA_SEND = 0x0803
    MESSAGE_READ = 0x0920
    ACCESS_RIGHT_ACQUIRE = 0x0C01
    ACCESS_RIGHT_FORCED_ACQUIRE = 0x0C02
    ACCESS_RIGHT_RELEASE = 0x0C03
    ERROR_CLEAR = 0x2101
    ERROR_LOG_READ = 0x2102
    ERROR_LOG_CLEAR = 0x2103
    FILE_NAME_READ = 0x2201
    SINGLE_FILE_READ = 0x2202
    SINGLE_FILE_WRITE = 0x2203
    MEMORY_CARD_FORMAT = 0x2204
    FILE_DELETE = 0x2205
    VOLUME_LABEL_CREATE_DELETE = 0x2206
    FILE_COPY = 0x2207
    FILE_NAME_CHANGE = 0x2208
    FILE_DATA_CHECK = 0x2209
    MEMORY_AREA_FILE_TRANSFER = 0x220A
    PARAMETER_AREA_FILE_TRANSFER = 0x220B
    PROGRAM_AREA_FILE_TRANSFER = 0x220C
    FILE_MEMORY_INDEX_READ = 0x220F
    FILE_MEMORY_READ = 0x2210
    FILE_MEMORY_WRITE = 0x2211
    FORCED_SET_RESET = 0x2301
    FORCED_SET_RESET_CANCEL = 0x2302
    MULTIPLE_FORCED_STATUS_READ = 0x230A
    NAME_SET = 0x2601
    NAME_DELETE = 0x2602
    NAME_READ = 0x2603


COMMANDS = frozenset(Command)


def command_name(code: int) -> str:
    """The profile key of a command: its name (``memory-area-read``), or its number when unknown."""
    if code in COMMANDS:
        return Command(code).name.lower().replace("_", "-")
    return f"0x{code:04x}"


# Commands that change what the controller runs or holds: control_action facts about the addressed controller
CONTROL_ACTIONS = {
    Command.RUN: "run", Command.STOP: "stop",
    Command.PROGRAM_AREA_WRITE: "program write", Command.PROGRAM_AREA_CLEAR: "program clear",
    Command.PARAMETER_AREA_WRITE: "parameter area write", Command.PARAMETER_AREA_CLEAR: "parameter area clear",
    Command.MEMORY_CARD_FORMAT: "memory card format", Command.FORCED_SET_RESET: "forced set/reset",
    Command.ERROR_CLEAR: "error clear", Command.CLOCK_WRITE: "clock write",
}
# RUN 0401 request data: program number (2) then the mode (1) (W342 RUN)
RUN_MODES = {0x02: "monitor", 0x04: "run"}

# 0601 Controller Status Read response (W342 CONTROLLER STATUS READ): status, mode
STATUS = {0x00: "stop", 0x01: "run", 0x80: "standby"}
MODES = {0x00: "PROGRAM", 0x02: "MONITOR", 0x04: "RUN"}


def end_code_text(mres: int, sres: int) -> str:
    """The end code without its flag bits, as a number (``0x0401``)."""
    return f"0x{(mres & 0x7F) << 8 | (sres & 0x3F):04x}"


class FinsAnomaly(StrEnum):
    BAD_HEADER = "fins-bad-header"                 # ICF reserved bits or RSV not 0
    SHORT_FRAME = "fins-short-frame"               # fewer bytes than header + command (+ end code)
    UNKNOWN_COMMAND = "fins-unknown-command"       # MRC/SRC not in the manual's list (kept by number)
    SHORT_RESPONSE = "fins-short-response"         # a response shorter than its command's layout
    BAD_TCP_HEADER = "fins-bad-tcp-header"         # no "FINS" magic, or a length out of bounds
    UNKNOWN_TCP_COMMAND = "fins-unknown-tcp-command"
    TCP_ERROR = "fins-tcp-error"                   # FINS/TCP header error code not 0
    BUFFER_OVERFLOW = "fins-buffer-overflow"
    NODES_LIMIT = "fins-nodes-limit"
    PENDING_REQUESTS_CAP = "pending-requests-cap"
