"""agent/decap.py on captures made here, cross-checked with tshark on the same files.

1. The Linux kernel's own VXLAN (RFC 7348) between two network namespaces, over an IPv4 and an IPv6 underlay,
   carrying a real TCP exchange (a Modbus/TCP request and answer between two kernel sockets) over IPv4 and IPv6:
   the outer veth is captured with tcpdump, and unwrap_tunnel must find exactly the inner hosts and ports, the VNI
   and the outer endpoints, as tshark does.
2. This kernel has no gre/gretap/erspan/ipip/sit/ip6tnl/ip6gre devices (`ip link add ... type gre`: "Unknown device
   type"; no modprobe, no /lib/modules) and no tc mpls/vlan actions. So the other encapsulations are made from the
   REAL inner frames captured in 1 (the kernel's TCP), wrapped by scapy (an independent encoder of GRE, ERSPAN
   I/II/III, MPLS, PPPoE), handed to the kernel through raw IP sockets (which build the outer IPv4/IPv6 header) or an
   AF_PACKET socket (VN-Tag, E-Tag, MPLS, PPPoE), and captured on the far veth. Every frame is checked against
   tshark's own decoding of the innermost layer.
Everything runs in namespaces this module creates (prefix otsh<pid>), each step time-bounded, all deleted after.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from otscope.agent import decap
from otscope.agent.decap import Inner, InnerKind, TunnelKind
from tests.support.netns import Tcpdump

pytestmark = [pytest.mark.realpeer, pytest.mark.tshark,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tcpdump")
                                 or not shutil.which("tshark"), reason="needs root, iproute2, tcpdump, tshark")]

P = f"otsh{os.getpid() % 10000}"
NS_A, NS_B = f"{P}-a", f"{P}-b"
U4A, U4B = "198.18.1.1", "198.18.1.2"          # underlay (RFC 2544 benchmarking range, as protocol-libs.md s.5)
U6A, U6B = "fd00:1::1", "fd00:1::2"
O4A, O4B = "198.18.2.1", "198.18.2.2"          # overlay over the IPv4 VXLAN
O6A, O6B = "fd00:2::1", "fd00:2::2"
V4A, V4B = "198.18.3.1", "198.18.3.2"          # overlay over the IPv6 VXLAN
MB_REQ = bytes.fromhex("000100000006010300000002")
MB_RSP = bytes.fromhex("00010000000701030400010002")


def sh(*cmd: str, timeout: float = 20, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check)


def nsx(ns: str, *cmd: str, **kw) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", ns, *cmd, **kw)


def ns_down() -> None:
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "del", ns, check=False)


@pytest.fixture(scope="module")
def underlay() -> Iterator[None]:
    if sh("ip", "netns", "list", check=False).returncode != 0:
        pytest.skip("ip netns unavailable")
    ns_down()
    try:
        for ns in (NS_A, NS_B):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", "ua", "netns", NS_A, "type", "veth", "peer", "name", "ub", "netns", NS_B)
        for ns, dev, a4, a6 in ((NS_A, "ua", U4A, U6A), (NS_B, "ub", U4B, U6B)):
            sh("ip", "-n", ns, "addr", "add", f"{a4}/24", "dev", dev)
            sh("ip", "-n", ns, "addr", "add", f"{a6}/64", "dev", dev, "nodad")
            sh("ip", "-n", ns, "link", "set", dev, "up")
        yield
    except subprocess.CalledProcessError as e:
        pytest.skip(f"namespaces could not be set up: {e.stderr.strip()}")
    finally:
        ns_down()


SERVER = r"""
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 502)); s.listen(1); s.settimeout(15); print("ready", flush=True)
c, _ = s.accept(); c.settimeout(10); c.recv(64); c.sendall(bytes.fromhex(sys.argv[2])); c.recv(64); c.close()
"""
CLIENT = r"""
import socket, sys, time
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
for _ in range(50):
    try:
        c = socket.create_connection((sys.argv[1], 502), timeout=3, source_address=(sys.argv[2], 40502)); break
    except OSError:
        time.sleep(0.1)
