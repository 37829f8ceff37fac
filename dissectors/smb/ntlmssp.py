"""NTLMSSP (MS-NLMP 2.2): NEGOTIATE / CHALLENGE / AUTHENTICATE messages, the VERSION structure (2.2.2.10) and the
CHALLENGE's target info AV pairs (2.2.2.1). Protocol-neutral: SMB carries it in a SPNEGO token (RFC 4178), HTTP in
``Authorization: NTLM``/``Negotiate`` headers, DCE/RPC in auth verifiers; ``find`` locates the message by its
signature inside such a wrapper (a bounded search instead of a second DER walk of the GSS-API token), ``facts``
turns a message into facts for whichever dissector found it.

Fields are (Len u16, MaxLen u16, Offset u32) triples whose offsets count from the signature; each is checked
against the message's bytes. Strings are UTF-16LE when NEGOTIATE_UNICODE is set, OEM (latin-1 here) otherwise.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from otscope.dissectors.base import Dissector, Malformed, Reader, Truncated, text
from otscope.dissectors.smb.constants import (MAX_AV_PAIRS, MAX_STR, NEGOTIATE_OEM_DOMAIN_SUPPLIED,
                                              NEGOTIATE_OEM_WORKSTATION_SUPPLIED, NEGOTIATE_UNICODE,
                                              NEGOTIATE_VERSION, NTLMSSP_SIGNATURE, AvId, NtlmMessageType)
from otscope.dissectors.smb.windows import windows_release

__all__ = ["NtlmMessage", "Version", "facts", "find", "from_http_auth", "parse", "Malformed", "Truncated"]

MAX_SEARCH = 4096               # bytes of a wrapper searched for the signature


@dataclass(frozen=True, slots=True)
class Version:
    major: int
    minor: int
    build: int
    revision: int

    def raw(self) -> str:
        return f"{self.major}.{self.minor}.{self.build}"


@dataclass(frozen=True, slots=True)
class NtlmMessage:
    type: int
    flags: int
    version: Version | None = None
    domain: str = ""                    # NEGOTIATE (OEM supplied) / AUTHENTICATE DomainName
    workstation: str = ""               # NEGOTIATE (OEM supplied) / AUTHENTICATE Workstation
    user: str = ""                      # AUTHENTICATE UserName
    target_name: str = ""               # CHALLENGE TargetName
    av: tuple[tuple[int, str], ...] = ()   # CHALLENGE target info: (AvId, value) of the name pairs


def find(blob: bytes) -> int:
    """Offset of an NTLMSSP message in a security blob (SPNEGO negTokenInit/Targ, raw), or -1."""
    return blob.find(NTLMSSP_SIGNATURE, 0, MAX_SEARCH)


def _field(msg: bytes, r: Reader) -> bytes:
    """A (Len, MaxLen, Offset) field's bytes (MS-NLMP 2.2.1.1), bounds-checked against the message."""
    n = r.u16le()
    r.u16le()
    off = r.u32le()
    if n == 0:
        return b""
    if off + n > len(msg):
        raise Truncated(f"field at {off}+{n} beyond {len(msg)} bytes")
    return msg[off:off + n]


def _str(raw: bytes, unicode: bool) -> str:
    if unicode:
        if len(raw) % 2:
            raise Malformed("odd UTF-16 length")
        return printable(raw.decode("utf-16-le", "replace"))
    return text(raw, MAX_STR)


def printable(s: str) -> str:
    """A decoded wire string, bounded and printable (cut at a NUL, like dissectors.base.text)."""
    s = s.split("\x00", 1)[0]
    s = "".join(ch if ch.isprintable() else "\ufffd" for ch in s).strip()
    return s if len(s) <= MAX_STR else s[: MAX_STR - 1] + "\u2026"


def _version(msg: bytes, off: int, flags: int) -> Version | None:
    """MS-NLMP 2.2.2.10, present when NEGOTIATE_VERSION is set and the message is long enough to hold it
    (old clients leave it out: the payload then starts where the VERSION would be)."""
    if not flags & NEGOTIATE_VERSION or len(msg) < off + 8:
        return None
    r = Reader(msg, off)
    major, minor, build = r.u8(), r.u8(), r.u16le()
    r.skip(3)
    return Version(major, minor, build, r.u8())


def _first_offset(msg: bytes, offsets: list[int]) -> int:
    """The lowest non-empty payload offset: a fixed part that would end after it holds no VERSION."""
    valid = [o for o in offsets if 0 < o <= len(msg)]
    return min(valid) if valid else len(msg)


def _av_pairs(raw: bytes) -> tuple[tuple[int, str], ...]:
    r = Reader(raw)
    out = []
    for _ in range(MAX_AV_PAIRS):
        if r.remaining() < 4:
            break
        av_id, n = r.u16le(), r.u16le()
        if av_id == AvId.EOL:
            break
        value = r.take(n)
        if AvId.NB_COMPUTER_NAME <= av_id <= AvId.DNS_TREE_NAME or av_id == AvId.TARGET_NAME:
            out.append((av_id, _str(value, True)))
    return tuple(out)


