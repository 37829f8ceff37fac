"""MELSEC SLMP / MC protocol per-flow state (3E/4E, binary/ASCII, TCP and UDP), and the MELSOFT datagram.

Framing is by the header's data length (SLMP, message format). A 3E response carries no command and no serial: it answers
the oldest pending request (the protocol is strictly request/response per connection); a 4E response names its
request by the serial number. Confirmation: a response that answers a request seen on the flow. Before it, a
subheader that is not SLMP, a data length out of bounds or an unknown command detaches the dissector; after it,
the same are counted anomalies, an unknown command keeps its number and the flow goes on.

Every frame speaks for its sender: a request's sender is ``melsec-client``, a response's sender the server
(``melsec-server``, the CPU or its Ethernet module). Remote RUN/STOP/PAUSE/LATCH CLEAR/RESET are
``control_action`` facts about the receiver of the request.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Dissector, Malformed, Protocol, StreamBuffer, \
    Transport, Truncated, Who
from otscope.dissectors.melsec import facts
from otscope.dissectors.melsec.constants import (COMMANDS, CONTROL_ACTIONS, DEVICE_COMMANDS, MAX_DATA_LEN,
                                                 DIRECTION_PORTS, HINT_PORTS, MAX_RESYNC, MELSOFT_UDP_PORT,
                                                 Command,
                                                 MelsecAnomaly, command_name)
from otscope.dissectors.melsec.grammar import Layout, Message, device_of, frame_size, parse_melsoft, parse_message
from otscope.domain import caps

CLIENT_LABEL, SERVER_LABEL = "melsec-client", "melsec-server"
MAX_PENDING = caps().pending_requests      # requests waiting for their answer (3E in order, 4E by serial)


class _Speaker(Dissector):
    """Labels by sender (a request's sender is a client, a response's sender a server)."""

    __slots__ = ("said",)

    def __init__(self) -> None:
        super().__init__()
        self.said: set[tuple[int, str]] = set()

    def label(self, frame: int, ts: float, message: str) -> None:
        self.labelled = True

    def _say(self, who: Who, label: str, msg: str, frame: int, ts: float) -> None:
        key = (int(who), label)
        if key not in self.said:
            self.said.add(key)
            self.fact(who, "protocol", label, msg, frame, ts)


class MelsecTcp(_Speaker):
    protocol: ClassVar[Protocol] = Protocol.MELSEC
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = DIRECTION_PORTS
    client_label: ClassVar[str] = CLIENT_LABEL
    server_label: ClassVar[str] = SERVER_LABEL

    __slots__ = ("buf", "fifo", "by_serial", "resync")

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(cap=4 * MAX_DATA_LEN)
        self.fifo: deque[tuple[int, int, int]] = deque()      # 3E: (command, subcommand, sender) in order
        self.by_serial: dict[int, tuple[int, int, int]] = {}  # 4E: serial -> (command, subcommand, sender)
        self.resync = 0

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while pos < n:
            try:
                lay = frame_size(data, pos)
            except Truncated:
                break
            except Malformed as exc:
                return self._lost(MelsecAnomaly.UNKNOWN_SUBHEADER if "subheader" in str(exc)
                                  else MelsecAnomaly.BAD_LENGTH, str(exc), side, frame, ts)
            end = pos + lay.size
            if end > n:
                break
            if self.message(data[pos:end], lay, side, ts, frame) == FATAL:
                return FATAL
            pos = end
        if pos < n:
            if not self.buf.keep(side, data[pos:]):
                return self._lost(MelsecAnomaly.BUFFER_OVERFLOW, "", side, frame, ts)
            return INCOMPLETE
        return OK

    def gap(self, side: int) -> None:
        self.buf.drop(side)

    def _lost(self, kind: MelsecAnomaly, detail: str, side: int, frame: int, ts: float) -> int:
        self.buf.drop(side)
        if not self.confirmed:
            return self.fatal(f"not slmp ({kind} {detail})")
        self.anomaly(kind, frame, ts, detail)
        self.resync += 1
        return self.fatal(f"lost framing ({kind})") if self.resync >= MAX_RESYNC else OK

    # -- one frame -------------------------------------------------------------------------------------------
    def message(self, raw: bytes, lay: Layout, side: int, ts: float, frame: int) -> int:
        try:
            m = parse_message(raw, lay)
        except (Truncated, Malformed) as exc:
            if not self.confirmed:
                return self.fatal(f"not slmp ({exc})")
            self.anomaly(MelsecAnomaly.BAD_ASCII, frame, ts, str(exc))
            return OK
        sender = Who.CLIENT if side == 0 else Who.SERVER
        if m.command is not None and m.command not in COMMANDS:
            if not self.confirmed:
                return self.fatal(f"not slmp (command 0x{m.command:04x} before a valid exchange)")
            self.anomaly(MelsecAnomaly.UNKNOWN_COMMAND, frame, ts, command_name(m.command))
        self.decoded += lay.size
        self.resync = 0
        if lay.is_response:
            self._response(m, sender, ts, frame)
        else:
            self._request(m, sender, ts, frame)
        return OK

    def _frame_name(self, m: Message) -> str:
        lay = m.layout
        return f"{'4E' if lay.is_4e else '3E'} {'ASCII' if lay.ascii else 'binary'}"

    def _request(self, m: Message, sender: Who, ts: float, frame: int) -> None:
        cmd, sub = m.command or 0, m.subcommand or 0
        name = command_name(cmd)
        self.count(name)
        if cmd in DEVICE_COMMANDS:
            try:
                self.count(f"{name} {device_of(m.data, m.layout.ascii, sub)}")
            except Truncated:
                self.anomaly(MelsecAnomaly.SHORT_REQUEST, frame, ts, name)
        entry = (cmd, sub, int(sender))
        if m.serial is not None:
            if len(self.by_serial) >= MAX_PENDING and m.serial not in self.by_serial:
                self.by_serial.clear()
                self.anomaly(MelsecAnomaly.PENDING_REQUESTS_CAP, frame, ts)
            self.by_serial[m.serial] = entry
        else:
            if len(self.fifo) >= MAX_PENDING:
                self.fifo.clear()
                self.anomaly(MelsecAnomaly.PENDING_REQUESTS_CAP, frame, ts)
            self.fifo.append(entry)
        msg = f"SLMP {self._frame_name(m)} {name} request"
        if self.confirmed:
            self._say(sender, CLIENT_LABEL, msg, frame, ts)
        action = CONTROL_ACTIONS.get(cmd)           # type: ignore[call-overload]
        if action is not None:
            receiver = Who.SERVER if sender == Who.CLIENT else Who.CLIENT
            self.fact(receiver, "control_action", action, f"{msg} (command 0x{cmd:04x})", frame, ts)
            self.fact(sender, "role_hint", "engineering-workstation", f"SLMP {action} command", frame, ts)

    def _response(self, m: Message, sender: Who, ts: float, frame: int) -> None:
        if m.serial is not None:
            req = self.by_serial.pop(m.serial, None)
        else:
            req = self.fifo.popleft() if self.fifo else None
        if req is None:
            if self.confirmed:
                self.count("response unmatched")
            return                                  # an answer to a request we did not see
        cmd, _sub, asker = req
        name = command_name(cmd)
        msg = f"SLMP {self._frame_name(m)} {name} response"
        if not self.confirmed:
            self.confirm(frame, ts, msg)
            self._say(Who(asker), CLIENT_LABEL, msg, frame, ts)
        self._say(sender, SERVER_LABEL, msg, frame, ts)
        if m.end_code:
            self.count(f"{name} end code 0x{m.end_code:04x}")
            return
        if cmd == Command.READ_CPU_MODEL:
            try:
                facts.cpu_model(self, m, sender, msg, frame, ts)
            except (Truncated, Malformed) as exc:
                self.anomaly(MelsecAnomaly.SHORT_RESPONSE, frame, ts, f"{name}: {exc}")


class MelsecUdp(MelsecTcp):
    """SLMP over UDP: one whole frame per datagram; its data length must be the datagram's."""

    transport: ClassVar[Transport] = Transport.UDP

    __slots__ = ()

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        try:
            lay = frame_size(data)
        except (Truncated, Malformed) as exc:
            return self._bad(str(exc), frame, ts)
        if lay.size != len(data):
            return self._bad(f"data length for {lay.size} bytes in a datagram of {len(data)}", frame, ts)
        return self.message(data, lay, side, ts, frame)

    def _bad(self, detail: str, frame: int, ts: float) -> int:
        if not self.confirmed:
            return self.fatal(f"not slmp ({detail})")
        self.anomaly(MelsecAnomaly.BAD_LENGTH, frame, ts, detail)
        return OK


