"""Banner lines as bytes -> values: the SSH identification string (RFC 4253 4.2), FTP/SMTP reply lines
(RFC 959 4.2, RFC 5321 4.2: code, SP or "-", text), Telnet option negotiation stripped (RFC 854). Pure
functions; hostile input is Malformed, never another exception."""

from __future__ import annotations

from dataclasses import dataclass

from otscope.dissectors.banners.constants import SSH_VERSIONS, Telnet
from otscope.dissectors.base import Malformed


@dataclass(frozen=True, slots=True)
class SshIdent:
    proto: str               # protoversion: 2.0, 1.99
    software: str            # softwareversion (printable US-ASCII, no spaces or minus signs: RFC 4253 4.2)
    comments: str


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    more: bool               # "-" after the code: a multi-line reply continues
    text: bytes


def first_line(buf: bytes) -> tuple[bytes, int] | None:
    """(line without CR LF, offset after it) of the first line in buf, None if no LF yet."""
    i = buf.find(b"\n")
    if i < 0:
        return None
    return buf[:i].rstrip(b"\r"), i + 1


def parse_ssh_ident(line: bytes) -> SshIdent:
    """``SSH-protoversion-softwareversion SP comments`` (RFC 4253 4.2)."""
    if not line.startswith(b"SSH-"):
        raise Malformed("not an SSH identification")
    body, _, comments = line[4:].partition(b" ")
    proto, dash, software = body.partition(b"-")
    p = proto.decode("latin-1")
    if not dash or p not in SSH_VERSIONS or not software:
        raise Malformed("SSH identification without protoversion-softwareversion")
    if any(c < 0x21 or c > 0x7E for c in software):
        raise Malformed("softwareversion not printable US-ASCII")
    return SshIdent(p, software.decode("ascii"), comments.decode("latin-1"))


def parse_reply(line: bytes) -> Reply:
    """``NNN SP text`` or ``NNN-text`` (RFC 959 4.2, RFC 5321 4.2)."""
    code, sep = line[:3], line[3:4]
    if len(code) != 3 or not code.isdigit() or code[:1] not in b"12345" or sep not in (b" ", b"-", b""):
        raise Malformed("not a reply line")
    return Reply(int(code), sep == b"-", line[4:].strip())


def is_command(line: bytes) -> bool:
    """An FTP/SMTP command line: 3 or 4 letters, then SP or the end (RFC 959 4.1, RFC 5321 4.1.1)."""
    verb = line.split(b" ", 1)[0]
    return 3 <= len(verb) <= 4 and verb.isalpha()


def telnet_text(buf: bytes) -> tuple[bytes, bool, bool]:
    """(the data bytes with Telnet commands removed, whether a well-formed IAC command was seen, whether the
    buffer ends inside a command). IAC IAC is a data byte 255; IAC SB ... IAC SE a subnegotiation (skipped);
    IAC WILL/WONT/DO/DONT take an option byte; other IAC x are 2 bytes (RFC 854)."""
    out = bytearray()
    seen = False
    i, n = 0, len(buf)
    while i < n:
        b = buf[i]
        if b != Telnet.IAC:
            out.append(b)
            i += 1
            continue
        if i + 1 >= n:
            return bytes(out), seen, True
        cmd = buf[i + 1]
        if cmd == Telnet.IAC:
            out.append(0xFF)
            i += 2
        elif Telnet.WILL <= cmd <= Telnet.DONT:
            if i + 2 >= n:
                return bytes(out), seen, True
            seen = True
            i += 3
        elif cmd == Telnet.SB:
            end = buf.find(bytes((Telnet.IAC, Telnet.SE)), i + 2)
            if end < 0:
                return bytes(out), seen, True
            seen = True
            i = end + 2
        elif cmd >= Telnet.SE:
            seen = True
            i += 2
        else:
            raise Malformed(f"IAC followed by {cmd}")
    return bytes(out), seen, False


def printable_line(data: bytes, min_len: int = 3) -> bytes | None:
    """The first non-empty line of data (CR or LF ends it) made only of printable ASCII (tabs allowed), with at
    least min_len characters; None if there is none. A line with control or 8-bit bytes is no banner."""
    for raw in data.replace(b"\r", b"\n").split(b"\n")[:-1]:          # (the last piece has no end of line yet)
        line = raw.strip(b" \t\x00")
        if not line:
            continue
        if len(line) >= min_len and all(0x20 <= c < 0x7F or c == 9 for c in line):
            return line
        return None                 # the first non-empty line is not text: the server sends no banner
    return None
