"""Niagara Fox per-flow state: the two hellos, then DONE (the rest of the session is not fed to Python).

Framing: a Fox message is text that ends with a "};;" line (constants.py); it is buffered per side up to
MAX_MESSAGE. The first bytes of a side must be a Fox message line ("fox a 0 -1 fox hello"): anything else
before a valid message detaches the dissector. The connection's initiator is the Fox client (Workbench, a
Supervisor, another station reaching this one: the flow table orients the flow by its handshake, else by the
station's port 1911/4911); the other end is the station. Once both hellos are seen the flow is confirmed and the
dissector returns DONE. A malformed message after a valid one is an anomaly: that side is not parsed further.

tcp/4911 is Fox over TLS: only the TLS handshake is visible. The side sending a ClientHello is the client, the
one answering with a ServerHello the station; both are labelled and the identity is said to be encrypted.
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, OK, Dissector, Malformed, Protocol, StreamBuffer, \
    Transport, Truncated, Who
from otscope.dissectors.fox import facts
from otscope.dissectors.fox.constants import (FOX_PORT, FOXS_PORT, HELLO, MAGIC, MAX_MESSAGE, TLS_CLIENT_HELLO,
                                              TLS_SERVER_HELLO, FoxAnomaly)
from otscope.dissectors.fox.grammar import FoxMessage, TooLong, parse_message, tls_handshake_type

_LABELS = ("fox-client", "fox-server")


class FoxDissector(Dissector):
    protocol: ClassVar[Protocol] = Protocol.FOX
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = (FOX_PORT,)
    client_label: ClassVar[str] = "fox-client"
    server_label: ClassVar[str] = "fox-server"

    __slots__ = ("buf", "hello", "valid", "broken")

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(cap=MAX_MESSAGE)
        self.hello = [False, False]
        self.valid = [False, False]          # a whole Fox message was parsed from this side
        self.broken = [False, False]         # a malformed message after a valid one: this side is not parsed

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        if self.broken[side]:
            return self._status()
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while pos < n:
            try:
                msg = parse_message(data, pos)
            except Truncated:
                if not (self.valid[side] or data.startswith(MAGIC[:n - pos], pos)):
                    return self.fatal("not fox (no fox message line)")
                if not self.buf.keep(side, data[pos:]):
                    return self._bad(side, FoxAnomaly.TOO_LONG, "message over the buffer cap", ts, frame)
                return INCOMPLETE
            except Malformed as exc:
                kind = (FoxAnomaly.TOO_LONG if isinstance(exc, TooLong) else
                        FoxAnomaly.BAD_HEADER if data[pos:pos + 4] != MAGIC else FoxAnomaly.BAD_BODY)
                return self._bad(side, kind, str(exc), ts, frame)
            pos += msg.size
            self.decoded += msg.size
            self.valid[side] = True
            self._message(msg, side, ts, frame)
            if self.confirmed:
                self.buf.drop(side)
                return DONE
        self.buf.drop(side)
        return OK

    def gap(self, side: int) -> None:
        self.buf.drop(side)

    def _status(self) -> int:
        return DONE if self.confirmed or all(self.broken) else OK

    def _bad(self, side: int, kind: FoxAnomaly, why: str, ts: float, frame: int) -> int:
        self.buf.drop(side)
        if not (self.valid[0] or self.valid[1]):
            return self.fatal(f"not fox ({why})")
        self.anomaly(kind, frame, ts)
        self.broken[side] = True
        return DONE if self.hello[1 - side] or all(self.broken) else OK

    def _message(self, msg: FoxMessage, side: int, ts: float, frame: int) -> None:
        h = msg.header
        if msg.dropped:
            self.anomaly(FoxAnomaly.FIELDS_LIMIT, frame, ts)
        if h.command != HELLO or h.channel != "fox" or self.hello[side]:
            self.count(f"{h.channel} {h.command}")
            return
        self.hello[side] = True
        self.count("hello")
        role = side                          # the connection's initiator is the Fox client (tcp/1911 orients it)
        why = f"Niagara Fox hello (fox {h.kind} {h.seq} {h.reply} {h.channel} {h.command})"
        self.labelled = True
        self.fact(Who(side), "protocol", _LABELS[role], why, frame, ts)
        facts.hello(self, Who(side), role == 0, msg, why, frame, ts)
        if self.hello[0] and self.hello[1]:
            self.confirmed = True


class FoxTlsDissector(FoxDissector):
    """tcp/4911: Fox over TLS (a plain Fox session there is parsed as on 1911)."""

    ports: ClassVar[tuple[int, ...]] = (FOXS_PORT,)

    __slots__ = ("tls",)

    def __init__(self) -> None:
        super().__init__()
        self.tls: bool | None = None         # None until the first bytes say TLS or plain Fox

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        if self.tls is False:
            return super().feed(data, side, ts, frame)
        data = self.buf.join(side, data)
        if len(data) < 6:
            if not self.buf.keep(side, data):
                return self.fatal("not fox")
            return INCOMPLETE
        self.buf.drop(side)
        kind = tls_handshake_type(data)
        if kind is None:
            if self.tls is None and data.startswith(MAGIC):
                self.tls = False
                return super().feed(data, side, ts, frame)
            if not self.labelled:
                return self.fatal("not fox over TLS (no TLS handshake record)")
            self.anomaly(FoxAnomaly.NOT_TLS, frame, ts)
            return DONE
        self.tls = True
        self.decoded += len(data)
        if kind in (TLS_CLIENT_HELLO, TLS_SERVER_HELLO) and not self.hello[side]:
            role = 0 if kind == TLS_CLIENT_HELLO else 1
            self.hello[side] = True
            why = f"TLS {'ClientHello' if role == 0 else 'ServerHello'} on tcp/{FOXS_PORT} (Niagara Fox over TLS)"
            self.labelled = True
            self.fact(Who(side), "protocol", _LABELS[role], why, frame, ts)
            self.fact(Who(side), "fox_encrypted", "TLS (foxs): the Fox hello is not visible", why, frame, ts)
            self.count("tls client hello" if role == 0 else "tls server hello")
        if self.hello[0] and self.hello[1]:
            self.confirmed = True
            return DONE
        return OK


__all__ = ["FATAL", "FoxDissector", "FoxTlsDissector"]
