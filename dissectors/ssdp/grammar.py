"""SSDP messages (UPnP Device Architecture 1.1, 1.1-1.3): an HTTP start line and header fields (RFC 7230 3),
one message per datagram: ``NOTIFY * HTTP/1.1``, ``M-SEARCH * HTTP/1.1`` or a search answer
``HTTP/1.1 200 OK``. Bounded: at most ``MAX_BYTES`` read, ``MAX_HEADERS`` fields, values ``MAX_VALUE``."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from otscope.dissectors.base import Malformed, Truncated, text

MAX_BYTES = 8192
MAX_HEADERS = 64
MAX_VALUE = 255


class Kind(Enum):
    NOTIFY = "NOTIFY"
    SEARCH = "M-SEARCH"
    ANSWER = "200 OK"


@dataclass(slots=True)
class SsdpMessage:
    kind: Kind
    headers: dict[str, str] = field(default_factory=dict)     # lower-case name -> bounded value (first kept)


def parse(data: bytes) -> SsdpMessage:
    raw = bytes(data[:MAX_BYTES])
    head, sep, _ = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    start = lines[0].strip()
    if start.startswith(b"NOTIFY * HTTP/1."):
        kind = Kind.NOTIFY
    elif start.startswith(b"M-SEARCH * HTTP/1."):
        kind = Kind.SEARCH
    elif start.startswith(b"HTTP/1.") and start[9:12] == b"200":
        kind = Kind.ANSWER
    else:
        raise Malformed("not an SSDP start line")
    if not sep and len(data) > MAX_BYTES:
        raise Truncated("SSDP header longer than 8 KiB")
    msg = SsdpMessage(kind)
    for line in lines[1:1 + MAX_HEADERS]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or b" " in name:
            continue                                  # not a header field (RFC 7230 3.2: no space before ':')
        key = text(name, 40).lower()
        if key not in msg.headers:
            msg.headers[key] = text(value.strip(), MAX_VALUE)
    return msg