c.sendall(bytes.fromhex(sys.argv[3])); print(c.recv(64).hex(), flush=True); c.close()
"""


def modbus_exchange(server_ip: str, client_ip: str) -> None:
    srv = subprocess.Popen(["ip", "netns", "exec", NS_B, sys.executable, "-c", SERVER, server_ip, MB_RSP.hex()],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert srv.stdout is not None and srv.stdout.readline().strip() == "ready"
        out = nsx(NS_A, sys.executable, "-c", CLIENT, server_ip, client_ip, MB_REQ.hex(), timeout=30)
        assert out.stdout.strip() == MB_RSP.hex()
        srv.wait(timeout=15)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait(timeout=5)


@pytest.fixture(scope="module")
def vxlan_pcap(underlay: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kernel's VXLAN, VNI 42 over IPv4 (inner IPv4 and IPv6) and VNI 43 over IPv6 (inner IPv4)."""
    for ns, me, peer, me6, peer6, o4, o6, v4 in ((NS_A, U4A, U4B, U6A, U6B, O4A, O6A, V4A),
                                                 (NS_B, U4B, U4A, U6B, U6A, O4B, O6B, V4B)):
        r = sh("ip", "-n", ns, "link", "add", "vx4", "type", "vxlan", "id", "42", "local", me, "remote", peer,
               "dstport", "4789", "dev", "ua" if ns == NS_A else "ub", check=False)
        if r.returncode != 0:
            pytest.skip(f"kernel VXLAN unavailable: {r.stderr.strip()}")
        sh("ip", "-n", ns, "link", "add", "vx6", "type", "vxlan", "id", "43", "local", me6, "remote", peer6,
           "dstport", "4789", "dev", "ua" if ns == NS_A else "ub")
        sh("ip", "-n", ns, "addr", "add", f"{o4}/24", "dev", "vx4")
        sh("ip", "-n", ns, "addr", "add", f"{o6}/64", "dev", "vx4", "nodad")
        sh("ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", "vx6")
        sh("ip", "-n", ns, "link", "set", "vx4", "up")
        sh("ip", "-n", ns, "link", "set", "vx6", "up")
    cap = Tcpdump(tmp_path_factory.mktemp("vx") / "vxlan.pcap", "ua", "udp port 4789", ns=NS_A)
    try:
        modbus_exchange(O4B, O4A)
        modbus_exchange(O6B, O6A)
        modbus_exchange(V4B, V4A)
    finally:
        path = cap.finish()
    return path


# ---------------------------------------------------------------------------------------------- reading

def frames(path: Path) -> list[bytes]:
    from scapy.utils import RawPcapReader

    with RawPcapReader(str(path)) as r:
        assert r.linktype == 1
        return [bytes(d) for d, _ in r]


def outer_ip(buf: bytes) -> tuple[int, int, int, int, bytes, bytes]:
    """(ethertype, ip offset, payload offset, protocol, src, dst) of a plain Ethernet + IP frame, test-side."""
    et = int.from_bytes(buf[12:14], "big")
    if et == 0x0800:
        ihl = (buf[14] & 0xF) * 4
        return et, 14, 14 + ihl, buf[23], buf[26:30], buf[30:34]
    assert et == 0x86DD
    return et, 14, 54, buf[20], buf[22:38], buf[38:54]


