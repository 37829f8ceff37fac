"""SMB wire grammar: NetBIOS session service (RFC 1002 4.3.1-4.3.2: header, SESSION REQUEST called/calling names
with the first-level encoding of RFC 1001 14.1), SMB1 (MS-CIFS 2.2.3.1 header, 2.2.4.52 NEGOTIATE, 2.2.4.53
SESSION_SETUP_ANDX; MS-SMB 2.2.4.5-2.2.4.6 extended security forms) and SMB2/3 (MS-SMB2 2.2.1 header, 2.2.3-2.2.6
NEGOTIATE and SESSION_SETUP). Pure bytes -> dataclasses; security blobs are returned raw (ntlmssp.find/parse)."""

from __future__ import annotations

from dataclasses import dataclass

from otscope.dissectors.base import Malformed, Reader, Truncated, text
from otscope.dissectors.smb.constants import (MAX_STR, SMB1_CAP_EXTENDED_SECURITY, SMB1_FLAGS2_UNICODE,
                                              SMB1_FLAGS_REPLY, SMB1_HEADER, SMB1_MAGIC, SMB2_FLAGS_SERVER_TO_REDIR,
                                              SMB2_HEADER, SMB2_MAGIC)
from otscope.dissectors.smb.ntlmssp import printable

__all__ = ["Smb1Header", "Smb2Header", "SessionSetup1", "Negotiate1", "Negotiate2", "Malformed", "Truncated",
           "netbios_name", "parse_session_request", "parse_smb1_header", "parse_smb2_header"]


# -- NetBIOS session service ------------------------------------------------------------------------------------

def netbios_name(encoded: bytes) -> tuple[str, int]:
    """RFC 1001 14.1 first-level decoding of 32 'A'..'P' characters -> (name without padding, suffix byte)."""
    if len(encoded) != 32 or any(not 0x41 <= c <= 0x50 for c in encoded):
        raise Malformed("not a first-level encoded NetBIOS name")
    raw = bytes(((encoded[i] - 0x41) << 4) | (encoded[i + 1] - 0x41) for i in range(0, 32, 2))
    return text(raw[:15].rstrip(b" "), 16), raw[15]


def _encoded_name(r: Reader) -> tuple[str, int]:
    """A compressed-label NetBIOS name (RFC 1002 4.1): 0x20, 32 bytes, then scope labels up to a zero length."""
    n = r.u8()
    if n != 32:
        raise Malformed(f"NetBIOS name label of {n} bytes")
    name = netbios_name(r.take(32))
    for _ in range(16):                             # scope labels
        n = r.u8()
        if n == 0:
            return name
        r.skip(n)
    raise Malformed("NetBIOS scope too long")


def parse_session_request(body: bytes) -> tuple[tuple[str, int], tuple[str, int]]:
    """RFC 1002 4.3.2 SESSION REQUEST: (called name, calling name), each (name, suffix)."""
    r = Reader(body)
    return _encoded_name(r), _encoded_name(r)


# -- SMB1 -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Smb1Header:
    command: int
    status: int
    flags: int
    flags2: int
    uid: int
    mid: int

    @property
    def reply(self) -> bool:
        return bool(self.flags & SMB1_FLAGS_REPLY)

    @property
    def unicode(self) -> bool:
        return bool(self.flags2 & SMB1_FLAGS2_UNICODE)


def parse_smb1_header(msg: bytes) -> Smb1Header:
    r = Reader(msg, 0, SMB1_HEADER)
    if r.take(4) != SMB1_MAGIC:
        raise Malformed("no SMB1 protocol id")
    command, status, flags, flags2 = r.u8(), r.u32le(), r.u8(), r.u16le()
    r.skip(2 + 8 + 2 + 2 + 2)                       # PIDHigh, SecurityFeatures, Reserved, TID, PIDLow
    return Smb1Header(command, status, flags, flags2, r.u16le(), r.u16le())


def _words_bytes(msg: bytes) -> tuple[Reader, Reader, int]:
    """The parameter words and data bytes of an SMB1 message (MS-CIFS 2.2.3.2-2.2.3.3) and the data's offset
    from the header (strings are 2-byte aligned from the header's start when Unicode)."""
    r = Reader(msg, SMB1_HEADER)
    wc = r.u8()
    words = r.sub(2 * wc)
    bc = r.u16le()
    start = r.pos
    return words, r.sub(bc), start


