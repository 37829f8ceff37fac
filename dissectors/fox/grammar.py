"""Niagara Fox grammar: bytes -> one message (header line, fields), bounded. See constants.py for the layout."""

from __future__ import annotations

from dataclasses import dataclass

from otscope.dissectors.base import Malformed, Truncated
from otscope.dissectors.fox.constants import MAGIC, MAX_FIELDS, MAX_LINE, MAX_MESSAGE, MAX_OBJECT


class TooLong(Malformed):
    """A line or a message over its bound."""


@dataclass(frozen=True, slots=True)
class FoxHeader:
    kind: str                   # message type letter ("a")
    seq: int
    reply: int
    channel: str
    command: str


@dataclass(frozen=True, slots=True)
class FoxMessage:
    header: FoxHeader
    fields: dict[str, tuple[str, bytes]]     # key -> (type char, raw value); o: values are skipped (b"")
    size: int                                # bytes consumed
    dropped: int                             # fields over MAX_FIELDS (parsed, not kept)


def _line(buf: bytes, pos: int) -> tuple[bytes, int]:
    """The line at ``pos`` (without its \\n) and the position after it."""
    end = buf.find(b"\n", pos, pos + MAX_LINE + 1)
    if end < 0:
        if len(buf) - pos > MAX_LINE:
            raise TooLong(f"line over {MAX_LINE} bytes")
        raise Truncated("line")
    return buf[pos:end].rstrip(b"\r"), end + 1


def parse_header(line: bytes) -> FoxHeader:
    if not line.startswith(MAGIC):
        raise Malformed("not a fox message line")
    parts = line.split(b" ")
    if len(parts) != 6 or len(parts[1]) != 1 or not parts[1].isalpha():
        raise Malformed(f"fox header of {len(parts)} words")
    try:
        seq, reply = int(parts[2]), int(parts[3])
    except ValueError as exc:
        raise Malformed("fox header numbers") from exc
    return FoxHeader(parts[1].decode("ascii"), seq, reply, parts[4].decode("latin-1"), parts[5].decode("latin-1"))


def parse_message(buf: bytes, pos: int = 0) -> FoxMessage:
    """One message starting at ``pos``; Truncated when it is not all there yet, Malformed when it is not Fox."""
    start = pos
    line, pos = _line(buf, pos)
    header = parse_header(line)
    line, pos = _line(buf, pos)
    if line != b"{":
        raise Malformed("no { after the fox header")
    fields: dict[str, tuple[str, bytes]] = {}
    dropped = 0
    while True:
        if pos - start > MAX_MESSAGE:
            raise TooLong(f"fox message over {MAX_MESSAGE} bytes")
        line, nxt = _line(buf, pos)
        if line.startswith(b"}"):
            if not line.endswith(b";;"):
                raise Malformed("fox message end without ;;")
            return FoxMessage(header, fields, nxt - start, dropped)
        key, eq, rest = line.partition(b"=")
        if not eq or len(rest) < 2 or rest[1:2] != b":" or not key:
            raise Malformed("fox field line without key=t:value")
        kind = chr(rest[0])
        if kind == "o":
            value, nxt = b"", _object_end(buf, pos + len(key) + 3, line[len(key) + 3:])
        else:
            value = rest[2:]
        if len(fields) < MAX_FIELDS:
            fields[key.decode("latin-1")] = (kind, value)
        else:
            dropped += 1
        pos = nxt


def _object_end(buf: bytes, vpos: int, first: bytes) -> int:
    """An o: value "<class> <n>[<n bytes>]" starting at ``vpos``: the position after its line."""
    bracket = first.find(b"[")
    if bracket < 0:
        raise Malformed("fox object without [")
    try:
        n = int(first[:bracket].rsplit(b" ", 1)[-1])
    except ValueError as exc:
        raise Malformed("fox object length") from exc
    if not 0 <= n <= MAX_OBJECT:
        raise Malformed(f"fox object length {n}")
    end = vpos + bracket + 1 + n
    if len(buf) < end + 2:
        raise Truncated("fox object")
    if buf[end:end + 1] != b"]":
        raise Malformed("fox object does not end with ]")
    nl = buf.find(b"\n", end, end + MAX_LINE)
    if nl < 0:
        raise Truncated("fox object line")
    return nl + 1


def tls_handshake_type(data: bytes) -> int | None:
    """The handshake type of a TLS handshake record at the start of ``data`` (None: not one)."""
    if len(data) >= 6 and data[0] == 0x16 and data[1] == 3 and data[2] <= 4:
        return data[5]
    return None
