"""Banner protocols' ports, bounds and codes (RFC 4253 4.2, RFC 959 4.2, RFC 854, RFC 5321 4.2), and the
package's anomaly kinds."""

from __future__ import annotations

from enum import IntEnum, StrEnum

SSH_PORTS = (22,)
FTP_PORTS = (21,)
TELNET_PORTS = (23,)
SMTP_PORTS = (25, 587)          # 587: message submission (RFC 6409), the same greeting
MAX_LINE = 512                  # bytes of a first line read (RFC 4253: the SSH identification is <= 255)
PEEK_BYTES = 2048               # payload bytes per direction handed to these dissectors at most
MAX_PREAMBLE_LINES = 8          # lines an SSH server may send before its identification (RFC 4253 4.2)
MAX_BANNER = 160                # characters of a banner kept as a fact
SSH_VERSIONS = frozenset({"2.0", "1.99", "1.5"})


class Telnet(IntEnum):
    """RFC 854 command codes (after IAC)."""

    SE = 240
    SB = 250
    WILL = 251
    WONT = 252
    DO = 253
    DONT = 254
    IAC = 255


# FTP (RFC 959 4.2.2) and SMTP (RFC 5321 4.2.3) replies a server greets with: 220 ready, 120 ready soon (FTP),
# 421 / 554 not available (the text still names the software)
FTP_GREETINGS = frozenset({220, 120, 421})
SMTP_GREETINGS = frozenset({220, 421, 554})


class BannerAnomaly(StrEnum):
    LINE_TOO_LONG = "line-too-long"          # no end of line within MAX_LINE bytes
    BAD_IDENTIFICATION = "bad-identification"    # an SSH-... line that is not SSH-protoversion-softwareversion
    UNEXPECTED_REPLY = "unexpected-reply"    # a 3-digit reply that is not a greeting, as the first line