def _strings(data: Reader, start_in_msg: int, unicode: bool, count: int, pad: bool = True) -> list[str]:
    """Up to ``count`` NUL-terminated strings from the data bytes (Unicode: padded to an even offset from the
    header, except where the layout has no Pad field)."""
    out: list[str] = []
    raw = data.rest()
    pos = 0
    if pad and unicode and (start_in_msg + pos) % 2:
        pos += 1
    for _ in range(count):
        if pos >= len(raw):
            break
        if unicode:
            end = pos
            while end + 1 < len(raw) and raw[end:end + 2] != b"\x00\x00":
                end += 2
            s = raw[pos:end]
            out.append(printable(s[: len(s) - len(s) % 2].decode("utf-16-le", "replace")))
            pos = end + 2
        else:
            end = raw.find(b"\x00", pos)
            end = len(raw) if end < 0 else end
            out.append(text(raw[pos:end], MAX_STR))
            pos = end + 1
    return out


@dataclass(frozen=True, slots=True)
class Negotiate1:
    """SMB1 NEGOTIATE: the request's dialect strings, or the response's chosen index and names."""

    dialects: tuple[str, ...] = ()
    dialect_index: int = -1
    extended_security: bool = False
    blob: bytes = b""                   # the response's SPNEGO token (extended security)
    domain: str = ""                    # non-extended response: DomainName (MS-CIFS 2.2.4.52.2)
    server: str = ""                    # non-extended response: ServerName


def parse_negotiate1(h: Smb1Header, msg: bytes) -> Negotiate1:
    words, data, start = _words_bytes(msg)
    if not h.reply:                                 # MS-CIFS 2.2.4.52.1: 0x02 "dialect\0" ...
        raw = data.rest()
        names = [text(p[1:] if p[:1] == b"\x02" else p, 32) for p in raw.split(b"\x00") if p][:32]
        return Negotiate1(dialects=tuple(names))
    if words.remaining() < 2:
        raise Truncated("negotiate response without a dialect index")
    index = words.u16le()
    if words.remaining() < 32:                      # core protocol answers (index 0xFFFF: none)
        return Negotiate1(dialect_index=index)
    words.skip(1 + 2 + 2 + 4 + 4 + 4)               # SecurityMode, MaxMpx, MaxVcs, MaxBuffer, MaxRaw, SessionKey
    caps = words.u32le()
    words.skip(8 + 2)                               # SystemTime, ServerTimeZone
    clen = words.u8()
    if caps & SMB1_CAP_EXTENDED_SECURITY:           # MS-SMB 2.2.4.5.2.1: ServerGUID(16), SecurityBlob
        data.skip(16)
        return Negotiate1(dialect_index=index, extended_security=True, blob=data.rest())
    data.skip(clen)                                 # the challenge
    names = _strings(data, start + clen, h.unicode, 2, pad=False)   # 2.2.4.52.2: no Pad before DomainName
    names += [""] * (2 - len(names))
    return Negotiate1(dialect_index=index, domain=names[0], server=names[1])


@dataclass(frozen=True, slots=True)
class SessionSetup1:
    blob: bytes = b""                   # SecurityBlob (extended security)
    native_os: str = ""
    native_lanman: str = ""
    domain: str = ""                    # request: PrimaryDomain; response: PrimaryDomain (when sent)
    account: str = ""                   # non-extended request: AccountName


def parse_session_setup1(h: Smb1Header, msg: bytes) -> SessionSetup1:
    """MS-CIFS 2.2.4.53 / MS-SMB 2.2.4.6 by WordCount: request 12 (extended) or 13 (NT LM 0.12 passwords),
    response 4 (extended) or 3."""
    words, data, start = _words_bytes(msg)
    wc = words.remaining() // 2
    if not h.reply and wc == 12:
        words.skip(4 + 2 + 2 + 2 + 4)               # AndX, MaxBuffer, MaxMpx, VcNumber, SessionKey
        blen = words.u16le()
        blob = data.take(blen)
        s = _strings(data, start + blen, h.unicode, 3) + ["", "", ""]
        return SessionSetup1(blob, s[0], s[1], s[2])
    if not h.reply and wc == 13:
        words.skip(4 + 2 + 2 + 2 + 4)
        oem, uni = words.u16le(), words.u16le()
        data.skip(oem + uni)                        # passwords: never read
        s = _strings(data, start + oem + uni, h.unicode, 4) + ["", "", "", ""]
        return SessionSetup1(b"", s[2], s[3], s[1], s[0])
    if h.reply and wc == 4:
        words.skip(4 + 2)                           # AndX, Action
        blen = words.u16le()
        blob = data.take(blen)
        s = _strings(data, start + blen, h.unicode, 3) + ["", "", ""]
        return SessionSetup1(blob, s[0], s[1], s[2])
    if h.reply and wc == 3:
        s = _strings(data, start, h.unicode, 3) + ["", "", ""]
        return SessionSetup1(b"", s[0], s[1], s[2])
    if wc == 0:                                     # an error answer
        return SessionSetup1()
    raise Malformed(f"session setup with {wc} words")


