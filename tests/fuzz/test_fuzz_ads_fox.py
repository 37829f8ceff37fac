"""Property-based fuzzing of ADS/AMS and Niagara Fox: the grammars raise nothing but Truncated/Malformed, the
dissectors never raise, always return a status, keep their state bounded and emit bounded printable values,
fed random, cut, patched and re-chunked streams."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.ads.constants import BODY_KEEP, FRAME_HEAD, MAX_NETIDS
from otscope.dissectors.ads.dissector import AdsTcp, AdsUdp
from otscope.dissectors.ads.grammar import (os_version, parse_ams_header, parse_device_info, parse_index_request,
                                            parse_read_state, parse_udp, parse_write_control, twincat_version)
from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, NEWS, OK, Malformed, Truncated
from otscope.dissectors.fox.constants import MAX_MESSAGE
from otscope.dissectors.fox.dissector import FoxDissector, FoxTlsDissector
from otscope.dissectors.fox.grammar import parse_message
from tests.unit.test_ads import DISC_REQ, DISC_RSP, RS_REQ, RS_RSP, TC3_RSP, devinfo, req, rsp
from tests.unit.test_fox import CLIENT_HELLO, JACE_HELLO, TLS_CH, TLS_SH

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STATUSES = {OK, INCOMPLETE, FATAL, NEWS, DONE}


def check_facts(d) -> None:
    for f in d.out:
        assert f.value and len(f.value) <= 200 and f.value.isprintable(), f


def check_ads(d: AdsTcp | AdsUdp) -> None:
    assert len(d.pending) <= 64 and all(len(s) <= MAX_NETIDS for s in d.netids)
    if isinstance(d, AdsTcp):
        assert all(len(p) <= 2 * (FRAME_HEAD + BODY_KEEP) for p in d.buf.pending)
    check_facts(d)


def feed_all(d, chunks: list[tuple[int, bytes]]) -> None:
    for i, (side, chunk) in enumerate(chunks):
        status = d.feed(chunk, side, float(i), i + 1)
        assert status in STATUSES
        if status in (FATAL, DONE):
            break


@FUZZ
@given(st.binary(max_size=400))
def test_grammars(data: bytes) -> None:
    for parse in (parse_device_info, parse_read_state, parse_write_control, parse_index_request, parse_udp,
                  os_version, twincat_version, parse_ams_header, parse_message):
        try:
            parse(data)
        except (Truncated, Malformed):
            pass


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=150)), max_size=12))
def test_random_streams(chunks: list[tuple[int, bytes]]) -> None:
    for cls in (AdsTcp, AdsUdp):
        d = cls()
        feed_all(d, chunks)
        check_ads(d)
    for cls in (FoxDissector, FoxTlsDissector):
        f = cls()
        feed_all(f, chunks)
        check_facts(f)
        assert all(len(p) <= MAX_MESSAGE for p in f.buf.pending)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=80)), max_size=8), st.integers(1, 90),
       st.binary(max_size=8), st.integers(1, 60))
def test_valid_ads_session_then_noise_cut_and_patched(noise: list[tuple[int, bytes]], cut: int, patch: bytes,
                                                      chunk: int) -> None:
    info = rsp(1, devinfo(), 9)
    patched = info[:cut] + patch + info[cut + len(patch):]
    stream = RS_REQ + req(1, b"", 9)
    d = AdsTcp()
    feed_all(d, [(0, stream[i:i + chunk]) for i in range(0, len(stream), chunk)]
             + [(1, RS_RSP), (1, patched), *noise])
    check_ads(d)
    u = AdsUdp()
    feed_all(u, [(0, DISC_REQ), (1, DISC_RSP[:cut] + patch + DISC_RSP[cut:]), (1, TC3_RSP[:cut * 4]), *noise])
    check_ads(u)


@FUZZ
@given(st.integers(1, 400), st.binary(max_size=8), st.integers(0, 1), st.integers(1, 97))
def test_fox_hellos_cut_patched_and_rechunked(cut: int, patch: bytes, side: int, chunk: int) -> None:
    hello = JACE_HELLO[:cut] + patch + JACE_HELLO[cut + len(patch):]
    d = FoxDissector()
    feed_all(d, [(side, CLIENT_HELLO)] + [(1 - side, hello[i:i + chunk]) for i in range(0, len(hello), chunk)])
    check_facts(d)
    t = FoxTlsDissector()
    feed_all(t, [(0, TLS_CH[:cut % 12]), (0, TLS_CH[cut % 12:]), (1, TLS_SH[:cut] + patch)])
    check_facts(t)
