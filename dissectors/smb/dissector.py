"""SMB per-flow state: NetBIOS session framing (RFC 1002 4.3.1; the same 4-byte header with a 24-bit length on
445, MS-SMB2 2.1), SMB1 / SMB2 messages, the negotiate and SESSION_SETUP exchange read, then DONE.

Confirmation: a session message holding a valid SMB1 or SMB2 header labels the flow; a request and a response
confirm it. Before that, MAX_PROBES segments that are no NetBIOS session packet or SMB header are skipped (a
capture that starts inside a message), then the dissector is detached (FATAL).
Facts are about the sender of each message (the flow side it came on); request/response bits only decide what
a body is. DONE (hostid.md): after the SESSION_SETUP exchange ends (a response that is not
STATUS_MORE_PROCESSING_REQUIRED), an encrypted or compressed SMB2 message, a message above MAX_MESSAGE, or BUDGET
bytes in either direction.
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import DONE, INCOMPLETE, OK, Dissector, Malformed, Protocol, StreamBuffer, \
    Transport, Truncated, Who
from otscope.dissectors.smb import facts, ntlmssp
from otscope.dissectors.smb.constants import (BUDGET, MAX_COMPOUND, MAX_MESSAGE, MAX_PROBES, NBSS_HEADER, SMB1_MAGIC,
                                              SMB2_COMPRESSED, SMB2_HEADER, SMB2_MAGIC, SMB2_TRANSFORM, SMB_PORTS,
                                              STATUS_MORE_PROCESSING_REQUIRED, NbssType, Smb1Command, Smb2Command,
                                              SmbAnomaly)
from otscope.dissectors.smb.grammar import (parse_negotiate1, parse_negotiate2, parse_session_request,
                                            parse_session_setup1, parse_session_setup2, parse_smb1_header,
                                            parse_smb2_header)

_NBSS = frozenset(NbssType)
_SMB2_NAMES = {c.value: c.name.lower().replace("_", "-") for c in Smb2Command}
_SMB1_NAMES = {c.value: c.name.lower().replace("_", "-") for c in Smb1Command}


class SmbDissector(Dissector):
    protocol: ClassVar[Protocol] = Protocol.SMB
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = SMB_PORTS
    peek: ClassVar[int] = BUDGET          # the C fast path hands it at most this per direction (FlowEntry.peek)
    client_label: ClassVar[str] = "smb-client"
    server_label: ClassVar[str] = "smb-server"

    __slots__ = ("buf", "seen", "asked", "native_os", "probes")

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(cap=NBSS_HEADER + MAX_MESSAGE)
        self.seen = [0, 0]
        self.asked = [False, False]             # this side sent an SMB request
        self.native_os = ["", ""]               # SMB1 NativeOS each side stated
        self.probes = 0                         # segments before the label that did not start with a message

    # -- NetBIOS session framing -----------------------------------------------------------------------------
    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        self.seen[side] += len(data)
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while n - pos >= NBSS_HEADER:
            kind = data[pos]
            length = int.from_bytes(data[pos + 1:pos + 4], "big")
            if kind not in _NBSS or (kind != NbssType.SESSION_MESSAGE and length > 0x1FFFF):
                self.buf.drop(side)
                if not self.labelled:
                    return self._probe(f"not smb (NetBIOS session type 0x{kind:02x})")
                self.anomaly(SmbAnomaly.BAD_NBSS, frame, ts, f"0x{kind:02x}")
                return DONE
            if length > MAX_MESSAGE:
                self.buf.drop(side)
                if not self.labelled:
                    return self._probe(f"not smb (a first message of {length} bytes)")
                self.anomaly(SmbAnomaly.MESSAGE_TOO_LONG, frame, ts)
                return DONE
            end = pos + NBSS_HEADER + length
            if end > n:
                break
            status = self._packet(kind, data[pos + NBSS_HEADER:end], side, ts, frame)
            if status != OK:
                self.buf.drop(side)
                return status
            self.decoded += NBSS_HEADER + length
            pos = end
        if self.seen[side] > BUDGET:
            self.buf.drop(side)
            return DONE
        if pos < n:
            self.buf.keep(side, data[pos:])
            return INCOMPLETE
        return OK

    def gap(self, side: int) -> None:
        self.buf.drop(side)

    def _probe(self, reason: str) -> int:
        """Before the label: a capture that starts inside a message gives a few segments that do not start at a
        NetBIOS header; MAX_PROBES of them are skipped, then the flow is not SMB."""
        self.probes += 1
        return OK if self.probes <= MAX_PROBES else self.fatal(reason)

    def _packet(self, kind: int, body: bytes, side: int, ts: float, frame: int) -> int:
        who = Who.CLIENT if side == 0 else Who.SERVER
        if kind == NbssType.SESSION_REQUEST:
            try:
                called, calling = parse_session_request(body)
            except (Truncated, Malformed) as exc:
                if not self.labelled:
                    return self.fatal(f"not smb (session request: {exc})")
                self.anomaly(SmbAnomaly.MALFORMED, frame, ts, "session-request")
                return OK
            facts.session_request(self, who, called, calling, frame, ts)
            return OK
        if kind != NbssType.SESSION_MESSAGE:
            self.count(NbssType(kind).name.lower().replace("_", "-"))
            return OK
        magic = body[:4]
        if magic == SMB1_MAGIC:
            return self._smb1(body, side, who, ts, frame)
        if magic == SMB2_MAGIC:
            return self._smb2(body, side, who, ts, frame)
        if magic in (SMB2_TRANSFORM, SMB2_COMPRESSED) and self.labelled:
            return DONE                             # encrypted / compressed: nothing more to read
        if not self.labelled:
            return self._probe(f"not smb (session message starting {magic.hex()})")
        self.anomaly(SmbAnomaly.NOT_SMB, frame, ts)
        return OK

    def _seen_message(self, reply: bool, side: int, frame: int, ts: float, name: str) -> None:
        if not reply:
            self.asked[side] = True
            self._label_by(side, frame, ts, f"{name} request")
        elif self.asked[1 - side]:
            self._label_by(1 - side, frame, ts, f"{name} request/response")
            self.confirm(frame, ts, f"{name} request/response")
        else:
            self._label_by(1 - side, frame, ts, f"{name} response")

    def _label_by(self, client_side: int, frame: int, ts: float, message: str) -> None:
        """Label both ends by the messages: ``client_side`` sent the request/ClientHello (a flow oriented the
        other way, its handshake not captured, still labels its real client as the client)."""
        if self.labelled:
            return
        if client_side == 0:
            self.label(frame, ts, message)
            return
        self.labelled = True
        self.fact(Who.SERVER, "protocol", self.client_label, message, frame, ts)
        self.fact(Who.CLIENT, "protocol", self.server_label, message, frame, ts)


    # -- SMB1 ------------------------------------------------------------------------------------------------
    def _smb1(self, msg: bytes, side: int, who: int, ts: float, frame: int) -> int:
        try:
            h = parse_smb1_header(msg)
        except (Truncated, Malformed) as exc:
            if not self.labelled:
                return self.fatal(f"not smb (SMB1 header: {exc})")
            self.anomaly(SmbAnomaly.MALFORMED, frame, ts, "smb1-header")
            return OK
        name = _SMB1_NAMES.get(h.command, f"0x{h.command:02x}")
        self.count(f"smb1 {name}{' response' if h.reply else ''}")
        self._seen_message(h.reply, side, frame, ts, f"SMB1 {name}")
        try:
            if h.command == Smb1Command.NEGOTIATE:
                neg = parse_negotiate1(h, msg)
                facts.negotiate1(self, who, neg, frame, ts)
                if neg.blob:
                    self._security(neg.blob, who, "SMB1 NEGOTIATE response", frame, ts, side)
            elif h.command == Smb1Command.SESSION_SETUP_ANDX:
                if h.reply and h.status not in (0, STATUS_MORE_PROCESSING_REQUIRED):
                    return DONE                     # the logon failed: the exchange is over
                ss = parse_session_setup1(h, msg)
                via = f"SMB1 SESSION_SETUP_ANDX {'response' if h.reply else 'request'}"
                if ss.native_os:
                    self.native_os[side] = ss.native_os
                facts.session_setup1(self, who, ss, via, frame, ts)
                if ss.blob:
                    self._security(ss.blob, who, via, frame, ts, side)
                if h.reply and h.status == 0:
                    return DONE
        except (Truncated, Malformed) as exc:
            self.anomaly(SmbAnomaly.MALFORMED, frame, ts, f"smb1-{name}: {exc}")
        return OK

    # -- SMB2 ------------------------------------------------------------------------------------------------
    def _smb2(self, msg: bytes, side: int, who: int, ts: float, frame: int) -> int:
        pos = 0
        for _ in range(MAX_COMPOUND):
            try:
                h = parse_smb2_header(msg, pos)
            except (Truncated, Malformed) as exc:
                if not self.labelled:
                    return self.fatal(f"not smb (SMB2 header: {exc})")
                self.anomaly(SmbAnomaly.MALFORMED, frame, ts, "smb2-header")
                return OK
            status = self._smb2_command(h, msg, pos, side, who, ts, frame)
            if status != OK or not h.next_command:
                return status
            if h.next_command < SMB2_HEADER or pos + h.next_command >= len(msg):
                self.anomaly(SmbAnomaly.MALFORMED, frame, ts, "smb2-next-command")
                return OK
            pos += h.next_command
        self.anomaly(SmbAnomaly.COMPOUND_CAP, frame, ts)
        return OK

    def _smb2_command(self, h, msg: bytes, pos: int, side: int, who: int, ts: float, frame: int) -> int:
        name = _SMB2_NAMES.get(h.command, f"0x{h.command:04x}")
        self.count(f"smb2 {name}{' response' if h.reply else ''}")
        self._seen_message(h.reply, side, frame, ts, f"SMB2 {name}")
        ok_status = h.status in (0, STATUS_MORE_PROCESSING_REQUIRED)
        try:
            if h.command == Smb2Command.NEGOTIATE and (ok_status or not h.reply):
                neg = parse_negotiate2(h, msg, pos)
                facts.negotiate2(self, who, neg, frame, ts)
                if neg.blob:
                    self._security(neg.blob, who, "SMB2 NEGOTIATE response", frame, ts, side)
            elif h.command == Smb2Command.SESSION_SETUP:
                if h.reply and not ok_status:
                    return DONE                     # the logon failed: the exchange is over
                via = f"SMB2 SESSION_SETUP {'response' if h.reply else 'request'}"
                blob = parse_session_setup2(h, msg, pos)
                if blob:
                    self._security(blob, who, via, frame, ts, side)
                if h.reply and h.status == 0:
                    return DONE
            elif h.command not in _SMB2_NAMES:
                self.count(f"unknown-command-0x{h.command:04x}")
        except (Truncated, Malformed) as exc:
            self.anomaly(SmbAnomaly.MALFORMED, frame, ts, f"smb2-{name}: {exc}")
        return OK

    # -- security blobs (SPNEGO / raw NTLMSSP) ---------------------------------------------------------------
    def _security(self, blob: bytes, who: int, via: str, frame: int, ts: float, side: int) -> None:
        at = ntlmssp.find(blob)
        if at < 0:
            self.count("security blob without ntlmssp")     # Kerberos, or a SPNEGO hint only
            return
        try:
            m = ntlmssp.parse(blob[at:])
        except (Truncated, Malformed, ValueError) as exc:
            kind = SmbAnomaly.UNKNOWN_NTLMSSP if "message type" in str(exc) else SmbAnomaly.MALFORMED_NTLMSSP
            self.anomaly(kind, frame, ts, str(exc)[:40] if kind == SmbAnomaly.MALFORMED_NTLMSSP
                         else blob[at + 8:at + 12].hex())
            return
        self.count(f"ntlmssp type {m.type}")
        stated = self.native_os[side]
        ntlmssp.facts(self, who, m, via, frame, ts, windows_os=not stated or stated.lower().startswith("windows"))
