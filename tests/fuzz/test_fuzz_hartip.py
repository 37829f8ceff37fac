"""Property-based fuzzing of HART-IP: the grammar raises nothing but Truncated/Malformed, the dissector never
raises, keeps its state bounded and emits bounded printable values, fed random, cut and re-chunked streams."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.base import FATAL, Malformed, Truncated
from otscope.dissectors.hartip.constants import MAX_DEVICES, MAX_MESSAGE
from otscope.dissectors.hartip.dissector import HartIpTcp, HartIpUdp
from otscope.dissectors.hartip.grammar import (parse_cmd0, parse_cmd12, parse_cmd13, parse_cmd20,
                                               parse_pass_through, unpack_ascii)
from tests.unit.test_hartip import FRAME4, INIT_REQ, INIT_RSP, cmd0_data, hdr, long_addr, pt_req, pt_rsp

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(d: HartIpTcp) -> None:
    assert len(d.pending) <= 64 and len(d.devices) <= MAX_DEVICES
    assert all(len(p) <= 2 * MAX_MESSAGE for p in d.buf.pending)
    for f in d.out:
        assert f.value and len(f.value) <= 200 and f.value.isprintable(), f


@FUZZ
@given(st.binary(max_size=300))
def test_grammar(data: bytes) -> None:
    for parse in (parse_pass_through, parse_cmd0, parse_cmd12, parse_cmd13, parse_cmd20):
        try:
            parse(data)
        except (Truncated, Malformed):
            pass
    assert len(unpack_ascii(data)) == len(data) // 3 * 4


def feed_all(cls: type[HartIpTcp], chunks: list[tuple[int, bytes]]) -> None:
    d = cls()
    for i, (side, chunk) in enumerate(chunks):
        if d.feed(chunk, side, float(i), i + 1) == FATAL:
            break
    check(d)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=120)), max_size=12))
def test_random_streams(chunks: list[tuple[int, bytes]]) -> None:
    feed_all(HartIpTcp, chunks)
    feed_all(HartIpUdp, chunks)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=60)), max_size=8), st.integers(1, 40),
       st.binary(max_size=6))
def test_valid_session_then_noise_and_cut_messages(noise: list[tuple[int, bytes]], cut: int, patch: bytes) -> None:
    """Random bytes after a confirmed session, and valid messages cut or patched at random places."""
    addr = long_addr(0x264E, b"\x00\x00\xd2")
    rsp = pt_rsp(3, addr, 0, cmd0_data())
    patched = rsp[:cut] + patch + rsp[cut + len(patch):]
    for cls in (HartIpTcp, HartIpUdp):
        feed_all(cls, [(0, INIT_REQ), (1, INIT_RSP), (0, pt_req(3, addr, 0)), (1, patched), *noise])
        feed_all(cls, [(0, INIT_REQ), (1, INIT_RSP), (1, rsp[:cut]), (1, rsp[cut:]), (1, FRAME4[:cut])])


@FUZZ
@given(st.binary(max_size=200), st.integers(0, 15), st.integers(0, 5))
def test_random_bodies_behind_valid_headers(body: bytes, msg_type: int, msg_id: int) -> None:
    for cls in (HartIpTcp, HartIpUdp):
        feed_all(cls, [(0, INIT_REQ), (1, INIT_RSP), (0, hdr(0, msg_id, 9, body)), (1, hdr(msg_type, msg_id, 9, body))])