def five(buf: bytes, r: Inner) -> tuple[str, str, int, int]:
    """The inner packet's addresses and TCP ports, decoded by scapy (an independent decoder) from r.off."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    data = buf[r.off:r.stop]
    pkt = Ether(data) if r.kind is InnerKind.ETHERNET else (IP if r.ethertype == 0x0800 else IPv6)(data)
    ip = pkt[IP] if IP in pkt else pkt[IPv6]
    return ip.src, ip.dst, pkt[TCP].sport, pkt[TCP].dport


def ipstr(b: bytes | None) -> str | None:
    return None if b is None else socket.inet_ntop(socket.AF_INET if len(b) == 4 else socket.AF_INET6, b)


def tshark_inner(path: Path, v6_inner: bool = False) -> list[tuple[str, str, int, int] | None]:
    """Per frame: the innermost (src, dst, tcp sport, tcp dport) as tshark decodes it; None for frames without TCP."""
    fam = "ipv6" if v6_inner else "ip"
    out = sh("tshark", "-r", str(path), "-T", "fields", "-E", "occurrence=l", "-E", "separator=|",
             "-e", f"{fam}.src", "-e", f"{fam}.dst", "-e", "tcp.srcport", "-e", "tcp.dstport", timeout=60).stdout
    rows: list[tuple[str, str, int, int] | None] = []
    for line in out.splitlines():
        s, d, sp, dp = line.split("|")
        rows.append((s, d, int(sp), int(dp)) if sp else None)
    return rows


# ---------------------------------------------------------------------------------------------- 1. kernel VXLAN

def test_kernel_vxlan_inner_hosts_ports_vni_and_outer(vxlan_pcap: Path) -> None:
    fs = frames(vxlan_pcap)
    seen: dict[tuple[int, str, str], set[tuple[str, str, int, int]]] = {}
    for buf in fs:
        et, ipo, l4, proto, src, dst = outer_ip(buf)
        assert proto == 17 and int.from_bytes(buf[l4 + 2:l4 + 4], "big") == 4789
        r = decap.unwrap_tunnel(decap.udp_key(4789), buf, l4 + 8, len(buf), outer=(src, dst))
        assert isinstance(r, Inner) and r.kind is InnerKind.ETHERNET, r
        (t,) = r.tunnels
        assert t.kind is TunnelKind.VXLAN
        # the same answer when decap reads the outer IP header itself
        assert decap.unwrap_tunnel(et, buf, ipo, len(buf)) == r
        try:
            tup = five(buf, r)
        except IndexError:                                       # ARP / neighbour discovery inside the tunnel
            continue
        seen.setdefault((t.ident, ipstr(t.src), ipstr(t.dst)), set()).add(tup)
    tcp4 = {(O4A, O4B, 40502, 502), (O4B, O4A, 502, 40502)}
    tcp6 = {(O6A, O6B, 40502, 502), (O6B, O6A, 502, 40502)}
    tcpv = {(V4A, V4B, 40502, 502), (V4B, V4A, 502, 40502)}
    assert seen[(42, U4A, U4B)] | seen[(42, U4B, U4A)] == tcp4 | tcp6
    assert seen[(43, U6A, U6B)] | seen[(43, U6B, U6A)] == tcpv
    assert set(seen) == {(42, U4A, U4B), (42, U4B, U4A), (43, U6A, U6B), (43, U6B, U6A)}   # no other endpoint


def test_kernel_vxlan_matches_tshark(vxlan_pcap: Path) -> None:
    fs = frames(vxlan_pcap)
    ts4, ts6 = tshark_inner(vxlan_pcap), tshark_inner(vxlan_pcap, v6_inner=True)
    vnis = sh("tshark", "-r", str(vxlan_pcap), "-T", "fields", "-e", "vxlan.vni", timeout=60).stdout.split()
    assert len(ts4) == len(fs) == len(vnis)
    n = 0
    for buf, t4, t6, vni in zip(fs, ts4, ts6, vnis):
        _, _, l4, _, src, dst = outer_ip(buf)
        r = decap.unwrap_tunnel(decap.udp_key(4789), buf, l4 + 8, len(buf), outer=(src, dst))
        assert isinstance(r, Inner) and r.tunnels[0].ident == int(vni)
        if t4 is None:
            continue
        mine = five(buf, r)
        assert mine == (t6 if ":" in mine[0] else t4)
        n += 1
    assert n >= 12                                          # 3 handshakes + data + teardown, both directions


# ---------------------------------------------------------------------------------------------- 2. re-encapsulated

def inner_frames(vxlan_pcap: Path) -> tuple[list[bytes], list[bytes]]:
    """The real inner Ethernet frames of the TCP exchanges over VNI 42, split by IP version (scapy decodes VXLAN)."""
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.layers.vxlan import VXLAN

    v4, v6 = [], []
    for buf in frames(vxlan_pcap):
        p = Ether(buf)
        if VXLAN in p and p[VXLAN].vni == 42 and TCP in p[VXLAN].payload:
            inner = bytes(p[VXLAN].payload)
            (v6 if IPv6 in p[VXLAN].payload else v4).append(inner)
    assert len(v4) >= 6 and len(v6) >= 6
    return v4, v6


SENDER = r"""
import json, socket, sys
jobs = json.load(open(sys.argv[1]))
for kind, a, b in jobs:
    data = bytes.fromhex(b)
    if kind == "packet":
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(("ua", 0)); s.send(data); s.close()
    elif kind == "udp4":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(data, (sys.argv[2], int(a))); s.close()
    else:
        fam = socket.AF_INET6 if kind == "ip6" else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_RAW, int(a))
        s.sendto(data, (sys.argv[3] if fam == socket.AF_INET6 else sys.argv[2], 0)); s.close()
