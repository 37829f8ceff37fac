"""HTTP/1.x per-flow dissector: the first request head and the first final answer head of a flow, then DONE.

* Frame: a head ends at the empty line (RFC 9112 2.1); each side is buffered up to MAX_HEAD bytes. A side
  whose first bytes cannot start a request line (client) or a status line (server) is not HTTP: FATAL.
* Label on a valid start line, confirm on a valid request and a valid answer (never the port alone).
* Facts: User-Agent (client), Host, Server, X-Powered-By and the <title> in the answer's first bytes (server);
  the OS only where the string says it (facts.py); a UPnP device description in an XML answer (upnp.py: the
  document an SSDP LOCATION names, when the capture holds its fetch). Then DONE: the C fast path counts the
  rest of the flow.
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import DONE, INCOMPLETE, OK, Dissector, Malformed, MemoUnused, TextMemo, Truncated, \
    Transport, Who
from otscope.dissectors.http import SPEC
from otscope.dissectors.http import facts as F
from otscope.dissectors.http.constants import (HTTP_PORTS, MAX_HEAD, MAX_INFORMATIONAL, MAX_TITLE_SCAN, PEEK_BYTES,
                                                TITLE_ATTRS, TITLE_CLOSE, TITLE_MAX, TITLE_OPEN, HttpAnomaly)
from otscope.dissectors.http.grammar import (Head, StatusLine, head_end, html_title, looks_like_request,
                                              looks_like_status, parse_head)
from otscope.dissectors.http.upnp import parse_description

REQUEST, RESPONSE = "HTTP request", "HTTP response"


class HttpDissector(Dissector):
    protocol: ClassVar = SPEC.name
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = HTTP_PORTS
    client_label: ClassVar[str] = "http-client"
    server_label: ClassVar[str] = "http-server"
    peek: ClassVar[int] = PEEK_BYTES
    # peek memo: what the facts, label and status depend on: the request line but its target, the status line,
    # User-Agent and Host (request), Server, X-Powered-By, Content-Type and Content-Encoding (answer), Content-Length
    # when the answer's first segment has no body, each line's name (bad lines, MAX_FIELDS) and the body bytes the
    # title is looked for in; any other value may differ (Date, cookies, ETag, ...)
    memo: ClassVar[bool] = True
    text_memo: ClassVar[TextMemo] = TextMemo(MAX_HEAD, MAX_TITLE_SCAN, (True, False),
                                             (("user-agent", "host"),
                                              ("server", "x-powered-by", "content-type", "content-encoding")),
                                             "content-length", (TITLE_OPEN, TITLE_CLOSE, TITLE_ATTRS, TITLE_MAX))

    __slots__ = ("buf", "got", "informational", "await_title", "whole")

    def __init__(self) -> None:
        super().__init__()
        self.buf = [b"", b""]
        self.got = [False, False]          # the side's (final) head was read
        self.informational = 0
        self.await_title = False           # an HTML answer's head came alone: its title is in the next segment
        self.whole = True                  # every segment was one head (and a body piece): a memo can describe it

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        if self.await_title and side == 1:
            self.whole = False
            self._title(data[:MAX_TITLE_SCAN], ts, frame)
            return DONE
        if self.got[side]:
            self.whole = False
            return OK                      # (the request was read; its body or a pipelined request: not wanted)
        buf = self.buf[side] + data if self.buf[side] else data
        looks = (looks_like_request if side == 0 else looks_like_status)(buf[:16])
        if looks is False:
            if side == 1 and self.got[0]:
                # a valid request was seen: an answer that does not start with a status line is the rest of
                # one whose head the capture missed; the next segment may start the (next) answer
                self.anomaly(HttpAnomaly.ANSWER_WITHOUT_HEAD, frame, ts)
                self.buf[1] = b""
                return OK
            return self.fatal("not HTTP (request line)" if side == 0 else "not HTTP (status line)")
        end = head_end(buf[:MAX_HEAD])
        if end < 0:
            if len(buf) < MAX_HEAD:
                self.buf[side] = buf
                self.whole = False
                return INCOMPLETE
            self.anomaly(HttpAnomaly.HEAD_TOO_LONG, frame, ts)
            end = MAX_HEAD
        self.buf[side] = b""
        return self._head(buf, end, side, ts, frame)

    def gap(self, side: int) -> None:
        self.buf[side] = b""
        self.whole = False

    def memo_unused(self) -> MemoUnused | None:
        return MemoUnused((), (None, None)) if self.whole and not self.informational else None

    # -- one head --------------------------------------------------------------------------------------
    def _head(self, buf: bytes, end: int, side: int, ts: float, frame: int) -> int:
        request = side == 0
        try:
            head = parse_head(buf[:end], request)
        except (Malformed, Truncated) as exc:
            self.anomaly(HttpAnomaly.BAD_REQUEST_LINE if request else HttpAnomaly.BAD_STATUS_LINE, frame, ts)
            return self.fatal(f"not HTTP ({exc})")
        self.decoded += end
        if head.bad_lines:
            self.anomaly(HttpAnomaly.BAD_FIELD_LINE, frame, ts)
        if head.dropped:
            self.anomaly(HttpAnomaly.TOO_MANY_FIELDS, frame, ts)
        message = REQUEST if request else RESPONSE
        self.label(frame, ts, message)
        if request:
            self.got[0] = True
            self._request_facts(head, ts, frame)
            if self.got[1]:
                self.confirm(frame, ts, message)
                return DONE
            return OK
        assert isinstance(head.start, StatusLine)
        status = head.start.status
        if status < 200 and self.informational < MAX_INFORMATIONAL and len(buf) > end:
            self.informational += 1                              # 100 Continue: the final answer follows
            return self.feed(buf[end:], side, ts, frame)
        self.got[1] = True
        body = buf[end:end + MAX_TITLE_SCAN]
        self._response_facts(head, body, ts, frame)
        if self.got[0]:
            self.confirm(frame, ts, message)
        if not body and 200 <= status < 300 and status != 204 and self._html(head, strict=True) and \
                head.get("content-length") != b"0":
            self.await_title = True                              # (one more segment: the body's first)
            self.whole = False
            return OK
        return DONE

    def _request_facts(self, head: Head, ts: float, frame: int) -> None:
        ua = head.get("user-agent")
        if ua:
            s = F.value(ua)
            self.fact(Who.CLIENT, "http_user_agent", s, REQUEST, frame, ts)
            got = F.os_of_user_agent(s)
            if got:
                self.fact(Who.CLIENT, "os", got[0], f"{REQUEST} User-Agent", frame, ts)
                self.fact(Who.CLIENT, "os_family", got[1], f"{REQUEST} User-Agent", frame, ts)
        host = head.get("host")
        if host:
            self.fact(Who.SERVER, "http_host", F.value(host), REQUEST, frame, ts)

    def _response_facts(self, head: Head, body: bytes, ts: float, frame: int) -> None:
        server = head.get("server")
        if server:
            s = F.value(server)
            self.fact(Who.SERVER, "http_server", s, RESPONSE, frame, ts)
            fam = F.os_family_of_server(s)
            if fam:
                self.fact(Who.SERVER, "os_family", fam, f"{RESPONSE} Server", frame, ts)
        powered = head.get("x-powered-by")
        if powered:
            self.fact(Who.SERVER, "http_powered_by", F.value(powered), RESPONSE, frame, ts)
        if body and self._html(head):
            self._title(body, ts, frame)
        elif body and b"xml" in (head.get("content-type") or b"").lower():
            self.whole = False              # (the memo's normal form keeps a body up to a title only)
            self._upnp(body, ts, frame)

    def _upnp(self, body: bytes, ts: float, frame: int) -> None:
        """A UPnP device description (upnp.py): the device's own words about itself. The vendor and product
        are taken from it (UDA 2.0 2.3 manufacturer, modelName and modelNumber are the device's maker and
        model); the rest stays raw."""
        dev = parse_description(body[:MAX_TITLE_SCAN])
        if dev is None:
            return
        msg = "UPnP device description (HTTP answer)"
        add = lambda field, value: self.fact(Who.SERVER, field, value, msg, frame, ts)  # noqa: E731
        add("upnp_device_type", dev.device_type)
        add("upnp_friendly_name", dev.friendly_name)
        add("upnp_udn", dev.udn)
        add("upnp_model_description", dev.model_description)
        add("vendor", dev.manufacturer)
        product = dev.model_name
        if dev.model_number and dev.model_number not in product:
            product = f"{product} {dev.model_number}".strip()
        add("product", product)
        add("serial", dev.serial_number)

    @staticmethod
    def _html(head: Head, strict: bool = False) -> bool:
        """An uncompressed HTML answer (a title can be read from its first bytes); strict: it says text/html
        (an answer without a Content-Type may have no body to wait for)."""
        enc = head.get("content-encoding")
        ctype = head.get("content-type")
        return not (enc and enc.strip().lower() not in (b"identity", b"")) and \
            (b"html" in ctype.lower() if ctype is not None else not strict)

    def _title(self, body: bytes, ts: float, frame: int) -> None:
        title = html_title(body)
        if title:
            self.fact(Who.SERVER, "http_title", F.value(title), RESPONSE, frame, ts)
