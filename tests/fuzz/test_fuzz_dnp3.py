"""Property-based fuzzing of the DNP3 package: its parsers raise only Truncated/Malformed, its dissectors never
raise on random or mutated frames, valid frames with random user data (CRCs right, so the fuzz reaches the
transport and application layers) never raise, and a stream cut anywhere gives the same facts."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.base import FATAL, Malformed, Truncated
from otscope.dissectors.dnp3.dissector import Dnp3Dissector, Dnp3UdpDissector
from otscope.dissectors.dnp3.grammar import (build_frame, parse_apdu, parse_device_attributes, parse_link_frame,
                                             parse_segment)
from tests.unit.test_dnp3 import G0_READ, G0_RESPONSE, READ_CLASS, RSP_1, RSP_2, request, response

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GRAMMARS = [parse_link_frame, parse_segment, parse_apdu, parse_device_attributes,
            lambda b: parse_device_attributes(b"\x00" + b)]


@FUZZ
@given(st.binary(max_size=400), st.integers(0, len(GRAMMARS) - 1))
def test_grammars_raise_only_their_own_errors(data: bytes, which: int) -> None:
    try:
        GRAMMARS[which](data)
    except (Truncated, Malformed):
        pass


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=300)), max_size=12))
def test_dissectors_never_raise_on_random_bytes(msgs) -> None:
    for cls in (Dnp3Dissector, Dnp3UdpDissector):
        d = cls()
        for i, (side, data) in enumerate([(0, READ_CLASS)] + msgs):     # past the early FATAL
            if d.feed(data, side, 1.0, i) == FATAL:
                break


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
                          st.binary(max_size=250)), max_size=16))
def test_valid_frames_with_random_user_data_never_raise(frames) -> None:
    """CRC-correct frames: the random bytes reach the transport, application and group 0 layers."""
    for cls in (Dnp3Dissector, Dnp3UdpDissector):
        d = cls()
        for i, (side, ctl, dst, src, user) in enumerate(frames):
            assert d.feed(build_frame(ctl, dst, src, user), side, 1.0, i) != FATAL
        assert all(isinstance(f.value, str) and len(f.value) <= 128 for f in d.out)


@FUZZ
@given(st.binary(min_size=1, max_size=60), st.integers(0, 400))
def test_mutated_real_frames_never_raise(noise: bytes, at: int) -> None:
    for real in (RSP_1, response(G0_RESPONSE)):
        buf = bytearray(real)
        buf[at % len(buf):at % len(buf) + len(noise)] = noise
        d = Dnp3Dissector()
        d.feed(READ_CLASS, 0, 1.0, 1)
        d.feed(bytes(buf), 1, 1.0, 2)


STREAM = [(0, READ_CLASS), (1, RSP_1 + RSP_2), (0, request(G0_READ)), (1, response(G0_RESPONSE, size=30))]


def _facts(stream, cuts: list[int]):
    d = Dnp3Dissector()
    for side, data in stream:
        points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        for a, b in zip(points, points[1:]):
            d.feed(data[a:b], side, 1.0, 1)
    return sorted((f.who, f.field, f.value) for f in d.out), dict(d.profile)


@FUZZ
@given(st.lists(st.integers(0, 10_000), max_size=8))
def test_random_segmentation_gives_the_same_facts(cuts: list[int]) -> None:
    got = _facts(STREAM, cuts)
    assert got == _facts(STREAM, [])
    assert ("vendor" in {f[1] for f in got[0]}) and got[1]["response"] == 2