"""


def encapsulations(v4: list[bytes], v6: list[bytes]) -> list[tuple[str, str, int, bytes, bytes, bool]]:
    """(name, family of the raw socket or 'packet', protocol, bytes to send, the real inner frame, inner v6?)"""
    from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
    from scapy.contrib.mpls import MPLS
    from scapy.contrib.tzsp import TZSP, TZSPTagEnd
    from scapy.layers.l2 import GRE, Ether
    from scapy.layers.ppp import PPP, PPPoE

    mac_a, mac_b = "02:00:00:00:01:01", "02:00:00:00:01:02"
    jobs = []
    for eth4, eth6 in zip(v4[:6], v6[:6]):
        ip4, ip6 = eth4[14:], eth6[14:]
        jobs += [
            ("gre", "ip4", 47, bytes(GRE(proto=0x0800) / ip4), ip4, False),
            ("gre-csum-key-seq", "ip4", 47, bytes(GRE(chksum_present=1, key_present=1, key=0x1234,
                                                      seqnum_present=1, proto=0x86DD) / ip6), ip6, True),
            ("gretap", "ip4", 47, bytes(GRE(key_present=1, key=7, proto=0x6558) / eth4), eth4, False),
            ("erspan-i", "ip4", 47, bytes(GRE(proto=0x88BE) / eth4), eth4, False),
            ("erspan-ii", "ip4", 47, bytes(GRE(seqnum_present=1, proto=0x88BE) / ERSPAN_II(session_id=5, vlan=10)
                                           / eth4), eth4, False),
            ("erspan-iii", "ip4", 47, bytes(GRE(seqnum_present=1, proto=0x22EB)
                                            / ERSPAN_III(session_id=6, vlan=11, o=1) / ERSPAN_PlatformSpecific()
                                            / eth6), eth6, True),
            ("ipip", "ip4", 4, ip4, ip4, False),
            ("sit", "ip4", 41, ip6, ip6, True),
            ("ip6ip6", "ip6", 41, ip6, ip6, True),
            ("ip4ip6", "ip6", 4, ip4, ip4, False),
            ("ip6gre", "ip6", 47, bytes(GRE(proto=0x6558) / eth6), eth6, True),
            ("mpls", "packet", 0, bytes(Ether(src=mac_a, dst=mac_b, type=0x8847) / MPLS(label=100, s=0)
                                        / MPLS(label=200, s=1) / ip4), ip4, False),
            ("eompls-cw", "packet", 0, bytes(Ether(src=mac_a, dst=mac_b, type=0x8847) / MPLS(label=300, s=1))
             + b"\x00\x00\x00\x00" + eth6, eth6, True),
            ("pppoe", "packet", 0, bytes(Ether(src=mac_a, dst=mac_b) / PPPoE(sessionid=0x11) / PPP(proto=0x0057)
                                         / ip6), ip6, True),
            ("vntag", "packet", 0, bytes(Ether(src=mac_a, dst=mac_b, type=0x8926)) + bytes.fromhex("802a0005")
             + b"\x08\x00" + ip4, ip4, False),
            ("tzsp", "udp4", 37008, bytes(TZSP(encapsulated_protocol=1) / TZSPTagEnd()) + eth4, eth4, False),
            ("etag", "packet", 0, bytes(Ether(src=mac_a, dst=mac_b, type=0x893F)) + bytes.fromhex("000000330000")
             + b"\x86\xdd" + ip6, ip6, True),
        ]
    return jobs


@pytest.fixture(scope="module")
def reencap(vxlan_pcap: Path, tmp_path_factory: pytest.TempPathFactory):
    v4, v6 = inner_frames(vxlan_pcap)
    jobs = encapsulations(v4, v6)
    tmp = tmp_path_factory.mktemp("re")
    (tmp / "jobs.json").write_text(json.dumps([(fam, proto, data.hex()) for _n, fam, proto, data, _i, _v in jobs]))
    # the far end has no handler for these protocols and answers ICMP unreachable: not captured
    cap = Tcpdump(tmp / "reencap.pcap", "ub",
                  "not ether multicast and not icmp and not icmp6 and not arp and not (udp and not port 37008)",
                  ns=NS_B)
    try:
        nsx(NS_A, sys.executable, "-c", SENDER, str(tmp / "jobs.json"), U4B, U6B, timeout=60)
    finally:
        path = cap.finish()
    return jobs, path


def unwrap_frame(buf: bytes) -> Inner | decap.Malformed | None:
    et = int.from_bytes(buf[12:14], "big")
    if et in decap.TUNNEL_ETHERTYPES:
        return decap.unwrap_tunnel(et, buf, 14, len(buf))
    _, _, l4, proto, src, dst = outer_ip(buf)
    if proto == 17:
        port = int.from_bytes(buf[l4 + 2:l4 + 4], "big")
        return decap.unwrap_tunnel(decap.udp_key(port), buf, l4 + 8, len(buf), outer=(src, dst))
    assert proto in decap.TUNNEL_IPPROTOS
    return decap.unwrap_tunnel(proto, buf, l4, len(buf), outer=(src, dst))


EXPECT_KIND = {"gre": TunnelKind.GRE, "gre-csum-key-seq": TunnelKind.GRE, "gretap": TunnelKind.GRE,
               "erspan-i": TunnelKind.ERSPAN_I, "erspan-ii": TunnelKind.ERSPAN_II, "erspan-iii": TunnelKind.ERSPAN_III,
               "ipip": TunnelKind.IPIP, "sit": TunnelKind.IP6IN, "ip6ip6": TunnelKind.IP6IN, "ip4ip6": TunnelKind.IPIP,
               "ip6gre": TunnelKind.GRE, "mpls": TunnelKind.MPLS, "eompls-cw": TunnelKind.MPLS,
               "pppoe": TunnelKind.PPPOE, "vntag": TunnelKind.VNTAG, "etag": TunnelKind.ETAG,
               "tzsp": TunnelKind.TZSP}


TSHARK_PROTOS = {"gre": "ip:gre:ip:tcp", "gre-csum-key-seq": "ip:gre:ipv6:tcp", "gretap": "gre:eth:ethertype:ip",
                 "erspan-i": "gre:erspan:eth", "erspan-ii": "gre:erspan:eth", "erspan-iii": "gre:erspan:eth",
                 "ipip": "ip:ip:tcp", "sit": "ip:ipv6:tcp", "ip6ip6": "ipv6:ipv6:tcp", "ip4ip6": "ipv6:ip:tcp",
                 "ip6gre": "ipv6:gre:eth", "mpls": "mpls:ip:tcp", "eompls-cw": "pwethcw:eth",
                 "pppoe": "pppoes:ppp:ipv6", "vntag": "vntag:ethertype:ip:tcp", "etag": "etag:ethertype:ipv6:tcp",
                 "tzsp": "udp:tzsp:eth:ethertype:ip:tcp"}


def test_reencapsulated_real_frames(reencap) -> None:
    jobs, path = reencap
    fs = frames(path)
    assert len(fs) == len(jobs), "every frame sent was captured once"
    ts4, ts6 = tshark_inner(path), tshark_inner(path, v6_inner=True)
    kinds = set()
    stacks = sh("tshark", "-r", str(path), "-T", "fields", "-e", "frame.protocols", timeout=60).stdout.split()
    for (name, fam, _proto, _data, inner, inner_v6), buf, t4, t6, protos in zip(jobs, fs, ts4, ts6, stacks):
        r = unwrap_frame(buf)
        assert isinstance(r, Inner), (name, r)
        assert buf[r.off:r.off + len(inner)] == inner, name          # exactly the real inner frame
        t = r.tunnels[0]
        assert t.kind is EXPECT_KIND[name], name
        if fam in ("ip4", "udp4"):
            assert (ipstr(t.src), ipstr(t.dst)) == (U4A, U4B), name
        elif fam == "ip6":
            assert (ipstr(t.src), ipstr(t.dst)) == (U6A, U6B), name
        else:
            assert t.src is None and t.dst is None, name              # L2 tags: no IP endpoints
        assert TSHARK_PROTOS[name] in protos, (name, protos)           # tshark sees the same encapsulation
        assert five(buf, r) == (t6 if inner_v6 else t4), name
        kinds.add(name)
        if name == "erspan-ii":
            assert (t.ident, t.vlan) == (5, 10)
        if name == "erspan-iii":
            assert (t.ident, t.vlan) == (6, 11)
        if name == "mpls":
            assert t.ident == 200
    assert kinds == set(EXPECT_KIND)


def test_namespaces_are_ours_and_removed_after(underlay: None) -> None:
    names = sh("ip", "netns", "list").stdout.split()
    assert NS_A in names and NS_B in names


# ---------------------------------------------------------------------------------------------- 3. NFLOG

NFLOG_GROUP = 7


@pytest.fixture(scope="module")
def nflog_pcap(underlay: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kernel's nfnetlink_log: an nftables `log group` rule in namespace B on input (packets from A, with A's
    MAC as NFULA_HWADDR) and output (no MAC), captured by tcpdump on nflog:7."""
    if not shutil.which("nft"):
        pytest.skip("nft (nftables) not installed")
    rules = f"""table inet otsh {{
      chain i {{ type filter hook input priority 0;
                 udp dport 47808 log group {NFLOG_GROUP}; tcp dport 502 log group {NFLOG_GROUP}; }}
      chain o {{ type filter hook output priority 0; tcp sport 502 log group {NFLOG_GROUP}; }}
    }}"""
    tmp = tmp_path_factory.mktemp("nflog")
    (tmp / "rules.nft").write_text(rules)
    r = nsx(NS_B, "nft", "-f", str(tmp / "rules.nft"), check=False)
    if r.returncode != 0:
        pytest.skip(f"nftables log rules refused: {r.stderr.strip()}")
    cap = Tcpdump(tmp / "nflog.pcap", f"nflog:{NFLOG_GROUP}", ns=NS_B)
    try:
        nsx(NS_A, sys.executable, "-c", "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.bind(('{U4A}', 47809)); s.sendto(b'\\x81\\x0b\\x00\\x08\\x01\\x00\\x10\\x08', ('{U4B}', 47808))")
        modbus_exchange(U4B, U4A)
        modbus_exchange(U6B, U6A)
    finally:
        path = cap.finish(quiet=1.5)                 # nfnetlink_log flushes its batch after 1 s (NFULNL_TIMEOUT)
        nsx(NS_B, "nft", "delete", "table", "inet", "otsh", check=False)
    return path


