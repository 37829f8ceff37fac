"""Omron FINS per-flow state: UDP (one frame per datagram) and FINS/TCP (16-byte header, framed by its length).

Confirmation: a response (ICF bit 6) whose SID answers a request seen earlier on the flow, with a command code
the manual lists (W342 FINS header: the responder returns the command's SID). Before that, a datagram that is not a FINS
frame (reserved ICF bits, RSV not 0, cut header, unknown command) detaches the dissector. After it, a bad frame
or an unknown command is a counted anomaly (unknown codes keep their number) and the flow goes on. FINS/TCP is
also confirmed by its node-address handshake (client command 0 answered by server command 1).

Who is who: FINS is peer to peer (a PLC can send commands too), so every frame speaks for its sender: a request's
sender is a FINS client (``fins-client``), a response's sender the server (``fins-server``, the PLC), whichever
side of the flow it travels on. A control command (RUN, STOP, program write...) is a ``control_action`` about
the receiver of the request. Pending requests are bounded (caps().pending_requests, by SID).
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Dissector, Malformed, Protocol, StreamBuffer, \
    Transport, Truncated, Who
from otscope.dissectors.fins import facts
from otscope.dissectors.fins.constants import (COMMANDS, CONTROL_ACTIONS, FINS_PORT, MAX_FINS_FRAME, MAX_NODES,
                                               MAX_RESYNC, RUN_MODES, TCP_HEADER_LEN, TCP_MAX_LENGTH, Command,
                                               FinsAnomaly, TcpCommand, command_name, end_code_text)
from otscope.dissectors.fins.grammar import Frame, parse_frame, parse_node_addresses, parse_tcp_header
from otscope.domain import caps

MAX_PENDING = caps().pending_requests
_TCP_COMMANDS = frozenset(TcpCommand)
CLIENT_LABEL, SERVER_LABEL = "fins-client", "fins-server"


class FinsUdp(Dissector):
    protocol: ClassVar[Protocol] = Protocol.FINS
    transport: ClassVar[Transport] = Transport.UDP
    ports: ClassVar[tuple[int, ...]] = (FINS_PORT,)
    client_label: ClassVar[str] = CLIENT_LABEL
    server_label: ClassVar[str] = SERVER_LABEL

    __slots__ = ("pending", "nodes", "said", "resync")

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[int, tuple[int, int]] = {}   # SID -> (command, sender) of a request waiting for its answer
        self.nodes: set[tuple[int, str]] = set()   # (who, node address) already reported (bounded)
        self.said: set[tuple[int, str]] = set()    # (who, label) already reported
        self.resync = 0

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        if len(data) > MAX_FINS_FRAME:
            return self._bad(FinsAnomaly.BAD_HEADER, f"datagram of {len(data)} bytes", frame, ts)
        return self.fins(data, side, ts, frame)

    def label(self, frame: int, ts: float, message: str) -> None:
        """Labels go to the sender of each message (_say), not to both ends at once."""
        self.labelled = True

    # -- one FINS frame ----------------------------------------------------------------------------------------
    def fins(self, data: bytes, side: int, ts: float, frame: int) -> int:
        try:
            f = parse_frame(data)
        except Truncated as exc:
            return self._bad(FinsAnomaly.SHORT_FRAME, str(exc), frame, ts)
        except Malformed as exc:
            return self._bad(FinsAnomaly.BAD_HEADER, str(exc), frame, ts)
        name = command_name(f.command)
        if f.command not in COMMANDS:
            if not self.confirmed:
                return self.fatal(f"not fins (command 0x{f.command:04x} before a valid exchange)")
            self.anomaly(FinsAnomaly.UNKNOWN_COMMAND, frame, ts, name)
        self.decoded += len(data)
        self.resync = 0
        sender = Who.CLIENT if side == 0 else Who.SERVER
        if f.is_response:
            self._response(f, name, sender, ts, frame)
        else:
            self._request(f, name, sender, ts, frame)
        return OK

    def _bad(self, kind: FinsAnomaly, detail: str, frame: int, ts: float) -> int:
        if not self.confirmed:
            return self.fatal(f"not fins ({kind}: {detail})")
        self.anomaly(kind, frame, ts, detail)
        return OK

    def _request(self, f: Frame, name: str, sender: Who, ts: float, frame: int) -> None:
        self.count(name)
        if f.response_required:
            pending = self.pending
            if len(pending) >= MAX_PENDING and f.sid not in pending:
                pending.clear()
                self.anomaly(FinsAnomaly.PENDING_REQUESTS_CAP, frame, ts)
            pending[f.sid] = (f.command, sender)
        msg = f"FINS {name} request (SID 0x{f.sid:02x})"
        if self.confirmed:
            self._say(sender, CLIENT_LABEL, msg, frame, ts)
        self._node(sender, f, msg, frame, ts)
        action = CONTROL_ACTIONS.get(f.command)     # type: ignore[call-overload]
        if action is not None:
            if f.command == Command.RUN and len(f.data) >= 3:
                mode = f.data[2]
                action = f"run ({RUN_MODES[mode]} mode)" if mode in RUN_MODES else f"run (mode 0x{mode:02x})"
            receiver = Who.SERVER if sender == Who.CLIENT else Who.CLIENT
            self.fact(receiver, "control_action", action, f"FINS 0x{f.command:04x} {msg}", frame, ts)
            self.fact(sender, "role_hint", "engineering-workstation", f"FINS {action} command", frame, ts)

    def _response(self, f: Frame, name: str, sender: Who, ts: float, frame: int) -> None:
        req = self.pending.pop(f.sid, None)
        msg = f"FINS {name} response (SID 0x{f.sid:02x})"
        if req is None:
            if not self.confirmed:
                return                          # an answer to a request we did not see: wait for a pair
            self.count("response unmatched")
        elif not self.confirmed:
            self.confirm(frame, ts, msg)
            self._say(Who(req[1]), CLIENT_LABEL, msg, frame, ts)    # the one that asked
        elif req[0] != f.command:
            self.count("response for another command")
        self._say(sender, SERVER_LABEL, msg, frame, ts)
        self._node(sender, f, msg, frame, ts)
        mres, sres = f.end_code or (0, 0)
        code = end_code_text(mres, sres)
        if code != "0x0000":
            self.count(f"{name} end code {code}")
            return
        try:
            facts.response(self, f, sender, msg, frame, ts)
        except (Truncated, Malformed) as exc:
            self.anomaly(FinsAnomaly.SHORT_RESPONSE, frame, ts, f"{name}: {exc}")

    def _say(self, who: Who, label: str, msg: str, frame: int, ts: float) -> None:
        key = (int(who), label)
        if key not in self.said:
            self.said.add(key)
            self.fact(who, "protocol", label, msg, frame, ts)

    def _node(self, who: Who, f: Frame, msg: str, frame: int, ts: float) -> None:
        """The sender's own FINS address (SNA/SA1/SA2): a request's destination may be behind a gateway."""
        addr = str(f.src)
        key = (int(who), addr)
        if key in self.nodes:
            return
        if len(self.nodes) >= MAX_NODES:
            self.anomaly(FinsAnomaly.NODES_LIMIT, frame, ts)
            return
        self.nodes.add(key)
        self.fact(who, "fins_node", addr, f"{msg}: source network.node.unit", frame, ts)


class FinsTcp(FinsUdp):
    """FINS/TCP (W421, FINS/TCP headers): the 16-byte header, framed by its length field."""

    transport: ClassVar[Transport] = Transport.TCP

    __slots__ = ("buf",)

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(cap=2 * TCP_MAX_LENGTH)

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while n - pos >= TCP_HEADER_LEN:
            try:
                h = parse_tcp_header(data, pos)
            except (Truncated, Malformed) as exc:
                return self._lost(FinsAnomaly.BAD_TCP_HEADER, str(exc), side, frame, ts)
            if not 8 <= h.length <= TCP_MAX_LENGTH:
                return self._lost(FinsAnomaly.BAD_TCP_HEADER, f"length {h.length}", side, frame, ts)
            end = pos + 8 + h.length
            if end > n:
                break
            status = self._tcp(h.command, h.error, data[pos + TCP_HEADER_LEN:end], side, ts, frame)
            if status == FATAL:
                return FATAL
            pos = end
        if pos < n:
            if not self.buf.keep(side, data[pos:]):
                return self._lost(FinsAnomaly.BUFFER_OVERFLOW, "", side, frame, ts)
            return INCOMPLETE
        return OK

    def gap(self, side: int) -> None:
        self.buf.drop(side)

    def _lost(self, kind: FinsAnomaly, detail: str, side: int, frame: int, ts: float) -> int:
        self.buf.drop(side)
        if not self.confirmed:
            return self.fatal(f"not fins/tcp ({kind} {detail})")
        self.anomaly(kind, frame, ts, detail)
        self.resync += 1
        return self.fatal(f"lost framing ({kind})") if self.resync >= MAX_RESYNC else OK

    def _tcp(self, command: int, error: int, body: bytes, side: int, ts: float, frame: int) -> int:
        if command not in _TCP_COMMANDS:
            if not self.confirmed:
                return self.fatal(f"not fins/tcp (command {command})")
            self.anomaly(FinsAnomaly.UNKNOWN_TCP_COMMAND, frame, ts, str(command))
            return OK
        if error:
            self.count(f"tcp error 0x{error:08x}")
            if command != TcpCommand.FRAME_SEND_ERROR:
                self.anomaly(FinsAnomaly.TCP_ERROR, frame, ts, f"0x{error:08x}")
        if command == TcpCommand.FRAME_SEND:
            self.decoded += TCP_HEADER_LEN
            return self.fins(body, side, ts, frame)
        self.decoded += TCP_HEADER_LEN + len(body)
        name = TcpCommand(command).name.lower().replace("_", "-")
        self.count(f"tcp {name}")
        if command == TcpCommand.SERVER_NODE_ADDRESS and side == 1:
            try:
                client, server = parse_node_addresses(body)
            except Truncated:
                return OK
            msg = "FINS/TCP node address data send (server)"
            if self.pending.pop(-1, None) is not None and not self.confirmed:
                self.confirm(frame, ts, msg)
                self._say(Who.CLIENT, CLIENT_LABEL, msg, frame, ts)
            if self.confirmed:
                self._say(Who.SERVER, SERVER_LABEL, msg, frame, ts)
            self.fact(Who.CLIENT, "fins_tcp_node", str(client), msg, frame, ts)
            if server is not None:
                self.fact(Who.SERVER, "fins_tcp_node", str(server), msg, frame, ts)
        elif command == TcpCommand.CLIENT_NODE_ADDRESS and side == 0:
            self.pending[-1] = (command, Who.CLIENT)   # the handshake's request (no FINS SID is -1)
        return OK