# -- SMB2 -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Smb2Header:
    command: int
    status: int
    flags: int
    next_command: int
    message_id: int

    @property
    def reply(self) -> bool:
        return bool(self.flags & SMB2_FLAGS_SERVER_TO_REDIR)


def parse_smb2_header(msg: bytes, pos: int = 0) -> Smb2Header:
    r = Reader(msg, pos, pos + SMB2_HEADER)
    if r.take(4) != SMB2_MAGIC:
        raise Malformed("no SMB2 protocol id")
    if r.u16le() != SMB2_HEADER:
        raise Malformed("SMB2 header StructureSize is not 64")
    r.skip(2)                                       # CreditCharge
    status = r.u32le()
    command = r.u16le()
    r.skip(2)                                       # credits
    flags, nxt = r.u32le(), r.u32le()
    mid = int.from_bytes(r.take(8), "little")
    return Smb2Header(command, status, flags, nxt, mid)


@dataclass(frozen=True, slots=True)
class Negotiate2:
    dialects: tuple[int, ...] = ()      # request
    dialect: int = -1                   # response
    server_guid: str = ""
    blob: bytes = b""


def _guid(raw: bytes) -> str:
    """A GUID in its registry form (little-endian first three fields)."""
    a, b, c = int.from_bytes(raw[0:4], "little"), int.from_bytes(raw[4:6], "little"), \
        int.from_bytes(raw[6:8], "little")
    return f"{a:08x}-{b:04x}-{c:04x}-{raw[8:10].hex()}-{raw[10:16].hex()}"


def _buffer(msg: bytes, pos: int, off: int, n: int) -> bytes:
    """A buffer at ``off`` from the SMB2 header at ``pos`` (MS-SMB2: offsets count from the header)."""
    if n == 0:
        return b""
    if off < SMB2_HEADER or pos + off + n > len(msg):
        raise Truncated(f"buffer at {off}+{n} beyond the message")
    return msg[pos + off:pos + off + n]


def parse_negotiate2(h: Smb2Header, msg: bytes, pos: int) -> Negotiate2:
    r = Reader(msg, pos + SMB2_HEADER)
    size = r.u16le()
    if not h.reply:                                 # 2.2.3: StructureSize 36
        if size != 36:
            raise Malformed(f"negotiate request StructureSize {size}")
        count = r.u16le()
        r.skip(2 + 2 + 4 + 16 + 8)                  # SecurityMode, Reserved, Capabilities, ClientGuid, contexts
        return Negotiate2(dialects=tuple(r.u16le() for _ in range(min(count, 16))))
    if size == 9:                                   # an ERROR response (2.2.2)
        return Negotiate2()
    if size != 65:
        raise Malformed(f"negotiate response StructureSize {size}")
    r.skip(2)                                       # SecurityMode
    dialect = r.u16le()
    r.skip(2)
    guid = _guid(r.take(16))
    r.skip(4 + 4 + 4 + 4 + 8 + 8)                   # Capabilities, MaxTransact/Read/Write, SystemTime, StartTime
    off, n = r.u16le(), r.u16le()
    return Negotiate2(dialect=dialect, server_guid=guid, blob=_buffer(msg, pos, off, n))


def parse_session_setup2(h: Smb2Header, msg: bytes, pos: int) -> bytes:
    """The security buffer of a SESSION_SETUP request (2.2.5, StructureSize 25) or response (2.2.6, 9)."""
    r = Reader(msg, pos + SMB2_HEADER)
    size = r.u16le()
    if not h.reply:
        if size != 25:
            raise Malformed(f"session setup request StructureSize {size}")
        r.skip(1 + 1 + 4 + 4)                       # Flags, SecurityMode, Capabilities, Channel
    else:
        if size != 9:
            raise Malformed(f"session setup response StructureSize {size}")
        r.skip(2)                                   # SessionFlags
    off, n = r.u16le(), r.u16le()
    return _buffer(msg, pos, off, n)