class MelsecTcpHint(MelsecTcp):
    """SLMP on the other customary ports (the spec's entry that decides no flow's direction)."""

    ports: ClassVar[tuple[int, ...]] = HINT_PORTS
    __slots__ = ()


class MelsecUdpHint(MelsecUdp):
    ports: ClassVar[tuple[int, ...]] = HINT_PORTS
    __slots__ = ()


class MelsoftUdp(_Speaker):
    """The MELSOFT datagram GX Works3 and an iQ-F CPU exchange on udp/5560 (often as broadcasts: each direction
    is then its own flow). No public specification: each datagram validates itself (subheader, a length that
    counts exactly the body, the response bit in the body's first byte), so one is enough to label its sender.
    The 4-byte discovery datagrams (5A 00 00 xx / DA ...) are counted, never labelled."""

    protocol: ClassVar[Protocol] = Protocol.MELSOFT
    transport: ClassVar[Transport] = Transport.UDP
    ports: ClassVar[tuple[int, ...]] = (MELSOFT_UDP_PORT,)
    client_label: ClassVar[str] = "melsoft-client"
    server_label: ClassVar[str] = "melsoft-server"

    __slots__ = ("seen",)

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        if len(data) >= 4 and data[0] in (0x5A, 0xDA) and data[1] == 0 and data[2] == 0:
            self.count("discovery response" if data[0] == 0xDA else "discovery")
            return OK
        try:
            m = parse_melsoft(data)
        except (Truncated, Malformed) as exc:
            if not self.seen:
                return self.fatal(f"not melsoft ({exc})")
            self.anomaly(MelsecAnomaly.BAD_LENGTH, frame, ts, str(exc))
            return OK
        self.seen = True
        self.decoded += len(data)
        sender = Who.CLIENT if side == 0 else Who.SERVER
        kind = "response" if m.is_response else "request"
        msg = f"MELSOFT command 0x{m.command:04x} {kind}"
        self.count(f"0x{m.command:04x}" + (" response" if m.is_response else ""))
        if not self.confirmed:
            self.confirm(frame, ts, msg)
        self._say(sender, self.server_label if m.is_response else self.client_label, msg, frame, ts)
        try:
            facts.melsoft(self, m, sender, msg, frame, ts)
        except (Truncated, Malformed) as exc:
            self.anomaly(MelsecAnomaly.SHORT_RESPONSE, frame, ts, str(exc))
        return OK
