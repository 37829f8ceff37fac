"""The decoder (agent/decode.py): hex frames -> named Packet records; malformed frames -> counted anomalies."""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.agent.decode import (IP, L2, NO_DUP_KEY, PROTO_FRAGMENT, TCP, UDP, Decoder, Packet, mac_from)
from otscope.agent.pcapio import read_chunks
from otscope.agent.stats import Stats
from tests.conftest import write_pcap

ETH = bytes.fromhex("001b1b000001" "000c29000002")       # dst, src
A, B = bytes.fromhex("0a000001"), bytes.fromhex("0a000002")
MB_REQ = bytes.fromhex("000100000006010300000002")


def ip4(proto: int, body: bytes, ipid: int = 7, frag: int = 0, ihl: int = 5, tot: int | None = None,
        ck: int = 0x1234) -> bytes:
    opts = bytes(4 * (ihl - 5))
    total = 4 * ihl + len(body) if tot is None else tot
    return struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, total, ipid, frag, 64, proto, ck, A, B) + opts + body


def tcp_hdr(sp: int = 40000, dp: int = 502, seq: int = 1000, flags: int = 0x18, doff: int = 5) -> bytes:
    return struct.pack(">HHIIBBHHH", sp, dp, seq, 0, doff << 4, flags, 1000, 0, 0) + bytes(4 * (doff - 5))


def udp_hdr(sp: int = 5000, dp: int = 6000, n: int = 0) -> bytes:
    return struct.pack(">HHHH", sp, dp, 8 + n, 0)


def decode(tmp_path: Path, frames: list[bytes], linktype: int = 1,
           primary: bool = True) -> tuple[list[Packet], list[tuple[str, str]], Stats]:
    path = write_pcap(tmp_path / "d.pcap", frames, linktype=linktype)
    stats, anomalies = Stats(), []
    dec = Decoder(stats, lambda proto, kind, frame, ts: anomalies.append((proto, kind)), primary)
    out: list[Packet] = []
    for lt, rec, scale, buf, pos, end, _n in read_chunks(str(path)):
        out += dec.packets(lt, rec, scale, buf, pos, end, dec.frame)
    assert dec.frame == len(frames)
    return out, anomalies, stats


def payload(p: Packet) -> bytes:
    return p.buf[p.p0:p.iend]


def test_ipv4_tcp_in_one_unpack(tmp_path: Path) -> None:
    (p,), anomalies, _ = decode(tmp_path, [ETH + b"\x08\x00" + ip4(6, tcp_hdr(seq=77) + MB_REQ, ipid=9)])
    assert anomalies == []
    assert (p.kind, p.vlan, p.src, p.dst, p.sp, p.dp, p.seq, p.flags, p.ttl) == (TCP, 0, 0x0A000001, 0x0A000002,
                                                                               40000, 502, 77, 0x18, 64)
    assert p.dk == 9 << 16 | 0x1234 and payload(p) == MB_REQ and p.frame == 1


def test_ipv4_options_and_tcp_options(tmp_path: Path) -> None:
    (p,), _, _ = decode(tmp_path, [ETH + b"\x08\x00" + ip4(6, tcp_hdr(doff=8) + MB_REQ, ihl=6)])
    assert p.kind == TCP and payload(p) == MB_REQ


def test_vlan_tags_outermost_id(tmp_path: Path) -> None:
    tags = b"\x88\xa8" + struct.pack(">H", 100) + b"\x81\x00" + struct.pack(">H", 0x2007) + b"\x08\x00"
    (p,), _, _ = decode(tmp_path, [ETH + tags + ip4(17, udp_hdr(n=1) + b"x")])
    assert (p.kind, p.vlan, p.sp, p.dp, payload(p)) == (UDP, 100, 5000, 6000, b"x")


def test_too_many_vlan_tags_and_truncated_tags(tmp_path: Path) -> None:
    five = (b"\x81\x00\x00\x01") * 5 + b"\x08\x00" + ip4(17, udp_hdr())
    cut = b"\x81\x00\x00"
    got, anomalies, _ = decode(tmp_path, [ETH + five, ETH + cut])
    assert got == [] and anomalies == [("eth", "bad-vlan-stack")] * 2


def test_truncated_and_bad_ipv4(tmp_path: Path) -> None:
    frames = [ETH[:10],                                              # no ethertype
              ETH + b"\x08\x00" + ip4(6, b"")[:19],                   # 19 bytes of IPv4
              ETH + b"\x08\x00" + b"\x55" + ip4(6, b"")[1:],          # version 5
              ETH + b"\x08\x00" + ip4(6, b"", tot=10),                # total length below the header
              ETH + b"\x08\x00" + ip4(6, tcp_hdr()[:12]),             # 12 bytes of TCP
              ETH + b"\x08\x00" + ip4(17, udp_hdr()[:6])]             # 6 bytes of UDP
    got, anomalies, _ = decode(tmp_path, frames)
    assert got == []
    assert anomalies == [("eth", "truncated-frame"), ("ipv4", "truncated-header"), ("ipv4", "bad-header"),
                         ("ipv4", "bad-header"), ("tcp", "truncated-header"), ("udp", "truncated-header")]


def test_payload_ends_at_the_ip_length_or_the_frame(tmp_path: Path) -> None:
    padded = ETH + b"\x08\x00" + ip4(17, udp_hdr(n=2) + b"ab") + bytes(6)   # Ethernet trailer
    claims_more = ETH + b"\x08\x00" + ip4(17, udp_hdr(n=2) + b"ab", tot=200)
    p, q = decode(tmp_path, [padded, claims_more])[0]
    assert payload(p) == b"ab" and payload(q) == b"ab" and q.iend == q.stop


