"""ADS/AMS per-flow state: framing by the AMS/TCP length, request/response matching by invoke id, client and
server from the messages, the function profile; and the UDP discovery / add-route service.

Framing is by the AMS/TCP length first (ADS specification, AMS/TCP header). Only the fixed head of an ADS body
is kept (``BODY_KEEP`` bytes); the rest of a long Read/Write/notification is skipped by its length, never
buffered. Before the flow is confirmed (a request and its response with the same invoke id and command), a
header that is not AMS (reserved field set, length out of bounds, data length disagreeing with the AMS/TCP
length, no ADS command bit, an unknown command) detaches the dissector. After confirmation such a frame is an
anomaly and is skipped by its length (``MAX_RESYNC`` in a row give the flow up).

Client and server: tcp/48898 does not decide direction (AMS routers connect from either end), so every
message says who its sender is: the sender of an ADS request (state flag RESPONSE clear) is an ads-client, the
sender of a response an ads-server; a Device Notification is the server pushing data to a client that
subscribed, so its sender is the server. A router-to-router connection can carry both.
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.ads import facts
from otscope.dissectors.ads.constants import (AMS_HEADER_LEN, AMS_PORTS, AMS_TCP_HEADER_LEN, AMS_TCP_PORT,
                                              AMS_UDP_PORT, BODY_KEEP, CONTROL_ACTIONS, FRAME_HEAD, INDEX_GROUPS,
                                              MAX_AMS_LENGTH, MAX_NETIDS, MAX_RESYNC, SF_ADSCMD, SF_RESPONSE,
                                              AdsAnomaly, AdsState, Command, UdpService, command_name, state_name)
from otscope.dissectors.ads.grammar import (AmsHeader, UdpMessage, parse_ams_header, parse_device_info,
                                            parse_index_request, parse_read_state, parse_result, parse_tcp_header,
                                            parse_udp, parse_write_control)
from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Dissector, Malformed, Protocol, StreamBuffer, \
    Transport, Truncated, Who
from otscope.domain import caps

MAX_PENDING = caps().pending_requests
_COMMANDS = frozenset(int(c) for c in Command if c != Command.INVALID)
_INDEXED = frozenset({Command.READ, Command.WRITE, Command.READ_WRITE, Command.ADD_DEVICE_NOTIFICATION})
CLIENT, SERVER = 1, 2           # role bits per side
_LABELS = {CLIENT: "ads-client", SERVER: "ads-server"}


class _AdsBase(Dissector):
    """What the TCP and UDP dissectors share: per-side roles, NetIds and AMS ports, pending requests."""

    __slots__ = ("pending", "roles", "netids", "amsports")

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[tuple[int, int], tuple] = {}     # (requester side, invoke id) -> (command, ...)
        self.roles = [0, 0]
        self.netids: tuple[set[str], set[str]] = (set(), set())
        self.amsports: tuple[set[int], set[int]] = (set(), set())

    def role(self, side: int, bit: int, why: str, frame: int, ts: float) -> None:
        """The sender of ``side`` acts as client (it asks) or server (it answers): its label, once."""
        if not self.roles[side] & bit:
            self.roles[side] |= bit
            self.labelled = True
            self.fact(Who(side), "protocol", _LABELS[bit], why, frame, ts)

    def netid(self, side: int, nid: str, why: str, frame: int, ts: float) -> None:
        seen = self.netids[side]
        if nid in seen or nid == "0.0.0.0.0.0":
            return
        if len(seen) >= MAX_NETIDS:
            self.anomaly(AdsAnomaly.NETIDS_LIMIT, frame, ts)
            return
        seen.add(nid)
        self.fact(Who(side), "ads_netid", nid, why, frame, ts)

    def amsport(self, side: int, port: int, why: str, frame: int, ts: float) -> None:
        seen = self.amsports[side]
        if port in seen or len(seen) >= MAX_NETIDS:
            return
        seen.add(port)
        self.fact(Who(side), "ads_port", str(port), why, frame, ts)

    def remember(self, key: tuple[int, int], value: tuple, frame: int, ts: float) -> None:
        pending = self.pending
        if len(pending) >= MAX_PENDING and key not in pending:
            pending.clear()
            self.anomaly(AdsAnomaly.PENDING_REQUESTS_CAP, frame, ts)
        pending[key] = value


class AdsTcp(_AdsBase):
    protocol: ClassVar[Protocol] = Protocol.ADS
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = (AMS_TCP_PORT,)
    client_label: ClassVar[str] = "ads-client"
    server_label: ClassVar[str] = "ads-server"

    __slots__ = ("buf", "skip", "resync")

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(cap=2 * (FRAME_HEAD + BODY_KEEP))
        self.skip = [0, 0]                  # bytes of a long body still to pass over, per side
        self.resync = 0

    # -- framing ---------------------------------------------------------------------------------------------
    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        skip = self.skip[side]
        if skip:
            if len(data) <= skip:
                self.skip[side] = skip - len(data)
                self.decoded += len(data)
                return OK
            self.skip[side] = 0
            self.decoded += skip
            data = data[skip:]
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while n - pos >= AMS_TCP_HEADER_LEN:
            reserved, length = parse_tcp_header(data, pos)
            if reserved or not AMS_HEADER_LEN <= length <= MAX_AMS_LENGTH:
                kind = AdsAnomaly.BAD_RESERVED if reserved else AdsAnomaly.BAD_LENGTH
                return self._bad_frame(kind, f"reserved 0x{reserved:04x} length {length}", side, ts, frame)
            total = AMS_TCP_HEADER_LEN + length
            avail = n - pos
            if avail < min(total, FRAME_HEAD + BODY_KEEP):
                break
            h = parse_ams_header(data, pos + AMS_TCP_HEADER_LEN)
            body = bytes(data[pos + FRAME_HEAD:pos + min(total, avail, FRAME_HEAD + BODY_KEEP)])
            status = self._message(h, length - AMS_HEADER_LEN, body, side, ts, frame)
            if status == FATAL:
                self.buf.drop(side)
                return FATAL
            if total > avail:               # the rest of a long body arrives later: pass over it
                self.skip[side] = total - avail
                self.decoded += avail
                pos = n
                break
            self.decoded += total
            pos += total
        self.resync = 0
        if pos < n:
            if not self.buf.keep(side, data[pos:]):
                return self._bad_frame(AdsAnomaly.BAD_LENGTH, "buffered head over the cap", side, ts, frame)
            return INCOMPLETE
        self.buf.drop(side)
        return OK

    def gap(self, side: int) -> None:
        self.buf.drop(side)
        self.skip[side] = 0

    def _bad_frame(self, kind: AdsAnomaly, why: str, side: int, ts: float, frame: int) -> int:
        self.buf.drop(side)
        self.skip[side] = 0
        if not self.confirmed:
            return self.fatal(f"not ads ({kind}: {why})")
        self.anomaly(kind, frame, ts)
        self.resync += 1
        return self.fatal(f"lost framing ({kind})") if self.resync >= MAX_RESYNC else OK

    # -- messages --------------------------------------------------------------------------------------------
    def _check(self, h: AmsHeader, data_len: int) -> tuple[AdsAnomaly, str] | None:
        if h.length != data_len:
            return AdsAnomaly.LENGTH_MISMATCH, f"cbData {h.length}, AMS/TCP says {data_len}"
        if not h.flags & SF_ADSCMD:
            return AdsAnomaly.NOT_ADS_COMMAND, f"state flags 0x{h.flags:04x}"
        if h.command not in _COMMANDS:
            return AdsAnomaly.UNKNOWN_COMMAND, f"0x{h.command:04x}"
        return None

    def _message(self, h: AmsHeader, data_len: int, body: bytes, side: int, ts: float, frame: int) -> int:
        bad = self._check(h, data_len)
        if bad is not None:
            kind, why = bad
            if not self.confirmed:
                return self.fatal(f"not ads ({kind}: {why})")
            self.anomaly(kind, frame, ts, why if kind == AdsAnomaly.UNKNOWN_COMMAND else "")
            if kind != AdsAnomaly.LENGTH_MISMATCH:
                self.count(f"command {command_name(h.command)} flags 0x{h.flags:04x}")
                return OK                   # skipped by its AMS/TCP length
        self.netid(side, h.source, "AMS header source NetId", frame, ts)
        try:
            if h.flags & SF_RESPONSE:
                self._response(h, body, side, ts, frame)
            else:
                self._request(h, body, side, ts, frame)
        except Truncated:
            self.anomaly(AdsAnomaly.SHORT_BODY, frame, ts, command_name(h.command))
        return OK

    def _request(self, h: AmsHeader, body: bytes, side: int, ts: float, frame: int) -> None:
        cmd = h.command
        name = command_name(cmd)
        if cmd == Command.DEVICE_NOTIFICATION:      # the server pushes what a client subscribed to
            self.count(name)
            self.role(side, SERVER, "ADS Device Notification sender (pushes subscribed data)", frame, ts)
            return
        self.role(side, CLIENT, f"ADS {name} request (AMS invoke id {h.invoke})", frame, ts)
        self.remember((side, h.invoke), (cmd, h.target_port), frame, ts)
        if cmd in _INDEXED:
            req = parse_index_request(body)
            group = INDEX_GROUPS.get(req.group)
            self.count(f"{name} {group}" if group else name)
        elif cmd == Command.WRITE_CONTROL:
            self._write_control(h, body, side, ts, frame)
        else:
            self.count(name)

    def _write_control(self, h: AmsHeader, body: bytes, side: int, ts: float, frame: int) -> None:
        st = parse_write_control(body)
        state = state_name(st.ads_state)
        action = CONTROL_ACTIONS.get(st.ads_state, "set state")   # type: ignore[call-overload]
        self.count(f"write-control {state}")
        msg = f"ADS Write Control request: ADS state {state}, device state {st.device_state}"
        peer = Who(1 - side)
        self.fact(peer, "control_action", f"{action} (ADS state {state}, AMS port {h.target_port})", msg, frame, ts)
        self.fact(Who(side), "role_hint", "engineering-workstation", msg, frame, ts)

    def _response(self, h: AmsHeader, body: bytes, side: int, ts: float, frame: int) -> None:
        cmd = h.command
        name = command_name(cmd)
        self.role(side, SERVER, f"ADS {name} response (AMS invoke id {h.invoke})", frame, ts)
        port = AMS_PORTS.get(h.source_port)
        where = f"AMS port {h.source_port}" + (f", {port}" if port else "")
        self.amsport(side, h.source_port, f"ADS {name} response from {where}", frame, ts)
        req = self.pending.pop((1 - side, h.invoke), None)
        if req is not None and req[0] == cmd:
            self.confirmed = True
        else:
            self.count(f"{name} response unmatched")
        if h.error:
            self.count(f"{name} ams error 0x{h.error:x}")
            return
        msg = f"ADS {name} response ({where})"
        who = Who(side)
        if cmd == Command.READ_DEVICE_INFO:
            info = parse_device_info(body)
            if info.result:
                self.count(f"{name} error 0x{info.result:x}")
            else:
                facts.device_info(self, who, info, msg, frame, ts)
        elif cmd == Command.READ_STATE:
            st = parse_read_state(body)
            if st.result:
                self.count(f"{name} error 0x{st.result:x}")
            else:
                facts.state(self, who, st, msg, frame, ts)
        elif body:
            result = parse_result(body)
            if result:
                self.count(f"{name} error 0x{result:x}")


class AdsUdp(_AdsBase):
    """The UDP service on 48899: discovery (TwinCAT "broadcast search") and add-route, one message a datagram."""

    protocol: ClassVar[Protocol] = Protocol.ADS
    transport: ClassVar[Transport] = Transport.UDP
    ports: ClassVar[tuple[int, ...]] = (AMS_UDP_PORT,)
    client_label: ClassVar[str] = "ads-client"
    server_label: ClassVar[str] = "ads-server"

    __slots__ = ()

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        try:
            m = parse_udp(bytes(data))
        except (Truncated, Malformed) as exc:
            if not self.labelled:
                return self.fatal(f"not the ADS UDP service ({exc})")
            self.anomaly(AdsAnomaly.BAD_UDP_HEADER, frame, ts)
            return OK
        self.decoded += len(data)
        try:
            svc = UdpService(m.service).name.lower().replace("_", "-")
        except ValueError:
            svc = f"service 0x{m.service:x}"
            self.anomaly(AdsAnomaly.UNKNOWN_UDP_SERVICE, frame, ts, f"0x{m.service:x}")
        if m.cut:
            self.anomaly(AdsAnomaly.BAD_UDP_TAG, frame, ts, svc)
        kind = "response" if m.response else "request"
        msg = f"ADS UDP {svc} {kind} (udp/{AMS_UDP_PORT})"
        self.count(f"{svc} {kind}")
        self.role(side, SERVER if m.response else CLIENT, msg, frame, ts)
        if m.response or m.service != UdpService.DISCOVERY:
            # a discovery request's NetId is a placeholder to many clients (AdsLib sends zeros, pyads 1.1.1.1.1.1)
            self.netid(side, m.netid, msg, frame, ts)
        if m.response:
            req = self.pending.pop((1 - side, m.invoke), None)
            if req is not None and req[0] == m.service:
                self.confirmed = True
            facts.udp_response(self, Who(side), m, svc, msg, frame, ts)
        else:
            self.remember((side, m.invoke), (m.service,), frame, ts)
            facts.udp_request(self, Who(side), m, svc, msg, frame, ts)
        return OK


__all__ = ["AdsTcp", "AdsUdp", "AdsState", "UdpMessage"]