def test_nflog_kernel_capture(nflog_pcap: Path) -> None:
    from scapy.utils import RawPcapReader

    mac_a = bytes.fromhex(json.loads(sh("ip", "-j", "-n", NS_A, "link", "show", "ua").stdout)[0]["address"]
                          .replace(":", ""))
    with RawPcapReader(str(nflog_pcap)) as rd:
        assert rd.linktype == 239
        fs = [bytes(d) for d, _ in rd]
    ts = sh("tshark", "-r", str(nflog_pcap), "-T", "fields", "-E", "separator=|", "-e", "ip.src", "-e", "ipv6.src",
            "-e", "ip.dst", "-e", "ipv6.dst", "-e", "udp.srcport", "-e", "tcp.srcport", "-e", "udp.dstport",
            "-e", "tcp.dstport", timeout=60).stdout.splitlines()
    assert len(ts) == len(fs) >= 10
    seen = set()
    for buf, row in zip(fs, ts):
        r = decap.unwrap_link(239, buf, 0, len(buf))
        assert isinstance(r, decap.L2Start), r
        s4, s6, d4, d6, us, tsp, ud, td = row.split("|")
        data = buf[r.off:r.stop]
        fam = socket.AF_INET if r.ethertype == 0x0800 else socket.AF_INET6
        if fam == socket.AF_INET:
            src, dst, l4 = data[12:16], data[16:20], (data[0] & 0xF) * 4
        else:
            src, dst, l4 = data[8:24], data[24:40], 40
        sport, dport = int.from_bytes(data[l4:l4 + 2], "big"), int.from_bytes(data[l4 + 2:l4 + 4], "big")
        mine = (socket.inet_ntop(fam, src), socket.inet_ntop(fam, dst), sport, dport)
        assert mine == (s4 or s6, d4 or d6, int(us or tsp), int(ud or td))       # tshark agrees
        incoming = mine[1] in (U4B, U6B)
        assert r.src_mac == (mac_a if incoming else None), mine                 # NFULA_HWADDR only on input
        seen.add((mine, incoming))
    assert ((U4A, U4B, 47809, 47808), True) in seen
    assert ((U4B, U4A, 502, 40502), False) in seen and ((U6A, U6B, 40502, 502), True) in seen


