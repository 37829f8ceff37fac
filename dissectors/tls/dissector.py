"""TLS per-flow state: records framed by their length (RFC 5246 6.2.1), handshake messages reassembled across
records and segments (bounded by MAX_HANDSHAKE), the clear part of the handshake read, then DONE.

Confirmation: a record header that is TLS and a ClientHello or ServerHello that parses label the flow; both
hellos confirm it. Before that, MAX_PROBES segments that do not start with a TLS record header are skipped (a
capture that starts inside a record), then the dissector is detached (FATAL: other bytes on 443 are rejected,
not mis-parsed); so is a first handshake message that is no hello; a capture that starts mid-session (application data
first) gives nothing to read and is left at once (DONE; labelled when that first segment is whole TLS records
exactly, type, version and lengths all valid). After the label a bad record header is an
anomaly and the flow is left.

DONE (hostid.md): after the server's ServerHelloDone (TLS 1.0-1.2), a TLS 1.3 ServerHello (the rest of the
handshake is encrypted, RFC 8446 2), the server's ChangeCipherSpec (a resumed session shows no certificate),
the first application data, or BUDGET bytes in either direction.

Peek memo (Dissector.memo_unused): the bytes no fact, label or status depends on are the hellos' random and
session id, the contents of the per-connection extensions (grammar.PER_CONNECTION_EXTS) and the bodies of the
handshake messages it only counts (ServerKeyExchange's fresh key and signature, ...); after DONE, the rest of
the record stream is not read. A hello spread over several records, or a capture that starts mid-session, is
not described (memo_unused None).
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, OK, Dissector, Malformed, MemoUnused, Protocol, \
    StreamBuffer, Transport, Truncated, Who
from otscope.dissectors.tls import facts
from otscope.dissectors.tls.constants import (BUDGET, HANDSHAKE_HEADER, MAX_HANDSHAKE, MAX_PROBES, RECORD_HEADER,
                                              TLS_PORTS,
                                              ContentType, HandshakeType, TlsAnomaly)
from otscope.dissectors.tls.grammar import (RecordHeader, handshake_header, parse_certificates, parse_client_hello,
                                            parse_record_header, parse_server_hello, record_ok)
from otscope.dissectors.x509 import summarize

_HS_TYPES = frozenset(HandshakeType)
_HS_NAMES = {t: t.name.lower().replace("_", "-") for t in HandshakeType}     # profile keys
_HELLOS = (HandshakeType.CLIENT_HELLO, HandshakeType.SERVER_HELLO)


class TlsDissector(Dissector):
    protocol: ClassVar[Protocol] = Protocol.TLS
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = TLS_PORTS
    peek: ClassVar[int] = BUDGET          # the C fast path hands it at most this per direction (FlowEntry.peek)
    client_label: ClassVar[str] = "tls-client"
    server_label: ClassVar[str] = "tls-server"

    memo: ClassVar[bool] = True

    __slots__ = ("buf", "hs", "seen", "hello", "server_hello", "tls13", "encrypted", "midsession", "probes",
                 "unused", "read_to")

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(cap=RECORD_HEADER + (2 ** 14 + 2048))
        self.hs = [b"", b""]                    # handshake bytes per side awaiting a whole message
        self.seen = [0, 0]                      # bytes read per side (BUDGET)
        self.hello = [False, False]             # a ClientHello came from this side
        self.server_hello = False
        self.tls13 = False
        self.encrypted = [False, False]         # this side sent ChangeCipherSpec: its handshake is encrypted now
        self.midsession = False                 # the first records were not a handshake
        self.probes = 0                         # segments before the label that did not start with a record
        self.unused: list[tuple[int, int, int]] | None = []    # (side, start, end) stream bytes no output needs
        self.read_to: list[int | None] = [None, None]          # where reading stopped (DONE inside a segment)

    # -- records ---------------------------------------------------------------------------------------------
    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        self.seen[side] += len(data)
        data = self.buf.join(side, data)
        base = self.seen[side] - len(data)      # the stream offset of data[0]
        pos, n = 0, len(data)
        while n - pos >= RECORD_HEADER:
            h = parse_record_header(data, pos)
            if not record_ok(h):
                return self._bad_record(h, side, ts, frame)
            end = pos + RECORD_HEADER + h.length
            if end > n:
                break
            self.decoded += RECORD_HEADER + h.length
            status = self._record(h, data[pos + RECORD_HEADER:end], side, ts, frame, base + pos + RECORD_HEADER)
            if status != OK:
                self.buf.drop(side)
                self.read_to[side] = base + end
                return status
            pos = end
        if self.midsession:
            self.unused = None
            if pos == n and not self.labelled:
                self.label(frame, ts, "TLS records (session already running)")
            self.buf.drop(side)
            return DONE
        if self.seen[side] > BUDGET:
            self.buf.drop(side)
            return DONE
        if pos < n:
            self.buf.keep(side, data[pos:])     # at most one record: below the cap by construction
            return INCOMPLETE
        return OK

    def gap(self, side: int) -> None:
        self.buf.drop(side)
        self.hs[side] = b""
        self.unused = None

    def memo_unused(self) -> MemoUnused | None:
        if self.unused is None:
            return None
        return MemoUnused(tuple(self.unused), (self.read_to[0], self.read_to[1]))

    def _unused(self, side: int, off: int, ranges: list[tuple[int, int]]) -> None:
        if self.unused is not None:
            self.unused.extend((side, off + a, off + b) for a, b in ranges if b > a)

    def _bad_record(self, h: RecordHeader, side: int, ts: float, frame: int) -> int:
        self.buf.drop(side)
        if not self.labelled:
            # a capture that starts inside a record: a few segments may not start at a record boundary
            self.probes += 1
            if self.probes <= MAX_PROBES:
                return OK
            return self.fatal(f"not tls (record type {h.type} version 0x{h.version:04x} length {h.length})")
        self.anomaly(TlsAnomaly.BAD_RECORD, frame, ts, str(h.type))
        return DONE

    def _record(self, h: RecordHeader, body: bytes, side: int, ts: float, frame: int, off: int) -> int:
        t = h.type
        if t == ContentType.HANDSHAKE and not (self.encrypted[side] or (self.tls13 and not self.hello[side])):
            return self._handshake_bytes(body, side, ts, frame, off)
        self._unused(side, off, [(0, len(body))])   # below, only the record's type and length matter
        if t == ContentType.HANDSHAKE:
            return DONE if not self.hello[side] else OK         # encrypted handshake: nothing more to read
        if not self.labelled:
            # application data or an alert first: a capture that started mid-session: nothing to read (feed()
            # labels the flow when the segment is whole records, then leaves it)
            self.midsession = True
            return OK
        if t == ContentType.CHANGE_CIPHER_SPEC:
            self.count("change-cipher-spec")
            self.encrypted[side] = True
            return OK if self.hello[side] else DONE
        if t == ContentType.APPLICATION_DATA:
            return DONE
        self.count("alert" if t == ContentType.ALERT else "heartbeat")
        return OK

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

    # -- handshake -------------------------------------------------------------------------------------------
    def _handshake_bytes(self, body: bytes, side: int, ts: float, frame: int, off: int) -> int:
        if self.hs[side]:
            buf = self.hs[side] + body
            self.unused = None                  # a message over several records: offsets are not the stream's
        else:
            buf = body
        pos = 0
        while len(buf) - pos >= HANDSHAKE_HEADER:
            msg_type, length = handshake_header(buf, pos)
            if not self.labelled and (msg_type not in _HELLOS or length > MAX_HANDSHAKE):
                self.hs[side] = b""
                return self.fatal(f"not tls (handshake type {msg_type} length {length} first)")
            if length > MAX_HANDSHAKE:
                self.hs[side] = b""
                self.anomaly(TlsAnomaly.HANDSHAKE_TOO_LONG, frame, ts, str(msg_type))
                return DONE
            end = pos + HANDSHAKE_HEADER + length
            if end > len(buf):
                break
            status = self._message(msg_type, buf[pos + HANDSHAKE_HEADER:end], side, ts, frame,
                                   off + pos + HANDSHAKE_HEADER)
            pos = end
            if status != OK:
                self.hs[side] = b""
                return status
        self.hs[side] = buf[pos:]
        return OK

    def _message(self, t: int, body: bytes, side: int, ts: float, frame: int, off: int) -> int:
        who = Who.CLIENT if side == 0 else Who.SERVER
        if t not in _HS_TYPES:
            self.anomaly(TlsAnomaly.UNKNOWN_HANDSHAKE, frame, ts, str(t))
            return OK
        self.count(_HS_NAMES[t])
        try:
            if t == HandshakeType.CLIENT_HELLO:
                return self._client_hello(body, side, who, ts, frame, off)
            if t == HandshakeType.SERVER_HELLO:
                return self._server_hello(body, side, who, ts, frame, off)
            if t == HandshakeType.CERTIFICATE:
                self._certificate(body, who, ts, frame)
            else:
                self._unused(side, off, [(0, len(body))])   # only counted: its contents matter to nothing
        except (Truncated, Malformed) as exc:
            if not self.labelled:
                return self.fatal(f"not tls ({HandshakeType(t).name} does not parse: {exc})")
            self.anomaly(TlsAnomaly.MALFORMED_HANDSHAKE, frame, ts, HandshakeType(t).name.lower())
            return OK
        if t == HandshakeType.SERVER_HELLO_DONE and not self.hello[side]:
            return DONE
        return OK

    def _client_hello(self, body: bytes, side: int, who: int, ts: float, frame: int, off: int) -> int:
        unused: list[tuple[int, int]] = []
        h = parse_client_hello(body, unused)
        self._unused(side, off, unused)
        self.hello[side] = True
        self._label_by(side, frame, ts, "TLS ClientHello")
        facts.client_hello(self, who, h, frame, ts)
        return OK

    def _server_hello(self, body: bytes, side: int, who: int, ts: float, frame: int, off: int) -> int:
        unused: list[tuple[int, int]] = []
        h = parse_server_hello(body, unused)
        self._unused(side, off, unused)
        if self.hello[1 - side]:
            self.confirm(frame, ts, "TLS ClientHello/ServerHello")
        else:
            self._label_by(1 - side, frame, ts, "TLS ServerHello")
        facts.server_hello(self, who, h, frame, ts)
        if h.retry:
            return OK                           # a second ClientHello follows (RFC 8446 4.1.4)
        self.server_hello = True
        if h.tls13:
            self.tls13 = True
            return DONE
        return OK

    def _certificate(self, body: bytes, who: int, ts: float, frame: int) -> None:
        certs, total = parse_certificates(body, self.tls13)
        for i, der in enumerate(certs):
            cert = summarize(der)
            if cert is None:
                self.anomaly(TlsAnomaly.BAD_CERTIFICATE, frame, ts, str(i))
                continue
            facts.certificate(self, who, i, cert, frame, ts)
        if total > len(certs):
            self.anomaly(TlsAnomaly.CHAIN_TRUNCATED, frame, ts, str(total))
