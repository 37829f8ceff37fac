"""Property-based fuzzing of SNMP: the BER grammar raises only Truncated/Malformed on random and mutated real
messages; the dissector never raises, returns a status, keeps bounded printable values."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, OK, Malformed, Truncated
from otscope.dissectors.snmp.dissector import SnmpDissector
from otscope.dissectors.snmp.facts import engine_id
from otscope.dissectors.snmp.grammar import parse
from tests.unit.test_snmp import RESP_NAME, RESP_OID, V3_DISCOVERY, V3_REPORT

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = (RESP_OID, RESP_NAME, V3_DISCOVERY, V3_REPORT)


def mutated() -> st.SearchStrategy[bytes]:
    return st.tuples(st.sampled_from(SEEDS), st.integers(0, 120), st.binary(min_size=1, max_size=4)).map(
        lambda t: t[0][:t[1]] + t[2] + t[0][t[1] + len(t[2]):])


def check(d: SnmpDissector) -> None:
    for f in d.out:
        assert f.value and len(f.value) <= 255 and f.value.isprintable(), f
    assert len(d.out) < 4096 and len(d.profile) <= 48


@FUZZ
@given(st.one_of(st.binary(max_size=400), mutated()))
def test_grammar_raises_only_its_errors(data: bytes) -> None:
    try:
        parse(data)
    except (Truncated, Malformed):
        pass
    got: dict[str, str] = {}
    engine_id(data[:40], got.__setitem__)
    assert all(v.isprintable() for v in got.values())


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.one_of(st.binary(max_size=200), mutated())), max_size=40))
def test_dissector_never_raises(datagrams: list[tuple[int, bytes]]) -> None:
    d = SnmpDissector()
    for i, (side, data) in enumerate(datagrams):
        status = d.feed(data, side, float(i), i + 1)
        assert status in (OK, INCOMPLETE, FATAL, DONE)
        if status in (FATAL, DONE):
            break
    check(d)