# ---------------------------------------------------------------------------------------------- 4. hand-made frames

def hand_made() -> list[tuple[str, int, bytes]]:
    """The spec-built frames of tests/unit/test_decap.py, one per link type variant."""
    from tests.unit import test_decap as u

    data = u.wlan(0x08, 0x01, u.BSSID, u.MAC_A, u.MAC_B) + u.LLC_IP4 + u.IP4
    wds = u.wlan(0x88, 0x03, u.h("020000000002"), u.h("020000000001"), u.MAC_B, u.MAC_A, u.h("00 00")) + \
        u.LLC_IP4 + u.IP4
    body = u.h("00 57") + u.IP6
    pppoe = u.h("11 00 12 34") + len(body).to_bytes(2, "big") + body
    return [
        ("ppp", 9, u.h("ff 03 00 21") + u.IP4), ("ppp-nohdlc-v6", 9, u.h("00 57") + u.IP6),
        ("ppp-hdlc", 50, u.h("ff 03 00 21") + u.IP4), ("ppp-with-dir", 204, u.h("01 ff 03 00 57") + u.IP6),
        ("chdlc", 104, u.h("0f 00 08 00") + u.IP4), ("chdlc-v6", 104, u.h("8f 00 86 dd") + u.IP6),
        ("chdlc-with-dir", 205, u.h("00 0f 00 08 00") + u.IP4),
        ("pppoe-in-ethernet", 1, u.MAC_B + u.MAC_A + u.h("88 64") + pppoe),
        ("nflog-le", 239, u.nflog([(1, u.h("08 00 03 00")), (8, u.h("00 06 00 00") + u.MAC_A + b"\0\0"), (9, u.IP4)])),
        ("nflog-v6", 239, u.nflog([(9, u.IP6)], fam=10)),
        ("wlan-tods", 105, data), ("wlan-wds-qos", 105, wds),
        ("wlan-fromds", 105, u.wlan(0x08, 0x02, u.MAC_B, u.BSSID, u.MAC_A) + u.LLC_IP4 + u.IP4),
        ("radiotap", 127, u.h("00 00 08 00 00 00 00 00") + data),
        ("ppi", 192, u.h("00 00 08 00 69 00 00 00") + data),
        ("prism", 119, u.h("41 00 00 00") + (144).to_bytes(4, "little") + b"\0" * 136 + data),
        ("avs", 163, u.h("80 21 10 01") + (64).to_bytes(4, "big") + b"\0" * 56 + data),
        ("fddi", 10, u.h("50") + u.MAC_B + u.MAC_A + u.LLC_IP4 + u.IP4),
        ("sll", 113, u.sll(0, 1, u.MAC_A, 0x0800) + u.IP4),
        ("sll-llc", 113, u.sll(0, 1, u.MAC_A, 4) + u.LLC_IP4 + u.IP4),
        ("sll2", 276, u.h("86 dd 00 00 00 00 00 03 00 01 00 06") + u.MAC_A + b"\0\0" + u.IP6),
        ("null", 0, u.h("02 00 00 00") + u.IP4), ("loop", 108, u.h("00 00 00 02") + u.IP4),
        ("ipv4", 228, u.IP4), ("ipv6", 229, u.IP6), ("raw", 101, u.IP6),
    ]


