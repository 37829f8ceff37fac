"""The allow-list, enforced at the socket: every outgoing frame is parsed and checked before it is sent.

The protocol libraries (pymodbus, pycomm3, python-snap7) build the requests; none of them is trusted to send
only what we asked for. Each connection they use is a ``GuardedSocket``: a send must consist of whole frames of
its protocol (framed by their declared length: MBAP, ENIP encapsulation, TPKT), each frame must be one of the
read-only requests below, and each passes the safety gate (rate limit, stop switch, quiet window) on its own.
Anything else raises ``RequestRefused`` and no byte of that send reaches the wire.

The recorded transcript (what was sent and received, in order) is what the passive dissectors decode into facts.
"""

from __future__ import annotations

import errno
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from otscope.dissectors.base import Protocol
from otscope.domain import Side


class Proto(StrEnum):
    """The protocols active identification speaks (their names are the passive dissectors' protocol names)."""

    MODBUS = Protocol.MODBUS.value
    ENIP = Protocol.ENIP.value
    S7 = Protocol.S7COMM.value


class RequestRefused(Exception):
    """A library tried to send a frame outside the allow-list (or not a whole frame): nothing was sent."""


class PeerClosed(ConnectionResetError):
    """The peer closed the connection (EOF read twice) or sent more than the answer budget."""


@dataclass(frozen=True, slots=True)
class Allowed:
    """What one guarded connection may send (besides the protocol's fixed session frames)."""

    proto: Proto
    units: frozenset[int] = frozenset()          # Modbus unit ids
    slots: frozenset[int] = frozenset()          # CIP backplane slots for Unconnected Send
    szl_ids: frozenset[int] = frozenset({0x0011, 0x001C})


# --- Modbus (MODBUS Messaging on TCP/IP Implementation Guide V1.0b 3.1.3: MBAP; Application Protocol V1.1b3
# 6.13 FC17 Report Server ID, 6.21 FC43/14 Read Device Identification with read codes 1 basic, 2 regular,
# 3 extended; read code 4 (one specific object) and every other function code are refused)

MODBUS_READ_CODES = {1: "basic", 2: "regular", 3: "extended"}


def _modbus(frame: bytes, allowed: Allowed) -> str:
    if len(frame) < 8:
        raise RequestRefused("Modbus: shorter than an MBAP header and a function code")
    _tid, proto, length = struct.unpack_from(">HHH", frame)
    if proto != 0 or length != len(frame) - 6:
        raise RequestRefused("Modbus: MBAP protocol id or length wrong")
    unit, pdu = frame[6], frame[7:]
    if unit not in allowed.units:
        raise RequestRefused(f"Modbus: unit {unit} is not in the plan")
    fc = pdu[0]
    if fc == 0x11 and len(pdu) == 1:
        return f"Modbus FC17 Report Server ID unit {unit}"
    if fc == 0x2B and len(pdu) == 4 and pdu[1] == 0x0E and pdu[2] in MODBUS_READ_CODES:
        return f"Modbus FC43/14 Read Device Identification {MODBUS_READ_CODES[pdu[2]]} object {pdu[3]} unit {unit}"
    raise RequestRefused(f"Modbus: function code {fc} (0x{fc:02x}) is not an allowed identity read")


# --- EtherNet/IP (CIP Vol. 2 2-3 encapsulation header, 2-4 commands; CIP Vol. 1 2-4 message router request,
# 3-5.5.2 Unconnected_Send, C-1 logical and port segments; Identity object class 0x01, Connection Manager 0x06)

ENIP_HEADER = 24
ENIP_SESSION = {0x0065: "RegisterSession", 0x0066: "UnregisterSession", 0x0063: "ListIdentity"}
SEND_RR_DATA = 0x006F
GET_ATTRIBUTES_ALL = 0x01
UNCONNECTED_SEND = 0x52
CPF_NULL, CPF_UNCONNECTED = 0x0000, 0x00B2


def _logical(path: bytes) -> list[tuple[str, int]]:
    """A padded EPATH of logical segments: [(class|instance|attribute, value)] (8- and 16-bit formats)."""
    kinds = {0x20: "class", 0x24: "instance", 0x30: "attribute"}
    out, i = [], 0
    while i < len(path):
        seg = path[i]
        kind = kinds.get(seg & 0xFC)
        if kind is None:
            raise RequestRefused(f"CIP: path segment 0x{seg:02x} is not a logical class/instance")
        if seg & 0x03 == 0 and i + 2 <= len(path):
            out.append((kind, path[i + 1]))
            i += 2
        elif seg & 0x03 == 1 and i + 4 <= len(path):
            out.append((kind, path[i + 2] | path[i + 3] << 8))
            i += 4
        else:
            raise RequestRefused("CIP: truncated or unsupported path segment")
    return out


