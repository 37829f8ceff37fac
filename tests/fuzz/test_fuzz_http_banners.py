"""Property-based fuzzing of HTTP and the banner dissectors: the grammars raise nothing but Truncated/Malformed,
the dissectors never raise, always return a status, keep bounded state and emit bounded printable values, fed
random, mutated and re-chunked streams from both sides."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.banners.constants import MAX_LINE
from otscope.dissectors.banners.dissector import FtpDissector, SmtpDissector, SshDissector, TelnetDissector
from otscope.dissectors.banners.grammar import parse_reply, parse_ssh_ident, printable_line, telnet_text
from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, NEWS, OK, Malformed, Truncated
from otscope.dissectors.http.constants import MAX_HEAD
from otscope.dissectors.http.dissector import HttpDissector
from otscope.dissectors.http.grammar import head_end, html_title, parse_head
from tests.unit.test_banners import FTP_220, SSH_CLIENT, SSH_SERVER, TELNET_CLIENT, TELNET_NEG
from tests.unit.test_http import ANSWER, REQUEST

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STATUSES = {OK, INCOMPLETE, FATAL, NEWS, DONE}
CLASSES = (HttpDissector, SshDissector, FtpDissector, SmtpDissector, TelnetDissector)
SEEDS = {HttpDissector: (REQUEST, ANSWER), SshDissector: (SSH_CLIENT, SSH_SERVER),
         FtpDissector: (b"USER a\r\n", FTP_220), SmtpDissector: (b"EHLO x\r\n", b"220 mx ESMTP\r\n"),
         TelnetDissector: (TELNET_CLIENT, TELNET_NEG + b"\r\nlogin banner\r\n")}


@FUZZ
@given(st.binary(max_size=600))
def test_grammars(data: bytes) -> None:
    for parse in (lambda b: parse_head(b, True), lambda b: parse_head(b, False), parse_ssh_ident, parse_reply,
                  telnet_text):
        try:
            parse(data)
        except (Truncated, Malformed):
            pass
    head_end(data)
    html_title(data)
    printable_line(data)


def run(cls, chunks: list[tuple[int, bytes]]) -> None:  # type: ignore[no-untyped-def]
    d = cls()
    for i, (side, chunk) in enumerate(chunks):
        r = d.feed(chunk, side, float(i), i + 1)
        assert r in STATUSES
        if r in (FATAL, DONE):
            break
    bufs = d.buf if isinstance(d.buf, list) else [d.buf]
    assert all(len(b) <= max(MAX_HEAD, MAX_LINE) + 1500 for b in bufs)
    for f in d.out:
        assert f.value and len(f.value) <= 200 and f.value.isprintable(), f
    assert len(d.anomalies) < 64


def _mutate(seed: bytes, pos: int, byte: int, cut: int) -> bytes:
    if not seed:
        return seed
    b = bytearray(seed)
    b[pos % len(b)] = byte
    return bytes(b[: max(1, cut % (len(b) + 1))])


@FUZZ
@given(st.sampled_from(CLASSES), st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=200)), max_size=12))
def test_random_streams(cls, chunks) -> None:  # type: ignore[no-untyped-def]
    run(cls, chunks)


@FUZZ
@given(st.sampled_from(CLASSES), st.integers(0, 4000), st.integers(0, 255), st.integers(0, 4000),
       st.integers(1, 64), st.booleans())
def test_mutated_real_exchanges_in_chunks(cls, pos, byte, cut, size, server_first) -> None:  # type: ignore[no-untyped-def]
    req, rsp = SEEDS[cls]
    req, rsp = _mutate(req, pos, byte, cut), _mutate(rsp, pos * 7, byte, cut * 3)
    order = [(1, rsp), (0, req)] if server_first else [(0, req), (1, rsp)]
    chunks = [(side, data[i:i + size]) for side, data in order for i in range(0, len(data), size)]
    run(cls, chunks)