def test_hand_made_link_frames_match_tshark(tmp_path: Path) -> None:
    from tests.conftest import write_pcap

    n, cannot = 0, set()
    for name, lt, frame in hand_made():
        f = write_pcap(tmp_path / f"{name}.pcap", [frame], linktype=lt)
        out = sh("tshark", "-r", str(f), "-T", "fields", "-E", "separator=|", "-E", "occurrence=l", "-e", "ip.src",
                 "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "udp.srcport", "-e", "udp.dstport",
                 "-e", "wlan.sa", "-e", "wlan.da", timeout=30, check=False)
        r = decap.unwrap_link(lt, frame, 0, len(frame))
        assert isinstance(r, decap.L2Start), (name, r)
        if out.returncode != 0:
            assert "isn't supported" in out.stderr or "unknown" in out.stderr.lower(), out.stderr
            cannot.add(name)
            continue
        s4, d4, s6, d6, sp, dp, sa, da = out.stdout.strip().split("|")
        fam = socket.AF_INET if r.ethertype == 0x0800 else socket.AF_INET6
        d = frame[r.off:r.stop]
        src, dst, l4 = (d[12:16], d[16:20], 20) if fam == socket.AF_INET else (d[8:24], d[24:40], 40)
        mine = (socket.inet_ntop(fam, src), socket.inet_ntop(fam, dst), int.from_bytes(d[l4:l4 + 2], "big"),
                int.from_bytes(d[l4 + 2:l4 + 4], "big"))
        assert mine == (s4 or s6, d4 or d6, int(sp), int(dp)), (name, out.stdout)
        if sa:                                                       # 802.11: tshark's SA/DA = ours
            assert (r.src_mac.hex(":"), r.dst_mac.hex(":")) == (sa, da), name
        n += 1
    assert cannot <= {"chdlc-with-dir"}, cannot                     # tshark 4.0 has no reader for 205
    assert n + len(cannot) == len(hand_made())