def _identity_gaa(mr: bytes) -> None:
    """A message router request that is Get_Attributes_All on Identity instance 1, nothing else."""
    if len(mr) < 2 or mr[0] != GET_ATTRIBUTES_ALL:
        raise RequestRefused(f"CIP: service 0x{mr[0] if mr else 0:02x} is not Get_Attributes_All")
    words = mr[1]
    if len(mr) != 2 + 2 * words:
        raise RequestRefused("CIP: Get_Attributes_All carries request data")
    if _logical(mr[2:2 + 2 * words]) != [("class", 0x01), ("instance", 1)]:
        raise RequestRefused("CIP: Get_Attributes_All not addressed to the Identity object instance 1")


def _route_slot(route: bytes) -> int:
    """The single backplane port segment (port 1, link = slot) of an Unconnected Send route path."""
    if len(route) != 2 or route[0] != 0x01:
        raise RequestRefused("CIP: the route path is not one backplane (port 1) segment")
    return route[1]


def _unconnected(mr: bytes, allowed: Allowed) -> str:
    if mr[0] == GET_ATTRIBUTES_ALL:
        _identity_gaa(mr)
        return "CIP Get_Attributes_All Identity 1/1"
    if mr[0] != UNCONNECTED_SEND:
        raise RequestRefused(f"CIP: service 0x{mr[0]:02x} is not an allowed identity read")
    words = mr[1]
    if _logical(mr[2:2 + 2 * words]) != [("class", 0x06), ("instance", 1)]:
        raise RequestRefused("CIP: Unconnected_Send not addressed to the Connection Manager")
    body = mr[2 + 2 * words:]
    if len(body) < 4:
        raise RequestRefused("CIP: Unconnected_Send truncated")
    size = struct.unpack_from("<H", body, 2)[0]
    embedded = body[4:4 + size]
    rest = body[4 + size + (size & 1):]
    if len(embedded) != size or len(rest) < 2:
        raise RequestRefused("CIP: Unconnected_Send truncated")
    route_words = rest[0]
    route = rest[2:2 + 2 * route_words]
    if len(rest) != 2 + 2 * route_words:
        raise RequestRefused("CIP: Unconnected_Send route path length wrong")
    _identity_gaa(embedded)
    slot = _route_slot(route)
    if slot not in allowed.slots:
        raise RequestRefused(f"CIP: backplane slot {slot} is not in the plan")
    return f"CIP Unconnected_Send to backplane slot {slot}: Get_Attributes_All Identity 1/1"


def _enip(frame: bytes, allowed: Allowed) -> str:
    if len(frame) < ENIP_HEADER:
        raise RequestRefused("EtherNet/IP: shorter than the encapsulation header")
    cmd, length = struct.unpack_from("<HH", frame)
    if length != len(frame) - ENIP_HEADER:
        raise RequestRefused("EtherNet/IP: encapsulation length wrong")
    data = frame[ENIP_HEADER:]
    if cmd in ENIP_SESSION:
        want = 4 if cmd == 0x0065 else 0
        if length != want:
            raise RequestRefused(f"EtherNet/IP: {ENIP_SESSION[cmd]} with unexpected data")
        return f"EtherNet/IP {ENIP_SESSION[cmd]}"
    if cmd != SEND_RR_DATA:
        raise RequestRefused(f"EtherNet/IP: command 0x{cmd:04x} is not allowed")
    # SendRRData: interface handle u32, timeout u16, CPF item count u16 = 2: null address + unconnected data
    if len(data) < 16:
        raise RequestRefused("EtherNet/IP: SendRRData truncated")
    count = struct.unpack_from("<H", data, 6)[0]
    t0, l0 = struct.unpack_from("<HH", data, 8)
    if count != 2 or t0 != CPF_NULL or l0 != 0:
        raise RequestRefused("EtherNet/IP: SendRRData without a null address item")
    t1, l1 = struct.unpack_from("<HH", data, 12)
    mr = data[16:]
    if t1 != CPF_UNCONNECTED or l1 != len(mr) or not mr:
        raise RequestRefused("EtherNet/IP: SendRRData without one unconnected data item")
    return "EtherNet/IP SendRRData " + _unconnected(mr, allowed)


