"""What every dissector shares: the protocol enum (from the registry), a bounds-checked reader, the contract.

Role, Side, Who and Transport live in the bottom layer (otscope/domain.py) and are re-exported here.

Contract (../shared/docs/architecture.md, "One dissector's contract"): a dissector class declares its
protocol, transport and port *hints* (hints choose candidates, they never prove the protocol). An
instance holds one flow's state. ``feed(data, direction, ts, frame)`` returns a status:

* ``OK``: bytes consumed; facts and anomalies, if any, were appended to ``out`` / ``anomalies``;
* ``INCOMPLETE``: a frame is buffered and more bytes are needed;
* ``FATAL``: not this protocol, or the stream cannot be re-synchronised; ``fatal_reason`` says why and
  the flow table detaches the dissector (counted);
* ``DONE``: the dissector has what it wants of this flow (the identity in a flow's first bytes: an HTTP
  header, a certificate, a banner): its facts are drained and it is detached quietly, no anomaly; the flow
  keeps its label and the C fast path counts the rest without Python.

A dissector does no I/O and no logging, holds no globals, caps its own memory, and never raises: every
malformed input becomes an anomaly (the capture loop additionally guards each feed, and counts an escape
as a dissector bug). ``decoded`` counts the bytes that were part of a valid PDU, for traffic coverage.
``flow_protocol`` names what the confirmed flow carries, for its traffic and conversation label: the
dissector's protocol, unless the dissector finds its port carries something else (ISO-on-TCP on tcp/102
carrying MMS or only COTP is not S7comm).

The result is a small int and the facts go to per-instance lists, so the common case (a poll that adds
nothing new) allocates nothing.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, NamedTuple

from otscope.dissectors import registry
from otscope.domain import Role, Side, Transport, Who, cap_anomaly, caps

__all__ = ["DONE", "FATAL", "INCOMPLETE", "NEWS", "OK", "Anomaly", "Dissector", "Fact", "FactsAbout", "FrameAnomaly",
           "L2Binding", "L2Fact", "L2Output", "Malformed", "Protocol", "Reader", "Role", "Side", "StreamBuffer",
           "Transport", "Truncated", "Who", "mac_str", "text"]


# Every protocol name a registered package declares, plus the fact sources that are no dissector (OUI, FLOW):
# built from the registry's declarations (dissectors/registry.py), so no protocol is named here.
Protocol = StrEnum("Protocol", registry.protocol_members(), module=__name__)  # type: ignore[misc]


# feed() results
OK = 0
INCOMPLETE = 1
FATAL = 2
NEWS = 3          # OK, and the dissector's steady-state spec changed: the capture loop should look at it
DONE = 4          # OK, and nothing more is wanted of this flow: detach quietly (no anomaly, label kept)


class Fact(NamedTuple):
    who: int                    # Who.CLIENT / Who.SERVER
    field: str                  # inventory field: vendor, product, firmware, serial, name, order_number, ...
    value: str
    message: str                # the protocol message it came from, e.g. "FC43/14 Read Device Identification"
    component: str | None       # child component behind the address (unit:5, slot:2), or None
    frame: int
    ts: float
    protocol: str | None = None   # when one dissector speaks several layers (COTP, S7comm, S7comm-plus)


class Anomaly(NamedTuple):
    kind: str                   # a member of the protocol's anomaly enum (its constants), with its detail if any
    frame: int
    ts: float


class FrameAnomaly(StrEnum):
    """What a stateless frame parser's failure is counted as (agent/l2.py)."""

    TRUNCATED = "truncated"
    MALFORMED = "malformed"


FACTS_CAP = cap_anomaly("facts_per_flow")
MAX_OUT = caps().facts_per_flow     # read once, at start-up (otscope/domain.py configure_caps)
MAX_ANOMALY_CHARS = 120         # a kind with its detail (an exception's text) is bounded


class Truncated(Exception):
    """The bytes end before the declared structure does."""


class Malformed(Exception):
    """A value on the wire contradicts the grammar."""


_U16BE = struct.Struct(">H").unpack_from
_U16LE = struct.Struct("<H").unpack_from
_U32BE = struct.Struct(">I").unpack_from
_U32LE = struct.Struct("<I").unpack_from


