"""Property-based fuzzing of the layer-2/3 identity parsers: parse + facts raise nothing but Truncated/Malformed,
and every value they emit is a bounded printable string. Random bytes are put behind valid headers so the
option/TLV/block walkers (not only the header checks) are reached."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.base import L2Anomaly, L2Binding, L2Fact, Malformed, Truncated
from otscope.dissectors.cdp import facts as cdp_facts, grammar as cdp
from otscope.dissectors.dhcp import facts as dhcp_facts, grammar as dhcp
from otscope.dissectors.lldp import facts as lldp_facts, grammar as lldp
from otscope.dissectors.pndcp import facts as dcp_facts, grammar as dcp
from tests.unit.test_l2_identity import SCALANCE_DESC, bootp, ctlv, dcp_pdu, opt, tlv

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_VALUE = 400


def check(items: list) -> None:
    for x in items:
        assert isinstance(x, (L2Fact, L2Binding, L2Anomaly))
        if isinstance(x, L2Fact):
            assert x.value and len(x.value) <= MAX_VALUE and x.value.isprintable(), x


def run(parse, facts, data: bytes) -> None:
    try:
        msg = parse(data)
    except (Truncated, Malformed):
        return
    check(facts(msg))


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([1, 2]), st.booleans())
def test_dhcp_options(options: bytes, op: int, cookie: bool) -> None:
    run(dhcp.parse, lambda m: dhcp_facts.facts(m, "10.0.0.1"), bootp(op, options if cookie else None))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from([12, 52, 53, 60, 61, 81, 55, 50, 54]), st.binary(max_size=40)), max_size=8),
       st.binary(max_size=128), st.binary(max_size=64))
def test_dhcp_structured_options(opts: list[tuple[int, bytes]], file: bytes, sname: bytes) -> None:
    raw = bootp(2, b"".join(opt(c, v) for c, v in opts), file=file, sname=sname)
    run(dhcp.parse, lambda m: dhcp_facts.facts(m, "10.0.0.1"), raw)


@FUZZ
@given(st.binary(max_size=300))
def test_fqdn(value: bytes) -> None:
    try:
        f = dhcp.parse_fqdn(value)
    except (Truncated, Malformed):
        return
    assert len(f.name) <= dhcp.NAME_LIMIT and (not f.name or f.name.isprintable())


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 127), st.binary(max_size=60)), max_size=10), st.binary(max_size=40))
def test_lldp_tlvs(tlvs: list[tuple[int, bytes]], tail: bytes) -> None:
    raw = tlv(1, b"\x04" + bytes(6)) + b"".join(tlv(t, v) for t, v in tlvs) + tail
    run(lldp.parse, lambda f: lldp_facts.facts(f, "00:00:00:00:00:01"), raw)


@FUZZ
@given(st.binary(max_size=255))
def test_lldp_system_description(desc: bytes) -> None:
    raw = tlv(1, b"\x07x") + tlv(6, SCALANCE_DESC[:40] + desc) + tlv(0, b"")
    run(lldp.parse, lambda f: lldp_facts.facts(f, "00:00:00:00:00:01"), raw)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from([1, 2, 3, 4, 5, 6, 0x0A, 0x16, 99]), st.binary(max_size=60)), max_size=10))
def test_cdp_tlvs(tlvs: list[tuple[int, bytes]]) -> None:
    raw = b"\x02\xb4\x00\x00" + ctlv(1, b"dev") + b"".join(ctlv(t, v) for t, v in tlvs)
    run(cdp.parse, lambda f: cdp_facts.facts(f, "00:00:00:00:00:01"), raw)


@FUZZ
@given(st.sampled_from([(0xFEFF, 5, 1), (0xFEFC, 6, 0), (0xFEFD, 4, 0), (0xFEFE, 5, 0), (0xFEFD, 3, 1)]),
       st.lists(st.tuples(st.sampled_from([1, 2, 3, 5, 0xFF]), st.integers(0, 9), st.binary(max_size=30)),
                max_size=8))
def test_dcp_blocks(kind: tuple[int, int, int], blocks: list[tuple[int, int, bytes]]) -> None:
    body = b"".join(bytes([o, s]) + struct.pack(">H", len(v)) + v + b"\0" * (len(v) & 1) for o, s, v in blocks)
    run(dcp.parse, lambda f: dcp_facts.facts(f, "00:00:00:00:00:01", "00:00:00:00:00:02"), dcp_pdu(*kind, body))
