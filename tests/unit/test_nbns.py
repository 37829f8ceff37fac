"""NetBIOS name service and browser (dissectors/nbns) from real bytes: nDPI netbios.pcap (node status answer of
GUNNAR, name query answer of GURU, NVR9's host announcement), HoneyNet suspicious-time.pcap (a registration);
malformed, truncated, pointer loops, every anomaly."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import FATAL, OK, Malformed, Truncated, Who
from otscope.dissectors.dnsmsg import PointerLoop, read_name
from otscope.dissectors.nbns.constants import BrowserAnomaly, NbnsAnomaly
from otscope.dissectors.nbns.dissector import BrowserDissector, NbnsDissector
from otscope.dissectors.nbns.facts import server_types
from otscope.dissectors.nbns.grammar import decode_name, parse_datagram, parse_nbns

NODE_STATUS = bytes.fromhex(
    "20a88400000000010000000020434b41414141414141414141414141414141414141414141414141414141414100002100010000"
    "000000770447554e4e4152202020202020202020000400564947494c414e545f47524f55502000840047554e4e41522020202020"
    "20202020200400564947494c414e545f47524f5550201e8400001cc410790f000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000")
QUERY_ANSWER = bytes.fromhex("9ed6850000000001000000002045484646464346464341434143414341434143414341434143414341"
                             "434141410000200001000493e0000600000a000501")
REGISTRATION = bytes.fromhex("801e291000010000000000012044494547454544424443454645454545444345454544444244454447"
                             "444341410000200001c00c00200001000493e0000600000a00020f")
HOST_ANNOUNCEMENT = bytes.fromhex(
    "110ec2f40a000509008a00bb000020454f46474643444a4341434143414341434143414341434143414341434143410020464745"
    "4a4548454a454d4542454f46454650454846434550464646414341424e00ff534d42250000000000000000000000000000000000"
    "0000000000000000000011000021000000000000000000e803000000000000000021005600030001000000020032005c4d41494c"
    "534c4f545c42524f57534500010080fc0a004e5652390000000000000000000000000601071001000f0155aa00")


def run(cls, data: bytes, side: int = 0):  # type: ignore[no-untyped-def]
    d = cls()
    status = d.feed(data, side, 0.0, 1)
    return d, status, {(f.field, f.value) for f in d.out}


def test_node_status_answer_lists_the_nodes_own_names_and_mac() -> None:
    p = parse_nbns(NODE_STATUS)
    assert p.response and [str(n) for n, _g in p.records[0].node_names] == [
        "GUNNAR<00>", "VIGILANT_GROUP<00>", "GUNNAR<20>", "VIGILANT_GROUP<1E>"]
    d, st, f = run(NbnsDissector, NODE_STATUS, side=1)
    assert st == OK and {x.who for x in d.out} == {Who.SERVER}
    assert f == {("protocol", "nbns"), ("protocol", "nbns-server"), ("name", "GUNNAR"),
                 ("domain", "VIGILANT_GROUP"), ("nbns_unit_id", "00:1c:c4:10:79:0f")}


def test_a_nodes_query_answer_is_its_name_and_an_nbns_answer_is_not() -> None:
    _d, _st, f = run(NbnsDissector, QUERY_ANSWER)
    assert ("name", "GURU") in f
    wins = bytearray(QUERY_ANSWER)
    wins[3] |= 0x80                                        # RA: from an NBNS server, about another host
    _d, _st, f = run(NbnsDissector, bytes(wins))
    assert not any(k == "name" for k, _ in f)


def test_registration_is_the_registering_hosts_name() -> None:
    p = parse_nbns(REGISTRATION)
    assert p.opcode == 5 and not p.response and str(p.questions[0]) == "8FD12EDD2DC1462<00>"
    _d, st, f = run(NbnsDissector, REGISTRATION)
    assert st == OK and f == {("protocol", "nbns"), ("name", "8FD12EDD2DC1462")}


def test_host_announcement() -> None:
    dg = parse_datagram(HOST_ANNOUNCEMENT)
    assert str(dg.source) == "NVR9<20>" and str(dg.destination) == "VIGILANT_GROUP<1D>"
    assert dg.mailslot == "\\MAILSLOT\\BROWSE" and dg.announcement is not None
    d, st, f = run(BrowserDissector, HOST_ANNOUNCEMENT)
    assert st == OK
    assert {("name", "NVR9"), ("browser_os_version", "6.1"), ("os", "Windows 7 / Server 2008 R2 (6.1)"),
            ("domain", "VIGILANT_GROUP"), ("browser_server_type_raw", "0x00011007"), ("protocol", "browser"),
            ("browser_server_type", "workstation,server,sql-server,nt,potential-browser")} <= f


def test_server_type_names_keep_unknown_bits() -> None:
    assert server_types(0x00000003) == "workstation,server"
    assert server_types(0x08000001) == "workstation,0x08000000"


def test_samba_version_is_no_windows_os() -> None:
    a = bytearray(HOST_ANNOUNCEMENT)
    at = a.index(b"NVR9") + 16
    a[at:at + 2] = b"\x04\x09"
    _d, _st, f = run(BrowserDissector, bytes(a))
    assert ("browser_os_version", "4.9") in f and not any(k == "os" for k, _ in f)


def test_name_encoding_bounds() -> None:
    with pytest.raises(Malformed):
        decode_name((b"A" * 31,))
    with pytest.raises(Malformed):
        decode_name((b"Z" * 32,))
    assert decode_name((b"EOFGFCDJCACACACACACACACACACACAAA", b"corp")).scope == "corp"


def test_pointer_loops_are_refused() -> None:
    with pytest.raises(PointerLoop):
        read_name(b"\x00" * 12 + b"\xc0\x0c", 12)                  # onto itself
    with pytest.raises(PointerLoop):
        read_name(b"\x00" * 12 + b"\xc0\x10\x00\x00\x01a\xc0\x0e", 12)   # forward
    with pytest.raises(PointerLoop):
        read_name(b"\x00" * 12 + b"\x01a\xc0\x0c", 12)               # a backwards cycle: bounded jumps
    d = NbnsDissector()
    assert d.feed(REGISTRATION, 0, 0.0, 1) == OK
    loop = bytearray(REGISTRATION)
    at = loop.index(b"\xc0\x0c")
    loop[at + 1] = at & 0xFF                                       # the answer's pointer onto itself
    assert d.feed(bytes(loop), 0, 0.0, 2) == OK
    assert [a.kind for a in d.anomalies] == [NbnsAnomaly.NAME_LOOP]


@pytest.mark.parametrize("raw", [b"", b"\x00" * 11, NODE_STATUS[:40], QUERY_ANSWER[:-3],
                                 b"\x00\x01\x00\x00" + b"\x00" * 8])
def test_malformed_and_truncated_nbns(raw: bytes) -> None:
    with pytest.raises((Malformed, Truncated)):
        parse_nbns(raw)


def test_not_nbns_first_is_fatal_and_later_an_anomaly() -> None:
    d, st, _ = run(NbnsDissector, b"garbage that is no name service packet")
    assert st == FATAL
    d = BrowserDissector()
    assert d.feed(HOST_ANNOUNCEMENT, 0, 0.0, 1) == OK
    assert d.feed(HOST_ANNOUNCEMENT[:60], 0, 0.0, 2) == OK
    assert [a.kind for a in d.anomalies] == [f"{BrowserAnomaly.BAD_DATAGRAM}-truncated"]
    with pytest.raises(Malformed):
        parse_datagram(b"\x99" + HOST_ANNOUNCEMENT[1:])
