"""Versions and version ranges in the forms ICS advisories write them (collector/advisories/versions.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otscope.collector.advisories.versions import RangeKind, Verdict, evaluate, parse_range, parse_version

A, N, U, F = Verdict.AFFECTED, Verdict.NOT_AFFECTED, Verdict.UNDECIDED, Verdict.FIRMWARE_UNKNOWN

CASES = [
    # firmware, range text, verdict
    ("V3.2.7", "vers:all/<V3.2.16", A),            # 3.2.7 < 3.2.16 as versions (univers' intdot gets this wrong)
    ("V3.2.16", "vers:all/<V3.2.16", N),
    ("2.10", "vers:all/<V2.9.2", N),                 # and 2.10 > 2.9.2
    ("V3.2.7", "< V3.X.17", A),                      # X = the CPU's own minor: 3.2.17
    ("V3.2.19", "< V3.X.17", N),
    ("V2.6.1", "< V3.X.17", A),
    ("V4.0", "< V3.X.17", N),
    ("V3.2.7", "All versions < V3.X.16", A),
    ("2.2", "<= 2.2", A),                            # inclusive
    ("2.2.1", "<= 2.2", A),                          # the 2.2 line
    ("2.3", "<= 2.2", N),
    ("v2.2", "<= 2.0", N),
    ("V2.9.3", "vers:all/>=V2.9.2<V2.9.4", A),       # CISA's invalid vers: accepted
    ("V2.9.4", "vers:all/>=V2.9.2<V2.9.4", N),
    ("V2.9.1", "vers:all/>=V2.9.2<V2.9.4", N),
    ("V1.0", "All versions >= V2.0 and < V2.5", N),
    ("V2.4.9", "All versions >= V2.0 and < V2.5", A),
    ("V2.5.1", "> V2.5 < V2.9.2", A),
    ("V2.5", "> V2.5 < V2.9.2", N),
    ("16.20", "vers:all/*", A),
    ("03.10.08(22)", ">FW16_up_to_and_including_FW26", A),    # WAGO: (22) = FW22
    ("03.10.08(16)", ">FW16_up_to_and_including_FW26", N),
    ("03.10.08(26)", ">FW16_up_to_and_including_FW26", A),
    ("03.10.08", "< 02.07.07(10)", N),
    ("02.07.06(10)", "< 02.07.07(10)", A),
    ("33.11", "<= 33", A),                           # "versions 33 and prior"
    ("34.1", "<= 33", N),
    ("33.11", "<= 33.013", A),
    ("33.14", "<= 33.013", N),
    ("18", "16 <= 20", A),                           # "versions 16 through 20"
    ("21", "16 <= 20", N),
    ("15", "16 <= 20", N),
    ("30", "28  - 32", A),
    ("33", "28  - 32", N),
    ("1.3", ">= 1.0 | <= 1.32", A),
    ("1.33", ">= 1.0 | <= 1.32", N),
    ("3.40", "3.36 | 3.40", A),
    ("3.38", "3.36 | 3.40", N),
    ("32.11", "<v36.011_v35.013_v34.014", A),        # older than every fixed branch
    ("35.012", "<v36.011_v35.013_v34.014", A),
    ("35.013", "<v36.011_v35.013_v34.014", N),
    ("37.1", "<v36.011_v35.013_v34.014", N),
    ("V4.4.0", "Version V4.4", A),
    ("V2.2", "Version V4.4", N),
    ("V2.2", "V4.5.0", N),
    ("V4.5.0", "V4.5.0", A),
    ("v3.20", "< SV3.51", A),
    ("v3.60", "< SV3.51", N),
    ("20.011", "Firmware__20.011", A),
    ("20", "<=firmware_32", A),
    ("33", "<=firmware_32", N),
    ("V5.1 SP1 HF3", "All versions < V5.1 SP1 HF4", A),
    ("V5.1 SP1 HF4", "All versions < V5.1 SP1 HF4", N),
    ("V5.1 SP2", "All versions < V5.1 SP1 HF4", N),
    ("3.1 Build 4022.3", "<=3.1 Build 4022.4", A),
    ("2.4.7", "2.4.X", A),
    ("2.5.0", "2.4.X", N),
    ("2.8.3", ">= 2.8.1 (only affected by CVE-2019-10943)", A),
    ("V1.0", "< 1.49 (1.29 for NX7)", A),
    ("07.0.01", "<= HiOS 07.0.02", A),
    # conditions no packet shows, non-versions in the version slot, unreadable firmware
    ("V2.2", "All versions <= V2.3.0 and Function State (FS) <= 3", U),
    ("V2.4", "All versions <= V2.3.0 and Function State (FS) <= 3", N),
    ("V4.2", "All versions with Function State (FS) < 11", U),
    ("03.10.08(22)", "750-82xx/xxx-xxx", U),
    ("V4.2", "S7-1211", U),
    ("1.0", "<=W", U),
    ("R311-V0", "< 3", U),
    (None, "< V3.2.19", F),
    ("", "vers:all/<V3.2.19", F),
    (None, "vers:all/*", A),                         # every version: firmware does not matter
]


@pytest.mark.parametrize(("firmware", "text", "verdict"), CASES, ids=[f"{f}|{t}" for f, t, _ in CASES])
def test_range_forms(firmware: str | None, text: str, verdict: Verdict) -> None:
    assert evaluate(parse_range(text), firmware).verdict is verdict


def test_unknown_range_never_claims_affected() -> None:
    for text in ("750-82xx/xxx-xxx", "S7-1211", "<=W", "2015 and 2021 (Drives manufactured in 2022 are not affected)",
                 "1SAP551100R0001 (revision index B1 with BSP <= UN30 1.76)", "x" * 300, ""):
        rng = parse_range(text)
        assert rng.kind is RangeKind.UNKNOWN
        for fw in ("1.0", "V3.2.7", None, "99"):
            assert evaluate(rng, fw).verdict is not Verdict.AFFECTED


def test_serial_number_ranges() -> None:
    rng = parse_range("<=the_first_5_digits_of_serial_number_22081")
    assert rng.kind is RangeKind.SERIAL
    assert evaluate(rng, "20", serial="22031xxxxx").verdict is A
    assert evaluate(rng, "20", serial="23011xxxxx").verdict is N
    assert evaluate(rng, "20", serial=None).verdict is F
    assert evaluate(parse_range('<=The_first_5_digits_of_serial_No._"26061"'), None, serial="26061").verdict is A


def test_wago_label_from_the_caller() -> None:
    """A WAGO version without brackets: the FW label comes from the vendor rule (match.wago_fw_label)."""
    rng = parse_range(">FW16_up_to_and_including_FW26")
    assert evaluate(rng, "03.10.08").verdict is U
    assert evaluate(rng, "03.10.08", fw_label=22).verdict is A


def test_versions_compare_as_versions() -> None:
    v = parse_version
    assert v("V3.2.7") < v("V3.2.16") < v("3.10")
    assert v("4.4").same(v("V4.4.0"))
    assert v("03.10.08(22)").label == 22 and v("03.10.08(22)").release == (3, 10, 8)
    assert v("16.20") > v("16.3")
    assert v("V5.1") < v("V5.1 SP1") < v("V5.1 SP1 HF4") < v("V5.1 SP2")
    assert v("R311-V0") is None and v("") is None and v(None) is None


TEXT = st.one_of(st.text(max_size=40), st.from_regex(r"[<>=]{0,2} ?[vV]?\d{1,3}(\.(\d{1,3}|X)){0,3}( SP\d)?",
                                                      fullmatch=True))


@settings(max_examples=300, deadline=None)
@given(TEXT, st.one_of(st.none(), st.text(max_size=20), st.from_regex(r"[vV]?\d{1,3}(\.\d{1,3}){0,3}",
                                                                       fullmatch=True)))
def test_parsers_never_raise(text: str, firmware: str | None) -> None:
    rng = parse_range(text)
    assert evaluate(rng, firmware).verdict in Verdict
    parse_version(text)


VERSIONS = st.from_regex(r"[vV]?\d{1,3}(\.\d{1,3}){0,3}( (SP|HF|Upd)\d{1,2}){0,2}", fullmatch=True).map(parse_version)


@settings(max_examples=300, deadline=None)
@given(VERSIONS, VERSIONS, VERSIONS)
def test_total_order(a, b, c) -> None:  # type: ignore[no-untyped-def]
    assert a is not None and b is not None and c is not None
    assert (a < b) + (b < a) + a.same(b) == 1            # exactly one holds
    assert (a <= b) == (a < b or a.same(b))
    if a <= b and b <= c:
        assert a <= c
    assert sorted([a, b, c], key=lambda x: x.key()) == sorted([c, b, a], key=lambda x: x.key()) or \
        [x.key() for x in sorted([a, b, c], key=lambda x: x.key())] == \
        [x.key() for x in sorted([c, b, a], key=lambda x: x.key())]
