"""HTTP/1.x grammar and dissector (RFC 9112): hex of real messages (Malcolm-Test-Artifacts NTLM.pcap frames 1
and 6: Firefox 4 to IIS 6.0), malformed and cut input, every anomaly kind, DONE after the first answer."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, OK, Malformed, Truncated
from otscope.dissectors.http import SPEC
from otscope.dissectors.http.constants import MAX_HEAD, HttpAnomaly
from otscope.dissectors.http.dissector import HttpDissector
from otscope.dissectors.http.facts import os_family_of_server, os_of_user_agent
from otscope.dissectors.http.grammar import (RequestLine, StatusLine, head_end, html_title, looks_like_request,
                                              looks_like_status, parse_head, parse_request_line,
                                              parse_status_line)

# NTLM.pcap frame 1 (request) and frame 6 (answer), TCP payloads as tshark prints them
REQUEST = bytes.fromhex(
    "474554202f20485454502f312e310d0a486f73743a203139322e3136382e302e35350d0a557365722d4167656e743a204d6f7a696c6c"
    "612f352e30202857696e646f7773204e5420352e313b2072763a322e302e3129204765636b6f2f32303130303130312046697265666f"
    "782f342e302e310d0a4163636570743a20746578742f68746d6c2c6170706c69636174696f6e2f7868746d6c2b786d6c2c6170706c69"
    "636174696f6e2f786d6c3b713d302e392c2a2f2a3b713d302e380d0a4163636570742d4c616e67756167653a20656e2d75732c656e3b"
    "713d302e350d0a4163636570742d456e636f64696e673a20677a69702c206465666c6174650d0a4163636570742d436861727365743a"
    "2049534f2d383835392d312c7574662d383b713d302e372c2a3b713d302e370d0a4b6565702d416c6976653a203131350d0a436f6e6e"
    "656374696f6e3a206b6565702d616c6976650d0a43616368652d436f6e74726f6c3a206d61782d6167653d300d0a0d0a")
ANSWER = bytes.fromhex(
    "485454502f312e3120333032204f626a656374204d6f7665640d0a436f6e74656e742d4c656e6774683a203135350d0a436f6e74656e"
    "742d547970653a20746578742f68746d6c0d0a4c6f636174696f6e3a20687474703a2f2f3139322e3136382e302e35352f6465666175"
    "6c742e617370780d0a5365727665723a204d6963726f736f66742d4949532f362e300d0a582d506f77657265642d42793a204153502e"
    "4e45540d0a4d6963726f736f66745368617265506f696e745465616d53657276696365733a2031322e302e302e363432310d0a446174"
    "653a204d6f6e2c203133204a756e20323031312030363a34383a323220474d540d0a0d0a3c686561643e3c7469746c653e446f63756d"
    "656e74204d6f7665643c2f7469746c653e3c2f686561643e0a3c626f64793e3c68313e4f626a656374204d6f7665643c2f68313e5468"
    "697320646f63756d656e74206d617920626520666f756e64203c6120485245463d22687474703a2f2f3139322e3136382e302e35352f"
    "64656661756c742e61737078223e686572653c2f613e3c2f626f64793e")


def facts(d: HttpDissector) -> dict[tuple[int, str], str]:
    return {(f.who, f.field): f.value for f in d.out}


def test_grammar_of_real_messages() -> None:
    end = head_end(REQUEST)
    assert end == len(REQUEST)
    head = parse_head(REQUEST[:end], request=True)
    assert head.start == RequestLine("GET", b"/", "HTTP/1.1")
    assert head.get("host") == b"192.168.0.55" and head.get("user-agent").startswith(b"Mozilla/5.0 (Windows NT 5.1")
    end = head_end(ANSWER)
    rsp = parse_head(ANSWER[:end], request=False)
    assert rsp.start == StatusLine("HTTP/1.1", 302, b"Object Moved")
    assert rsp.get("server") == b"Microsoft-IIS/6.0" and rsp.get("x-powered-by") == b"ASP.NET"
    assert html_title(ANSWER[end:]) == b"Document Moved"


def test_dissector_on_a_real_exchange_is_done_after_the_answer() -> None:
    d = HttpDissector()
    assert d.feed(REQUEST, 0, 1.0, 1) == OK and d.labelled and not d.confirmed
    assert d.feed(ANSWER, 1, 1.1, 6) == DONE and d.confirmed
    f = facts(d)
    assert f[(0, "http_user_agent")] == "Mozilla/5.0 (Windows NT 5.1; rv:2.0.1) Gecko/20100101 Firefox/4.0.1"
    assert f[(0, "os")] == "Windows XP (NT 5.1)" and f[(0, "os_family")] == "windows"
    assert f[(1, "http_server")] == "Microsoft-IIS/6.0" and f[(1, "http_powered_by")] == "ASP.NET"
    assert f[(1, "http_host")] == "192.168.0.55" and f[(1, "http_title")] == "Document Moved"
    assert f[(1, "os_family")] == "windows"
    assert {f.value for f in d.out if f.field == "protocol"} == {"http-client", "http-server"}
    assert not d.anomalies


@pytest.mark.parametrize("cut", [1, 5, 17, 100])
def test_a_head_in_pieces_is_the_same(cut: int) -> None:
    d = HttpDissector()
    for i in range(0, len(REQUEST), cut):
        r = d.feed(REQUEST[i:i + cut], 0, 1.0, 1)
        assert r in (OK, INCOMPLETE)
    assert r == OK
    for i in range(0, len(ANSWER), cut):
        r = d.feed(ANSWER[i:i + cut], 1, 1.0, 2)
        if r == DONE:
            break
    assert r == DONE and facts(d)[(1, "http_server")] == "Microsoft-IIS/6.0"


def test_not_http_is_fatal_at_once() -> None:
    assert HttpDissector().feed(b"SSH-2.0-OpenSSH_8.2p1\r\n", 0, 0.0, 1) == FATAL
    assert HttpDissector().feed(b"\x16\x03\x01\x02\x00\x01", 0, 0.0, 1) == FATAL     # TLS on port 80
    assert HttpDissector().feed(b"220 ftp ready\r\n", 1, 0.0, 1) == FATAL
    d = HttpDissector()
    assert d.feed(b"GE", 0, 0.0, 1) == INCOMPLETE            # too few bytes to say
    assert d.feed(b"X / HTTP/1.1\r\n\r\n", 0, 0.0, 1) == FATAL


def test_malformed_start_lines_are_counted_and_fatal() -> None:
    d = HttpDissector()
    assert d.feed(b"GET /a b HTTP/1.1\r\n\r\n", 0, 0.0, 1) == FATAL
    assert [a.kind for a in d.anomalies] == [HttpAnomaly.BAD_REQUEST_LINE]
    d = HttpDissector()
    assert d.feed(b"HTTP/1.1 2x0 OK\r\n\r\n", 1, 0.0, 1) == FATAL
    assert [a.kind for a in d.anomalies] == [HttpAnomaly.BAD_STATUS_LINE]
    for bad in (b"GET / HTTP/2.0", b"FOO / HTTP/1.1", b"GET  HTTP/1.1"):
        with pytest.raises(Malformed):
            parse_request_line(bad)
    for bad in (b"HTTP/1.1 099 x", b"HTTP/3 200 OK", b"HTTP/1.1"):
        with pytest.raises(Malformed):
            parse_status_line(bad)
    with pytest.raises(Truncated):
        parse_head(b"", request=True)


def test_field_anomalies_and_the_head_bound() -> None:
    d = HttpDissector()
    head = b"GET / HTTP/1.1\r\nno colon here\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(70)) + b"\r\n"
    assert d.feed(head, 0, 0.0, 1) == OK
    assert {a.kind for a in d.anomalies} == {HttpAnomaly.BAD_FIELD_LINE, HttpAnomaly.TOO_MANY_FIELDS}
    d = HttpDissector()
    huge = b"GET / HTTP/1.1\r\nUser-Agent: a\r\nCookie: " + b"c" * MAX_HEAD
    assert d.feed(huge, 0, 0.0, 1) == OK                      # read what was there, then stop buffering
    assert [a.kind for a in d.anomalies] == [HttpAnomaly.HEAD_TOO_LONG] and facts(d)[(0, "http_user_agent")] == "a"


def test_continue_then_final_answer_and_compressed_body() -> None:
    d = HttpDissector()
    d.feed(b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", 0, 0.0, 1)
    two = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nServer: lighttpd/1.4.35\r\n"
           b"Content-Encoding: gzip\r\n\r\n<title>not read: compressed</title>")
    assert d.feed(two, 1, 0.0, 2) == DONE
    f = facts(d)
    assert f[(1, "http_server")] == "lighttpd/1.4.35" and (1, "http_title") not in f


def test_hostile_values_are_bounded_and_escaped() -> None:
    d = HttpDissector()
    d.feed(b"GET / HTTP/1.0\r\nUser-Agent: \x1b[31m" + b"A" * 500 + b"\r\n\r\n", 0, 0.0, 1)
    ua = facts(d)[(0, "http_user_agent")]
    assert len(ua) <= 200 and "\x1b" not in ua


def test_os_rules_only_where_stated() -> None:
    assert os_of_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64)") == ("Windows 10 / Server 2016+ (NT 10.0)",
                                                                             "windows")
    assert os_of_user_agent("Microsoft-Windows/6.1 UPnP/1.0") == ("Windows 7 / Server 2008 R2 (NT 6.1)", "windows")
    assert os_of_user_agent("Mozilla/5.0 (X11; U; Linux i686; en-US; rv:1.6)") == ("Linux", "linux")
    assert os_of_user_agent("curl/7.68.0") is None and os_of_user_agent("Windows NT 99.9") == ("Windows NT 99.9",
                                                                                               "windows")
    assert os_family_of_server("Apache/2.2.9 (Ubuntu) PHP/5.2.6") == "linux"
    assert os_family_of_server("Microsoft-HTTPAPI/2.0") == "windows" and os_family_of_server("nginx") is None


def test_looks_and_head_end() -> None:
    assert looks_like_request(b"GET") is None and looks_like_request(b"GET /") and not looks_like_request(b"\x00" * 16)
    assert looks_like_status(b"HTT") is None and looks_like_status(b"HTTP/1.1 200") and not looks_like_status(b"SSH-")
    assert head_end(b"a\n\nb") == 3 and head_end(b"a\r\n\r\nb\n\n") == 5 and head_end(b"abc") == -1


def test_spec() -> None:
    assert not SPEC.ot and SPEC.rank == 4 and SPEC.flows[0].peek == HttpDissector.peek > MAX_HEAD
    assert 443 not in SPEC.flows[0].ports and 8443 not in SPEC.flows[0].ports


def test_an_answer_whose_head_the_capture_missed_waits_for_the_next() -> None:
    """NTLM.pcap: the server's first captured bytes of a flow are the middle of an answer (frames 2 and 4):
    counted, and the next answer's head is read."""
    d = HttpDissector()
    d.feed(REQUEST, 0, 0.0, 1)
    assert d.feed(b"<html>rest of a body</html>", 1, 0.0, 2) == OK
    assert [a.kind for a in d.anomalies] == [HttpAnomaly.ANSWER_WITHOUT_HEAD]
    assert d.feed(ANSWER, 1, 0.0, 6) == DONE and facts(d)[(1, "http_server")] == "Microsoft-IIS/6.0"
    assert HttpDissector().feed(b"<html>", 1, 0.0, 1) == FATAL         # no request seen: not HTTP


def test_an_html_head_alone_takes_the_title_from_the_next_segment() -> None:
    d = HttpDissector()
    d.feed(b"GET / HTTP/1.1\r\nHost: hmi\r\n\r\n", 0, 0.0, 1)
    assert d.feed(b"HTTP/1.0 200 OK\r\nServer: x\r\nContent-Type: text/html\r\n\r\n", 1, 0.0, 2) == OK
    assert d.feed(b"<html><title>Line 3</title>", 1, 0.0, 3) == DONE and facts(d)[(1, "http_title")] == "Line 3"
    d = HttpDissector()
    d.feed(b"GET / HTTP/1.1\r\n\r\n", 0, 0.0, 1)
    assert d.feed(b"HTTP/1.1 204 No Content\r\n\r\n", 1, 0.0, 2) == DONE          # no body: nothing to wait for