class Reader:
    """Bounds-checked cursor over bytes; raises Truncated instead of reading past ``end``."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes | memoryview, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else min(end, len(buf))

    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int) -> int:
        p = self.pos
        if n < 0 or p + n > self.end:
            raise Truncated(f"need {n} bytes at offset {p}, have {self.end - p}")
        self.pos = p + n
        return p

    def u8(self) -> int:
        return self.buf[self._need(1)]

    def u16be(self) -> int:
        return _U16BE(self.buf, self._need(2))[0]

    def u16le(self) -> int:
        return _U16LE(self.buf, self._need(2))[0]

    def u32be(self) -> int:
        return _U32BE(self.buf, self._need(4))[0]

    def u32le(self) -> int:
        return _U32LE(self.buf, self._need(4))[0]

    def take(self, n: int) -> bytes:
        p = self._need(n)
        return bytes(self.buf[p:p + n])

    def skip(self, n: int) -> None:
        self._need(n)

    def sub(self, n: int) -> Reader:
        """A reader over the next ``n`` bytes; this reader moves past them."""
        p = self._need(n)
        return Reader(self.buf, p, p + n)

    def rest(self) -> bytes:
        p = self.pos
        self.pos = self.end
        return bytes(self.buf[p:self.end])


def text(raw: bytes, limit: int = 128) -> str:
    """Wire bytes to a bounded printable string (NUL padding stripped, non-printables replaced)."""
    raw = raw.split(b"\x00", 1)[0] if b"\x00" in raw else raw
    s = raw.decode("latin-1")
    if not s.isprintable():           # (the common case, all printable, costs no loop)
        s = "".join(ch if ch.isprintable() else "\ufffd" for ch in s)
    s = s.strip()
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"


def mac_str(raw: bytes) -> str:
    return raw.hex(":")


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def usable_ip(ip: str) -> bool:
    """An IPv4 address that names one host: not 0.0.0.0, limited broadcast, multicast or loopback (an
    unconfigured switch advertises 0.0.0.0 as its LLDP management address; a reply can carry anything)."""
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    return not (addr.is_unspecified or addr.is_multicast or addr.is_loopback or addr == _BROADCAST)


@dataclass(frozen=True, slots=True)
class TextMemo:
    """A line protocol's head as the peek memo compares it (agent/_fastscan.c TextSpec): two flows' events are
    the same for the dissector when their heads' normal forms are: the start line (without the client's second
    token when ``drop_target``), each line's name, the values of ``keep`` names (per side, lower case; ``cond``
    too when no body follows the head), and ``body_window`` bytes after the head on the server side. The
    dissector guarantees that nothing else of such an event changes its output (its tests mutate the rest)."""
    max_head: int
    body_window: int
    drop_target: tuple[bool, bool]
    keep: tuple[tuple[str, ...], tuple[str, ...]]
    cond: str = ""
    # the body is searched for an element: (open, close, most bytes of attributes before ">", most bytes of
    # content), lower case; only the body up to its first match counts when the first open starts one
    element: tuple[str, str, int, int] = ("", "", 0, 0)


@dataclass(frozen=True, slots=True)
class MemoUnused:
    """What a finished dissector did not use of a flow (Dissector.memo_unused): ``ranges`` (side, start, end)
    in offsets of that side's stream (bytes fed on it so far), and per side how far it read (None: all it was
    fed; the bytes after that offset did not matter)."""
    ranges: tuple[tuple[int, int, int], ...]
    read_to: tuple[int | None, int | None]


class Dissector:
    """Base class of a per-flow dissector. Subclasses set the class attributes and implement feed()."""

    protocol: ClassVar[Protocol]
    transport: ClassVar[Transport]
    ports: ClassVar[tuple[int, ...]]
    client_label: ClassVar[str]
    server_label: ClassVar[str]
    # a UDP server that may answer from another port than the one it was asked on (PNIO-CM's DCE/RPC): the
    # flow table gives the dissector the answer's new flow too (agent/flowtable.py expect)
    answers_from_other_port: ClassVar[bool] = False
    peek: ClassVar[int] = 0         # payload bytes per direction it is handed at most (its FlowEntry's; 0: all)
    # it can say which of a peeked flow's bytes its output did not depend on (memo_unused): a later flow of the
    # same conversation whose other bytes are the same is then counted by C, not fed again (agent/peek.py)
    memo: ClassVar[bool] = False
    text_memo: ClassVar[TextMemo | None] = None     # its events compare as text heads (else byte by byte)

    __slots__ = ("out", "anomalies", "decoded", "confirmed", "labelled", "fatal_reason", "profile", "fast_spec",
                 "spec_changed", "_offered", "flow_protocol")

    # the spec's counters per side: index -> profile key(s) it stands for (None: not a profile entry)
    SPEC_NAMES: ClassVar[tuple[tuple[str | tuple[str, ...] | None, ...], ...]] = ((), ())

    def __init__(self) -> None:
        self.out: list[Fact] = []
        self.anomalies: list[Anomaly] = []
        self.decoded = 0
        self.confirmed = False          # a valid exchange was seen (request and response)
        self.labelled = False           # both ends carry the protocol label (a well-formed PDU was seen)
        self.fatal_reason = ""
        self.profile: dict[str, int] = {}
        self.fast_spec: tuple | None = None   # a fixed layout the C fast path may count without calling feed()
        self.spec_changed = False
        self._offered: tuple | None = None
        proto = getattr(self, "protocol", None)       # a bare Dissector (tests) has none
        self.flow_protocol: str = proto.value if proto is not None else ""

    def memo_unused(self) -> MemoUnused | None:
        """After DONE: the bytes of each side's stream its facts, label and status did not depend on (None: that
        cannot be said for this flow). Only a dissector with ``memo`` set answers."""
        return None

    # -- helpers for subclasses ----------------------------------------------------------------------
    def fact(self, who: int, field: str, value: str, message: str, frame: int, ts: float,
             component: str | None = None, protocol: str | None = None) -> None:
        if value:
            if len(self.out) < MAX_OUT:
                self.out.append(Fact(who, field, value, message, component, frame, ts, protocol))
            else:
                self.anomaly(FACTS_CAP, frame, ts)

    def confirm(self, frame: int, ts: float, message: str) -> None:
        """A valid exchange was seen: the flow is this protocol."""
        if not self.confirmed:
            self.confirmed = True
            self.label(frame, ts, message)

    def label(self, frame: int, ts: float, message: str) -> None:
        """A well-formed PDU (framing and body both parse) was seen: label both ends of the flow. A capture
        may hold only one side of an exchange; the flow is still not *confirmed* until both sides are seen."""
        if not self.labelled:
            self.labelled = True
            self.fact(Who.CLIENT, "protocol", self.client_label, message, frame, ts)
            self.fact(Who.SERVER, "protocol", self.server_label, message, frame, ts)

    def anomaly(self, kind: StrEnum | str, frame: int, ts: float, detail: str = "") -> None:
        """Count an anomaly of a typed ``kind`` (the package's enum); ``detail`` (a code, a reason) is appended
        after a dash. The list is capped: its last place is kept for the cap's own anomaly."""
        anomalies = self.anomalies
        n = len(anomalies)
        if n < MAX_OUT - 1:
            text = f"{kind}-{detail}" if detail else str(kind)
            anomalies.append(Anomaly(text[:MAX_ANOMALY_CHARS], frame, ts))
        elif n == MAX_OUT - 1:
            anomalies.append(Anomaly(FACTS_CAP, frame, ts))

    def count(self, key: str, n: int = 1) -> None:
        prof = self.profile
        if key in prof or len(prof) < 48:
            prof[key] = prof.get(key, 0) + n

    def absorb(self, counts0: tuple[int, ...], counts1: tuple[int, ...], decoded: int) -> None:
        """Frames the C fast path counted with this dissector's spec (as feed() would have counted them)."""
        self.decoded += decoded
        prof = self.profile
        for names, counts in zip(self.SPEC_NAMES, (counts0, counts1)):
            for name, n in zip(names, counts):
                if not n or name is None:
                    continue
                for key in (name,) if isinstance(name, str) else name:
                    prof[key] = prof.get(key, 0) + n

    def offer_spec(self, key: tuple, spec: tuple | list | None) -> int:
        """Record the steady-state spec for the current conditions ``key``; NEWS when it changed."""
        if key == self._offered:
            return OK
        self._offered = key
        self.fast_spec = spec
        self.spec_changed = True
        return NEWS

    def fatal(self, reason: str) -> int:
        self.fatal_reason = reason
        return FATAL

    # -- contract ------------------------------------------------------------------------------------
    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def gap(self, side: int) -> None:
        """Bytes were lost in this direction (capture gap): drop any partial frame and resync."""


class StreamBuffer:
    """Per-direction buffer for a length-framed protocol over TCP, capped."""

    __slots__ = ("pending", "cap")

    def __init__(self, cap: int = 65536) -> None:
        self.pending = [b"", b""]
        self.cap = cap

    def join(self, side: int, data: bytes) -> bytes:
        prev = self.pending[side]
        if prev:
            self.pending[side] = b""
            return prev + data
        return data

    def keep(self, side: int, rest: bytes) -> bool:
        """Keep an incomplete tail; False when it exceeds the cap (the caller then resyncs)."""
        if len(rest) > self.cap:
            self.pending[side] = b""
            return False
        self.pending[side] = bytes(rest)
        return True

    def drop(self, side: int) -> None:
        self.pending[side] = b""


class L2Fact(NamedTuple):
    """A fact from a stateless frame dissector (ARP, LLDP, CDP, DHCP, DCP) about a MAC or an IP."""

    mac: str | None
    ip: str | None
    field: str
    value: str
    message: str
    component: str | None = None    # a child behind the sender (a BACnet device behind a router: bacnet:3:1d)
    protocol: str | None = None     # a fact source other than the frame's protocol (DHCP fingerprint rules)
    # for an action fact (contract.ACTION_FIELDS: a DCP Set writing a device's name): the MAC that asked for it,
    # so the events layer knows who did it
    client: str | None = None


class L2Binding(NamedTuple):
    """An IP-to-MAC binding announced on the wire (high confidence)."""

    ip: str
    mac: str
    message: str


class L2Anomaly(NamedTuple):
    """A malformed part of a frame whose other parts were still decoded (counted, like a parse error)."""

    kind: str


L2Output = list[L2Fact | L2Binding | L2Anomaly]


class FactsAbout(list):  # type: ignore[type-arg]
    """An L2Output about one sender; add() skips empty values (absent on the wire is not a fact)."""

    def __init__(self, mac: str | None, message: str, ip: str | None = None) -> None:
        super().__init__()
        self.mac, self.ip, self.message = mac, ip, message

    def add(self, field: str, value: str) -> None:
        if value:
            self.append(L2Fact(self.mac, self.ip, field, value, self.message))