def parse(msg: bytes) -> NtlmMessage:
    """An NTLMSSP message starting at its signature (raises Truncated/Malformed)."""
    r = Reader(msg)
    if r.take(8) != NTLMSSP_SIGNATURE:
        raise Malformed("no NTLMSSP signature")
    mtype = r.u32le()
    if mtype == NtlmMessageType.NEGOTIATE:              # 2.2.1.1
        flags = r.u32le()
        dom_off, ws_off = _peek_offset(msg, 20), _peek_offset(msg, 28)
        dom, ws = _field(msg, r), _field(msg, r)
        ver = _version(msg, 32, flags) if _first_offset(msg, [dom_off, ws_off]) >= 40 else None
        return NtlmMessage(mtype, flags, ver,
                           text(dom, MAX_STR) if flags & NEGOTIATE_OEM_DOMAIN_SUPPLIED else "",
                           text(ws, MAX_STR) if flags & NEGOTIATE_OEM_WORKSTATION_SUPPLIED else "")
    if mtype == NtlmMessageType.CHALLENGE:              # 2.2.1.2
        tn_off = _peek_offset(msg, 16)
        target = _field(msg, r)
        flags = r.u32le()
        r.skip(16)                                      # server challenge, reserved
        ti_off = _peek_offset(msg, 44)
        info = _field(msg, r) if r.remaining() >= 8 else b""
        ver = _version(msg, 48, flags) if _first_offset(msg, [tn_off, ti_off]) >= 56 else None
        uni = bool(flags & NEGOTIATE_UNICODE)
        return NtlmMessage(mtype, flags, ver, target_name=_str(target, uni), av=_av_pairs(info))
    if mtype == NtlmMessageType.AUTHENTICATE:           # 2.2.1.3
        offsets = [_peek_offset(msg, o) for o in (16, 24, 32, 40, 48, 56)]
        _field(msg, r), _field(msg, r)                  # Lm/Nt challenge responses
        dom, user, ws = _field(msg, r), _field(msg, r), _field(msg, r)
        _field(msg, r)                                  # encrypted random session key
        flags = r.u32le()
        ver = _version(msg, 64, flags) if _first_offset(msg, offsets) >= 72 else None
        uni = bool(flags & NEGOTIATE_UNICODE)
        return NtlmMessage(mtype, flags, ver, _str(dom, uni), _str(ws, uni), _str(user, uni))
    raise Malformed(f"message type {mtype}")


def _peek_offset(msg: bytes, at: int) -> int:
    """The Offset of the field whose Len is at ``at - 4`` (0 when the field is empty or cut)."""
    if len(msg) < at + 4 or msg[at - 4:at - 2] == b"\x00\x00":
        return 0
    return int.from_bytes(msg[at:at + 4], "little")


_MSG = {NtlmMessageType.NEGOTIATE: "NTLMSSP NEGOTIATE", NtlmMessageType.CHALLENGE: "NTLMSSP CHALLENGE",
        NtlmMessageType.AUTHENTICATE: "NTLMSSP AUTHENTICATE"}


def facts(d: Dissector, who: int, m: NtlmMessage, via: str, frame: int, ts: float, windows_os: bool = True) -> None:
    """Facts of one NTLMSSP message about its sender (``who``). ``via`` names the carrier ("SMB2 SESSION_SETUP
    request"); ``windows_os`` False keeps the version raw only (a non-Windows NativeOS was stated beside it)."""
    msg = f"{_MSG[NtlmMessageType(m.type)]} ({via})"
    p = "ntlmssp"
    d.fact(who, "protocol", "ntlmssp", msg, frame, ts, protocol=p)
    if m.version is not None:
        v = m.version
        d.fact(who, "ntlmssp_version", v.raw(), msg, frame, ts, protocol=p)
        release = windows_release(v.major, v.minor, v.build) if windows_os else None
        if release:
            d.fact(who, "os", release, msg, frame, ts, protocol=p)
            d.fact(who, "os_family", "windows", msg, frame, ts, protocol=p)
    if m.type == NtlmMessageType.CHALLENGE:
        for av_id, value in m.av:
            if av_id == AvId.NB_COMPUTER_NAME:
                d.fact(who, "name", value, msg, frame, ts, protocol=p)
            elif av_id in (AvId.NB_DOMAIN_NAME, AvId.DNS_DOMAIN_NAME):
                d.fact(who, "domain", value, msg, frame, ts, protocol=p)
            elif av_id == AvId.DNS_COMPUTER_NAME:
                d.fact(who, "ntlmssp_dns_computer_name", value, msg, frame, ts, protocol=p)
            elif av_id == AvId.DNS_TREE_NAME:
                d.fact(who, "ntlmssp_dns_tree_name", value, msg, frame, ts, protocol=p)
        return
    d.fact(who, "name", m.workstation, msg, frame, ts, protocol=p)
    d.fact(who, "domain", m.domain, msg, frame, ts, protocol=p)
    if m.user:
        # sensitive: who logged on from this workstation (an auditor's question); never a password or hash
        d.fact(who, "smb_user", f"{m.domain}\\{m.user}" if m.domain else m.user, msg, frame, ts, protocol=p)


MAX_HTTP_TOKEN = 8192           # characters of a base64 Authorization / WWW-Authenticate token decoded
_HTTP_SCHEMES = ("ntlm", "negotiate")


def from_http_auth(value: str) -> NtlmMessage | None:
    """The NTLMSSP message of an HTTP ``Authorization`` / ``WWW-Authenticate`` value (``NTLM <base64>`` or
    ``Negotiate <base64 SPNEGO>``, MS-NTHT 2.2), or None. For an HTTP dissector (NTLMSSP rides on HTTP too);
    never raises."""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() not in _HTTP_SCHEMES or not token or len(token) > MAX_HTTP_TOKEN:
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True)
        at = find(raw)
        return parse(raw[at:]) if at >= 0 else None
    except (ValueError, Truncated, Malformed):
        return None
