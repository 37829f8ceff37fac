"""TLS codes (RFC 5246 6.2 / 7.4, RFC 8446 4 / 5.1, IANA TLS parameters) as Wireshark's
epan/dissectors/packet-tls-utils.c names them, and this package's bounds and anomalies."""

from __future__ import annotations

from enum import IntEnum, StrEnum

# 443 https, 8443 https-alt, 4843 OPC UA over TLS (opcua-tls), 993 imaps, 995 pop3s, 636 ldaps: hints only, a
# record and a handshake message confirm. Not 4911 (Niagara Fox over TLS): the fox package claims it.
TLS_PORTS = (443, 8443, 4843, 993, 995, 636)

RECORD_HEADER = 5                   # type(1) version(2) length(2) (RFC 5246 6.2.1)
MAX_RECORD = 2 ** 14 + 2048         # TLSCiphertext.length bound (RFC 5246 6.2.3)
HANDSHAKE_HEADER = 4                # msg_type(1) length(3) (RFC 5246 7.4)
MAX_HANDSHAKE = 32 * 1024           # a handshake message reassembled across records/segments (our cap)
BUDGET = 16 * 1024                  # bytes read per direction before the flow is left to the fast path
MAX_CHAIN = 6                       # certificates of a chain summarised
MAX_LIST = 128                      # cipher suites / extensions / ALPN values read from a hello
MAX_PROBES = 8                      # segments skipped before the first record header (a capture started mid-record)
MAX_ALPN_FACT = 8                   # ALPN values listed in the tls_alpn fact


class ContentType(IntEnum):
    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23
    HEARTBEAT = 24


class HandshakeType(IntEnum):
    HELLO_REQUEST = 0
    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    HELLO_VERIFY_REQUEST = 3
    NEW_SESSION_TICKET = 4
    END_OF_EARLY_DATA = 5
    ENCRYPTED_EXTENSIONS = 8
    CERTIFICATE = 11
    SERVER_KEY_EXCHANGE = 12
    CERTIFICATE_REQUEST = 13
    SERVER_HELLO_DONE = 14
    CERTIFICATE_VERIFY = 15
    CLIENT_KEY_EXCHANGE = 16
    FINISHED = 20
    CERTIFICATE_STATUS = 22
    KEY_UPDATE = 24


class Ext(IntEnum):
    SERVER_NAME = 0                 # RFC 6066 3
    SUPPORTED_GROUPS = 10
    EC_POINT_FORMATS = 11
    SIGNATURE_ALGORITHMS = 13       # RFC 8446 4.2.3
    ALPN = 16                       # RFC 7301 3.1
    SUPPORTED_VERSIONS = 43         # RFC 8446 4.2.1
    KEY_SHARE = 51
    PADDING = 21                    # RFC 7685
    SESSION_TICKET = 35             # RFC 5077
    PRE_SHARED_KEY = 41             # RFC 8446 4.2.11
    ENCRYPTED_CLIENT_HELLO = 0xFE0D


# extensions whose contents no fact depends on and that differ in every connection (fresh keys, tickets,
# padding to a size, encrypted data): a later hello that differs only in them gives the same facts (peek memo)
PER_CONNECTION_EXTS = frozenset({Ext.KEY_SHARE, Ext.PADDING, Ext.SESSION_TICKET, Ext.PRE_SHARED_KEY,
                                 Ext.ENCRYPTED_CLIENT_HELLO})


VERSION_NAMES = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
TLS13 = 0x0304

# RFC 8446 4.1.3: a ServerHello whose random is this value is a HelloRetryRequest
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

# a few cipher suites by name (IANA TLS Cipher Suites); any other stays its number
CIPHER_NAMES = {
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA", 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256", 0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384", 0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA", 0x0004: "TLS_RSA_WITH_RC4_128_MD5",
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384", 0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", 0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", 0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
}


GREASE = frozenset(0x0A0A + 0x1010 * i for i in range(16))     # RFC 8701 2


def is_grease(v: int) -> bool:
    """RFC 8701 2: 0x0A0A, 0x1A1A, ... 0xFAFA (both bytes equal, low nibble 0xA)."""
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


def version_name(v: int) -> str:
    return VERSION_NAMES.get(v, f"0x{v:04x}")


def cipher_name(v: int) -> str:
    name = CIPHER_NAMES.get(v)
    return f"{name} (0x{v:04x})" if name else f"0x{v:04x}"


class TlsAnomaly(StrEnum):
    BAD_RECORD = "tls-bad-record"                      # a record header that is not TLS after the flow was TLS
    MALFORMED_HANDSHAKE = "tls-malformed-handshake"    # a handshake message whose body does not parse
    HANDSHAKE_TOO_LONG = "tls-handshake-too-long"      # a handshake message above MAX_HANDSHAKE
    BAD_CERTIFICATE = "tls-bad-certificate"            # a certificate of the chain that is not X.509 DER
    UNKNOWN_HANDSHAKE = "tls-unknown-handshake-type"   # kept by number
    CHAIN_TRUNCATED = "tls-chain-truncated"            # more certificates than MAX_CHAIN (the rest not read)
