"""NetBIOS codes: name service opcodes and flags (RFC 1002 4.2.1.1), name suffixes (the 16th byte, [MS-NBTE]
and Microsoft's well-known suffix list), datagram types (RFC 1002 4.4.1), browser opcodes and server type bits
([MS-BRWS] 2.2, [MS-RAP] 2.5.5.2 SV_TYPE_*), anomalies."""

from __future__ import annotations

from enum import IntEnum, IntFlag, StrEnum

NBNS_PORT, DGM_PORT = 137, 138


class Opcode(IntEnum):
    QUERY = 0
    REGISTRATION = 5
    RELEASE = 6
    WACK = 7
    REFRESH = 8
    REFRESH_ALT = 9             # RFC 1002 says 8; Windows uses 9 for multi-homed registration
    MULTIHOMED = 15


class NmFlag(IntFlag):
    """NM_FLAGS (RFC 1002 4.2.1.1), in the 16-bit flags word."""

    AA = 0x0400
    TC = 0x0200
    RD = 0x0100
    RA = 0x0080                 # set by an NBNS (WINS) server: its answers are about other hosts
    B = 0x0010


class RrType(IntEnum):
    NB = 0x20
    NBSTAT = 0x21


class Suffix(IntEnum):
    WORKSTATION = 0x00          # unique: the computer name; group: the workgroup / domain
    MESSENGER = 0x03
    SERVER = 0x20               # unique: file server service on the computer name
    DOMAIN_MASTER = 0x1B        # unique: domain master browser (the PDC) of <domain>
    DOMAIN_CONTROLLERS = 0x1C   # group: domain controllers of <domain>
    MASTER_BROWSER = 0x1D       # unique: local master browser of <workgroup>
    BROWSER_ELECTION = 0x1E     # group: browser election of <workgroup>


HOST_SUFFIXES = frozenset({Suffix.WORKSTATION, Suffix.SERVER})


class DgmType(IntEnum):
    DIRECT_UNIQUE = 0x10
    DIRECT_GROUP = 0x11
    BROADCAST = 0x12
    ERROR = 0x13
    QUERY_REQUEST = 0x14
    POSITIVE_QUERY = 0x15
    NEGATIVE_QUERY = 0x16


class BrowserOp(IntEnum):
    HOST_ANNOUNCEMENT = 1
    ANNOUNCEMENT_REQUEST = 2
    REQUEST_ELECTION = 8
    GET_BACKUP_LIST_REQUEST = 9
    GET_BACKUP_LIST_RESPONSE = 10
    BECOME_BACKUP = 11
    DOMAIN_ANNOUNCEMENT = 12
    MASTER_ANNOUNCEMENT = 13
    RESET_STATE = 14
    LOCAL_MASTER_ANNOUNCEMENT = 15


ANNOUNCEMENTS = frozenset({BrowserOp.HOST_ANNOUNCEMENT, BrowserOp.LOCAL_MASTER_ANNOUNCEMENT,
                           BrowserOp.DOMAIN_ANNOUNCEMENT})

# [MS-RAP] 2.5.5.2 / [MS-BRWS] 2.2.1 ServerType bits -> short names (unknown bits keep their number)
SERVER_TYPES = (
    (0x00000001, "workstation"), (0x00000002, "server"), (0x00000004, "sql-server"),
    (0x00000008, "domain-controller"), (0x00000010, "backup-controller"), (0x00000020, "time-source"),
    (0x00000040, "afp"), (0x00000080, "novell"), (0x00000100, "domain-member"), (0x00000200, "print-queue"),
    (0x00000400, "dialin"), (0x00000800, "unix"), (0x00001000, "nt"), (0x00002000, "wfw"),
    (0x00004000, "mfpn"), (0x00008000, "server-nt"), (0x00010000, "potential-browser"),
    (0x00020000, "backup-browser"), (0x00040000, "master-browser"), (0x00080000, "domain-master"),
    (0x00100000, "osf"), (0x00200000, "vms"), (0x00400000, "windows"), (0x00800000, "dfs"),
    (0x01000000, "cluster-nt"), (0x02000000, "terminal-server"), (0x04000000, "cluster-vs-nt"),
    (0x10000000, "dce"), (0x20000000, "alternate-xport"), (0x40000000, "local-list-only"),
    (0x80000000, "domain-enum"),
)

MAILSLOT_BROWSE = b"\\MAILSLOT\\BROWSE"
SMB_MAGIC = b"\xffSMB"
SMB_TRANSACTION = 0x25


class NbnsAnomaly(StrEnum):
    BAD_PACKET = "bad-packet"                # detail: truncated / malformed (after the flow was confirmed)
    NAME_LOOP = "name-pointer-loop"          # a compression pointer that does not point backwards


class BrowserAnomaly(StrEnum):
    BAD_DATAGRAM = "bad-datagram"            # detail: truncated / malformed