def test_fragments(tmp_path: Path) -> None:
    first = ETH + b"\x08\x00" + ip4(17, udp_hdr(n=4) + b"abcd", frag=0x2000)
    later = ETH + b"\x08\x00" + ip4(17, b"efgh", frag=0x0002)
    (p, q), anomalies, stats = decode(tmp_path, [first, later])
    assert (p.kind, p.sp, q.kind, q.proto, q.sp, q.dp) == (UDP, 5000, IP, PROTO_FRAGMENT, 0, 0)
    assert stats.ip_fragments == 2 and anomalies == []
    assert decode(tmp_path, [first, later], primary=False)[2].ip_fragments == 0   # counted by one worker


def ip6(nxt: int, body: bytes) -> bytes:
    return struct.pack(">IHBB16s16s", 6 << 28, len(body), nxt, 64, bytes(15) + b"\x01", bytes(15) + b"\x02") + body


def test_ipv6_extension_headers_and_fragments(tmp_path: Path) -> None:
    hop = bytes([6, 0, 1, 4, 0, 0, 0, 0])                             # hop-by-hop -> TCP
    frag_first = bytes([17, 0, 0, 0, 0, 0, 0, 1])                      # offset 0: the UDP header follows
    frag_later = bytes([17, 0, 0, 0x10, 0, 0, 0, 1])                   # offset 2: no transport header
    frames = [ETH + b"\x86\xdd" + ip6(0, hop + tcp_hdr() + b"x"),
              ETH + b"\x86\xdd" + ip6(44, frag_first + udp_hdr()),
              ETH + b"\x86\xdd" + ip6(44, frag_later + b"zz"),
              ETH + b"\x86\xdd" + ip6(6, b"")[:30],
              ETH + b"\x86\xdd" + b"\x40" + ip6(6, b"")[1:]]
    got, anomalies, stats = decode(tmp_path, frames)
    assert [(p.kind, p.sp, p.dk) for p in got] == [(TCP, 40000, NO_DUP_KEY), (UDP, 5000, NO_DUP_KEY)]
    assert payload(got[0]) == b"x" and got[0].src == bytes(15) + b"\x01"
    assert stats.ip_fragments == 2 and anomalies == [("ipv6", "truncated-header"), ("ipv6", "bad-header")]


def test_other_ip_and_layer_2(tmp_path: Path) -> None:
    arp = ETH + b"\x08\x06" + bytes(28)
    icmp = ETH + b"\x08\x00" + ip4(1, b"\x08\x00" + bytes(6))
    p, q = decode(tmp_path, [arp, icmp])[0]
    assert (p.kind, p.et, p.l3 - p.off, p.stop - p.l3) == (L2, 0x0806, 14, 28)
    assert (q.kind, q.proto, q.sp, q.dp) == (IP, 1, 0, 0)


def test_other_link_layers(tmp_path: Path) -> None:
    raw = ip4(17, udp_hdr(n=1) + b"x")
    sll = struct.pack(">HHH8sH", 0, 1, 6, bytes.fromhex("001b1b0000010000"), 0x0800) + raw
    sll2 = struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, bytes.fromhex("001b1b0000010000")) + raw
    for lt, frame in ((101, raw), (228, raw), (113, sll), (276, sll2), (0, b"\x02\0\0\0" + raw)):
        (p,), anomalies, stats = decode(tmp_path, [frame], linktype=lt)
        assert (p.kind, p.sp, payload(p), anomalies, stats.by_linktype) == (UDP, 5000, b"x", [], {lt: 1}), lt
    assert mac_from(sll, 0, 113) == mac_from(sll2, 0, 276) == "00:1b:1b:00:00:01"
    assert mac_from(raw, 0, 101) is None
    got, anomalies, stats = decode(tmp_path, [raw, b"", bytes(10)], linktype=147)
    assert got == [] and anomalies == [("capture", "unsupported-linktype-147")] * 3 and stats.unknown_linktype == 3
    assert decode(tmp_path, [b"", b"\x01" * 15], linktype=113)[:2] == ([], [("sll", "truncated-header")] * 2)
    assert decode(tmp_path, [b"\x01" * 19], linktype=276)[:2] == ([], [("sll2", "truncated-header")])
    assert decode(tmp_path, [b"", b"\x02\0\0\0"], linktype=0)[:2] == ([], [("raw", "empty-frame")] * 2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from([b"\x08\x00", b"\x86\xdd", b"\x81\x00", b"\x08\x06", b"\x88\xa8"]),
                          st.binary(max_size=90)), max_size=20),
       st.sampled_from([1, 101, 113, 276]))
def test_random_frames_decode_inside_the_frame(tmp_path: Path, frames, linktype: int) -> None:
    """Any bytes: nothing raises, at most one packet or anomaly per frame, every offset inside its frame."""
    built = [(ETH + et if linktype == 1 else b"") + body for et, body in frames]
    got, anomalies, _ = decode(tmp_path, built, linktype=linktype)
    assert len(got) + len(anomalies) <= len(built)
    for p in got:
        assert p.off <= p.l3 <= p.stop and p.iend <= p.stop and p.off + p.incl == p.stop
        assert 1 <= p.frame <= len(built)
