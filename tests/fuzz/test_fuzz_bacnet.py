"""Property-based fuzzing of BACnet/IP: the grammar raises nothing but Truncated/Malformed, the dissector never
raises, always returns a status, keeps its state bounded and emits bounded printable values, fed random, cut and
mutated datagrams (real ones from the public captures as seeds)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.bacnet.constants import MAX_DEVICES
from otscope.dissectors.bacnet.dissector import BacnetIp
from otscope.dissectors.bacnet.grammar import (char_string, parse_apdu, parse_bvlc_body, parse_communication_control,
                                               parse_i_am, parse_i_have, parse_npdu, parse_property_ref,
                                               parse_read_property_ack, parse_reinitialize, parse_rpm_ack,
                                               parse_who_has, parse_who_is)
from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, NEWS, OK, Malformed, Truncated
from tests.unit.test_bacnet import (DCC, I_AM_111, I_AM_ROUTED, I_AM_ROUTER, I_HAVE, REINIT, RP_VENDOR, WHO_HAS)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = [I_AM_ROUTED, I_AM_111, RP_VENDOR, DCC, REINIT, I_AM_ROUTER, I_HAVE, WHO_HAS]
PARSERS = (parse_npdu, parse_apdu, parse_i_am, parse_i_have, parse_who_is, parse_who_has, parse_property_ref,
           parse_read_property_ack, parse_rpm_ack, parse_reinitialize, parse_communication_control, char_string)


def check(d: BacnetIp) -> None:
    assert len(d.said) <= MAX_DEVICES * 4 and len(d.profile) <= 48 and len(d.segments) <= 8
    assert all(e[2] <= 16 * 1024 for e in d.segments.values())
    for f in d.out:
        assert f.value and len(f.value) <= 200 and f.value.isprintable(), f


@FUZZ
@given(st.binary(max_size=300))
def test_grammar(data: bytes) -> None:
    for parse in PARSERS:
        try:
            parse(data)
        except (Truncated, Malformed):
            pass
    for function in range(0x0D):
        try:
            parse_bvlc_body(function, data)
        except (Truncated, Malformed):
            pass


def feed_all(datagrams: list[tuple[int, bytes]]) -> None:
    d = BacnetIp()
    for i, (side, data) in enumerate(datagrams):
        r = d.feed(data, side, float(i), i + 1)
        assert r in (OK, INCOMPLETE, FATAL, NEWS, DONE)
        if r == FATAL:
            break
    check(d)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=120)), max_size=12))
def test_random_datagrams(datagrams: list[tuple[int, bytes]]) -> None:
    feed_all(datagrams)
    feed_all([(0, I_AM_111)] + datagrams)          # after confirmation: anomalies, never a raise


@FUZZ
@given(st.integers(0, len(SEEDS) - 1), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
       st.integers(0, 200), st.integers(0, 1))
def test_mutated_real_datagrams(seed: int, flips: list[tuple[int, int]], cut: int, side: int) -> None:
    data = bytearray(SEEDS[seed])
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    feed_all([(0, I_AM_111), (side, bytes(data)), (side, bytes(data[:cut])), (1 - side, bytes(data) + b"\x00")])


@FUZZ
@given(st.binary(max_size=200))
def test_bacnet_ethernet_frames(body: bytes) -> None:
    """The BACnet/Ethernet frame parser: Truncated/Malformed or bounded printable L2 facts, never another error."""
    from otscope.dissectors.bacnet import ethernet
    from otscope.dissectors.base import L2Fact

    for data in (body, I_AM_ROUTED[4:] + body, body[:3] + I_AM_ROUTED[7:]):
        try:
            out = ethernet.facts(ethernet.parse(data), "00:00:00:00:00:01", "ff:ff:ff:ff:ff:ff")
        except (Truncated, Malformed):
            continue
        for x in out:
            if isinstance(x, L2Fact):
                assert x.value and len(x.value) <= 200 and x.value.isprintable() and x.mac == "00:00:00:00:00:01"