# --- S7 (RFC 1006 TPKT; ISO 8073 COTP CR 0xE0, DT 0xF0, DR 0x80; S7comm job 0xF0 Setup Communication and
# userdata group 4 (CPU functions) subfunction 1 Read SZL, first request and follow-ups)

COTP_CR, COTP_DT, COTP_DR = 0xE0, 0xF0, 0x80
S7_ID, ROSCTR_JOB, ROSCTR_USERDATA = 0x32, 1, 7
SETUP_COMMUNICATION = 0xF0


def _s7(frame: bytes, allowed: Allowed) -> str:
    if len(frame) < 7 or frame[0] != 3 or frame[1] != 0 or struct.unpack_from(">H", frame, 2)[0] != len(frame):
        raise RequestRefused("S7: not one whole TPKT")
    li, kind = frame[4], frame[5] & 0xF0
    if kind == COTP_CR:
        return "COTP Connection Request"
    if kind == COTP_DR:
        return "COTP Disconnect Request"
    if kind != COTP_DT or li != 2 or frame[6] & 0x80 == 0:
        raise RequestRefused(f"S7: COTP PDU type 0x{frame[5]:02x} is not allowed")
    s7 = frame[7:]
    if len(s7) < 10 or s7[0] != S7_ID:
        raise RequestRefused("S7: the COTP data is not S7comm")
    rosctr = s7[1]
    plen, dlen = struct.unpack_from(">HH", s7, 6)
    params, data = s7[10:10 + plen], s7[10 + plen:10 + plen + dlen]
    if len(s7) != 10 + plen + dlen or not params:
        raise RequestRefused("S7: header lengths wrong")
    if rosctr == ROSCTR_JOB and params[0] == SETUP_COMMUNICATION and plen == 8 and dlen == 0:
        return "S7comm Setup Communication"
    if rosctr != ROSCTR_USERDATA:
        raise RequestRefused(f"S7: ROSCTR {rosctr} function 0x{params[0]:02x} is not allowed")
    # userdata parameter head: 00 01 12, length, method 0x11 (request), type<<4 | group, subfunction, sequence
    if plen not in (8, 12) or params[:3] != b"\x00\x01\x12" or params[4] != 0x11:
        raise RequestRefused("S7: userdata parameter is not a request")
    if params[5] != 0x44 or params[6] != 0x01:
        raise RequestRefused(f"S7: userdata group/subfunction 0x{params[5]:02x}/{params[6]} is not Read SZL")
    if len(data) >= 8 and data[0] == 0xFF and struct.unpack_from(">H", data, 2)[0] == 4:
        szl_id, index = struct.unpack_from(">HH", data, 4)
        if szl_id not in allowed.szl_ids:
            raise RequestRefused(f"S7: SZL 0x{szl_id:04x} is not an allowed identity list")
        return f"S7comm Read SZL 0x{szl_id:04x} index 0x{index:04x}"
    if plen == 12 and data[:1] == b"\x0a" and len(data) == 4:
        return "S7comm Read SZL follow-up"
    raise RequestRefused("S7: Read SZL request data malformed")


CHECKS: dict[Proto, Callable[[bytes, Allowed], str]] = {Proto.MODBUS: _modbus, Proto.ENIP: _enip, Proto.S7: _s7}


def frame_length(proto: Proto, buf: bytes) -> int | None:
    """The declared length of the frame at the start of ``buf`` (None: not even a header)."""
    if proto is Proto.MODBUS:
        return 6 + struct.unpack_from(">H", buf, 4)[0] if len(buf) >= 6 else None
    if proto is Proto.ENIP:
        return ENIP_HEADER + struct.unpack_from("<H", buf, 2)[0] if len(buf) >= 4 else None
    return struct.unpack_from(">H", buf, 2)[0] if len(buf) >= 4 else None


def split_frames(proto: Proto, data: bytes) -> list[bytes]:
    """A send's bytes as whole frames; anything else (a partial frame, trailing bytes) is refused."""
    frames, pos = [], 0
    while pos < len(data):
        n = frame_length(proto, data[pos:])
        if n is None or n <= 0 or pos + n > len(data):
            raise RequestRefused(f"{proto.value}: a send that is not whole frames")
        frames.append(data[pos:pos + n])
        pos += n
    return frames


