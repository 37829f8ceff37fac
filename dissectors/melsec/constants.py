"""Mitsubishi MELSEC communication protocol (MC protocol) / SLMP (SLMP Reference Manual SH-080956ENG: message
formats, commands): frame layouts, commands, device codes; and the MELSOFT engineering datagram seen on udp/5560.

3E frame (binary): subheader 50 00 (request) / D0 00 (response), network no., PC no., request destination module
I/O no. (2, LE), station no., data length (2, LE: the bytes after it), then a request's monitoring timer (2),
command (2), subcommand (2), data; a response's end code (2), data. 4E frame: subheader 54 00 / D4 00, serial
no. (2), 00 00, then as 3E. ASCII code: every field as upper-case hex text, big-endian ("5000", "0401").
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

# SLMP / MC protocol ports: none is assigned; these are the ones the manuals' examples and GX Works defaults use
PORTS = (1025, 1026, 1027, 1028, 1029, 1030, 5000, 5001, 5002, 5003, 5004, 5005, 5006, 5007, 5008, 5009, 5010)
# 5006/5007 are GX Works' own (MELSOFT) ports and decided a flow's direction before; the rest are also the first
# ephemeral ports of Windows XP / BSD clients: they choose the dissector but decide no flow's direction
DIRECTION_PORTS = (5006, 5007)
HINT_PORTS = tuple(p for p in PORTS if p not in DIRECTION_PORTS)
MELSOFT_UDP_PORT = 5560          # GX Works3 <-> iQ-F/iQ-R "MELSOFT connection" (no public specification)

MAX_DATA_LEN = 8192              # a bound above any SLMP request's data (a batch write: 960 words)
MAX_RESYNC = 3


class Frame(IntEnum):
    """Subheader values (SLMP, message format): binary as they are read big-endian from the wire."""

    REQUEST_3E = 0x5000
    RESPONSE_3E = 0xD000
    REQUEST_4E = 0x5400
    RESPONSE_4E = 0xD400


BIN_3E_HEADER = 9                # subheader 2, network 1, PC 1, I/O 2, station 1, length 2
BIN_4E_HEADER = 13               # + serial 2, fixed 00 00
ASCII_3E_HEADER = 18
ASCII_4E_HEADER = 26


class Command(IntEnum):
    BATCH_READ = 0x0401
    BATCH_WRITE = 0x1401
    RANDOM_READ = 0x0403
    RANDOM_WRITE = 0x1402
    BLOCK_READ = 0x0406
    BLOCK_WRITE = 0x1406
    MONITOR_REGISTER = 0x0801
    MONITOR = 0x0802
    READ_CPU_MODEL = 0x0101
    REMOTE_RUN = 0x1001
    REMOTE_STOP = 0x1002
    REMOTE_PAUSE = 0x1003
    REMOTE_LATCH_CLEAR = 0x1005
    REMOTE_RESET = 0x1006
    LOOPBACK_TEST = 0x0619
    BUFFER_MEMORY_READ = 0x0613
    BUFFER_MEMORY_WRITE = 0x1613
    INTELLIGENT_MODULE_READ = 0x0601
    INTELLIGENT_MODULE_WRITE = 0x1601
    REMOTE_PASSWORD_LOCK = 0x1631
    REMOTE_PASSWORD_UNLOCK = 0x1630
    CLEAR_ERROR = 0x1617
    FILE_READ_DIRECTORY = 0x1810
    FILE_OPEN = 0x1827
    FILE_READ = 0x1828
    FILE_WRITE = 0x1829
    FILE_CLOSE = 0x182A
    FILE_DELETE = 0x1822
    FILE_NEW = 0x1820


COMMANDS = frozenset(Command)


def command_name(code: int) -> str:
    if code in COMMANDS:
        return Command(code).name.lower().replace("_", "-")
    return f"0x{code:04x}"


CONTROL_ACTIONS = {
    Command.REMOTE_RUN: "remote run", Command.REMOTE_STOP: "remote stop", Command.REMOTE_PAUSE: "remote pause",
    Command.REMOTE_LATCH_CLEAR: "remote latch clear", Command.REMOTE_RESET: "remote reset",
    Command.FILE_WRITE: "file write", Command.FILE_DELETE: "file delete",
}
DEVICE_COMMANDS = frozenset({Command.BATCH_READ, Command.BATCH_WRITE})

# device codes (SLMP "Device code list", binary one byte / ASCII two characters)
DEVICES = {
    0x91: "SM", 0xA9: "SD", 0x9C: "X", 0x9D: "Y", 0x90: "M", 0x92: "L", 0x93: "F", 0x94: "V", 0xA0: "B",
    0xA8: "D", 0xB4: "W", 0xC1: "TS", 0xC0: "TC", 0xC2: "TN", 0xC4: "CS", 0xC3: "CC", 0xC5: "CN", 0xA1: "SB",
    0xB5: "SW", 0x98: "S", 0xCC: "Z", 0xAF: "R", 0xB0: "ZR",
}

READ_CPU_MODEL_NAME_LEN = 16     # SLMP Read CPU model name: model name (16 ASCII, space padded) then model code (2, LE)

# MELSOFT datagram (udp/5560, GX Works3 <-> FX5U, observed: no public specification): 57 01 request / D7 01
# response, 21-byte header whose bytes 19-20 (LE) count the body; in the body a request's command sits at 24, a
# response's end code at 24 and command at 26; the CPU model answer (command 01 21) holds the model name (16
# bytes, NUL padded) at body offset 32 and a 2-byte code after it: the layout of SLMP's Read CPU Model answer.
MELSOFT_REQUEST, MELSOFT_RESPONSE = 0x5701, 0xD701
MELSOFT_HEADER = 21
MELSOFT_CPU_MODEL = 0x0121
MELSOFT_MODEL_AT = 32


class MelsecAnomaly(StrEnum):
    BAD_LENGTH = "melsec-bad-length"               # data length out of bounds, or not the datagram's
    BAD_ASCII = "melsec-bad-ascii"                 # an ASCII frame field that is not hex text
    UNKNOWN_COMMAND = "melsec-unknown-command"     # kept by number
    SHORT_RESPONSE = "melsec-short-response"       # a response shorter than its command's layout
    SHORT_REQUEST = "melsec-short-request"         # a device read/write without its device
    UNKNOWN_SUBHEADER = "melsec-unknown-subheader"
    BUFFER_OVERFLOW = "melsec-buffer-overflow"
    PENDING_REQUESTS_CAP = "pending-requests-cap"
