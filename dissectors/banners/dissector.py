"""Banner dissectors: one line (or two: the SSH client's too), then DONE.

* SSH (RFC 4253 4.2): each side sends ``SSH-protoversion-softwareversion [SP comments] CR LF`` first (a server
  may send other lines before it). Label on one valid identification, confirm on both, DONE when both are read.
* FTP (RFC 959) and SMTP (RFC 5321): the server greets with a reply (220 ...); the client's first line is a
  command. Label on the greeting, confirm on greeting + command, DONE then.
* Telnet (RFC 854): option negotiation (IAC ...) is skipped; the server's first printable line is its banner.
  Label on well-formed negotiation or that line, DONE after the line (or MAX_LINE bytes without one).
A side whose first bytes cannot be its protocol is FATAL (not this protocol); the C fast path's peek budget
(FlowEntry.peek) bounds what any of them is handed.
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.banners import SPEC
from otscope.dissectors.banners import facts as F
from otscope.dissectors.banners.constants import (FTP_GREETINGS, FTP_PORTS, MAX_LINE, MAX_PREAMBLE_LINES,
                                                   PEEK_BYTES, SMTP_GREETINGS, SMTP_PORTS, SSH_PORTS, TELNET_PORTS,
                                                   BannerAnomaly)
from otscope.dissectors.banners.grammar import (first_line, is_command, parse_reply, parse_ssh_ident,
                                                 printable_line, telnet_text)
from otscope.dissectors.base import DONE, INCOMPLETE, OK, Dissector, Malformed, Protocol, Transport, Who


class _Lines(Dissector):
    """Per-side buffering of a first line (bounded by MAX_LINE); subclasses read the lines."""

    transport: ClassVar[Transport] = Transport.TCP
    peek: ClassVar[int] = PEEK_BYTES
    __slots__ = ("buf", "done_side")

    def __init__(self) -> None:
        super().__init__()
        self.buf = [b"", b""]
        self.done_side = [False, False]

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        if self.done_side[side]:
            return OK
        buf = self.buf[side] + data if self.buf[side] else data
        while True:
            got = first_line(buf[:MAX_LINE])
            if got is None:
                if len(buf) >= MAX_LINE:
                    self.anomaly(BannerAnomaly.LINE_TOO_LONG, frame, ts)
                    return self.fatal("no end of line within the first bytes")
                early = self.early(buf, side)
                if early is not None:
                    return early
                self.buf[side] = buf
                return INCOMPLETE
            line, nxt = got
            self.decoded += nxt
            r = self.line(line, side, ts, frame)
            buf = buf[nxt:]
            if r != OK or self.done_side[side] or not buf:
                self.buf[side] = b"" if self.done_side[side] else buf
                return r

    def early(self, buf: bytes, side: int) -> int | None:
        """A verdict on a side's bytes before its first line ends (FATAL when they cannot be this protocol)."""
        return None

    def side_done(self, side: int, frame: int, ts: float, message: str) -> int:
        self.done_side[side] = True
        if self.done_side[0] and self.done_side[1]:
            self.confirm(frame, ts, message)
            return DONE
        return OK

    def line(self, line: bytes, side: int, ts: float, frame: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def os_facts(self, who: int, banner: str, message: str, frame: int, ts: float) -> None:
        got = F.stated_os(banner)
        if got:
            self.fact(who, "os", got[0], message, frame, ts)
            self.fact(who, "os_family", got[1], message, frame, ts)


class SshDissector(_Lines):
    protocol: ClassVar = Protocol("ssh")
    ports: ClassVar[tuple[int, ...]] = SSH_PORTS
    client_label: ClassVar[str] = "ssh-client"
    server_label: ClassVar[str] = "ssh-server"
    __slots__ = ("preamble",)

    def __init__(self) -> None:
        super().__init__()
        self.preamble = 0

    def early(self, buf: bytes, side: int) -> int | None:
        head = buf[:4]
        if side == 0 and not b"SSH-".startswith(head):
            return self.fatal("not SSH (client identification)")
        return None

    def line(self, line: bytes, side: int, ts: float, frame: int) -> int:
        if not line.startswith(b"SSH-"):
            if side == 0 or self.preamble >= MAX_PREAMBLE_LINES:
                return self.fatal("not SSH (no identification string)")
            self.preamble += 1                      # a server's lines before its identification (RFC 4253 4.2)
            return OK
        try:
            ident = parse_ssh_ident(line)
        except Malformed:
            self.anomaly(BannerAnomaly.BAD_IDENTIFICATION, frame, ts)
            return self.fatal("not SSH (identification)")
        message = "SSH identification"
        self.label(frame, ts, message)
        who = Who.CLIENT if side == 0 else Who.SERVER
        value = F.banner(line)
        self.fact(who, "ssh_banner", value, message, frame, ts)
        self.os_facts(who, value, message, frame, ts)
        del ident
        return self.side_done(side, frame, ts, message)


class _Greeting(_Lines):
    """FTP and SMTP: the server's greeting reply, the client's first command."""

    GREETINGS: ClassVar[frozenset[int]]
    FIELD: ClassVar[str]
    NAME: ClassVar[str]
    __slots__ = ()

    def early(self, buf: bytes, side: int) -> int | None:
        if side == 1 and len(buf) >= 3 and not buf[:3].isdigit():
            return self.fatal(f"not {self.NAME} (reply)")
        if side == 0 and buf[:1] and not buf[:1].isalpha():
            return self.fatal(f"not {self.NAME} (command)")
        return None

    def line(self, line: bytes, side: int, ts: float, frame: int) -> int:
        if side == 0:
            if not is_command(line):
                return self.fatal(f"not {self.NAME} (command)")
            self.command(line, frame, ts)
            if not self.done_side[1]:
                return OK                           # (the greeting was not captured: wait for a reply)
            return self.side_done(0, frame, ts, f"{self.NAME} command")
        try:
            reply = parse_reply(line)
        except Malformed:
            return self.fatal(f"not {self.NAME} (reply)")
        message = f"{self.NAME} greeting"
        self.label(frame, ts, message)
        if reply.code in self.GREETINGS:
            value = F.banner(reply.text)
            self.fact(Who.SERVER, self.FIELD, value, f"{message} {reply.code}", frame, ts)
            self.os_facts(Who.SERVER, value, f"{message} {reply.code}", frame, ts)
        else:
            self.anomaly(BannerAnomaly.UNEXPECTED_REPLY, frame, ts, str(reply.code))
        return self.side_done(1, frame, ts, message)

    def command(self, line: bytes, frame: int, ts: float) -> None:
        """The client's first command (SMTP: the EHLO/HELO name)."""


class FtpDissector(_Greeting):
    protocol: ClassVar = Protocol("ftp")
    ports: ClassVar[tuple[int, ...]] = FTP_PORTS
    client_label: ClassVar[str] = "ftp-client"
    server_label: ClassVar[str] = "ftp-server"
    GREETINGS: ClassVar[frozenset[int]] = FTP_GREETINGS
    FIELD: ClassVar[str] = "ftp_banner"
    NAME: ClassVar[str] = "FTP"
    __slots__ = ()


class SmtpDissector(_Greeting):
    protocol: ClassVar = Protocol("smtp")
    ports: ClassVar[tuple[int, ...]] = SMTP_PORTS
    client_label: ClassVar[str] = "smtp-client"
    server_label: ClassVar[str] = "smtp-server"
    GREETINGS: ClassVar[frozenset[int]] = SMTP_GREETINGS
    FIELD: ClassVar[str] = "smtp_banner"
    NAME: ClassVar[str] = "SMTP"
    __slots__ = ()

    def command(self, line: bytes, frame: int, ts: float) -> None:
        verb, _, arg = line.partition(b" ")
        if verb.upper() in (b"EHLO", b"HELO") and arg.strip():
            self.fact(Who.CLIENT, "smtp_helo", F.banner(arg.strip()), "SMTP EHLO/HELO", frame, ts)


class TelnetDissector(Dissector):
    protocol: ClassVar = Protocol("telnet")
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = TELNET_PORTS
    client_label: ClassVar[str] = "telnet-client"
    server_label: ClassVar[str] = "telnet-server"
    peek: ClassVar[int] = PEEK_BYTES
    __slots__ = ("buf", "negotiated")

    def __init__(self) -> None:
        super().__init__()
        self.buf = b""                  # the server's bytes so far (bounded by MAX_LINE)
        self.negotiated = [False, False]

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        message = "Telnet negotiation"
        if side == 0:
            if not self.negotiated[0]:
                try:
                    _, seen, _ = telnet_text(data[:MAX_LINE])
                except Malformed:
                    return self.fatal("not Telnet (client command)")
                if seen:
                    self.negotiated[0] = True
                    if self.labelled:
                        self.confirm(frame, ts, message)
            return OK
        buf = (self.buf + data)[:MAX_LINE]
        try:
            text, seen, _ = telnet_text(buf)
        except Malformed:
            return self.fatal("not Telnet (server command)")
        if seen and not self.negotiated[1]:
            self.negotiated[1] = True
            self.decoded += len(buf) - len(text)
            self.label(frame, ts, message)
            if self.negotiated[0]:
                self.confirm(frame, ts, message)
        line = printable_line(text)
        if line is not None:
            self.label(frame, ts, "Telnet banner")
            self.decoded += len(line)
            self.fact(Who.SERVER, "telnet_banner", F.banner(line), "Telnet banner", frame, ts)
            return DONE
        if not seen and text and not self.labelled and printable_line(text + b"\n") is None:
            return self.fatal("not Telnet (neither negotiation nor text)")
        if len(buf) >= MAX_LINE or (text and _ends_non_text(text)):
            return DONE                 # no printable first line: nothing to say about this server
        self.buf = buf
        return INCOMPLETE


def _ends_non_text(text: bytes) -> bool:
    """The server's first non-empty line is already not text (printable_line found no banner in a complete
    line): no banner will follow as its first line."""
    pieces = text.replace(b"\r", b"\n").split(b"\n")
    return any(p.strip(b" \t\x00") for p in pieces[:-1])
