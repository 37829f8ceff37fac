"""agent/decap.py: link layers and tunnel encapsulations, from hand-made hex frames (the spec section is cited at
each frame), truncated and malformed variants, and a fuzz that the decoders never raise and stay in bounds."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from otscope.agent import decap
from otscope.agent.decap import (
    Inner,
    InnerKind,
    L2Start,
    Malformed,
    TunnelKind,
    Unsupported,
    unwrap_link,
    unwrap_tunnel,
)


def h(s: str) -> bytes:
    return bytes.fromhex("".join(s.split()))


MAC_A, MAC_B = h("02 00 00 00 00 0a"), h("02 00 00 00 00 0b")
# IPv4 10.0.0.1 -> 10.0.0.2, UDP 40000 -> 502, 4 bytes of payload (RFC 791 s.3.1, RFC 768)
IP4 = h("45 00 00 20 00 01 00 00 40 11 00 00 0a 00 00 01 0a 00 00 02  9c 40 01 f6 00 0c 00 00  de ad be ef")
# IPv6 fd00::1 -> fd00::2, UDP (RFC 8200 s.3)
IP6 = h("60 00 00 00 00 0c 11 40") + h("fd00 0000 0000 0000 0000 0000 0000 0001") + \
    h("fd00 0000 0000 0000 0000 0000 0000 0002") + h("9c 40 01 f6 00 0c 00 00 de ad be ef")
ETH_IP4 = MAC_B + MAC_A + h("08 00") + IP4
OUT_SRC, OUT_DST = h("c6 33 64 01"), h("c6 33 64 02")


def link(lt: int, b: bytes, off: int = 0):
    return unwrap_link(lt, b, off, len(b))


def l3_at(r, payload: bytes, et: int, frame: bytes) -> None:
    assert isinstance(r, L2Start), r
    assert r.ethertype == et
    assert frame[r.off:r.stop] == payload


def truncations(b: bytes, upto: int):
    return [b[:n] for n in range(min(upto, len(b)))]


# ---------------------------------------------------------------------------------------------- link type names

def test_linktype_names_from_libpcap() -> None:
    assert decap.linktype_name(127) == "LINKTYPE_IEEE802_11_RADIOTAP (127)"
    assert decap.linktype_name(239) == "LINKTYPE_NFLOG (239)"
    assert decap.linktype_name(1) == "LINKTYPE_ETHERNET (1)"
    assert decap.linktype_name(276) == "LINKTYPE_LINUX_SLL2 (276)"
    assert decap.linktype_name(60000) == "LINKTYPE_UNKNOWN (60000)"   # an unknown number keeps its number
    assert len(decap.LINKTYPE_NAMES) > 180 and all(v.startswith("LINKTYPE_") for v in decap.LINKTYPE_NAMES.values())


def test_unsupported_linktype_reported_by_name() -> None:
    r = link(147, b"\x00" * 40)   # LINKTYPE_USER0
    assert r == Unsupported(147, "LINKTYPE_USER0 (147)", "unsupported-linktype")
    assert link(4242, b"").name == "LINKTYPE_UNKNOWN (4242)"


# ---------------------------------------------------------------------------------------------- PPP family

def test_ppp_with_and_without_hdlc_header() -> None:
    # LINKTYPE_PPP (9): RFC 1662 s.3.1 address 0xFF control 0x03, RFC 1661 s.2 protocol 0x0021 = IPv4
    l3_at(link(9, h("ff 03 00 21") + IP4), IP4, 0x0800, h("ff 03 00 21") + IP4)
    l3_at(link(9, h("00 57") + IP6), IP6, 0x86DD, h("00 57") + IP6)           # without address/control
    l3_at(link(9, h("21") + IP4), IP4, 0x0800, h("21") + IP4)                  # PFC: 1-byte protocol (s.6.5)
    assert link(9, h("ff 03 00 21") + IP4).src_mac is None                    # PPP has no MACs


def test_ppp_control_and_malformed() -> None:
    assert link(9, h("ff 03 c0 21 01 01 00 04")) == Unsupported(9, "LINKTYPE_PPP (9)", "ppp-protocol-0xc021")
    assert link(9, h("ff 03 00 21") + IP6) == Malformed("ppp", "bad-ip-version")
    assert link(9, h("ff 03")) == Malformed("ppp", "truncated-header")
    assert link(9, b"") == Malformed("ppp", "truncated-header")


def test_ppp_hdlc_with_dir_and_pppd() -> None:
    l3_at(link(50, h("ff 03 00 21") + IP4), IP4, 0x0800, h("ff 03 00 21") + IP4)
    assert link(50, h("00 21") + IP4) == Malformed("ppp", "no-hdlc-address")   # LINKTYPE_PPP_HDLC: always there
    l3_at(link(50, h("0f 00 08 00") + IP4), IP4, 0x0800, h("0f 00 08 00") + IP4)   # 0x0F: Cisco HDLC in 50
    f = h("01 ff 03 00 57") + IP6                                                # LINKTYPE_PPP_WITH_DIR: dir byte
    l3_at(link(204, f), IP6, 0x86DD, f)
    assert link(204, b"") == Malformed("ppp", "truncated-header")
    f = h("01 03 00 21") + IP4                                                   # LINKTYPE_PPP_PPPD (166)
    l3_at(link(166, f), IP4, 0x0800, f)


def test_pppoe_session_in_ethernet() -> None:
    # RFC 2516 s.4: ver/type 0x11, code 0x00 (session data), session 0x1234, length = PPP protocol + payload
    body = h("00 57") + IP6
    pppoe = h("11 00 12 34") + struct.pack(">H", len(body)) + body
    f = MAC_B + MAC_A + h("88 64") + pppoe
    r = link(1, f)
    l3_at(r, IP6, 0x86DD, f)
    assert (r.src_mac, r.dst_mac, r.link) == (MAC_A, MAC_B, "pppoe")
    t = unwrap_tunnel(0x8864, f, 14, len(f))
    assert isinstance(t, Inner) and t.ethertype == 0x86DD and f[t.off:t.stop] == IP6
    assert t.tunnels[0].kind is TunnelKind.PPPOE and t.tunnels[0].ident == 0x1234
    # a PPP control packet (LCP) inside PPPoE: nothing to unwrap
    lcp = h("11 00 12 34 00 06 c0 21 01 01 00 04")
    assert unwrap_tunnel(0x8864, lcp, 0, len(lcp)) is None
    assert unwrap_tunnel(0x8864, pppoe[:5], 0, 5) == Malformed("pppoe", "truncated-header")
    assert unwrap_tunnel(0x8864, pppoe[:-1], 0, len(pppoe) - 1) == Malformed("pppoe", "truncated-payload")
    bad = h("21") + pppoe[1:]
    assert unwrap_tunnel(0x8864, bad, 0, len(bad)) == Malformed("pppoe", "bad-version")
    r = link(51, pppoe)                                                          # LINKTYPE_PPP_ETHER (NetBSD)
    l3_at(r, IP6, 0x86DD, pppoe)


def test_cisco_hdlc() -> None:
    # RFC 1547 s.4.3.1 / tcpdump print-chdlc.c: address 0x0F, control 0x00, ethertype
    f = h("0f 00 08 00") + IP4
    l3_at(link(104, f), IP4, 0x0800, f)
    f6 = h("8f 00 86 dd") + IP6
    l3_at(link(104, f6), IP6, 0x86DD, f6)
    slarp = h("8f 00 80 35 00 00 00 00")
    assert link(104, slarp).reason == "chdlc-protocol-0x8035"
    assert link(104, h("0f 00 08")) == Malformed("chdlc", "truncated-header")
    assert link(104, h("ff 03 08 00") + IP4) == Malformed("chdlc", "bad-address")
    l3_at(link(205, h("00") + f), IP4, 0x0800, h("00") + f)                   # C_HDLC_WITH_DIR


# ---------------------------------------------------------------------------------------------- NFLOG

def nflog(tlvs: list[tuple[int, bytes]], fam: int = 2, le: bool = True) -> bytes:
    out = bytes([fam, 0]) + h("00 05")
    for t, v in tlvs:
        n = 4 + len(v)
        out += struct.pack("<HH" if le else ">HH", n, t) + v + b"\x00" * ((-n) % 4)
    return out


def test_nflog_payload_and_hwaddr() -> None:
    # libpcap pcap/nflog.h: NFULA_PACKET_HDR 1, NFULA_PREFIX 10? no: 10 is HWTYPE; NFULA_PREFIX is 7
    hw = h("00 06 00 00") + MAC_A + b"\x00\x00"                # NFULA_HWADDR: be16 len, pad, addr[8]
    f = nflog([(1, h("08 00 03 00")), (7, b"ots\x00"), (8, hw), (9, IP4)])
    r = link(239, f)
    l3_at(r, IP4, 0x0800, f)
    assert r.src_mac == MAC_A and r.dst_mac is None
    fb = nflog([(1, h("08 00 03 00")), (9, IP4)], le=False)     # written by a big-endian host
    l3_at(link(239, fb), IP4, 0x0800, fb)
    f6 = nflog([(9, IP6)], fam=10)
    l3_at(link(239, f6), IP6, 0x86DD, f6)


def test_nflog_malformed() -> None:
    assert link(239, h("02 00 00")) == Malformed("nflog", "truncated-header")
    assert link(239, h("02 01 00 00")) == Malformed("nflog", "bad-version")
    assert link(239, nflog([(1, h("08 00 03 00"))])).reason == "nflog-no-payload"
    assert link(239, h("02 00 00 05 ff 00 09 00") + IP4) == Malformed("nflog", "bad-tlv-length")
    assert link(239, nflog([(9, IP6)], fam=2)) == Malformed("nflog", "bad-ip-version")


# ---------------------------------------------------------------------------------------------- 802.11

LLC_IP4 = h("aa aa 03 00 00 00 08 00")       # RFC 1042 LLC/SNAP to ethertype 0x0800
BSSID = h("02 00 00 00 00 ee")


def wlan(fc0: int, fc1: int, a1: bytes, a2: bytes, a3: bytes, a4: bytes = b"", qos: bytes = b"") -> bytes:
    # IEEE 802.11-2020 s.9.3.2.1: FC(2) Duration(2) A1 A2 A3 SeqCtl(2) [A4] [QoS(2)]
    return bytes([fc0, fc1]) + h("00 00") + a1 + a2 + a3 + h("10 00") + a4 + qos


@pytest.mark.parametrize("fc1,addrs,src,dst", [
    (0x00, (MAC_B, MAC_A, BSSID), MAC_A, MAC_B),             # IBSS: A1=DA A2=SA A3=BSSID
    (0x01, (BSSID, MAC_A, MAC_B), MAC_A, MAC_B),             # To DS: A1=BSSID A2=SA A3=DA
    (0x02, (MAC_B, BSSID, MAC_A), MAC_A, MAC_B),             # From DS: A1=DA A2=BSSID A3=SA
])
def test_wlan_data_address_mapping(fc1, addrs, src, dst) -> None:
    f = wlan(0x08, fc1, *addrs) + LLC_IP4 + IP4                 # type 2 data, subtype 0
    r = link(105, f)
    l3_at(r, IP4, 0x0800, f)
    assert (r.src_mac, r.dst_mac) == (src, dst)


def test_wlan_wds_qos_and_amsdu() -> None:
    ta, ra = h("02 00 00 00 00 01"), h("02 00 00 00 00 02")
    f = wlan(0x88, 0x03, ra, ta, MAC_B, MAC_A, h("00 00")) + LLC_IP4 + IP4   # QoS data, To+From DS: A3=DA A4=SA
    r = link(105, f)
    l3_at(r, IP4, 0x0800, f)
    assert (r.src_mac, r.dst_mac) == (MAC_A, MAC_B)
    sub = MAC_B + MAC_A + struct.pack(">H", len(LLC_IP4 + IP4)) + LLC_IP4 + IP4   # A-MSDU subframe (s.9.3.2.2.2)
    f = wlan(0x88, 0x02, ra, BSSID, BSSID, qos=h("80 00")) + sub
    r = link(105, f)
    l3_at(r, IP4, 0x0800, f)
    assert (r.src_mac, r.dst_mac) == (MAC_A, MAC_B)


def test_wlan_protected_management_null_and_malformed() -> None:
    assert link(105, wlan(0x08, 0x41, BSSID, MAC_A, MAC_B) + b"\x00" * 40).reason == "wlan-protected"
    assert link(105, wlan(0x80, 0x00, MAC_B, MAC_A, BSSID) + b"\x00" * 12).reason == "wlan-management"  # beacon
    assert link(105, h("d4 00 00 00") + MAC_A).reason == "wlan-control"                                   # ACK
    assert link(105, wlan(0xc8, 0x01, BSSID, MAC_A, MAC_B, qos=h("00 00"))).reason == "wlan-no-data"     # QoS Null
    assert link(105, wlan(0x08, 0x01, BSSID, MAC_A, MAC_B)[:20]) == Malformed("wlan", "truncated-header")
    assert link(105, wlan(0x88, 0x01, BSSID, MAC_A, MAC_B)) == Malformed("wlan", "truncated-qos")
    assert link(105, wlan(0x09, 0x01, BSSID, MAC_A, MAC_B)) == Malformed("wlan", "bad-protocol-version")
    assert link(105, wlan(0x08, 0x01, BSSID, MAC_A, MAC_B) + h("aa aa 03 00 00")) == \
        Malformed("wlan", "truncated-snap")
    assert link(105, wlan(0x08, 0x01, BSSID, MAC_A, MAC_B) + h("e0 e0 03") + IP4).reason == "llc-dsap-0xe0"


def test_radiotap_with_flags_fcs_and_extended_bitmap() -> None:
    data = wlan(0x08, 0x01, BSSID, MAC_A, MAC_B) + LLC_IP4 + IP4
    # radiotap.org: version 0, pad, len 8 (LE), present 0: no fields
    f = h("00 00 08 00 00 00 00 00") + data
    l3_at(link(127, f), IP4, 0x0800, f)
    # present = TSFT|Flags (0x3), a second present word (bit 31): 8 + 4 bytes, TSFT aligned to 8 at 16, Flags
    # at 24 = 0x10 (FCS at end), padded to 28; the 4-byte FCS is cut from the payload end
    rt = h("00 00 1c 00 03 00 00 80 00 00 00 00 00 00 00 00") + b"\x11" * 8 + h("10 00 00 00")
    f = rt + data + h("de ad 00 00")
    r = link(127, f)
    assert isinstance(r, L2Start) and r.stop == len(f) - 4 and f[r.off:r.stop] == IP4
    assert r.src_mac == MAC_A
    assert link(127, h("00 00 08 00 00 00 00 00") + wlan(0x08, 0x41, BSSID, MAC_A, MAC_B)) == \
        Unsupported(127, "LINKTYPE_IEEE802_11_RADIOTAP (127)", "wlan-protected")     # the file's link type
    assert link(127, h("00 00 08")) == Malformed("radiotap", "truncated-header")
    assert link(127, h("00 00 00 01 00 00 00 00") + data) == Malformed("radiotap", "bad-length")
    assert link(127, h("01 00 08 00 00 00 00 00") + data) == Malformed("radiotap", "bad-version")
    assert link(127, h("00 00 0c 00 00 00 00 80 00 00 00 80") + data) == Malformed("radiotap", "bad-present-chain")


def test_ppi_80211_and_ethernet() -> None:
    data = wlan(0x08, 0x02, MAC_B, BSSID, MAC_A) + LLC_IP4 + IP4
    # PPI spec 1.0 s.3: version 0, flags 0, len 8 (LE), dlt 105 (LE)
    f = h("00 00 08 00 69 00 00 00") + data
    r = link(192, f)
    l3_at(r, IP4, 0x0800, f)
    assert (r.src_mac, r.dst_mac) == (MAC_A, MAC_B)
    # with an 802.11-Common field (type 2, 20 bytes) whose flags say FCS present
    common = h("02 00 14 00") + b"\x00" * 8 + h("01 00") + b"\x00" * 10
    f = h("00 00 20 00 69 00 00 00") + common + data + h("aa bb cc dd")
    r = link(192, f)
    assert isinstance(r, L2Start) and r.stop == len(f) - 4
    f = h("00 00 08 00 01 00 00 00") + ETH_IP4                                 # dlt 1: Ethernet
    r = link(192, f)
    l3_at(r, IP4, 0x0800, f)
    assert r.src_mac == MAC_A
    assert link(192, h("00 00 08 00 c0 00 00 00") + f) == Malformed("ppi", "nested-header")
    assert link(192, h("00 00 30 00 69 00 00 00")) == Malformed("ppi", "bad-length")
    assert link(192, h("00 00 0c 00 69 00 00 00 02 00 ff 00") + data) == Malformed("ppi", "bad-field-length")


def test_prism_and_avs() -> None:
    data = wlan(0x08, 0x01, BSSID, MAC_A, MAC_B) + LLC_IP4 + IP4
    prism = h("41 00 00 00") + struct.pack("<I", 144) + b"\x00" * 136
    l3_at(link(119, prism + data), IP4, 0x0800, prism + data)
    avs = h("80 21 10 01") + struct.pack(">I", 64) + b"\x00" * 56
    l3_at(link(163, avs + data), IP4, 0x0800, avs + data)
    l3_at(link(119, avs + data), IP4, 0x0800, avs + data)    # an AVS header in a Prism capture
    assert link(119, prism[:100]) == Malformed("prism", "bad-length")


# ---------------------------------------------------------------------------------------------- FDDI, SLL, raw

def test_fddi_llc_snap_no_macs() -> None:
    # ANSI X3.139: FC 0x50 (async LLC), DA, SA, then LLC/SNAP
    f = h("50") + MAC_B + MAC_A + LLC_IP4 + IP4
    r = link(10, f)
    l3_at(r, IP4, 0x0800, f)
    assert r.src_mac is None and r.dst_mac is None           # bit order depends on the writing OS: never guessed
    assert link(10, h("41") + MAC_B + MAC_A).reason == "fddi-fc-0x41"
    assert link(10, f[:12]) == Malformed("fddi", "truncated-header")


def sll(pkttype: int, hatype: int, addr: bytes, proto: int) -> bytes:
    # LINKTYPE_LINUX_SLL: packet type, ARPHRD type, address length, address (8, padded), protocol
    return struct.pack(">HHH", pkttype, hatype, len(addr)) + addr.ljust(8, b"\x00") + struct.pack(">H", proto)


def test_sll_mac_only_when_real() -> None:
    r = link(113, sll(0, 1, MAC_A, 0x0800) + IP4)
    assert isinstance(r, L2Start) and r.src_mac == MAC_A and r.ethertype == 0x0800
    assert link(113, sll(0, 772, b"\x00" * 6, 0x0800) + IP4).src_mac is None     # loopback: zeros
    assert link(113, sll(4, 65534, b"", 0x86DD) + IP6).src_mac is None           # tun (ARPHRD_NONE)
    r = link(113, sll(0, 778, h("c6336401"), 0x0800) + IP4)                         # ARPHRD_IPGRE: 4-byte address
    assert isinstance(r, L2Start) and r.src_mac is None
    f = sll(0, 1, MAC_A, 0x0004) + LLC_IP4 + IP4                                   # LINUX_SLL_P_802_2: LLC frame
    l3_at(link(113, f), IP4, 0x0800, f)
    assert link(113, sll(0, 1, MAC_A, 0x000C) + b"\x00" * 16).reason == "sll-protocol-0x000c"   # CAN
    assert link(113, sll(0, 824, b"", 0x0000)).reason == "sll-netlink"
    data = wlan(0x08, 0x01, BSSID, MAC_A, MAC_B) + LLC_IP4 + IP4
    f = sll(0, 803, b"", 0x0019) + h("00 00 08 00 00 00 00 00") + data          # ARPHRD_IEEE80211_RADIOTAP
    l3_at(link(113, f), IP4, 0x0800, f)
    assert link(113, sll(0, 1, MAC_A, 0x0800)[:15]) == Malformed("sll", "truncated-header")
    assert link(113, sll(0, 1, MAC_A, 0x0800) + IP6) == Malformed("sll", "bad-ip-version")


def test_sll2() -> None:
    # LINKTYPE_LINUX_SLL2: protocol, reserved, ifindex, hatype, pkttype, halen, addr[8]
    f = struct.pack(">HHIHBB", 0x86DD, 0, 3, 1, 0, 6) + MAC_A + b"\x00\x00" + IP6
    r = link(276, f)
    l3_at(r, IP6, 0x86DD, f)
    assert r.src_mac == MAC_A
    assert link(276, f[:19]) == Malformed("sll2", "truncated-header")


@pytest.mark.parametrize("lt", [101, 12, 14])
def test_raw_ip_variants(lt: int) -> None:
    l3_at(link(lt, IP4), IP4, 0x0800, IP4)
    l3_at(link(lt, IP6), IP6, 0x86DD, IP6)
    assert link(lt, b"") == Malformed("raw", "empty-frame")
    assert link(lt, h("00 11 22")) == Malformed("raw", "not-ip")


def test_raw_ipv4_ipv6_linktypes_and_null_loop() -> None:
    l3_at(link(228, IP4), IP4, 0x0800, IP4)
    assert link(228, IP6) == Malformed("ipv4", "bad-ip-version")
    l3_at(link(229, IP6), IP6, 0x86DD, IP6)
    assert link(229, IP4) == Malformed("ipv6", "bad-ip-version")
    for hdr in (h("02 00 00 00"), h("00 00 00 02")):                          # NULL: AF_INET in either order
        l3_at(link(0, hdr + IP4), IP4, 0x0800, hdr + IP4)
    for af in (24, 28, 30):                                                    # BSD AF_INET6 values
        l3_at(link(0, struct.pack("<I", af) + IP6), IP6, 0x86DD, struct.pack("<I", af) + IP6)
    l3_at(link(108, h("00 00 00 02") + IP4), IP4, 0x0800, h("00 00 00 02") + IP4)   # LOOP: network order
    assert link(0, h("02 00 00 00") + IP6) == Malformed("null", "family-mismatch")
    assert link(0, h("02 00 00")) == Malformed("null", "truncated-header")


def test_ethernet_vlan_llc() -> None:
    f = MAC_B + MAC_A + h("81 00 00 0a 81 00 00 14 08 00") + IP4
    r = link(1, f)
    l3_at(r, IP4, 0x0800, f)
    f = MAC_B + MAC_A + struct.pack(">H", len(LLC_IP4 + IP4)) + LLC_IP4 + IP4 + b"\x00" * 6    # 802.3 + padding
    r = link(1, f)
    assert isinstance(r, L2Start) and f[r.off:r.stop] == IP4
    assert link(1, MAC_B + MAC_A + h("81 00 00 0a") * 5 + h("08 00")) == Malformed("ethernet", "bad-vlan-stack")
    assert link(1, ETH_IP4[:13]) == Malformed("ethernet", "truncated-header")


# ---------------------------------------------------------------------------------------------- tunnels

def gre(flags: int, proto: int, opt: bytes = b"") -> bytes:
    return struct.pack(">HH", flags, proto) + opt


def tun(key: int, b: bytes, **kw):
    return unwrap_tunnel(key, b, 0, len(b), outer=(OUT_SRC, OUT_DST), **kw)


def test_gre_plain_key_seq_checksum() -> None:
    r = tun(47, gre(0, 0x0800) + IP4)                                        # RFC 2784 s.2.1: no options
    assert isinstance(r, Inner) and r.kind is InnerKind.L3 and r.ethertype == 0x0800 and r.off == 4
    t = r.tunnels[0]
    assert (t.kind, t.src, t.dst, t.ident) == (TunnelKind.GRE, OUT_SRC, OUT_DST, None)
    r = tun(47, gre(0xB000, 0x6558, h("ab cd 00 00 00 00 00 2a 00 00 00 07")) + ETH_IP4)   # C, K=42, S (RFC 2890)
    assert isinstance(r, Inner) and r.kind is InnerKind.ETHERNET and r.off == 16 and r.tunnels[0].ident == 42
    r = tun(47, gre(0x2000, 0x86DD, h("00 00 00 01")) + IP6)
    assert isinstance(r, Inner) and r.ethertype == 0x86DD and r.off == 8


def test_gre_malformed() -> None:
    assert tun(47, h("00 00 08")) == Malformed("gre", "truncated-header")
    assert tun(47, gre(0x2000, 0x0800, h("00 00"))) == Malformed("gre", "truncated-header")
    assert tun(47, gre(0x0002, 0x0800) + IP4) == Malformed("gre", "bad-version-2")
    assert tun(47, gre(0, 0x0800) + IP6) == Malformed("gre", "bad-ip-version")
    assert tun(47, gre(0, 0x6558) + MAC_A) == Malformed("gre", "truncated-frame")
    assert tun(47, gre(0, 0x88B5) + b"\x00" * 20) is None                     # an unknown payload: not unwrapped
    assert tun(47, gre(0x4000, 0x0800, h("00 00 00 00") + h("00 00 00 08"))) == Malformed("gre", "truncated-routing")


def test_gre_pptp() -> None:
    # RFC 2637 s.4.1: flags K|S, version 1, protocol 0x880B, payload length, call id, sequence; then PPP
    ppp = h("ff 03 00 21") + IP4
    f = gre(0x3001, 0x880B, struct.pack(">HHI", len(ppp), 0x77, 1)) + ppp
    r = tun(47, f)
    assert isinstance(r, Inner) and r.tunnels[0].kind is TunnelKind.PPTP_GRE and r.tunnels[0].ident == 0x77
    assert f[r.off:r.stop] == IP4
    assert tun(47, gre(0x0001, 0x880B) + ppp) == Malformed("gre", "bad-pptp-header")


def test_erspan_types() -> None:
    # Type I: GRE 0x88BE without S: the mirrored frame follows GRE directly (draft-foschiano-erspan-03 s.4.1)
    r = tun(47, gre(0, 0x88BE) + ETH_IP4)
    assert isinstance(r, Inner) and r.tunnels[0].kind is TunnelKind.ERSPAN_I and r.off == 4
    # Type II (s.4.2): GRE S bit + seq; Ver=1 VLAN=100 | COS=0 En=0 T=0 Session=0x155 | reserved | index
    e2 = h("10 64 01 55 00 00 00 00")
    r = tun(47, gre(0x1000, 0x88BE, h("00 00 00 01")) + e2 + ETH_IP4)
    assert isinstance(r, Inner) and r.kind is InnerKind.ETHERNET and r.off == 16
    assert (r.tunnels[0].kind, r.tunnels[0].ident, r.tunnels[0].vlan) == (TunnelKind.ERSPAN_II, 0x155, 100)
    # Type III (s.4.3): Ver=2 VLAN=5, session 7, timestamp, SGT, P/FT/HWID/D/Gra/O with O=1 -> 8-byte sub-header
    e3 = h("20 05 00 07 00 00 00 01 00 00 00 01") + b"\x00" * 8
    r = tun(47, gre(0x1000, 0x22EB, h("00 00 00 01")) + e3 + ETH_IP4)
    assert isinstance(r, Inner) and r.off == 8 + 20 and r.tunnels[0].kind is TunnelKind.ERSPAN_III
    assert (r.tunnels[0].ident, r.tunnels[0].vlan) == (7, 5)
    e3ip = h("20 05 00 07 00 00 00 01 00 00 08 00")                         # FT=2: an IP packet, O=0
    r = tun(47, gre(0x1000, 0x22EB, h("00 00 00 01")) + e3ip + IP4)
    assert isinstance(r, Inner) and r.kind is InnerKind.L3 and r.ethertype == 0x0800
    assert tun(47, gre(0x1000, 0x88BE, h("00 00 00 01")) + e2[:7]) == Malformed("erspan", "truncated-header")
    assert tun(47, gre(0x1000, 0x88BE, h("00 00 00 01")) + h("20") + e2[1:] + ETH_IP4) == \
        Malformed("erspan", "bad-version")
    assert tun(47, gre(0x1000, 0x22EB, h("00 00 00 01")) + e3[:12]) == \
        Malformed("erspan", "truncated-platform-header")
    assert tun(47, gre(0x1000, 0x22EB, h("00 00 00 01")) + h("20 05 00 07 00 00 00 01 00 00 04 00") + IP4) == \
        Malformed("erspan", "unknown-frame-type-1")


def test_vxlan() -> None:
    v = h("08 00 00 00 00 12 34 00") + ETH_IP4                            # RFC 7348 s.5: I flag, VNI 0x1234
    r = tun(decap.udp_key(4789), v)
    assert isinstance(r, Inner) and r.kind is InnerKind.ETHERNET and r.off == 8 and r.tunnels[0].ident == 0x1234
    assert tun(decap.udp_key(4789), v[:7]) == Malformed("vxlan", "truncated-header")
    assert tun(decap.udp_key(4789), h("00") + v[1:]) == Malformed("vxlan", "no-vni-flag")
    assert tun(decap.udp_key(4789), v[:20]) == Malformed("vxlan", "truncated-frame")
    assert tun(decap.udp_key(53), v) is None


def test_tzsp() -> None:
    # Wireshark packet-tzsp.c: version 1, type 0 (received), encapsulation 1 (Ethernet), tags: RSSI (10, len 1),
    # PADDING (0), END (1); then the frame
    f = h("01 00 00 01 0a 01 c4 00 01") + ETH_IP4
    r = tun(decap.udp_key(37008), f)
    assert isinstance(r, Inner) and r.kind is InnerKind.ETHERNET and r.off == 9 and r.tunnels[0].kind is TunnelKind.TZSP
    # encapsulation 18: a bare 802.11 frame; the inner L3 keeps the real SA/DA
    w = h("01 00 00 12 01") + wlan(0x08, 0x01, BSSID, MAC_A, MAC_B) + LLC_IP4 + IP4
    r = tun(decap.udp_key(37008), w)
    assert isinstance(r, Inner) and r.kind is InnerKind.L3 and w[r.off:r.stop] == IP4
    assert (r.src_mac, r.dst_mac) == (MAC_A, MAC_B)
    assert tun(decap.udp_key(37008), h("01 04 00 01")) is None                      # keepalive
    assert tun(decap.udp_key(37008), h("01 00 00 12 01") + wlan(0x80, 0, MAC_B, MAC_A, BSSID)) is None   # beacon
    assert tun(decap.udp_key(37008), h("01 00 00 01")) == Malformed("tzsp", "truncated-tags")
    assert tun(decap.udp_key(37008), h("01 00 00 01 0a")) == Malformed("tzsp", "truncated-tags")
    assert tun(decap.udp_key(37008), h("02 00 00 01 01") + ETH_IP4) == Malformed("tzsp", "bad-version")
    assert tun(decap.udp_key(37008), h("01 00 00 01 01") + MAC_A) == Malformed("tzsp", "truncated-frame")
    assert tun(decap.udp_key(37008), h("01 00 00 01") + b"\x00" * 70) == Malformed("tzsp", "too-many-tags")


def test_mpls_stack_and_payload_guess() -> None:
    lbl = lambda label, s: struct.pack(">I", (label << 12) | (s << 8) | 64)   # RFC 3032 s.2.1
    r = tun(0x8847, lbl(100, 0) + lbl(200, 1) + IP4)
    assert isinstance(r, Inner) and r.ethertype == 0x0800 and r.off == 8 and r.tunnels[0].ident == 200
    r = tun(0x8847, lbl(2, 1) + IP6)                                          # IPv6 explicit null
    assert isinstance(r, Inner) and r.ethertype == 0x86DD
    assert tun(0x8847, lbl(0, 1) + IP6) == Malformed("mpls", "bad-ip-version")
    r = tun(0x8847, lbl(300, 1) + h("00 00 00 05") + ETH_IP4)               # PW control word (RFC 4385 s.3)
    assert isinstance(r, Inner) and r.kind is InnerKind.ETHERNET and r.off == 8
    r = tun(0x8847, lbl(300, 1) + h("a2") + ETH_IP4[1:])                   # Ethernet without control word
    assert isinstance(r, Inner) and r.kind is InnerKind.ETHERNET and r.off == 4
    assert tun(0x8847, lbl(300, 1) + h("10 00 00 00")) is None               # G-ACh (RFC 5586)
    assert tun(0x8847, lbl(1, 0) * 3) == Malformed("mpls", "truncated-label-stack")
    assert tun(0x8847, lbl(1, 0) * 17) == Malformed("mpls", "label-stack-too-deep")
    assert tun(0x8847, lbl(1, 1)) == Malformed("mpls", "empty-payload")
    assert tun(0x8847, lbl(300, 1) + h("00 00 00 05") + MAC_A) == Malformed("mpls", "truncated-ethernet")


def test_ipip_6in4_ip6ip6() -> None:
    r = tun(4, IP4)
    assert isinstance(r, Inner) and r.ethertype == 0x0800 and r.tunnels[0].kind is TunnelKind.IPIP
    r = tun(41, IP6)
    assert isinstance(r, Inner) and r.ethertype == 0x86DD and r.tunnels[0].kind is TunnelKind.IP6IN
    assert tun(4, IP6) == Malformed("ipip", "bad-ip-version")
    assert tun(41, b"") == Malformed("ip6in", "bad-ip-version")


def test_vntag_and_etag() -> None:
    # VN-Tag: D|P|DVIF(14) L|R|Ver(2)|SVIF(12), then the ethertype (Wireshark packet-vntag.c)
    f = h("00 2a 00 05 08 00") + IP4
    r = tun(0x8926, f)
    assert isinstance(r, Inner) and r.kind is InnerKind.L3 and r.ethertype == 0x0800 and r.off == 6
    assert r.tunnels[0].kind is TunnelKind.VNTAG and r.tunnels[0].ident == 0x2a and r.tunnels[0].src is None
    # 802.1BR E-Tag (IEEE 802.1BR-2012 s.7.3): 6 bytes then an ethertype; here a VLAN tag follows
    f = h("00 00 00 33 00 00 81 00 00 0a 86 dd") + IP6
    r = tun(0x893F, f)
    assert isinstance(r, Inner) and r.ethertype == 0x86DD and r.off == 12 and r.tunnels[0].ident == 0x33
    assert tun(0x8926, h("00 2a 00")) == Malformed("vntag", "truncated-header")
    assert tun(0x893F, h("00 00 00 33 00")) == Malformed("etag", "truncated-header")


def test_nested_tunnels_and_bound() -> None:
    inner_gre = gre(0, 0x0800) + IP4
    ip_gre = h("45 00") + struct.pack(">H", 20 + len(inner_gre)) + h("00 00 00 00 40 2f 00 00") + \
        h("c0 a8 00 01 c0 a8 00 02") + inner_gre
    vx = h("08 00 00 00 00 00 07 00") + MAC_B + MAC_A + h("08 00") + ip_gre
    r = tun(decap.udp_key(4789), vx)
    assert isinstance(r, Inner) and [t.kind for t in r.tunnels] == [TunnelKind.VXLAN, TunnelKind.GRE]
    assert r.tunnels[1].src == h("c0 a8 00 01") and vx[r.off:r.stop] == IP4
    # IPIP nested 5 deep: the 5th level is refused, never followed forever
    pkt = IP4
    for _ in range(5):
        pkt = h("45 00") + struct.pack(">H", 20 + len(pkt)) + h("00 00 00 00 40 04 00 00 c0 a8 00 01 c0 a8 00 02") + pkt
    assert unwrap_tunnel(0x0800, pkt, 0, len(pkt)) == Malformed("tunnel", "nesting-too-deep")
    r = unwrap_tunnel(0x0800, pkt[20:], 0, len(pkt) - 20)
    assert isinstance(r, Inner) and r.depth == 4 and pkt[20:][r.off:r.stop] == IP4


def test_ip6tnl_encap_limit_option_before_inner() -> None:
    # an ip6tnl packet: IPv6, next header 60 (Destination Options) with the Tunnel Encapsulation Limit option
    # (RFC 2473 s.5.1: type 4, length 1, limit 4, then PadN), then protocol 41: IPv6-in-IPv6
    dst_opts = h("29 00 04 01 04 01 01 00")
    outer = h("60 00 00 00") + struct.pack(">H", len(dst_opts) + len(IP6)) + h("3c 40") + h("fd01" + "00" * 13 + "01") \
        + h("fd01" + "00" * 13 + "02") + dst_opts + IP6
    r = unwrap_tunnel(0x86DD, outer, 0, len(outer))
    assert isinstance(r, Inner) and r.off == 48 and outer[r.off:r.stop] == IP6
    assert r.tunnels[0].kind is TunnelKind.IP6IN and r.tunnels[0].src == h("fd01" + "00" * 13 + "01")
    frag = h("60 00 00 00") + struct.pack(">H", 8 + len(IP6)) + h("2c 40") + b"\x00" * 32 \
        + h("29 00 00 08 00 00 00 01") + IP6
    assert unwrap_tunnel(0x86DD, frag, 0, len(frag)) is None                    # a non-first fragment


def test_outer_ip_key_and_plain_ip() -> None:
    assert unwrap_tunnel(0x0800, IP4, 0, len(IP4)) is None                  # plain UDP: no tunnel
    assert unwrap_tunnel(0x86DD, IP4, 0, len(IP4)) is None
    assert unwrap_tunnel(0x0800, IP4, 5, 2) == Malformed("tunnel", "bad-offsets")


# ---------------------------------------------------------------------------------------------- fuzz

LINKTYPES = sorted({0, 1, 9, 10, 12, 14, 50, 51, 101, 104, 105, 108, 113, 119, 127, 163, 166, 192, 204, 205, 219,
                    228, 229, 239, 276, 147})
TUNNEL_KEYS = sorted(decap.TUNNEL_ETHERTYPES | decap.TUNNEL_IPPROTOS | {0x0800, 0x86DD}
                     | {decap.udp_key(p) for p in decap.TUNNEL_UDP_PORTS})
SEEDS = [ETH_IP4, IP4, IP6, h("ff 03 00 21") + IP4, nflog([(9, IP4)]),
         h("00 00 08 00 00 00 00 00") + wlan(0x88, 0x03, MAC_A, MAC_B, BSSID, MAC_A, h("80 00")) + LLC_IP4 + IP4,
         gre(0xB000, 0x6558, b"\x00" * 12) + ETH_IP4, gre(0x1000, 0x22EB, b"\x00" * 4) + h("20 05 00 07") + b"\x00" * 8,
         h("01 00 00 12 0a 01 11 00 01") + wlan(0x08, 0x01, BSSID, MAC_A, MAC_B) + LLC_IP4 + IP4]


def check_bounds(r, n: int, off: int) -> None:
    assert isinstance(r, (L2Start, Unsupported, Malformed, Inner)) or r is None
    if isinstance(r, Malformed):
        assert r.reason != "internal-bounds", r                         # a missed bounds check
    if isinstance(r, (L2Start, Inner)):
        assert off <= r.off <= r.stop <= n


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(LINKTYPES), st.one_of(st.binary(max_size=200),
       st.builds(lambda s, i, b: s[:i] + b + s[i + len(b):], st.sampled_from(SEEDS), st.integers(0, 120),
                 st.binary(max_size=6))), st.integers(0, 3))
def test_fuzz_unwrap_link(lt: int, data: bytes, off: int) -> None:
    off = min(off, len(data))
    check_bounds(unwrap_link(lt, data, off, len(data)), len(data), off)
    check_bounds(unwrap_link(lt, memoryview(data), off, len(data)), len(data), off)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TUNNEL_KEYS), st.one_of(st.binary(max_size=200),
       st.builds(lambda s, i, b: s[:i] + b + s[i + len(b):], st.sampled_from(SEEDS), st.integers(0, 120),
                 st.binary(max_size=6))))
def test_fuzz_unwrap_tunnel(key: int, data: bytes) -> None:
    r = unwrap_tunnel(key, data, 0, len(data))
    check_bounds(r, len(data), 0)
    assert unwrap_tunnel(key, memoryview(data), 0, len(data)) == r
    if isinstance(r, Inner):
        assert 1 <= r.depth <= decap.MAX_NESTING


def test_truncations_never_raise() -> None:
    frames = {1: h("aa") * 12 + h("88 64 11 00 00 01 00 06 00 21") + IP4, 127: SEEDS[5], 239: SEEDS[4],
              192: h("00 00 08 00 69 00 00 00") + SEEDS[5][8:], 113: sll(0, 1, MAC_A, 0x0800) + IP4}
    for lt, f in frames.items():
        for t in truncations(f, len(f)):
            check_bounds(unwrap_link(lt, t, 0, len(t)), len(t), 0)
    for key, f in ((47, SEEDS[6]), (47, SEEDS[7]), (0x8847, h("00 06 41 40") + IP4)):
        for t in truncations(f, len(f)):
            check_bounds(unwrap_tunnel(key, t, 0, len(t)), len(t), 0)
