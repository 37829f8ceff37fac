"""Property-based fuzzing of the TLS and SMB/NTLMSSP dissectors: the grammars raise nothing but
Truncated/Malformed, the dissectors never raise, always return a status, keep their buffers bounded and emit
bounded printable values, fed random, mutated, cut and re-chunked streams."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, NEWS, OK, Malformed, Truncated
from otscope.dissectors.smb import ntlmssp
from otscope.dissectors.smb.constants import MAX_MESSAGE, NBSS_HEADER
from otscope.dissectors.smb.dissector import SmbDissector
from otscope.dissectors.smb.grammar import parse_session_request, parse_smb1_header, parse_smb2_header
from otscope.dissectors.tls.constants import MAX_HANDSHAKE, MAX_RECORD, RECORD_HEADER
from otscope.dissectors.tls.dissector import TlsDissector
from otscope.dissectors.tls.grammar import parse_certificates, parse_client_hello, parse_server_hello
from otscope.dissectors.tls.ja4 import ja4
from tests.unit.test_smb import (FRAME19, FRAME20, FRAME22, authenticate, challenge, negotiate, nbss, neg2_request,
                                 neg2_response, ss2_request, ss2_response)
from tests.unit.test_tls import CERT, HELLO_DONE, certificate_msg, record, server_hello, spec_hello

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STATUSES = {OK, INCOMPLETE, FATAL, NEWS, DONE}

TLS_STREAM = [(0, record(spec_hello(grease=True))),
              (1, record(server_hello() + certificate_msg(CERT, CERT) + HELLO_DONE))]
SMB_STREAM = [(0, FRAME19), (1, FRAME20), (0, FRAME22), (0, nbss(neg2_request())), (1, nbss(neg2_response())),
              (0, nbss(ss2_request(negotiate()))), (1, nbss(ss2_response(challenge()))),
              (0, nbss(ss2_request(authenticate())))]


def check_values(d) -> None:
    for f in d.out:
        assert f.value and len(f.value) <= 512 and f.value.isprintable(), f


def run(d, chunks: list[tuple[int, bytes]]) -> None:
    for i, (side, chunk) in enumerate(chunks):
        status = d.feed(chunk, side, float(i), i + 1)
        assert status in STATUSES
        if status in (FATAL, DONE):
            break
    check_values(d)


def rechunk(stream: list[tuple[int, bytes]], cuts: list[int]) -> list[tuple[int, bytes]]:
    out = []
    for side, data in stream:
        pos = 0
        for c in cuts:
            if pos + c >= len(data):
                break
            out.append((side, data[pos:pos + c]))
            pos += c
        out.append((side, data[pos:]))
    return out


def mutate(stream: list[tuple[int, bytes]], flips: list[tuple[int, int, int]]) -> list[tuple[int, bytes]]:
    out = [(s, bytearray(d)) for s, d in stream]
    for which, at, val in flips:
        _, buf = out[which % len(out)]
        buf[at % len(buf)] = val
    return [(s, bytes(d)) for s, d in out]


@FUZZ
@given(st.binary(max_size=400))
def test_grammars(data: bytes) -> None:
    for parse in (parse_client_hello, parse_server_hello, parse_certificates, ntlmssp.parse, parse_session_request,
                  parse_smb1_header, parse_smb2_header):
        try:
            result = parse(data)
            if parse is parse_client_hello:
                assert len(ja4(result)) == 36
        except (Truncated, Malformed):
            pass
    for prefix in (b"NTLMSSP\x00\x01\x00\x00\x00", b"NTLMSSP\x00\x02\x00\x00\x00", b"NTLMSSP\x00\x03\x00\x00\x00"):
        try:
            ntlmssp.parse(prefix + data)
        except (Truncated, Malformed):
            pass
    ntlmssp.from_http_auth("NTLM " + data.hex())


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=200)), max_size=10))
def test_random_streams(chunks: list[tuple[int, bytes]]) -> None:
    run(TlsDissector(), chunks)
    run(SmbDissector(), chunks)
    run(TlsDissector(), [(s, record(c)) for s, c in chunks])
    run(SmbDissector(), [(s, nbss(c)) for s, c in chunks])


@FUZZ
@given(st.lists(st.integers(1, 300), max_size=8), st.lists(st.tuples(st.integers(0, 20), st.integers(0, 5000),
                                                                     st.integers(0, 255)), max_size=6))
def test_mutated_and_rechunked_real_streams(cuts: list[int], flips: list[tuple[int, int, int]]) -> None:
    for cls, stream in ((TlsDissector, TLS_STREAM), (SmbDissector, SMB_STREAM)):
        d = cls()
        run(d, rechunk(mutate(stream, flips), cuts))
        assert all(len(p) <= RECORD_HEADER + MAX_RECORD for p in getattr(d.buf, "pending", []))
        if cls is TlsDissector:
            assert all(len(h) <= MAX_HANDSHAKE + 4 + MAX_RECORD for h in d.hs)
        else:
            assert all(len(p) <= NBSS_HEADER + MAX_MESSAGE for p in d.buf.pending)


def test_unmutated_streams_reach_done() -> None:
    d = TlsDissector()
    statuses = [d.feed(c, s, 1.0, i) for i, (s, c) in enumerate(TLS_STREAM)]
    assert statuses[-1] == DONE
    d2 = SmbDissector()
    assert all(d2.feed(c, s, 1.0, i) in (OK, DONE) for i, (s, c) in enumerate(SMB_STREAM))
