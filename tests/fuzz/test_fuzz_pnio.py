"""Property-based fuzzing of PROFINET IO: the grammar raises nothing but Truncated/Malformed, the PNIO-CM
dissector never raises and keeps its state bounded, fed random datagrams and mutations of real and built ones;
the PN-RT alarm parser and the cyclic counter take any frame."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Malformed, Truncated
from otscope.dissectors.pnio import rt
from otscope.dissectors.pnio.constants import MAX_PENDING_FRAGMENTS
from otscope.dissectors.pnio.dissector import MAX_PENDING, PnioCmDissector
from otscope.dissectors.pnio.grammar import blocks, parse_alarm, parse_args, parse_cm, parse_im0, parse_rpc
from tests.support import pnio_frames as F
from tests.unit.test_pnio import READ2, READ13, READ14, RELEASE1, RELEASE2

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = [READ2, READ13, READ14, RELEASE1, RELEASE2] + [fr[42:] for fr in F.connect_exchange()]


def check(d: PnioCmDissector) -> None:
    assert len(d.pending) <= MAX_PENDING and len(d.frags) <= MAX_PENDING_FRAGMENTS
    for f in d.out:
        assert f.value and len(f.value) <= 300 and f.value.isprintable(), f


@FUZZ
@given(st.binary(max_size=400), st.booleans(), st.booleans())
def test_grammar(data: bytes, little: bool, response: bool) -> None:
    for parse in (parse_rpc, parse_cm, parse_im0, parse_alarm, blocks, lambda b: parse_args(b, little, response)):
        try:
            parse(data)
        except (Truncated, Malformed):
            pass


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(raw)))
    return bytes(raw[:cut]) if draw(st.booleans()) else bytes(raw)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.one_of(mutated(), st.binary(max_size=200))), max_size=12))
def test_dissector_never_raises(datagrams: list[tuple[int, bytes]]) -> None:
    d = PnioCmDissector()
    for i, (side, data) in enumerate(datagrams):
        status = d.feed(data, side, float(i), i + 1)
        assert status in (OK, INCOMPLETE, FATAL)
        if status == FATAL:
            break
    check(d)


@FUZZ
@given(st.one_of(st.binary(max_size=120), st.builds(lambda b: bytes.fromhex("fe01") + b, st.binary(max_size=80)),
                 st.builds(lambda b: bytes.fromhex("fc01000100021100") + b, st.binary(max_size=80))))
def test_alarm_frames(body: bytes) -> None:
    try:
        a = parse_alarm(body)
    except (Truncated, Malformed):
        return
    for f in rt.facts(a, F.IOD_MAC, F.IOC_MAC):
        assert f.value.isprintable()


@FUZZ
@given(st.lists(st.binary(min_size=0, max_size=80), max_size=30))
def test_cyclic_counter_takes_any_frame(payloads: list[bytes]) -> None:
    c = rt.Cyclic()
    for i, p in enumerate(payloads):
        fr = F.eth(F.IOC_MAC, F.IOD_MAC, p)
        fid = p[0] << 8 | p[1] if len(p) >= 2 else 0
        src, items = c.frame(fr, 0, 14, len(fr), 0, fid, i, float(i))
        assert src == F.IOD_MAC and (items is None or isinstance(items, list))
    c.flush()
    assert len(c.entries) <= rt.MAX_ENTRIES


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=70)), max_size=25))
def test_l2_dispatch_of_0x8892_never_raises(frames: list[tuple[int, bytes]]) -> None:
    from otscope.agent.accumulate import Accumulator
    from otscope.agent.l2 import L2Dispatcher

    l2 = L2Dispatcher(Accumulator("fuzz"))
    for i, (fid, body) in enumerate(frames):
        fr = F.eth(F.IOC_MAC, F.IOD_MAC, fid.to_bytes(2, "big") + body)
        l2.frame(0x8892, fr, 0, 14, len(fr), 0, i + 1, float(i))
    l2.flush()
