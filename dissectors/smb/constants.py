"""SMB, NetBIOS session service and NTLMSSP codes (RFC 1002 4.3, MS-CIFS 2.2, MS-SMB2 2.2, MS-NLMP 2.2) as
Wireshark's epan/dissectors/packet-nbns.c / packet-smb.c / packet-smb2.c / packet-ntlmssp.c name them, this
package's bounds and anomalies."""

from __future__ import annotations

from enum import IntEnum, StrEnum

SMB_PORTS = (445, 139)          # 445: direct TCP (MS-SMB2 2.1); 139: NetBIOS session service (RFC 1002)

NBSS_HEADER = 4                 # type(1) flags(1) length(2) (RFC 1002 4.3.1); on 445: 0x00 + 24-bit length
MAX_MESSAGE = 64 * 1024         # an SMB message reassembled (negotiate / session setup are < 4 KiB)
BUDGET = 16 * 1024              # bytes read per direction before the flow is left to the fast path
MAX_PROBES = 8                  # segments skipped before the first message header (a capture started mid-message)
MAX_COMPOUND = 8                # SMB2 compounded commands followed in one message (MS-SMB2 3.2.4.1.4)
MAX_STR = 128                   # characters kept per string
STATUS_SUCCESS = 0
STATUS_MORE_PROCESSING_REQUIRED = 0xC0000016   # MS-ERREF 2.3.1: a session setup leg that continues


class NbssType(IntEnum):
    """RFC 1002 4.3.1 session packet types."""

    SESSION_MESSAGE = 0x00
    SESSION_REQUEST = 0x81
    POSITIVE_RESPONSE = 0x82
    NEGATIVE_RESPONSE = 0x83
    RETARGET_RESPONSE = 0x84
    KEEP_ALIVE = 0x85


SMB1_MAGIC = b"\xffSMB"
SMB2_MAGIC = b"\xfeSMB"
SMB2_TRANSFORM = b"\xfdSMB"     # MS-SMB2 2.2.41: an encrypted message
SMB2_COMPRESSED = b"\xfcSMB"    # MS-SMB2 2.2.42
SMB1_HEADER = 32                # MS-CIFS 2.2.3.1
SMB2_HEADER = 64                # MS-SMB2 2.2.1


class Smb1Command(IntEnum):
    NEGOTIATE = 0x72
    SESSION_SETUP_ANDX = 0x73
    LOGOFF_ANDX = 0x74
    TREE_CONNECT_ANDX = 0x75
    TRANSACTION = 0x25
    NT_CREATE_ANDX = 0xA2


SMB1_FLAGS_REPLY = 0x80                 # MS-CIFS 2.2.3.1 Flags: SMB_FLAGS_REPLY
SMB1_FLAGS2_UNICODE = 0x8000            # SMB_FLAGS2_UNICODE
SMB1_FLAGS2_EXTENDED_SECURITY = 0x0800  # SMB_FLAGS2_EXTENDED_SECURITY
SMB1_CAP_EXTENDED_SECURITY = 0x80000000


class Smb2Command(IntEnum):
    NEGOTIATE = 0x0000
    SESSION_SETUP = 0x0001
    LOGOFF = 0x0002
    TREE_CONNECT = 0x0003
    TREE_DISCONNECT = 0x0004
    CREATE = 0x0005
    CLOSE = 0x0006
    FLUSH = 0x0007
    READ = 0x0008
    WRITE = 0x0009
    LOCK = 0x000A
    IOCTL = 0x000B
    CANCEL = 0x000C
    ECHO = 0x000D
    QUERY_DIRECTORY = 0x000E
    CHANGE_NOTIFY = 0x000F
    QUERY_INFO = 0x0010
    SET_INFO = 0x0011
    OPLOCK_BREAK = 0x0012


SMB2_FLAGS_SERVER_TO_REDIR = 0x00000001   # MS-SMB2 2.2.1.2 Flags: a response

DIALECTS = {0x0202: "SMB 2.0.2", 0x0210: "SMB 2.1", 0x02FF: "SMB 2.???", 0x0300: "SMB 3.0", 0x0302: "SMB 3.0.2",
            0x0311: "SMB 3.1.1"}


def dialect_name(d: int) -> str:
    return DIALECTS.get(d, f"0x{d:04x}")


class NtlmMessageType(IntEnum):
    NEGOTIATE = 1
    CHALLENGE = 2
    AUTHENTICATE = 3


NTLMSSP_SIGNATURE = b"NTLMSSP\x00"
# MS-NLMP 2.2.2.5 NEGOTIATE flags used here
NEGOTIATE_UNICODE = 0x00000001
NEGOTIATE_OEM_DOMAIN_SUPPLIED = 0x00001000
NEGOTIATE_OEM_WORKSTATION_SUPPLIED = 0x00002000
NEGOTIATE_VERSION = 0x02000000


class AvId(IntEnum):
    """MS-NLMP 2.2.2.1 AV_PAIR ids."""

    EOL = 0
    NB_COMPUTER_NAME = 1
    NB_DOMAIN_NAME = 2
    DNS_COMPUTER_NAME = 3
    DNS_DOMAIN_NAME = 4
    DNS_TREE_NAME = 5
    FLAGS = 6
    TIMESTAMP = 7
    SINGLE_HOST = 8
    TARGET_NAME = 9
    CHANNEL_BINDINGS = 10


MAX_AV_PAIRS = 32


class SmbAnomaly(StrEnum):
    BAD_NBSS = "smb-bad-netbios-session-header"       # a NetBIOS session packet type that does not exist
    NOT_SMB = "smb-not-smb"                           # a session message that is no SMB1/SMB2 header
    MESSAGE_TOO_LONG = "smb-message-too-long"         # a declared length above MAX_MESSAGE (left to the fast path)
    MALFORMED = "smb-malformed"                       # a negotiate / session setup body that does not parse
    MALFORMED_NTLMSSP = "ntlmssp-malformed"           # an NTLMSSP message that does not parse
    UNKNOWN_NTLMSSP = "ntlmssp-unknown-message-type"  # kept by number
    COMPOUND_CAP = "smb-compound-limit"               # more SMB2 compounded commands than MAX_COMPOUND
