"""Hypothesis fuzz of the MMS walk (dissectors/s7/mms.py): the BER reader, the layer walk and the PDU parser
raise nothing but Malformed on random and mutated real bytes; the S7 dissector fed MMS streams cut at random
points or overwritten never raises and gives the same facts whole or cut."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.base import FATAL, Malformed, Truncated
from otscope.dissectors.s7.dissector import S7Dissector
from otscope.dissectors.s7.mms import common_prefix, parse_mms, tlv, unwrap
from tests.unit.test_mms import ACCEPT, CONNECT, DOMAINS_REQ, DOMAINS_RSP, IDENTIFY_REQ, IDENTIFY_RSP, REPORT
from tests.unit.test_s7 import CC, cr, dt

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REAL = (CONNECT, ACCEPT, IDENTIFY_REQ, IDENTIFY_RSP, DOMAINS_REQ, DOMAINS_RSP, REPORT)
STREAM = [(0, cr(b"\x00\x01")), (1, CC), (0, dt(CONNECT)), (1, dt(ACCEPT)), (0, dt(IDENTIFY_REQ)),
          (1, dt(IDENTIFY_RSP)), (0, dt(DOMAINS_REQ)), (1, dt(DOMAINS_RSP)), (1, dt(REPORT))]


def walk(data: bytes, established: bool) -> None:
    try:
        env = unwrap(data, established)
        if env is not None and env.mms is not None:
            parse_mms(env.mms)
    except (Truncated, Malformed):
        pass


@FUZZ
@given(st.binary(max_size=400), st.booleans())
def test_walk_on_random_bytes(data: bytes, established: bool) -> None:
    walk(data, established)
    try:
        tlv(data, 0, len(data))
    except Malformed:
        pass
    try:
        parse_mms(data)
    except Malformed:
        pass


@FUZZ
@given(st.sampled_from(REAL), st.binary(min_size=1, max_size=40), st.integers(0, 300), st.booleans())
def test_walk_on_mutated_real_pdus(real: bytes, noise: bytes, at: int, cut: bool) -> None:
    buf = bytearray(real)
    i = at % len(buf)
    buf[i:i + len(noise)] = noise
    walk(bytes(buf[:i] if cut else buf), True)


@FUZZ
@given(st.lists(st.text(alphabet="ABCDL0123", max_size=8), max_size=6))
def test_ied_name_is_a_prefix_of_every_name(names: list[str]) -> None:
    ied = common_prefix(names)
    assert ied is None or (ied[0].isalpha() and all(n.startswith(ied) and len(n) > len(ied) for n in names))


def _facts(stream, cuts: list[int]):
    d = S7Dissector()
    for side, data in stream:
        points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        for a, b in zip(points, points[1:]):
            if d.feed(data[a:b], side, 1.0, 1) == FATAL:
                return None
    return sorted((f.who, f.field, f.value) for f in d.out)


@FUZZ
@given(st.lists(st.integers(0, 10_000), max_size=8))
def test_random_segmentation_gives_the_same_mms_facts(cuts: list[int]) -> None:
    whole = _facts(STREAM, [])
    assert ("vendor" in {f for _, f, _ in whole}) and _facts(STREAM, cuts) == whole


@FUZZ
@given(st.integers(2, len(STREAM) - 1), st.binary(max_size=60), st.integers(0, 400))
def test_dissector_never_raises_on_overwritten_mms(which: int, noise: bytes, at: int) -> None:
    stream = list(STREAM)
    side, data = stream[which]
    buf = bytearray(data)
    i = 7 + at % max(1, len(buf) - 7)                  # inside the COTP user data, the TPKT length kept
    buf[i:i + len(noise)] = noise[:max(0, len(buf) - i)]
    stream[which] = (side, bytes(buf))
    _facts(stream, [])
