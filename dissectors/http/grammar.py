"""HTTP/1.x message heads as bytes -> dataclasses (RFC 9112): start line, field lines, end of the head; and the
page title of an HTML body start. Pure functions; hostile input is Malformed/Truncated, never an exception of
another kind."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Truncated
from otscope.dissectors.http.constants import (LONGEST_METHOD, MAX_FIELDS, METHODS, TITLE_ATTRS, TITLE_CLOSE,
                                                TITLE_MAX, TITLE_OPEN, VERSIONS)


_METHOD_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"


@dataclass(frozen=True, slots=True)
class RequestLine:
    method: str
    target: bytes
    version: str


@dataclass(frozen=True, slots=True)
class StatusLine:
    version: str
    status: int
    reason: bytes


@dataclass(slots=True)
class Head:
    """A message head: its start line, its field lines (lower-case name, raw value), and counts of what was
    skipped (lines without a colon, fields past MAX_FIELDS)."""

    start: RequestLine | StatusLine
    fields: list[tuple[str, bytes]] = field(default_factory=list)
    bad_lines: int = 0
    dropped: int = 0
    first: dict[str, bytes] = field(default_factory=dict)     # name -> its first field's value

    def get(self, name: str) -> bytes | None:
        """The first field of that (lower-case) name."""
        return self.first.get(name)


def head_end(buf: bytes) -> int:
    """Offset just past the empty line that ends the head (CRLF CRLF, or a bare LF LF: RFC 9112 2.2 lets a
    recipient accept LF alone), -1 if not yet in ``buf``."""
    i = buf.find(b"\r\n\r\n")
    j = buf.find(b"\n\n")
    if i < 0 and j < 0:
        return -1
    if j < 0 or (0 <= i < j):
        return i + 4
    return j + 2


def looks_like_request(start: bytes) -> bool | None:
    """Could these first bytes of a flow's client side be a request line? None: too few bytes to say."""
    sp = start.find(b" ", 0, LONGEST_METHOD + 1)
    if sp < 0:
        head = start[:LONGEST_METHOD]
        if len(start) > LONGEST_METHOD or head.translate(None, _METHOD_CHARS):
            return False                       # a byte no method has, or too long for one
        return None
    return start[:sp] in METHODS


def looks_like_status(start: bytes) -> bool | None:
    """Could these first bytes of a server side be a status line (``HTTP/``)? None: too few bytes to say."""
    if len(start) < 5:
        return None if b"HTTP/".startswith(start) else False
    return start.startswith(b"HTTP/")


def parse_request_line(line: bytes) -> RequestLine:
    """RFC 9112 3: method SP request-target SP HTTP-version."""
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[1]:
        raise Malformed(f"request line with {len(parts)} parts")
    method, target, version = parts
    if method not in METHODS:
        raise Malformed("unknown method")
    if version not in VERSIONS:
        raise Malformed("not an HTTP/1.x version")
    return RequestLine(method.decode("ascii"), target, version.decode("ascii"))


def parse_status_line(line: bytes) -> StatusLine:
    """RFC 9112 4: HTTP-version SP status-code SP [reason-phrase] (a missing SP before an empty reason is
    tolerated, as servers send it)."""
    version, sp, rest = line.partition(b" ")
    if version not in VERSIONS or not sp:
        raise Malformed("not an HTTP/1.x status line")
    code, _, reason = rest.partition(b" ")
    if len(code) != 3 or not code.isdigit():
        raise Malformed("status code is not 3 digits")
    status = int(code)
    if status < 100:
        raise Malformed("status code below 100")
    return StatusLine(version.decode("ascii"), status, reason)


# one line of a head: a field (RFC 9112 5.1: token ":" OWS value OWS), an obsolete folded line (5.2: skipped), or
# a line that is neither (counted); the empty line that ends the head matches none
_LINE = re.compile(rb"^(?:([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*?)[ \t]*|[ \t][^\r\n]*|([^\r\n]+?))\r?$",
                   re.MULTILINE)


def parse_head(raw: bytes, request: bool) -> Head:
    """A message head (the bytes up to, not necessarily including, the empty line). A head cut short (the
    capture or our bound ended it) keeps its complete lines."""
    nl = raw.find(b"\n")
    first = (raw if nl < 0 else raw[:nl]).rstrip(b"\r")
    if not first:
        raise Truncated("no start line")
    start = parse_request_line(first) if request else parse_status_line(first)
    head = Head(start)
    if nl < 0:
        return head
    fields = head.fields
    for name, value, bad in _LINE.findall(raw, nl + 1):
        if name:
            if len(fields) >= MAX_FIELDS:
                head.dropped += 1
            else:
                n = name.decode("latin-1").lower()
                fields.append((n, value))
                head.first.setdefault(n, value)
        elif bad:
            head.bad_lines += 1
    return head


_TITLE = re.compile(re.escape(TITLE_OPEN.encode()) + rb"[^>]{0,%d}>(.{0,%d}?)" % (TITLE_ATTRS, TITLE_MAX)
                    + re.escape(TITLE_CLOSE.encode()), re.IGNORECASE | re.DOTALL)


def html_title(body: bytes) -> bytes | None:
    """The text of the first <title> element in the start of an HTML body (bounded regex), None if absent."""
    m = _TITLE.search(body)
    return m.group(1).strip() if m else None