# ---------------------------------------------------------------------------------------------- 5. the whole replay

def _inventory_ips(path: Path, tmp: Path, pure: bool) -> tuple[set[str], dict]:
    """Replay a capture through the product (decoder -> flows -> collector) in a fresh process: the IPs of
    the assets it makes, and the tunnel counts the decoder reports."""
    tmp.mkdir(parents=True, exist_ok=True)
    code = ("import json, sys\n"
            "from tests.conftest import Inventory\n"
            "from tests.conftest import run_pipeline\n"
            f"inv = Inventory('sqlite:///{tmp}/t.db')\n"
            f"inv.replay({str(path)!r})\n"
            f"p, _b = run_pipeline({str(path)!r})\n"
            "print(json.dumps([sorted(ip for a in inv.assets() for ip in a['ips']), p.stats.tunnels]))\n")
    env = {**os.environ, "OTSCOPE_PURE_PYTHON": "1" if pure else ""}
    if not pure:
        env.pop("OTSCOPE_PURE_PYTHON")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                         cwd=str(Path(__file__).resolve().parents[2]), check=True).stdout
    ips, tunnels = json.loads(out.strip().splitlines()[-1])
    return set(ips), tunnels


@pytest.mark.parametrize("pure", [False, True], ids=["c-fast-path", "pure-python"])
def test_replay_makes_assets_of_the_inner_hosts_only(vxlan_pcap: Path, reencap, tmp_path: Path, pure: bool) -> None:
    """The mirror's transport (tunnel endpoints) is not a plant host; the hosts inside the tunnel are."""
    ips, tunnels = _inventory_ips(vxlan_pcap, tmp_path / "vx", pure)
    assert {O4A, O4B, V4A, V4B} <= ips and ({O6A, O6B} <= ips)
    assert not ips & {U4A, U4B, U6A, U6B}, ips
    assert tunnels.get("vxlan", 0) > 0
    _jobs, path = reencap
    ips2, tunnels2 = _inventory_ips(path, tmp_path / "re", pure)
    assert not ips2 & {U4A, U4B, U6A, U6B}, ips2
    assert ips2 and ips2 <= {O4A, O4B, O6A, O6B, V4A, V4B}
    assert {"gre", "mpls", "pppoe"} <= set(tunnels2)