def check_send(proto: Proto, data: bytes, allowed: Allowed) -> list[tuple[bytes, str]]:
    """Every frame of one send with what it is; RequestRefused for the whole send if one frame is not allowed."""
    frames = split_frames(proto, bytes(data))
    if not frames:
        raise RequestRefused("an empty send")
    return [(f, CHECKS[proto](f, allowed)) for f in frames]


# --- the guarded socket ---------------------------------------------------------------------------------

@dataclass(slots=True)
class Chunk:
    side: Side                 # TO_SERVER: we sent it; TO_CLIENT: the device did
    data: bytes
    ts: float
    step: int                  # the plan step it belongs to (for the per-step result and fact counts)


@dataclass(slots=True)
class Transcript:
    chunks: list[Chunk] = field(default_factory=list)
    step: int = -1
    received: int = 0
    reset: bool = False        # the peer reset or closed the connection
    timed_out: bool = False

    def bytes_in_step(self, step: int) -> int:
        return sum(len(c.data) for c in self.chunks if c.step == step and c.side is Side.TO_CLIENT)


SendGate = Callable[[str, bytes], None]     # called once per frame before it is sent (what it is, its bytes)
SentHook = Callable[[str, bytes], None]     # called once per frame the kernel took (for the audit log)


class GuardedSocket:
    """A connected TCP socket the libraries may use (send/sendall/recv and the few calls they make). Only the
    methods below exist: a library reaching for anything else (sendto, makefile...) fails loudly."""

    MAX_ANSWER = 1 << 20        # bytes received per connection at most: a device streaming garbage is cut off

    def __init__(self, sock: socket.socket, proto: Proto, allowed: Allowed, gate: SendGate,
                 transcript: Transcript, clock: Callable[[], float] = time.time,
                 on_sent: SentHook | None = None, answer_window: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._sock, self.proto, self.allowed, self.gate = sock, proto, allowed, gate
        self.transcript, self.clock, self.on_sent = transcript, clock, on_sent
        # an answer must be complete within this many seconds of the last request: a device trickling bytes
        # (one every few seconds, each inside the socket timeout) cannot hold a library's read loop for ever
        self.answer_window, self.monotonic = answer_window, monotonic
        self._deadline: float | None = None
        self._eof = 0

    # sending: checked, gated and recorded frame by frame
    def sendall(self, data: bytes) -> None:
        for frame, what in check_send(self.proto, bytes(data), self.allowed):
            self.gate(what, frame)
            try:
                self._sock.sendall(frame)
            except ConnectionError:
                self.transcript.reset = True
                raise
            self.transcript.chunks.append(Chunk(Side.TO_SERVER, frame, self.clock(), self.transcript.step))
            if self.answer_window is not None:
                self._deadline = self.monotonic() + self.answer_window
            if self.on_sent is not None:
                self.on_sent(what, frame)

    def send(self, data: bytes) -> int:
        self.sendall(data)
        return len(data)

    def recv(self, n: int, flags: int = 0) -> bytes:
        if flags & socket.MSG_PEEK:          # python-snap7's liveness check: nothing is consumed or recorded
            return self._sock.recv(1, socket.MSG_PEEK)
        if flags:
            raise RequestRefused("recv flags other than MSG_PEEK")
        if self.transcript.received >= self.MAX_ANSWER:
            raise PeerClosed(errno.ECONNRESET, "answer budget exceeded")
        if self._deadline is not None and self.monotonic() > self._deadline:
            self.transcript.timed_out = True
            raise TimeoutError(f"the answer took longer than {self.answer_window:g} s")
        try:
            data = self._sock.recv(min(n, 65536))
        except ConnectionResetError:
            self.transcript.reset = True
            raise
        except (TimeoutError, socket.timeout):
            self.transcript.timed_out = True
            raise
        except BlockingIOError:
            raise
        if not data:
            self.transcript.reset = True
            self._eof += 1
            if self._eof > 1:          # pycomm3 would loop on an EOF forever: the second one is an error
                raise PeerClosed(errno.ECONNRESET, "connection closed by the device")
            return b""
        self.transcript.received += len(data)
        self.transcript.chunks.append(Chunk(Side.TO_CLIENT, data, self.clock(), self.transcript.step))
        return data

    # what the libraries also call
    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def settimeout(self, value: float | None) -> None:
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._sock.gettimeout()

    def setsockopt(self, *args: object) -> None:
        self._sock.setsockopt(*args)  # type: ignore[arg-type]

    def getsockname(self) -> tuple:
        return self._sock.getsockname()

    def getpeername(self) -> tuple:
        return self._sock.getpeername()

    def close(self) -> None:
        self._sock.close()
