"""Property-based fuzzing of the GOOSE / SV parsers: parse + facts raise nothing but Truncated/Malformed, every
fact value is a bounded printable string. Random bytes go behind a valid header and PDU tag so the BER walkers
are reached, not only the header checks."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.goose.facts import goose_facts, sv_facts
from otscope.dissectors.goose.grammar import parse_goose, parse_sv
from tests.fuzz.test_fuzz_l2 import check, run
from tests.unit.test_goose import asdu, frame, goose_pdu, tlv

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAC = "00:a0:f4:08:2f:77"


@FUZZ
@given(st.binary(max_size=600))
def test_random_frames(data: bytes) -> None:
    run(parse_goose, lambda g: goose_facts(g, MAC), data)
    run(parse_sv, lambda s: sv_facts(s, MAC), data)


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([0x60, 0x61]), st.integers(0, 0xFFFF))
def test_random_pdu_bodies(body: bytes, pdu_tag: int, reserved1: int) -> None:
    raw = frame(1, tlv(pdu_tag, body), reserved1)
    run(parse_goose, lambda g: goose_facts(g, MAC), raw)
    run(parse_sv, lambda s: sv_facts(s, MAC), raw)


@FUZZ
@given(st.integers(1, 400), st.binary(max_size=8))
def test_cut_and_patched_valid_frames(cut: int, patch: bytes) -> None:
    for raw in (frame(1, goose_pdu()), frame(1, tlv(0x60, tlv(0x80, b"\x01") + tlv(0xA2, asdu(b"a/b", 1))))):
        mutated = raw[:cut] + patch + raw[cut + len(patch):]
        for data in (raw[:cut], mutated):
            run(parse_goose, lambda g: goose_facts(g, MAC), data)
            run(parse_sv, lambda s: sv_facts(s, MAC), data)


def test_check_rejects_unprintable() -> None:
    """The checker itself can fail: a non-printable value is caught."""
    from otscope.dissectors.base import L2Fact
    try:
        check([L2Fact(MAC, None, "goose_id", "a\x00", "m")])
    except AssertionError:
        return
    raise AssertionError("check accepted a non-printable value")


def test_header_length_bounds_the_pdu() -> None:
    """Bytes after the declared Length are not the PDU's (a padded minimum-size Ethernet frame)."""
    raw = frame(1, goose_pdu())
    padded = raw + b"\x80\x03abc"
    assert parse_goose(padded).anomalies == [] and struct.unpack(">H", raw[2:4])[0] == len(raw)
