"""The passive OS hint (dissectors/oshint): TCP SYN option parsing from real SYNs (nDPI ssh.pcap frame 1: a
macOS client, frame 2: a Linux server's SYN-ACK), the family rules, hostile options, and that the hint is weak
(rank 8: never the shown value against a stronger source, not enough for the KPI)."""

from __future__ import annotations

from hypothesis import given, strategies as st

from otscope.collector import merge
from otscope.dissectors.oshint import SPEC
from otscope.dissectors.oshint.rules import Syn, fingerprint, os_family, parse_syn

MAC_SYN = bytes.fromhex("ffff") + bytes.fromhex("020405b4010303030101080a1c95aff50000000004020000")
LINUX_SYNACK = bytes.fromhex("16a0") + bytes.fromhex("020405b40402080a001322f81c95aff501030306")


def test_real_syns() -> None:
    mac = parse_syn(MAC_SYN)
    assert mac == Syn(65535, "M,N,W,N,N,T,S,E,E", 1460, 3)
    assert fingerprint(64, mac) == "64:65535:M,N,W,N,N,T,S,E,E:1460:3" and os_family(64, mac) == "macos"
    lin = parse_syn(LINUX_SYNACK)
    assert lin is not None and lin.order == "M,S,T,N,W" and os_family(64, lin) == "linux"


def test_ttl_rules_and_what_gives_nothing() -> None:
    assert os_family(128, None) == "windows" and os_family(30, None) == "embedded"
    assert os_family(64, None) is None and os_family(255, None) is None and os_family(63, parse_syn(MAC_SYN)) is None
    assert os_family(64, Syn(1, "M,?99", None, None)) is None


def test_hostile_options_are_bounded() -> None:
    assert parse_syn(b"") is None and parse_syn(b"\x00") is None
    assert parse_syn(b"\x00\x01\x02\x00\x05") == Syn(1, "M", None, None)       # a zero length ends the walk
    assert parse_syn(b"\x00\x01" + b"\x01" * 100).order.count("N") == 40        # at most 40 option bytes


@given(st.binary(max_size=60))
def test_fuzz(data: bytes) -> None:
    syn = parse_syn(data)
    if syn is not None:
        assert len(fingerprint(64, syn)) < 200 and os_family(64, syn) in (None, "linux", "macos", "bsd")


def test_the_hint_is_weak() -> None:
    assert SPEC.rank == 8 and not SPEC.ot and not SPEC.flows and not SPEC.frames
    facts = [merge.FactView("os_family", "linux", "oshint", 9.0), merge.FactView("os_family", "windows", "http", 1.0)]
    assert merge.os_view(facts) == (None, "windows", True)          # a stronger source wins, even when older
    assert merge.os_view(facts[:1]) == (None, "linux", False)       # a hint alone does not identify a PC
    s = merge.Summary(role=merge.Role.HMI_SCADA, name="hmi-1", os_family="linux", os_strong=False)
    assert not s.identified and s.missing() == ["os"] and "weak OS hint" in merge.pc_gap(s)[0]
    s.os_strong = True
    assert s.identified and s.missing() == []


def test_normalize_zeroes_only_the_timestamp_values() -> None:
    from otscope.dissectors.oshint.rules import normalize

    n = normalize(MAC_SYN)
    assert n[:2] == MAC_SYN[:2] and parse_syn(n) == parse_syn(MAC_SYN) and n != MAC_SYN
    assert normalize(LINUX_SYNACK) == bytes.fromhex("16a0020405b40402080a000000000000000001030306")
    assert normalize(b"\x00\x01\x08") == b"\x00\x01\x08"                  # a cut option: left as it is
