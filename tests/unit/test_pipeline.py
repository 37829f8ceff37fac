"""The capture loop: link layers, VLANs, IPv6, fragments, SPAN duplicates, flows, reassembly, caps."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt
from scapy.layers.l2 import CookedLinux, Dot1AD, Dot1Q, Ether

from otscope.agent.flows import MAX_OOO_SEGMENTS
from tests.conftest import run_pipeline, write_pcap
from tests.support.frames import TcpSession, arp, tcp, tcp6

MB_REQ = bytes.fromhex("000100000006010300000002")
MB_RSP = bytes.fromhex("00010000000701030400010002")


def comm(batch, port):
    return [c for c in batch.comms if c.port == port]


def test_vlan_is_part_of_identity(tmp_path: Path) -> None:
    frames = [tcp("10.0.0.1", "10.0.0.2", 40000, 502, MB_REQ, vlans=(10,)),
              tcp("10.0.0.1", "10.0.0.2", 40000, 502, MB_REQ, vlans=(20,), ipid=7)]
    _, b = run_pipeline(write_pcap(tmp_path / "v.pcap", frames))
    assert sorted((h.subject.vlan, h.subject.ip) for h in b.hosts) == [
        (10, "10.0.0.1"), (10, "10.0.0.2"), (20, "10.0.0.1"), (20, "10.0.0.2")]


def test_qinq_outer_vlan_and_inner_payload(tmp_path: Path) -> None:
    f = bytes(Ether(src="00:0c:29:00:00:02", dst="00:1b:1b:00:00:01") / Dot1AD(vlan=100) / Dot1Q(vlan=7)
              / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=502, flags="PA") / MB_REQ)
    p, b = run_pipeline(write_pcap(tmp_path / "q.pcap", [f]))
    assert {h.subject.vlan for h in b.hosts} == {100}
    assert comm(b, 502) and p.stats.anomalies == 0


def test_linux_sll_and_raw_ip_linktypes(tmp_path: Path) -> None:
    sll = bytes(CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x00\x1b\x1b\x00\x00\x01\x00\x00", proto=0x0800)
                / IP(src="10.1.0.1", dst="10.1.0.2") / TCP(sport=502, dport=40001, flags="A"))
    raw = bytes(IP(src="10.2.0.1", dst="10.2.0.2") / UDP(sport=1, dport=2) / b"x")
    _, b1 = run_pipeline(write_pcap(tmp_path / "sll.pcap", [sll], linktype=113))
    _, b2 = run_pipeline(write_pcap(tmp_path / "raw.pcap", [raw], linktype=101))
    assert {h.subject.ip for h in b1.hosts} == {"10.1.0.1", "10.1.0.2"}
    assert {h.subject.ip for h in b2.hosts} == {"10.2.0.1", "10.2.0.2"}


def test_ipv6_with_extension_header(tmp_path: Path) -> None:
    f = bytes(Ether() / IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrDestOpt() / TCP(sport=40000, dport=502,
                                                                                       flags="PA") / MB_REQ)
    p, b = run_pipeline(write_pcap(tmp_path / "v6.pcap", [f, tcp6("fd00::2", "fd00::1", 502, 40000, MB_RSP)]))
    assert {h.subject.ip for h in b.hosts} == {"fd00::1", "fd00::2"}
    assert p.stats.anomalies == 0


def test_ipv4_fragments_are_counted(tmp_path: Path) -> None:
    pkt = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5000, dport=6000) / (b"x" * 3000)
    frags = [bytes(Ether() / f) for f in fragment(pkt[IP], fragsize=1000)]
    p, _ = run_pipeline(write_pcap(tmp_path / "frag.pcap", frags))
    assert len(frags) > 1
    assert p.stats.ip_fragments == len(frags)


def test_span_duplicates_are_counted_not_double_counted(tmp_path: Path) -> None:
    s = TcpSession("10.0.0.1", "10.0.0.2", 40000, 502).handshake()
    s.to_server(MB_REQ)
    s.to_client(MB_RSP)
    frames = []
    for i, f in enumerate(s.frames):
        frames += [(1_700_000_000 + i, f), (1_700_000_000 + i + 0.00001, f)]      # each frame twice, 10 us apart
    p, b = run_pipeline(write_pcap(tmp_path / "dup.pcap", frames))
    assert p.stats.span_duplicates == len(s.frames)
    assert comm(b, 502)[0].packets == len(s.frames)


def test_truncated_and_garbage_frames_are_anomalies(tmp_path: Path) -> None:
    good = tcp("10.0.0.1", "10.0.0.2", 40000, 502, MB_REQ)
    frames = [b"\x00" * 5, good[:20], good[:14] + b"\x45\x00" + b"\xff" * 10, good[:14] + b"\x60" + b"\x00" * 3]
    p, _ = run_pipeline(write_pcap(tmp_path / "junk.pcap", frames))
    assert p.stats.anomalies == 4


def test_direction_by_handshake_then_port(tmp_path: Path) -> None:
    s = TcpSession("10.0.0.9", "10.0.0.5", 50000, 50001).handshake()     # no well-known port: the SYN decides
    s.to_server(b"hello")
    _, b = run_pipeline(write_pcap(tmp_path / "hs.pcap", s.frames))
    c = b.comms[0]
    assert (c.client.ip, c.server.ip, c.port) == ("10.0.0.9", "10.0.0.5", 50001)
    # mid-stream, the answer comes first: the well-known port still names the server
    frames = [tcp("10.0.0.5", "10.0.0.9", 502, 50000, MB_RSP), tcp("10.0.0.9", "10.0.0.5", 50000, 502, MB_REQ)]
    _, b = run_pipeline(write_pcap(tmp_path / "port.pcap", frames))
    assert (b.comms[0].client.ip, b.comms[0].server.ip) == ("10.0.0.9", "10.0.0.5")


def test_out_of_order_segments_are_reassembled(tmp_path: Path) -> None:
    s = TcpSession("10.0.0.1", "10.0.0.2", 40000, 502).handshake()
    for i in range(3):
        s.to_server(struct.pack(">H", i + 1) + MB_REQ[2:])
        s.to_client(struct.pack(">H", i + 1) + MB_RSP[2:])
    hs, data = s.frames[:2], s.frames[2:]
    swapped = hs + [data[0], data[2], data[1]] + data[3:]      # second request arrives before the first response
    p, b = run_pipeline(write_pcap(tmp_path / "ooo.pcap", swapped))
    assert b.comms[0].protocol == "modbus"
    assert b.comms[0].profile.get("read") == 3
    assert p.stats.anomalies == 0


def test_gap_beyond_the_cap_resyncs(tmp_path: Path) -> None:
    s = TcpSession("10.0.0.1", "10.0.0.2", 40000, 502).handshake()
    s.to_server(MB_REQ)
    s.to_client(MB_RSP)
    lost = s.to_server(MB_REQ)                                  # never captured
    for _ in range(MAX_OOO_SEGMENTS + 2):
        s.to_server(MB_REQ)
    frames = [f for f in s.frames if f is not lost]
    p, b = run_pipeline(write_pcap(tmp_path / "gap.pcap", frames))
    assert any(a.kind == "tcp-gap" for a in b.anomalies)
    assert b.comms[0].profile["read"] >= MAX_OOO_SEGMENTS


def test_flow_cap_evicts_oldest_and_counts(tmp_path: Path) -> None:
    frames = [tcp("10.0.0.1", "10.0.0.2", 40000 + i, 502, MB_REQ, ipid=i) for i in range(50)]
    p, b = run_pipeline(write_pcap(tmp_path / "cap.pcap", frames), max_flows=10)
    assert p.stats.flows_evicted == 40
    assert len(p.active) == 10
    assert sum(c.packets for c in b.comms) == 50                # evicted flows were reported, not lost


def test_arp_binding_and_medium_binding_rule(tmp_path: Path) -> None:
    frames = [arp("10.0.0.7", "00:1b:1b:aa:bb:cc"),
              tcp("10.0.0.1", "10.0.0.2", 40000, 502, MB_REQ, ttl=128),       # on-link (initial TTL)
              tcp("10.9.0.1", "10.0.0.2", 40001, 502, MB_REQ, ttl=61, smac="00:00:5e:00:01:01"),  # routed
              tcp("10.9.0.2", "10.0.0.2", 40002, 502, MB_REQ, ttl=61, smac="00:00:5e:00:01:01")]
    _, b = run_pipeline(write_pcap(tmp_path / "bind.pcap", frames))
    got = {(x.ip, x.mac, x.confidence) for x in b.bindings}
    assert ("10.0.0.7", "00:1b:1b:aa:bb:cc", "high") in got
    assert ("10.0.0.1", "00:0c:29:00:00:02", "medium") in got
    assert not any(x.ip.startswith("10.9.") for x in b.bindings)   # a router's MAC binds nobody behind it


def test_linux_sll2_linktype(tmp_path: Path) -> None:
    ip = bytes(IP(src="10.3.0.1", dst="10.3.0.2") / UDP(sport=1000, dport=2000) / b"x")
    # SLL2: protocol(2) reserved(2) ifindex(4) arphrd(2) pkttype(1) addrlen(1) address(8)
    sll2 = struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, bytes.fromhex("001b1b0000010000")) + ip
    _, b = run_pipeline(write_pcap(tmp_path / "sll2.pcap", [sll2], linktype=276))
    assert {h.subject.ip for h in b.hosts} == {"10.3.0.1", "10.3.0.2"}


def test_dissector_catalog_names_the_registry() -> None:
    from otscope.dissectors import registry
    from otscope.dissectors.catalog import PROTOCOLS

    assert sorted(PROTOCOLS) == registry.names()


@pytest.mark.parametrize("fast", [True, False], ids=["c-fast-path", "python-loop"])
def test_ipv6_packets_are_never_span_duplicates(tmp_path: Path, fast: bool) -> None:
    """IPv6 has no IP id to compare: the same segment twice is two packets, also across files (frame numbers
    restart per file)."""
    from otscope.agent.pcapio import read_chunks
    from otscope.agent.pipeline import Pipeline

    frame = tcp6("fd00::1", "fd00::2", 40000, 80, b"x")
    p = Pipeline(fast=fast)
    for name in ("a.pcap", "b.pcap"):
        path = write_pcap(tmp_path / name, [(1_700_000_000.0, frame)])
        p.start_source(name)
        for chunk in read_chunks(str(path)):
            p.feed_chunk(chunk)
    assert p.stats.span_duplicates == 0
    assert sum(c.packets for c in p.cut_batch("x").comms) == 2


@pytest.mark.parametrize("fast", [True, False], ids=["c-fast-path", "python-loop"])
def test_host_table_is_capped_and_says_so(tmp_path: Path, fast: bool) -> None:
    from otscope.agent.pcapio import read_chunks
    from otscope.agent.pipeline import Pipeline

    # (tcp/9000: a port no dissector claims; "x" on tcp/80 would be an HTTP flow that is not HTTP, an anomaly)
    frames = [tcp(f"10.0.0.{i}", "10.0.1.1", 40000 + i, 9000, b"x", ipid=i) for i in range(1, 6)]
    path = write_pcap(tmp_path / "many.pcap", frames)
    p = Pipeline(fast=fast, max_hosts=3)
    for chunk in read_chunks(str(path)):
        p.feed_chunk(chunk)
    b = p.cut_batch("x")
    assert len(p.hosts) == 3
    assert [(a.kind, a.count, a.evidence.frame) for a in b.anomalies] == [("host-table-full", 1, 3)]
    assert sum(c.packets for c in b.comms) == 5          # untracked hosts' conversations are still reported


@pytest.mark.parametrize("pure", ["0", "1"], ids=["c-backend", "python-backend"])
def test_a_reordered_segment_keeps_its_own_frame_as_evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             pure: str) -> None:
    """An S7 PLC stop job that arrives before the segment preceding it is kept, then fed when the gap fills: its
    action's evidence is the frame that carried it, not the frame that filled the gap (events cite it), in both
    flow table backends (the pure-Python one credited it to the filling frame)."""
    monkeypatch.setenv("OTSCOPE_PURE_PYTHON", pure)
    from tests.unit.test_s7 import CC, SETUP_JOB, cr, dt

    s = TcpSession("10.0.0.1", "10.0.0.2", 40000, 102).handshake()
    s.to_server(cr(b"\x01\x02"))
    s.to_client(CC)
    s.to_server(dt(SETUP_JOB))
    s.to_client(dt(bytes.fromhex("320300000000000800000000f0000001000100f0")))
    s.to_server(dt(struct.pack(">BBHHHH", 0x32, 1, 0, 5, 2, 0) + b"\x04\x00"))      # a Read Var job, no items
    filler = s.frames.pop()
    s.to_server(dt(struct.pack(">BBHHHH", 0x32, 1, 0, 6, 16, 0) + b"\x29" + bytes(5) + b"\x09P_PROGRAM"))
    stop = s.frames.pop()
    frames = s.frames + [stop, filler]                          # the stop (frame n) before the filler (n + 1)
    _p, b = run_pipeline(write_pcap(tmp_path / "reorder.pcap", frames))
    (act,) = [a for a in b.actions if a.action == "PLC stop"]
    assert act.evidence.frame == len(s.frames) + 1
