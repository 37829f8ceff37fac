"""Link layers and remote-SPAN / tunnel encapsulations, unwrapped to the frame a mirror port really carried.

Pure Python, bounds-checked, stateless; no exception escapes: every public function returns a named result
(L2Start / Unsupported / Malformed from unwrap_link, Inner / None / Malformed from unwrap_tunnel). Offsets index
the caller's buffer (bytes or memoryview); nothing is copied but the addresses (MAC 6 bytes, IPv4 4, IPv6 16).

How the decoder calls it
========================
(1) Link layer, once per frame, BEFORE the Ethernet path, for every link type the fast path does not decode
    itself (it keeps 1 Ethernet, 0 NULL, 108 LOOP, 12/101/228/229 raw; route everything else here, and also SLL
    113 / SLL2 276 frames whose protocol is < 0x0600 or whose ARPHRD type is 801/802/803 (802.11), and never take
    an SLL MAC unless hatype is 1/6 and the address is not all zero -- unwrap_link(113/276) does all of that)::

        r = decap.unwrap_link(linktype, buf, off, stop)
        if isinstance(r, decap.L2Start):
            if r.ethertype == decap.ETH_FRAME:      # 0x6558: an Ethernet frame starts at r.off (PPI dlt 1, SLL
                ...run the Ethernet path on buf[r.off:r.stop]   # on a gretap port): its MACs are real
            else:                                   # the L3 header of r.ethertype (0x0800, 0x86DD, 0x0806,
                ...continue as after Ethernet with et=r.ethertype, l3=r.off, stop=r.stop   # 0x8847, ...)
            # r.src_mac / r.dst_mac: the frame's real link-layer addresses, None when the link layer has none
            # (PPP, C-HDLC, raw, FDDI (bit order unknowable), NFLOG output hook). Bind IP to MAC only from these.
        elif isinstance(r, decap.Unsupported):
            # count stats.link_unsupported[r.name][r.reason] and show them in the replay summary:
            # r.name is "LINKTYPE_IEEE802_11_RADIOTAP (127)"; r.reason "unsupported-linktype" for a link type
            # nothing decodes, or a frame without an L3 payload: "wlan-protected" (count these: an encrypted
            # WLAN gives no hosts), "wlan-management", "wlan-control", "wlan-no-data", "ppp-protocol-0xc021",
            # "chdlc-protocol-0x8035", "llc-dsap-0x42", "sll-protocol-0x000c", "nflog-no-payload", ...
        else:                                       # decap.Malformed
            anomaly(r.layer, r.reason)              # e.g. ("radiotap", "bad-length"), ("ppp", "truncated-header")

(2) After the Ethernet/VLAN ethertype is known (et; l3 = the Ethernet payload offset)::

        if et in decap.TUNNEL_ETHERTYPES:           # MPLS 0x8847/0x8848, PPPoE session 0x8864, VN-Tag 0x8926,
            t = decap.unwrap_tunnel(et, buf, l3, stop)   # E-Tag 0x893F, bare ERSPAN 0x88BE/0x22EB

(3) After the IP header is parsed (proto; l4 = the IP payload offset; ip_end = its end by total length;
    ip_src/ip_dst the raw address bytes), for the first fragment only::

        if proto in decap.TUNNEL_IPPROTOS:          # 4 IP-in-IP, 41 6in4/IPv6-in-IP, 47 GRE (ERSPAN, PPTP)
            t = decap.unwrap_tunnel(proto, buf, l4, ip_end, outer=(ip_src, ip_dst))
        elif proto == 17 and udp_dport in decap.TUNNEL_UDP_PORTS:      # 4789 VXLAN, 37008 TZSP
            t = decap.unwrap_tunnel(decap.udp_key(udp_dport), buf, l4 + 8, ip_end, outer=(ip_src, ip_dst))
        # (unwrap_tunnel(0x0800 or 0x86DD, buf, l3, stop) also works: it reads the outer IP header itself.)

    Then::

        if isinstance(t, decap.Inner):
            # t.kind is InnerKind.ETHERNET: decode an Ethernet frame at t.off..t.stop (its MACs are real plant
            #   MACs: ERSPAN/VXLAN/gretap mirror whole frames); InnerKind.L3: decode a t.ethertype header there
            #   (t.src_mac/t.dst_mac: the real SA/DA when a remote 802.11 capture (TZSP) carried it, else None).
            # t.tunnels: every level, outermost first: TunnelKind, the outer endpoints (src/dst IP bytes, None for
            #   L2 tags), ident (VNI, GRE key, ERSPAN session, MPLS bottom label, PPPoE session, VN-Tag DVIF,
            #   E-CID), ERSPAN's original VLAN.
            # The outer endpoints are the mirror's transport, NOT plant hosts: count them
            # (stats.tunnels[kind.value] += 1, keep the endpoints apart if reported at all), make no asset of
            # them, bind no MAC to them, and do not create a flow/conversation for the outer packet.
        elif isinstance(t, decap.Malformed):
            anomaly(t.layer, t.reason)              # incl. ("tunnel", "nesting-too-deep")
        # None: nothing this module unwraps (GRE with an unknown protocol, PPPoE carrying LCP, an MPLS G-ACh):
        #       handle the packet as an ordinary one.

    unwrap_tunnel follows nested encapsulations itself (VXLAN in GRE in MPLS ...) up to MAX_NESTING (4) levels,
    so one call returns the innermost frame; more levels are Malformed("tunnel", "nesting-too-deep").

What to count: link_unsupported by name and reason (reported in the summary, never silently empty), tunnels by
TunnelKind.value, every Malformed as a decode anomaly (layer, reason). The reason "internal-bounds" must never
appear (it would be a missed bounds check; the fuzz tests assert it).
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

__all__ = [
    "ETH_FRAME",
    "LINKTYPE_NAMES",
    "MAX_NESTING",
    "TUNNEL_ETHERTYPES",
    "TUNNEL_IPPROTOS",
    "TUNNEL_UDP_PORTS",
    "Inner",
    "InnerKind",
    "L2Start",
    "Malformed",
    "Tunnel",
    "TunnelKind",
    "Unsupported",
    "linktype_name",
    "udp_key",
    "unwrap_link",
    "unwrap_tunnel",
]

_U16 = struct.Struct(">H").unpack_from
_U16LE = struct.Struct("<H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_U32LE = struct.Struct("<I").unpack_from

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_IPV6 = 0x86DD
ETH_VLAN = 0x8100
ETH_QINQ = 0x88A8
ETH_QINQ_OLD = 0x9100
ETH_MPLS_UC = 0x8847
ETH_MPLS_MC = 0x8848
ETH_PPPOE_DISC = 0x8863
ETH_PPPOE_SESS = 0x8864
ETH_VNTAG = 0x8926
ETH_ETAG = 0x893F
ETH_ERSPAN_II = 0x88BE
ETH_ERSPAN_III = 0x22EB
ETH_PPP = 0x880B
#: Transparent Ethernet Bridging (GRE protocol type, RFC 1701 list): used here as "an Ethernet frame starts here".
ETH_FRAME = 0x6558

MAX_NESTING = 4
_VLAN_TYPES = (ETH_VLAN, ETH_QINQ, ETH_QINQ_OLD)

# --------------------------------------------------------------------------------------------------------------
# LINKTYPE_* numbers: libpcap pcap-common.c (the-tcpdump-group/libpcap, commit 0447d46f), values 0-10 are the
# DLT_* values they are defined as (pcap/dlt.h); 104..290 is the "matching" range listed there, 291-292 from a
# later pcap/dlt.h (commit 078b980e, DLT_MATCHING_MAX 292).
LINKTYPE_NAMES: dict[int, str] = {
    0: "NULL", 1: "ETHERNET", 2: "EXP_ETHERNET", 3: "AX25", 4: "PRONET", 5: "CHAOS", 6: "IEEE802_5",
    7: "ARCNET_BSD", 8: "SLIP", 9: "PPP", 10: "FDDI", 50: "PPP_HDLC", 51: "PPP_ETHER", 99: "SYMANTEC_FIREWALL",
    100: "ATM_RFC1483", 101: "RAW", 102: "SLIP_BSDOS", 103: "PPP_BSDOS", 104: "C_HDLC", 105: "IEEE802_11",
    106: "ATM_CLIP", 107: "FRELAY", 108: "LOOP", 109: "ENC", 110: "LANE8023", 111: "HIPPI", 112: "HDLC",
    113: "LINUX_SLL", 114: "LTALK", 115: "ECONET", 116: "IPFILTER", 117: "PFLOG", 118: "CISCO_IOS",
    119: "IEEE802_11_PRISM", 120: "IEEE802_11_AIRONET", 121: "HHDLC", 122: "IP_OVER_FC", 123: "SUNATM",
    124: "RIO", 125: "PCI_EXP", 126: "AURORA", 127: "IEEE802_11_RADIOTAP", 128: "TZSP", 129: "ARCNET_LINUX",
    130: "JUNIPER_MLPPP", 131: "JUNIPER_MLFR", 132: "JUNIPER_ES", 133: "JUNIPER_GGSN", 134: "JUNIPER_MFR",
    135: "JUNIPER_ATM2", 136: "JUNIPER_SERVICES", 137: "JUNIPER_ATM1", 138: "APPLE_IP_OVER_IEEE1394",
    139: "MTP2_WITH_PHDR", 140: "MTP2", 141: "MTP3", 142: "SCCP", 143: "DOCSIS", 144: "LINUX_IRDA",
    145: "IBM_SP", 146: "IBM_SN", 147: "USER0", 148: "USER1", 149: "USER2", 150: "USER3", 151: "USER4",
    152: "USER5", 153: "USER6", 154: "USER7", 155: "USER8", 156: "USER9", 157: "USER10", 158: "USER11",
    159: "USER12", 160: "USER13", 161: "USER14", 162: "USER15", 163: "IEEE802_11_AVS", 164: "JUNIPER_MONITOR",
    165: "BACNET_MS_TP", 166: "PPP_PPPD", 167: "JUNIPER_PPPOE", 168: "JUNIPER_PPPOE_ATM", 169: "GPRS_LLC",
    170: "GPF_T", 171: "GPF_F", 172: "GCOM_T1E1", 173: "GCOM_SERIAL", 174: "JUNIPER_PIC_PEER", 175: "ERF_ETH",
    176: "ERF_POS", 177: "LINUX_LAPD", 178: "JUNIPER_ETHER", 179: "JUNIPER_PPP", 180: "JUNIPER_FRELAY",
    181: "JUNIPER_CHDLC", 182: "MFR", 183: "JUNIPER_VP", 184: "A429", 185: "A653_ICM", 186: "USB_FREEBSD",
    187: "BLUETOOTH_HCI_H4", 188: "IEEE802_16_MAC_CPS", 189: "USB_LINUX", 190: "CAN20B",
    191: "IEEE802_15_4_LINUX", 192: "PPI", 193: "IEEE802_16_MAC_CPS_RADIO", 194: "JUNIPER_ISM",
    195: "IEEE802_15_4_WITHFCS", 196: "SITA", 197: "ERF", 198: "RAIF1", 199: "IPMB_KONTRON", 200: "JUNIPER_ST",
    201: "BLUETOOTH_HCI_H4_WITH_PHDR", 202: "AX25_KISS", 203: "LAPD", 204: "PPP_WITH_DIR", 205: "C_HDLC_WITH_DIR",
    206: "FRELAY_WITH_DIR", 207: "LAPB_WITH_DIR", 209: "IPMB_LINUX", 210: "FLEXRAY", 211: "MOST", 212: "LIN",
    213: "X2E_SERIAL", 214: "X2E_XORAYA", 215: "IEEE802_15_4_NONASK_PHY", 216: "LINUX_EVDEV", 217: "GSMTAP_UM",
    218: "GSMTAP_ABIS", 219: "MPLS", 220: "USB_LINUX_MMAPPED", 221: "DECT", 222: "AOS", 223: "WIHART",
    224: "FC_2", 225: "FC_2_WITH_FRAME_DELIMS", 226: "IPNET", 227: "CAN_SOCKETCAN", 228: "IPV4", 229: "IPV6",
    230: "IEEE802_15_4_NOFCS", 231: "DBUS", 232: "JUNIPER_VS", 233: "JUNIPER_SRX_E2E",
    234: "JUNIPER_FIBRECHANNEL", 235: "DVB_CI", 236: "MUX27010", 237: "STANAG_5066_D_PDU",
    238: "JUNIPER_ATM_CEMIC", 239: "NFLOG", 240: "NETANALYZER", 241: "NETANALYZER_TRANSPARENT", 242: "IPOIB",
    243: "MPEG_2_TS", 244: "NG40", 245: "NFC_LLCP", 246: "PFSYNC", 247: "INFINIBAND", 248: "SCTP",
    249: "USBPCAP", 250: "RTAC_SERIAL", 251: "BLUETOOTH_LE_LL", 252: "WIRESHARK_UPPER_PDU", 253: "NETLINK",
    254: "BLUETOOTH_LINUX_MONITOR", 255: "BLUETOOTH_BREDR_BB", 256: "BLUETOOTH_LE_LL_WITH_PHDR",
    257: "PROFIBUS_DL", 258: "PKTAP", 259: "EPON", 260: "IPMI_HPM_2", 261: "ZWAVE_R1_R2", 262: "ZWAVE_R3",
    263: "WATTSTOPPER_DLM", 264: "ISO_14443", 265: "RDS", 266: "USB_DARWIN", 267: "OPENFLOW", 268: "SDLC",
    269: "TI_LLN_SNIFFER", 270: "LORATAP", 271: "VSOCK", 272: "NORDIC_BLE", 273: "DOCSIS31_XRA31",
    274: "ETHERNET_MPACKET", 275: "DISPLAYPORT_AUX", 276: "LINUX_SLL2", 277: "SERCOS_MONITOR",
    278: "OPENVIZSLA", 279: "EBHSCR", 280: "VPP_DISPATCH", 281: "DSA_TAG_BRCM", 282: "DSA_TAG_BRCM_PREPEND",
    283: "IEEE802_15_4_TAP", 284: "DSA_TAG_DSA", 285: "DSA_TAG_EDSA", 286: "ELEE", 287: "Z_WAVE_SERIAL",
    288: "USB_2_0", 289: "ATSC_ALP", 290: "ETW", 291: "NETANALYZER_NG", 292: "ZBOSS_NCP",
}
LINKTYPE_NAMES = {k: "LINKTYPE_" + v for k, v in LINKTYPE_NAMES.items()}


def linktype_name(linktype: int) -> str:
    """'LINKTYPE_IEEE802_11_RADIOTAP (127)'; an unknown number keeps its number: 'LINKTYPE_UNKNOWN (999)'."""
    return f"{LINKTYPE_NAMES.get(linktype, 'LINKTYPE_UNKNOWN')} ({linktype})"


# Link types (pcap LINKTYPE_* values) decoded here.
LT_NULL, LT_ETHERNET, LT_PPP, LT_FDDI, LT_PPP_HDLC, LT_PPP_ETHER = 0, 1, 9, 10, 50, 51
LT_RAW, LT_RAW_OPENBSD, LT_RAW_OTHER, LT_C_HDLC, LT_IEEE802_11, LT_LOOP = 101, 12, 14, 104, 105, 108
LT_SLL, LT_PRISM, LT_RADIOTAP, LT_AVS, LT_PPP_PPPD, LT_PPI = 113, 119, 127, 163, 166, 192
LT_PPP_WITH_DIR, LT_C_HDLC_WITH_DIR, LT_MPLS, LT_IPV4, LT_IPV6, LT_NFLOG, LT_SLL2 = 204, 205, 219, 228, 229, 239, 276


# --------------------------------------------------------------------------------------------------------------
# Results

class L2Start(NamedTuple):
    """Where the link layer's payload starts. ethertype ETH_FRAME (0x6558): an Ethernet frame starts at off."""
    off: int
    ethertype: int
    stop: int                     # end of the payload (an FCS or padding the link layer declares is cut off)
    src_mac: bytes | None = None  # real link-layer addresses only
    dst_mac: bytes | None = None
    link: str = ""                # the link layer that was decoded ("ppp", "ieee802_11", ...)


class Unsupported(NamedTuple):
    """No L3 payload this module can give: an unknown link type, or a frame without one (protected, control)."""
    linktype: int
    name: str      # linktype_name(linktype)
    reason: str    # stable code to count: "unsupported-linktype", "wlan-protected", "ppp-control-0xc021", ...


class Malformed(NamedTuple):
    """A header that does not fit its frame or breaks its spec: a decode anomaly to count."""
    layer: str
    reason: str


class TunnelKind(enum.Enum):
    GRE = "gre"
    PPTP_GRE = "gre-pptp"
    ERSPAN_I = "erspan-i"
    ERSPAN_II = "erspan-ii"
    ERSPAN_III = "erspan-iii"
    VXLAN = "vxlan"
    MPLS = "mpls"
    IPIP = "ip-in-ip"          # IPv4 in IPv4/IPv6 (protocol 4)
    IP6IN = "ipv6-in-ip"       # 6in4 / IPv6-in-IPv6 (protocol 41)
    TZSP = "tzsp"
    VNTAG = "vn-tag"
    ETAG = "802.1br-etag"
    PPPOE = "pppoe"


class InnerKind(enum.Enum):
    ETHERNET = "ethernet"   # an Ethernet frame (with its MACs, maybe VLAN tags) starts at Inner.off
    L3 = "l3"               # the payload of Inner.ethertype (IPv4/IPv6/ARP...) starts at Inner.off


class Tunnel(NamedTuple):
    """One encapsulation level. src/dst: the outer endpoints (IP bytes), the mirror's transport, never an asset."""
    kind: TunnelKind
    src: bytes | None = None
    dst: bytes | None = None
    ident: int | None = None   # VXLAN VNI, GRE key, PPTP call id, ERSPAN session id, MPLS bottom label,
    #                            PPPoE session, VN-Tag DVIF, E-Tag E-CID base, TZSP encapsulation
    vlan: int | None = None    # ERSPAN's original VLAN of the mirrored frame (0 = none)


class Inner(NamedTuple):
    """The innermost frame of an encapsulation: buf[off:stop], an Ethernet frame or a payload of `ethertype`."""
    off: int
    stop: int
    kind: InnerKind
    ethertype: int                  # ETH_FRAME for InnerKind.ETHERNET
    tunnels: tuple[Tunnel, ...]     # outermost first
    src_mac: bytes | None = None    # InnerKind.L3 from a remote 802.11 capture (TZSP): its real SA/DA
    dst_mac: bytes | None = None

    @property
    def depth(self) -> int:
        return len(self.tunnels)


# --------------------------------------------------------------------------------------------------------------
# Link layers

def _failed(r: object) -> bool:
    """A helper's result that is not a value (the NamedTuple results are tuples too: test the type, not tuple)."""
    return r is None or isinstance(r, (Malformed, Unsupported))


def _unsupported(linktype: int, reason: str) -> Unsupported:
    return Unsupported(linktype, linktype_name(linktype), reason)


def _nibble_ethertype(buf, off: int, stop: int) -> int:
    """IP version from the first nibble (raw IP link types): 0x0800, 0x86DD or 0 (not IP)."""
    if off >= stop:
        return 0
    v = buf[off] >> 4
    return ETH_IPV4 if v == 4 else ETH_IPV6 if v == 6 else 0


def _raw(lt: int, buf, off: int, stop: int, link: str) -> L2Start | Malformed:
    et = _nibble_ethertype(buf, off, stop)
    if not et:
        return Malformed(link, "empty-frame" if off >= stop else "not-ip")
    return L2Start(off, et, stop, link=link)


# BSD loopback address families (tcpdump print-null.c: BSD AF_INET6 differs per OS: 24 NetBSD/OpenBSD,
# 28 FreeBSD, 30 Darwin; Linux 10).
_AF_IP4 = frozenset((2,))
_AF_IP6 = frozenset((10, 24, 28, 30))


def _null_loop(lt: int, buf, off: int, stop: int) -> L2Start | Malformed:
    """NULL (0): 4-byte AF in the writer's byte order; LOOP (108): in network order. The IP nibble decides a tie."""
    if stop - off < 4:
        return Malformed("null", "truncated-header")
    fam = _U32(buf, off)[0] if lt == LT_LOOP else _U32LE(buf, off)[0]
    if fam > 0xFFFF:                                        # written big-endian by the other kind of host
        fam = struct.unpack_from("<I" if lt == LT_LOOP else ">I", buf, off)[0]
    et = _nibble_ethertype(buf, off + 4, stop)
    want = ETH_IPV4 if fam in _AF_IP4 else ETH_IPV6 if fam in _AF_IP6 else 0
    if not et:
        return Malformed("null", "not-ip")
    if want and want != et:
        return Malformed("null", "family-mismatch")
    return L2Start(off + 4, et, stop, link="null")


# PPP protocol numbers (RFC 1661 s.2 / IANA PPP DLL protocol numbers) mapped to ethertypes.
_PPP_TO_ETH = {0x0021: ETH_IPV4, 0x0057: ETH_IPV6, 0x0281: ETH_MPLS_UC, 0x0283: ETH_MPLS_MC}


def _ppp_proto(buf, off: int, stop: int, layer: str) -> tuple[int, int] | Malformed:
    """RFC 1661 s.2: the protocol field, 1 byte when compressed (PFC, RFC 1661 s.6.5: an odd first octet), else 2."""
    if off >= stop:
        return Malformed(layer, "truncated-header")
    if buf[off] & 1:
        return buf[off], off + 1
    if off + 2 > stop:
        return Malformed(layer, "truncated-header")
    return _U16(buf, off)[0], off + 2


def _ppp(lt: int, buf, off: int, stop: int, hdlc: int, layer: str = "ppp") -> L2Start | Unsupported | Malformed:
    """PPP. hdlc: 1 = the RFC 1662 s.3.1 address/control 0xFF 0x03 is always there, 0 = maybe (LINKTYPE_PPP),
    -1 = never (PPPoE, RFC 2516 s.7: no HDLC framing)."""
    if hdlc >= 0 and off + 2 <= stop and buf[off] == 0xFF and buf[off + 1] == 0x03:
        off += 2
    elif hdlc == 1:
        return Malformed(layer, "no-hdlc-address")
    r = _ppp_proto(buf, off, stop, layer)
    if isinstance(r, Malformed):
        return r
    proto, off = r
    et = _PPP_TO_ETH.get(proto)
    if et is None:
        return _unsupported(lt, f"ppp-protocol-0x{proto:04x}")
    if et in (ETH_IPV4, ETH_IPV6) and _nibble_ethertype(buf, off, stop) != et:
        return Malformed(layer, "bad-ip-version")
    return L2Start(off, et, stop, link=layer)


def _c_hdlc(lt: int, buf, off: int, stop: int) -> L2Start | Unsupported | Malformed:
    """Cisco HDLC (RFC 1547 s.4.3.1; tcpdump print-chdlc.c): address 0x0F unicast / 0x8F broadcast, control 0x00,
    then a 2-byte ethertype (0x8035 SLARP, 0x2000 CDP are not IP)."""
    if stop - off < 4:
        return Malformed("chdlc", "truncated-header")
    if buf[off] not in (0x0F, 0x8F) or buf[off + 1] != 0:
        return Malformed("chdlc", "bad-address")
    et = _U16(buf, off + 2)[0]
    if et in (ETH_IPV4, ETH_IPV6):
        if _nibble_ethertype(buf, off + 4, stop) != et:
            return Malformed("chdlc", "bad-ip-version")
    elif et not in (ETH_MPLS_UC, ETH_MPLS_MC, ETH_FRAME):
        return _unsupported(lt, f"chdlc-protocol-0x{et:04x}")
    return L2Start(off + 4, et, stop, link="chdlc")


def _llc_snap(lt: int, buf, off: int, stop: int, layer: str) -> tuple[int, int] | Unsupported | Malformed:
    """IEEE 802.2 LLC + SNAP (RFC 1042: AA AA 03, OUI 00-00-00 or 00-00-F8 (802.1H), then an ethertype)."""
    if stop - off < 3:
        return Malformed(layer, "truncated-llc")
    if buf[off] != 0xAA or buf[off + 1] != 0xAA or buf[off + 2] != 0x03:
        return _unsupported(lt, f"llc-dsap-0x{buf[off]:02x}")
    if stop - off < 8:
        return Malformed(layer, "truncated-snap")
    oui = bytes(buf[off + 3:off + 6])
    if oui not in (b"\x00\x00\x00", b"\x00\x00\xf8"):
        return _unsupported(lt, f"snap-oui-{oui.hex()}")
    return _U16(buf, off + 6)[0], off + 8


def _ethernet(lt: int, buf, off: int, stop: int, layer: str = "ethernet") -> L2Start | Unsupported | Malformed:
    """Ethernet II / 802.3 + LLC/SNAP, 802.1Q/QinQ tags skipped (at most 4), PPPoE session left to unwrap_tunnel."""
    if stop - off < 14:
        return Malformed(layer, "truncated-header")
    dst, src = bytes(buf[off:off + 6]), bytes(buf[off + 6:off + 12])
    et, p = _U16(buf, off + 12)[0], off + 14
    for _ in range(4):
        if et not in _VLAN_TYPES:
            break
        if p + 4 > stop:
            return Malformed(layer, "truncated-vlan")
        et, p = _U16(buf, p + 2)[0], p + 4
    else:
        if et in _VLAN_TYPES:
            return Malformed(layer, "bad-vlan-stack")
    if et <= 1500:                                   # IEEE 802.3 length field: LLC follows (802.3-2018 3.2.6)
        stop = min(stop, p + et)
        r = _llc_snap(lt, buf, p, stop, layer)
        if _failed(r):
            return r
        et, p = r
    if et == ETH_PPPOE_SESS:                         # PPPoE session (RFC 2516 s.4): the PPP payload's L3
        q = _pppoe(buf, p, stop)
        if q is None:
            return _unsupported(lt, "pppoe-ppp-control")
        if isinstance(q, Malformed):
            return q
        return L2Start(q[0], q[1], q[2], src, dst, "pppoe")
    return L2Start(p, et, stop, src, dst, layer)


def _fddi(lt: int, buf, off: int, stop: int) -> L2Start | Unsupported | Malformed:
    """FDDI (ANSI X3.139; tcpdump print-fddi.c): FC(1) DA(6) SA(6), then LLC/SNAP on LLC frames (FC 0x50-0x57).
    MACs are not reported: whether they are bit-swapped depends on the OS that wrote the file (print-fddi.c
    fddi_bitswap), so a MAC from here could be a lie."""
    if stop - off < 13:
        return Malformed("fddi", "truncated-header")
    if buf[off] & 0xF8 != 0x50:                           # not an asynchronous LLC frame (SMT, MAC, token)
        return _unsupported(lt, f"fddi-fc-0x{buf[off]:02x}")
    r = _llc_snap(lt, buf, off + 13, stop, "fddi")
    if _failed(r):
        return r
    return L2Start(r[1], r[0], stop, link="fddi")


# Linux cooked capture ARPHRD_* types (linux/if_arp.h) and SLL protocol pseudo-values (linux/if_ether.h).
_ARPHRD_ETHER, _ARPHRD_IEEE802, _ARPHRD_PPP, _ARPHRD_LOOPBACK = 1, 6, 512, 772
_ARPHRD_IEEE80211, _ARPHRD_PRISM, _ARPHRD_RADIOTAP, _ARPHRD_NETLINK = 801, 802, 803, 824
_ARPHRD_IPGRE, _ARPHRD_FRAD = 778, 770
_SLL_P_802_3, _SLL_P_802_2, _SLL_P_CAN, _SLL_P_CANFD = 0x0001, 0x0004, 0x000C, 0x000D


def _sll(lt: int, buf, off: int, stop: int) -> L2Start | Unsupported | Malformed:
    """Linux cooked v1 (16 bytes: pkttype, hatype, halen, addr[8], protocol) and v2 (20 bytes: protocol, rsv,
    ifindex, hatype, pkttype, halen, addr[8]); tcpdump.org linktypes/LINKTYPE_LINUX_SLL(2).html."""
    v2 = lt == LT_SLL2
    hl = 20 if v2 else 16
    layer = "sll2" if v2 else "sll"
    if stop - off < hl:
        return Malformed(layer, "truncated-header")
    if v2:
        proto, hatype, halen = _U16(buf, off)[0], _U16(buf, off + 8)[0], buf[off + 11]
        addr = off + 12
    else:
        hatype, halen, proto = _U16(buf, off + 2)[0], _U16(buf, off + 4)[0], _U16(buf, off + 14)[0]
        addr = off + 6
    p = off + hl
    # The address is the SOURCE link-layer address; only an Ethernet-like one of 6 bytes, not all zero (loopback
    # and 'any' on tunnels write zeros), is a real MAC.
    src = None
    if hatype in (_ARPHRD_ETHER, _ARPHRD_IEEE802) and halen == 6:
        a = bytes(buf[addr:addr + 6])
        src = a if any(a) else None
    if hatype == _ARPHRD_RADIOTAP:                   # Unsupported results keep the file's link type (SLL)
        return _radiotap(lt, buf, p, stop, 1)
    if hatype == _ARPHRD_IEEE80211:
        return _wlan(lt, buf, p, stop, False)
    if hatype == _ARPHRD_PRISM:
        return _prism(lt, buf, p, stop, 1)
    if hatype == _ARPHRD_NETLINK:
        return _unsupported(lt, "sll-netlink")
    if hatype == _ARPHRD_FRAD:
        return _unsupported(lt, "sll-frame-relay")
    if proto == _SLL_P_802_2:                        # an 802.2 LLC frame without MAC header
        r = _llc_snap(lt, buf, p, stop, layer)
        if _failed(r):
            return r
        return L2Start(r[1], r[0], stop, src, None, layer)
    if proto in (_SLL_P_802_3, _SLL_P_CAN, _SLL_P_CANFD) or proto < 0x0600:
        return _unsupported(lt, f"sll-protocol-0x{proto:04x}")
    if proto in (ETH_IPV4, ETH_IPV6) and _nibble_ethertype(buf, p, stop) != proto:
        return Malformed(layer, "bad-ip-version")
    return L2Start(p, proto, stop, src, None, layer)


def _nflog(lt: int, buf, off: int, stop: int) -> L2Start | Unsupported | Malformed:
    """NFLOG (tcpdump.org LINKTYPE_NFLOG; libpcap pcap/nflog.h): family(1) version(1) resource_id(2, BE), then TLVs
    length(2) type(2) in the WRITER's byte order, length including the 4-byte TLV header, each padded to 4.
    NFULA_PAYLOAD (9) is the IP packet; NFULA_HWADDR (8) the source MAC; NFULA_HWHEADER (11) the MAC header."""
    if stop - off < 4:
        return Malformed("nflog", "truncated-header")
    fam, ver = buf[off], buf[off + 1]
    if ver != 0:
        return Malformed("nflog", "bad-version")
    p = off + 4
    if p + 4 <= stop:                              # byte order: the one that makes the first TLV length fit
        le = _U16LE(buf, p)[0]
        order = _U16LE if 4 <= le <= stop - p else _U16
    else:
        order = _U16LE
    src = dst = None
    hwtype = None
    for _ in range(64):                            # bounded: a TLV is at least 4 bytes
        if p + 4 > stop:
            break
        tl, tt = order(buf, p)[0], order(buf, p + 2)[0] & 0x3FFF   # NLA_F_NESTED/NET_BYTEORDER bits masked
        if tl < 4 or p + tl > stop:
            return Malformed("nflog", "bad-tlv-length")
        v, vend = p + 4, p + tl
        if tt == 9:                                # NFULA_PAYLOAD
            et = _nibble_ethertype(buf, v, vend)
            want = ETH_IPV4 if fam == 2 else ETH_IPV6 if fam == 10 else et
            if not et or et != want:
                return Malformed("nflog", "bad-ip-version" if vend > v else "empty-payload")
            return L2Start(v, et, vend, src, dst, "nflog")
        if tt == 8 and tl >= 4 + 4 + 6:            # NFULA_HWADDR: struct nfulnl_msg_packet_hw {be16 len; pad; addr[8]}
            if _U16(buf, v)[0] == 6:
                a = bytes(buf[v + 4:v + 10])
                src = a if any(a) else None
        elif tt == 10 and tl >= 6:                 # NFULA_HWTYPE (be16 ARPHRD_*)
            hwtype = _U16(buf, v)[0]
        elif tt == 11 and tl - 4 >= 14 and hwtype in (None, _ARPHRD_ETHER):   # NFULA_HWHEADER: the Ethernet header
            d, a = bytes(buf[v:v + 6]), bytes(buf[v + 6:v + 12])
            dst = d if any(d) else None
            src = src or (a if any(a) else None)
        p += (tl + 3) & ~3
    return _unsupported(lt, "nflog-no-payload")


# ---- 802.11 --------------------------------------------------------------------------------------------------

def _wlan(lt: int, buf, off: int, stop: int, fcs: bool) -> L2Start | Unsupported | Malformed:
    """IEEE 802.11 MAC frame (IEEE Std 802.11-2020 s.9.2.3, 9.3.2.1): data frames only.
    Frame Control (s.9.2.4.1): type bits 2-3 (2 = data), subtype bits 4-7 (bit 3 of subtype = QoS, bit 2 = no
    data); flags: To DS 0x01, From DS 0x02, Protected 0x40, +HTC/Order 0x80."""
    if fcs:
        stop -= 4
    if stop - off < 10:                                 # FC, Duration, Address 1: the shortest frame (ACK)
        return Malformed("wlan", "truncated-header")
    fc0, fc1 = buf[off], buf[off + 1]
    if fc0 & 0x03:
        return Malformed("wlan", "bad-protocol-version")
    ftype, sub = (fc0 >> 2) & 3, fc0 >> 4
    if ftype != 2:
        return _unsupported(lt, "wlan-management" if ftype == 0 else "wlan-control" if ftype == 1
                            else "wlan-extension")
    if sub & 0x4:                                       # Null / CF-Ack/Poll without data / QoS Null
        return _unsupported(lt, "wlan-no-data")
    if fc1 & 0x40:                                      # Protected Frame: encrypted body (s.9.2.4.1.9)
        return _unsupported(lt, "wlan-protected")
    if stop - off < 24:
        return Malformed("wlan", "truncated-header")
    to_ds, from_ds = fc1 & 1, fc1 & 2
    a1, a2, a3 = off + 4, off + 10, off + 16
    p = off + 24
    a4 = None
    if to_ds and from_ds:
        a4, p = p, p + 6
    amsdu = False
    if sub & 0x8:                                       # QoS Control (s.9.2.4.5), A-MSDU Present = bit 7
        if p + 2 > stop:
            return Malformed("wlan", "truncated-qos")
        amsdu = bool(buf[p] & 0x80)
        p += 2
        if fc1 & 0x80:                                  # HT Control field present (s.9.2.4.6)
            p += 4
    if p > stop:
        return Malformed("wlan", "truncated-header")
    # Address mapping, Table 9-30 (To DS/From DS): DA and SA.
    if not to_ds and not from_ds:
        da, sa = a1, a2
    elif from_ds and not to_ds:
        da, sa = a1, a3
    elif to_ds and not from_ds:
        da, sa = a3, a2
    else:
        da, sa = a3, a4
    if amsdu:                                           # first A-MSDU subframe: DA(6) SA(6) Length(2) (s.9.3.2.2.2)
        if p + 14 > stop:
            return Malformed("wlan", "truncated-amsdu")
        da, sa = p, p + 6
        stop = min(stop, p + 14 + _U16(buf, p + 12)[0])
        p += 14
    r = _llc_snap(lt, buf, p, stop, "wlan")
    if _failed(r):
        return r
    src, dst = bytes(buf[sa:sa + 6]), bytes(buf[da:da + 6])
    return L2Start(r[1], r[0], stop, src, dst, "ieee802_11")


def _radiotap(lt: int, buf, off: int, stop: int, depth: int) -> L2Start | Unsupported | Malformed:
    """Radiotap (radiotap.org header definition): version(1)=0 pad(1) length(2 LE) present(4 LE, chained while
    bit 31), fields naturally aligned to the header start. Flags (field 1) 0x10: the frame ends with an FCS."""
    if stop - off < 8:
        return Malformed("radiotap", "truncated-header")
    if buf[off] != 0:
        return Malformed("radiotap", "bad-version")
    hlen = _U16LE(buf, off + 2)[0]
    if hlen < 8 or off + hlen > stop:
        return Malformed("radiotap", "bad-length")
    present = _U32LE(buf, off + 4)[0]
    p, words = off + 8, present
    for _ in range(8):                                   # extended present bitmaps
        if not words & 0x80000000:
            break
        if p + 4 > off + hlen:
            return Malformed("radiotap", "bad-present-chain")
        words = _U32LE(buf, p)[0]
        p += 4
    else:
        return Malformed("radiotap", "bad-present-chain")
    fcs = False
    if present & 0x2:                                    # Flags present: walk TSFT first if present
        rel = p - off
        if present & 0x1:
            rel = (rel + 7) & ~7
            rel += 8
        if rel < hlen:
            fcs = bool(buf[off + rel] & 0x10)
    return _wlan(lt, buf, off + hlen, stop, fcs)


def _ppi(lt: int, buf, off: int, stop: int, depth: int) -> L2Start | Unsupported | Malformed:
    """PPI (CACE 'Per-Packet Information Header Specification' 1.0 s.3): version(1)=0 flags(1) length(2 LE)
    dlt(4 LE), then fields type(2 LE) length(2 LE); 802.11-Common (type 2, s.4.1.2) flags 0x0001 = FCS present."""
    if stop - off < 8:
        return Malformed("ppi", "truncated-header")
    if buf[off] != 0:
        return Malformed("ppi", "bad-version")
    hlen, dlt = _U16LE(buf, off + 2)[0], _U32LE(buf, off + 4)[0]
    if hlen < 8 or off + hlen > stop:
        return Malformed("ppi", "bad-length")
    fcs = False
    p, end = off + 8, off + hlen
    for _ in range(64):
        if p + 4 > end:
            break
        ft, fl = _U16LE(buf, p)[0], _U16LE(buf, p + 2)[0]
        if p + 4 + fl > end:
            return Malformed("ppi", "bad-field-length")
        if ft == 2 and fl >= 10:
            fcs = bool(_U16LE(buf, p + 4 + 8)[0] & 0x0001)
        p += 4 + fl
    if dlt == LT_IEEE802_11:
        return _wlan(lt, buf, end, stop, fcs)
    if dlt in (LT_PPI, LT_RADIOTAP) or depth >= 2:
        return Malformed("ppi", "nested-header")
    return _link(dlt, buf, end, stop, depth + 1)


def _prism(lt: int, buf, off: int, stop: int, depth: int) -> L2Start | Unsupported | Malformed:
    """Prism monitor header (tcpdump print-802_11.c): msgcode(4) msglen(4, host order, 144 in practice), then
    802.11; an AVS header (msgcode 0x8021100x big-endian) can come instead: length at offset 4 (BE)."""
    if stop - off < 8:
        return Malformed("prism", "truncated-header")
    if _U32(buf, off)[0] & 0xFFFFFFF0 == 0x80211000:
        return _avs(lt, buf, off, stop, depth)
    n = _U32LE(buf, off + 4)[0]
    if n > 0xFFFF:
        n = _U32(buf, off + 4)[0]
    if n < 8 or off + n > stop:
        return Malformed("prism", "bad-length")
    return _wlan(lt, buf, off + n, stop, False)


def _avs(lt: int, buf, off: int, stop: int, depth: int) -> L2Start | Unsupported | Malformed:
    """AVS WLAN capture header (tcpdump print-802_11.c): version(4 BE) length(4 BE), then 802.11."""
    if stop - off < 8:
        return Malformed("avs", "truncated-header")
    n = _U32(buf, off + 4)[0]
    if n < 8 or off + n > stop:
        return Malformed("avs", "bad-length")
    return _wlan(lt, buf, off + n, stop, False)


def _direction_byte(fn, layer: str):
    def dir_then(lt: int, buf, off: int, stop: int):
        if off >= stop:
            return Malformed(layer, "truncated-header")
        return fn(lt, buf, off + 1, stop)
    return dir_then


def _pppd(lt: int, buf, off: int, stop: int) -> L2Start | Unsupported | Malformed:
    """LINKTYPE_PPP_PPPD (166): the 0xFF address octet replaced by a direction (0 in, 1 out), then 0x03."""
    if stop - off < 2 or buf[off + 1] != 0x03:
        return Malformed("ppp", "no-hdlc-address")
    return _ppp(lt, buf, off + 2, stop, -1)


def _ppp_hdlc(lt: int, buf, off: int, stop: int) -> L2Start | Unsupported | Malformed:
    """LINKTYPE_PPP_HDLC (50): always an HDLC-like header; address 0xFF is PPP, 0x0F/0x8F is Cisco HDLC
    (libpcap pcap-common.c, RFC 1547 s.4.3.1)."""
    if off < stop and buf[off] in (0x0F, 0x8F):
        return _c_hdlc(lt, buf, off, stop)
    return _ppp(lt, buf, off, stop, 1)


def _pppoe_link(lt: int, buf, off: int, stop: int) -> L2Start | Unsupported | Malformed:
    """LINKTYPE_PPP_ETHER (51, NetBSD): a PPPoE header without Ethernet."""
    r = _pppoe(buf, off, stop)
    if r is None:
        return _unsupported(lt, "pppoe-discovery-or-control")
    if isinstance(r, Malformed):
        return r
    return L2Start(r[0], r[1], r[2], link="pppoe")


def _mpls_link(lt: int, buf, off: int, stop: int) -> L2Start | Unsupported | Malformed:
    """LINKTYPE_MPLS (219): the frame starts with an MPLS label stack."""
    r = _mpls(buf, off, stop)
    if isinstance(r, Malformed):
        return r
    if r is None:
        return _unsupported(lt, "mpls-unknown-payload")
    p, et, _label = r
    return L2Start(p, et, stop, link="mpls")


_SIMPLE = {
    LT_ETHERNET: _ethernet,
    LT_PPP: lambda lt, b, o, s: _ppp(lt, b, o, s, 0),
    LT_PPP_HDLC: _ppp_hdlc,
    LT_PPP_WITH_DIR: _direction_byte(lambda lt, b, o, s: _ppp(lt, b, o, s, 0), "ppp"),
    LT_PPP_PPPD: _pppd,
    LT_PPP_ETHER: _pppoe_link,
    LT_C_HDLC: _c_hdlc,
    LT_C_HDLC_WITH_DIR: _direction_byte(_c_hdlc, "chdlc"),
    LT_FDDI: _fddi,
    LT_SLL: _sll,
    LT_SLL2: _sll,
    LT_NFLOG: _nflog,
    LT_MPLS: _mpls_link,
    LT_NULL: _null_loop,
    LT_LOOP: _null_loop,
    LT_IEEE802_11: lambda lt, b, o, s: _wlan(lt, b, o, s, False),
}
_RAW = {LT_RAW: "raw", LT_RAW_OPENBSD: "raw", LT_RAW_OTHER: "raw", LT_IPV4: "ipv4", LT_IPV6: "ipv6"}
_WITH_DEPTH = {LT_RADIOTAP: _radiotap, LT_PPI: _ppi, LT_PRISM: _prism, LT_AVS: _avs}


def _link(lt: int, buf, off: int, stop: int, depth: int) -> L2Start | Unsupported | Malformed:
    if lt in _RAW:
        r = _raw(lt, buf, off, stop, _RAW[lt])
        if isinstance(r, L2Start) and ((lt == LT_IPV4 and r.ethertype != ETH_IPV4)
                                       or (lt == LT_IPV6 and r.ethertype != ETH_IPV6)):
            return Malformed(_RAW[lt], "bad-ip-version")
        return r
    f = _SIMPLE.get(lt)
    if f is not None:
        return f(lt, buf, off, stop)
    g = _WITH_DEPTH.get(lt)
    if g is not None:
        return g(lt, buf, off, stop, depth)
    return _unsupported(lt, "unsupported-linktype")


def unwrap_link(linktype: int, buf: bytes | memoryview, off: int, stop: int) -> L2Start | Unsupported | Malformed:
    """Decode the link layer of one captured frame buf[off:stop] of pcap link type `linktype`.

    L2Start: where the payload starts (ethertype ETH_FRAME: an Ethernet frame; else the L3 header) and the real
    MACs; Unsupported: nothing to decode (unknown link type by name, or a frame without L3 payload); Malformed.
    """
    stop = min(stop, len(buf))
    if off < 0 or off > stop:
        return Malformed("capture", "bad-offsets")
    try:
        return _link(linktype, buf, off, stop, 0)
    except (IndexError, struct.error, ValueError, TypeError):   # defensive: a bounds check missed is an anomaly
        return Malformed("link", "internal-bounds")


# --------------------------------------------------------------------------------------------------------------
# Tunnels

TUNNEL_ETHERTYPES = frozenset((ETH_MPLS_UC, ETH_MPLS_MC, ETH_PPPOE_SESS, ETH_VNTAG, ETH_ETAG, ETH_ERSPAN_II,
                               ETH_ERSPAN_III))
IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_GRE = 4, 41, 47
TUNNEL_IPPROTOS = frozenset((IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_GRE))
UDP_VXLAN, UDP_TZSP = 4789, 37008
TUNNEL_UDP_PORTS = frozenset((UDP_VXLAN, UDP_TZSP))
_UDP_KEY = 0x10000


def udp_key(port: int) -> int:
    """The unwrap_tunnel key for a UDP payload to a tunnel port (ethertypes are 16-bit, IP protocols 8-bit)."""
    return _UDP_KEY | (port & 0xFFFF)


def _pppoe(buf, off: int, stop: int) -> tuple[int, int, int, int] | Malformed | None:
    """PPPoE session stage (RFC 2516 s.4, s.7): ver(4)=1 type(4)=1 code(1)=0 session_id(2) length(2), then PPP
    (protocol, no HDLC framing). (payload offset, ethertype, stop, session id) or None for a PPP control packet."""
    if stop - off < 6:
        return Malformed("pppoe", "truncated-header")
    if buf[off] != 0x11:
        return Malformed("pppoe", "bad-version")
    if buf[off + 1] != 0:
        return Malformed("pppoe", "bad-code")
    sid, n = _U16(buf, off + 2)[0], _U16(buf, off + 4)[0]
    if off + 6 + n > stop:
        return Malformed("pppoe", "truncated-payload")
    stop = off + 6 + n
    r = _ppp_proto(buf, off + 6, stop, "pppoe")
    if isinstance(r, Malformed):
        return r
    proto, p = r
    et = _PPP_TO_ETH.get(proto)
    if et is None:
        return None
    if et in (ETH_IPV4, ETH_IPV6) and _nibble_ethertype(buf, p, stop) != et:
        return Malformed("pppoe", "bad-ip-version")
    return p, et, stop, sid


def _mpls(buf, off: int, stop: int) -> tuple[int, int, int] | Malformed | None:
    """MPLS label stack (RFC 3032 s.2.1: label 20, TC 3, S 1, TTL 8). After the bottom of stack: label 0/2
    (IPv4/IPv6 explicit null, RFC 3032 s.2.1) decide; else the first nibble: 4 IPv4, 6 IPv6, 0 a pseudowire
    control word (RFC 4385 s.3) then Ethernet (RFC 4448), 1 G-ACh (RFC 5586): None; else Ethernet without CW."""
    p = off
    for _ in range(16):
        if p + 4 > stop:
            return Malformed("mpls", "truncated-label-stack")
        e = _U32(buf, p)[0]
        p += 4
        if e & 0x100:
            break
    else:
        return Malformed("mpls", "label-stack-too-deep")
    label = e >> 12
    if p >= stop:
        return Malformed("mpls", "empty-payload")
    nib = buf[p] >> 4
    if label == 0 or label == 2:
        et = ETH_IPV4 if label == 0 else ETH_IPV6
        if _nibble_ethertype(buf, p, stop) != et:
            return Malformed("mpls", "bad-ip-version")
        return p, et, label
    if nib == 4:
        return p, ETH_IPV4, label
    if nib == 6:
        return p, ETH_IPV6, label
    if nib == 1:
        return None
    if nib == 0:
        p += 4                                           # control word
    if p + 14 > stop:
        return Malformed("mpls", "truncated-ethernet")
    return p, ETH_FRAME, label


def _gre(buf, off: int, stop: int) -> tuple[int, int, int | None, TunnelKind, int | None] | Malformed | None:
    """GRE (RFC 2784 s.2.1, RFC 2890 s.2; RFC 1701 s.2.1 routing; RFC 2637 s.4.1 PPTP enhanced GRE v1).
    Returns (payload offset, protocol type, key, kind, vlan) -- kind/vlan refined for ERSPAN below."""
    if stop - off < 4:
        return Malformed("gre", "truncated-header")
    flags, proto = _U16(buf, off)[0], _U16(buf, off + 2)[0]
    ver = flags & 0x7
    c, r, k, s = flags & 0x8000, flags & 0x4000, flags & 0x2000, flags & 0x1000
    p = off + 4
    if ver == 1:                                          # PPTP: K set, key = payload length + call id
        if not k or c or r or proto != ETH_PPP:
            return Malformed("gre", "bad-pptp-header")
        key = _U16(buf, p + 2)[0] if p + 4 <= stop else None
        p += 4 + (4 if s else 0) + (4 if flags & 0x0080 else 0)
        if p > stop:
            return Malformed("gre", "truncated-header")
        return p, proto, key, TunnelKind.PPTP_GRE, None
    if ver != 0:
        return Malformed("gre", f"bad-version-{ver}")
    if c or r:
        p += 4                                            # checksum + offset (reserved1)
    key = None
    if k:
        if p + 4 > stop:
            return Malformed("gre", "truncated-header")
        key = _U32(buf, p)[0]
        p += 4
    if s:
        p += 4
    if r:                                                 # RFC 1701 source route entries until a NULL SRE
        for _ in range(16):
            if p + 4 > stop:
                return Malformed("gre", "truncated-routing")
            sre_len = buf[p + 3]
            p += 4 + sre_len
            if sre_len == 0:
                break
        else:
            return Malformed("gre", "routing-too-long")
    if p > stop:
        return Malformed("gre", "truncated-header")
    return p, proto, key, TunnelKind.GRE, None


def _erspan(buf, off: int, stop: int, proto: int, seq: bool) -> tuple[int, TunnelKind, int, int, bool] | Malformed:
    """ERSPAN (draft-foschiano-erspan-03). Type I: GRE 0x88BE without sequence number, no header (s.4.1).
    Type II (s.4.2, 8 bytes): Ver(4)=1 VLAN(12) COS(3) En(2) T(1) SessionID(10) Reserved(12) Index(20).
    Type III (s.4.3, 12 bytes): Ver(4)=2 VLAN(12) COS(3) BSO(2) T(1) SessionID(10) Timestamp(32) SGT(16) P(1)
    FT(5) HW ID(6) D(1) Gra(2) O(1); O=1: an 8-byte platform-specific sub-header follows. FT 0 = Ethernet,
    2 = IP. Returns (frame offset, kind, session, vlan, is_ethernet)."""
    if proto == ETH_ERSPAN_II and not seq:
        return off, TunnelKind.ERSPAN_I, 0, 0, True
    need = 8 if proto == ETH_ERSPAN_II else 12
    if stop - off < need:
        return Malformed("erspan", "truncated-header")
    w0, w1 = _U16(buf, off)[0], _U16(buf, off + 2)[0]
    ver, vlan, session = w0 >> 12, w0 & 0x0FFF, w1 & 0x03FF
    if proto == ETH_ERSPAN_II:
        if ver != 1:
            return Malformed("erspan", "bad-version")
        return off + 8, TunnelKind.ERSPAN_II, session, vlan, True
    if ver != 2:
        return Malformed("erspan", "bad-version")
    w5 = _U16(buf, off + 10)[0]
    ft, o = (w5 >> 10) & 0x1F, w5 & 0x1
    p = off + 12 + (8 if o else 0)
    if p > stop:
        return Malformed("erspan", "truncated-platform-header")
    if ft not in (0, 2):
        return Malformed("erspan", f"unknown-frame-type-{ft}")
    return p, TunnelKind.ERSPAN_III, session, vlan, ft == 0


def _ip_peek(buf, off: int, stop: int) -> tuple[int, int, int, bytes, bytes] | None:
    """A just-unwrapped IPv4/IPv6 header: (payload offset, payload end, protocol, src, dst); None if it is not a
    whole first fragment header (the caller then stops nesting and hands the packet on as it is)."""
    if off >= stop:
        return None
    v = buf[off] >> 4
    if v == 4:
        if stop - off < 20:
            return None
        ihl = (buf[off] & 0xF) * 4
        tl = _U16(buf, off + 2)[0]
        if ihl < 20 or tl < ihl or _U16(buf, off + 6)[0] & 0x1FFF:
            return None
        end = min(stop, off + tl)
        if off + ihl > end:
            return None
        return off + ihl, end, buf[off + 9], bytes(buf[off + 12:off + 16]), bytes(buf[off + 16:off + 20])
    if v == 6:
        if stop - off < 40:
            return None
        end = min(stop, off + 40 + _U16(buf, off + 4)[0])
        q = _v6_skip_ext(buf, off + 40, end, buf[off + 6])
        if q is None:
            return None
        return q[0], end, q[1], bytes(buf[off + 8:off + 24]), bytes(buf[off + 24:off + 40])
    return None


_V6_EXT = frozenset((0, 43, 60))   # Hop-by-Hop, Routing, Destination Options (RFC 8200 s.4.3-4.6)


def _v6_skip_ext(buf, p: int, end: int, nh: int) -> tuple[int, int] | None:
    """Skip IPv6 extension headers (at most 8) to the upper-layer header: (offset, protocol). An ip6tnl tunnel
    carries a Destination Options header with the Tunnel Encapsulation Limit (RFC 2473 s.5.1) before protocol 41/4.
    A non-first fragment (RFC 8200 s.4.5) has no upper-layer header: None."""
    for _ in range(8):
        if nh in _V6_EXT:
            if p + 8 > end:
                return None
            nh, p = buf[p], p + (buf[p + 1] + 1) * 8
        elif nh == 44:
            if p + 8 > end or _U16(buf, p + 2)[0] & 0xFFF8:
                return None
            nh, p = buf[p], p + 8
        else:
            return (p, nh) if p <= end else None
    return None


def _eth_peek(buf, off: int, stop: int) -> tuple[int, int] | None:
    """An inner Ethernet frame's (payload offset, ethertype) after at most 4 VLAN tags."""
    if stop - off < 14:
        return None
    et, p = _U16(buf, off + 12)[0], off + 14
    for _ in range(4):
        if et not in _VLAN_TYPES:
            return p, et
        if p + 4 > stop:
            return None
        et, p = _U16(buf, p + 2)[0], p + 4
    return None


class _Level(NamedTuple):
    off: int
    stop: int
    kind: InnerKind
    ethertype: int
    tunnels: tuple[Tunnel, ...]
    src_mac: bytes | None = None
    dst_mac: bytes | None = None


def _erspan_level(buf, off: int, stop: int, proto: int, seq: bool, outer) -> _Level | Malformed:
    e = _erspan(buf, off, stop, proto, seq)
    if isinstance(e, Malformed):
        return e
    q, kind, session, vlan, is_eth = e
    t = (Tunnel(kind, outer[0], outer[1], session, vlan),)
    if is_eth:
        return _Level(q, stop, InnerKind.ETHERNET, ETH_FRAME, t) if stop - q >= 14 else \
            Malformed("erspan", "truncated-frame")
    et = _nibble_ethertype(buf, q, stop)
    return _Level(q, stop, InnerKind.L3, et, t) if et else Malformed("erspan", "not-ip")


def _gre_level(buf, off: int, stop: int, outer) -> _Level | Malformed | None:
    """GRE and what it carries: ERSPAN, Ethernet (0x6558), IPv4/IPv6, MPLS, PPP (PPTP); else None."""
    g = _gre(buf, off, stop)
    if _failed(g):
        return g
    p, proto, gkey, kind, _ = g
    if proto in (ETH_ERSPAN_II, ETH_ERSPAN_III) and kind is TunnelKind.GRE:
        return _erspan_level(buf, p, stop, proto, bool(_U16(buf, off)[0] & 0x1000), outer)
    t = Tunnel(kind, outer[0], outer[1], gkey)
    if proto == ETH_PPP:
        r = _ppp(0, buf, p, stop, 0, "gre-ppp")
        if isinstance(r, Unsupported):
            return None
        if isinstance(r, Malformed):
            return r
        return _Level(r.off, stop, InnerKind.L3, r.ethertype, (t,))
    if proto == ETH_FRAME:
        return _Level(p, stop, InnerKind.ETHERNET, ETH_FRAME, (t,)) if stop - p >= 14 else \
            Malformed("gre", "truncated-frame")
    if proto in (ETH_IPV4, ETH_IPV6):
        if _nibble_ethertype(buf, p, stop) != proto:
            return Malformed("gre", "bad-ip-version")
        return _Level(p, stop, InnerKind.L3, proto, (t,))
    if proto in (ETH_MPLS_UC, ETH_MPLS_MC):
        return _mpls_level(buf, p, stop, outer, t)
    return None


def _ip_in_ip_level(buf, off: int, stop: int, outer, key: int) -> _Level | Malformed:
    """IP protocol 4 (RFC 2003 s.3: IPv4 inside) and 41 (RFC 4213 s.3.5 6in4, RFC 2473 IPv6-in-IPv6)."""
    want = ETH_IPV4 if key == IPPROTO_IPIP else ETH_IPV6
    if _nibble_ethertype(buf, off, stop) != want:
        return Malformed("ipip" if key == IPPROTO_IPIP else "ip6in", "bad-ip-version")
    kind = TunnelKind.IPIP if key == IPPROTO_IPIP else TunnelKind.IP6IN
    return _Level(off, stop, InnerKind.L3, want, (Tunnel(kind, outer[0], outer[1]),))


def _vxlan_level(buf, off: int, stop: int, outer) -> _Level | Malformed:
    """VXLAN (RFC 7348 s.5): flags(8, I = 0x08) reserved(24) VNI(24) reserved(8), then an Ethernet frame."""
    if stop - off < 8:
        return Malformed("vxlan", "truncated-header")
    if not buf[off] & 0x08:
        return Malformed("vxlan", "no-vni-flag")
    if stop - off < 8 + 14:
        return Malformed("vxlan", "truncated-frame")
    t = Tunnel(TunnelKind.VXLAN, outer[0], outer[1], _U32(buf, off + 4)[0] >> 8)
    return _Level(off + 8, stop, InnerKind.ETHERNET, ETH_FRAME, (t,))


# TZSP encapsulations (Wireshark packet-tzsp.c): what follows the tags.
_TZSP_ETHERNET, _TZSP_80211, _TZSP_PRISM, _TZSP_AVS = 1, 18, 119, 127


def _tzsp_level(buf, off: int, stop: int, outer) -> _Level | Malformed | None:
    """TZSP, the remote capture stream of e.g. MikroTik sniffers (UDP 37008; Wireshark packet-tzsp.c): version(1)=1,
    type(1) (0 received, 1 transmitted), encapsulation(2), then tags type(1) [length(1) data], PADDING (0) and END
    (1) without a length, up to END; then the captured frame (Ethernet, or 802.11 bare / Prism / AVS)."""
    if stop - off < 4:
        return Malformed("tzsp", "truncated-header")
    if buf[off] != 1:
        return Malformed("tzsp", "bad-version")
    if buf[off + 1] > 1:                                  # config / keepalive / port: no captured frame
        return None
    enc, p = _U16(buf, off + 2)[0], off + 4
    for _ in range(64):
        if p >= stop:
            return Malformed("tzsp", "truncated-tags")
        tag = buf[p]
        if tag == 1:
            p += 1
            break
        if tag == 0:
            p += 1
        elif p + 2 > stop:
            return Malformed("tzsp", "truncated-tags")
        else:
            p += 2 + buf[p + 1]
    else:
        return Malformed("tzsp", "too-many-tags")
    t = (Tunnel(TunnelKind.TZSP, outer[0], outer[1], enc),)
    if enc == _TZSP_ETHERNET:
        return _Level(p, stop, InnerKind.ETHERNET, ETH_FRAME, t) if stop - p >= 14 else \
            Malformed("tzsp", "truncated-frame")
    lt = {_TZSP_80211: LT_IEEE802_11, _TZSP_PRISM: LT_PRISM, _TZSP_AVS: LT_AVS}.get(enc)
    if lt is None:
        return None
    r = _link(lt, buf, p, stop, 1)
    if isinstance(r, Malformed):
        return r
    if isinstance(r, Unsupported):                        # management/control/protected: nothing inside
        return None
    return _Level(r.off, r.stop, InnerKind.L3, r.ethertype, t, r.src_mac, r.dst_mac)


def _pppoe_level(buf, off: int, stop: int, outer) -> _Level | Malformed | None:
    r = _pppoe(buf, off, stop)
    if _failed(r):
        return r
    p, et, end, sid = r
    t = Tunnel(TunnelKind.PPPOE, None, None, sid)
    if et in (ETH_MPLS_UC, ETH_MPLS_MC):
        return _mpls_level(buf, p, end, outer, t)
    return _Level(p, end, InnerKind.L3, et, (t,))


def _tag_level(buf, off: int, stop: int, key: int) -> _Level | Malformed:
    """VN-Tag (Cisco / IEEE 802.1Qbh draft; Wireshark packet-vntag.c): D(1) P(1) DVIF(14) L(1) R(1) Ver(2)
    SVIF(12), then an ethertype. 802.1BR E-Tag (IEEE Std 802.1BR-2012 s.7.3): E-PCP(3) E-DEI(1)
    Ingress_E-CID_base(12) Re(2) GRP(2) E-CID_base(12) Ingress_E-CID_ext(8) E-CID_ext(8), then an ethertype.
    802.1Q tags after it are skipped (at most 4)."""
    vn = key == ETH_VNTAG
    n = 4 if vn else 6
    if stop - off < n + 2:
        return Malformed("vntag" if vn else "etag", "truncated-header")
    ident = (_U16(buf, off)[0] & 0x3FFF) if vn else (_U16(buf, off + 2)[0] & 0x0FFF)
    t = Tunnel(TunnelKind.VNTAG if vn else TunnelKind.ETAG, None, None, ident)
    et, p = _U16(buf, off + n)[0], off + n + 2
    for _ in range(4):
        if et not in _VLAN_TYPES:
            return _Level(p, stop, InnerKind.L3, et, (t,))
        if p + 4 > stop:
            return Malformed("vlan", "truncated-tag")
        et, p = _U16(buf, p + 2)[0], p + 4
    return Malformed("vlan", "bad-vlan-stack")


def _one(key: int, buf, off: int, stop: int, outer: tuple[bytes | None, bytes | None]) -> _Level | Malformed | None:
    """One encapsulation level at buf[off:stop]; key: an ethertype, an IP protocol or udp_key(port)."""
    if key == IPPROTO_GRE:
        return _gre_level(buf, off, stop, outer)
    if key == IPPROTO_IPIP or key == IPPROTO_IPV6:
        return _ip_in_ip_level(buf, off, stop, outer, key)
    if key == _UDP_KEY | UDP_VXLAN:
        return _vxlan_level(buf, off, stop, outer)
    if key == _UDP_KEY | UDP_TZSP:
        return _tzsp_level(buf, off, stop, outer)
    if key == ETH_MPLS_UC or key == ETH_MPLS_MC:
        return _mpls_level(buf, off, stop, outer, None)
    if key == ETH_PPPOE_SESS:
        return _pppoe_level(buf, off, stop, outer)
    if key == ETH_VNTAG or key == ETH_ETAG:
        return _tag_level(buf, off, stop, key)
    if key == ETH_ERSPAN_II or key == ETH_ERSPAN_III:     # an ERSPAN header without GRE (e.g. after SLL on erspan0)
        return _erspan_level(buf, off, stop, key, True, outer)
    return None


def _mpls_level(buf, off: int, stop: int, outer, via: Tunnel | None) -> _Level | Malformed | None:
    r = _mpls(buf, off, stop)
    if _failed(r):
        return r
    p, et, label = r
    t = Tunnel(TunnelKind.MPLS, None, None, label) if via is not None else \
        Tunnel(TunnelKind.MPLS, outer[0], outer[1], label)
    kind = InnerKind.ETHERNET if et == ETH_FRAME else InnerKind.L3
    return _Level(p, stop, kind, et, (via, t) if via is not None else (t,))


def _ip_key(buf, p: int, stop: int) -> tuple[int, int, int, tuple] | None:
    """An IPv4/IPv6 header at p: if it carries a tunnel, (key, payload offset, payload end, (src, dst))."""
    ip = _ip_peek(buf, p, stop)
    if ip is None:
        return None
    q, end, proto, s, d = ip
    if proto in TUNNEL_IPPROTOS:
        return proto, q, end, (s, d)
    if proto == 17 and q + 8 <= end and _U16(buf, q + 2)[0] in TUNNEL_UDP_PORTS:
        return udp_key(_U16(buf, q + 2)[0]), q + 8, end, (s, d)
    return None


def _next_key(lvl: _Level, buf) -> tuple[int, int, int, tuple] | None:
    """Is the frame just unwrapped itself a tunnel? (key, offset, stop, outer endpoints) for the next level."""
    if lvl.kind is InnerKind.ETHERNET:
        e = _eth_peek(buf, lvl.off, lvl.stop)
        if e is None:
            return None
        p, et = e
    else:
        p, et = lvl.off, lvl.ethertype
    if et in TUNNEL_ETHERTYPES:
        return et, p, lvl.stop, (None, None)
    if et not in (ETH_IPV4, ETH_IPV6):
        return None
    return _ip_key(buf, p, lvl.stop)


def unwrap_tunnel(ethertype_or_ipproto: int, buf: bytes | memoryview, off: int, stop: int, *,
                  outer: tuple[bytes | None, bytes | None] = (None, None)) -> Inner | Malformed | None:
    """Unwrap a remote-SPAN / tunnel encapsulation starting at buf[off:stop], following nested ones.

    ethertype_or_ipproto: an ethertype (TUNNEL_ETHERTYPES; off = the Ethernet payload; also 0x0800/0x86DD with
    off = an IP header, for a caller that has not parsed it: the outer endpoints are read from it), an IP protocol
    (TUNNEL_IPPROTOS; off = the IP payload, outer = the outer IP (src, dst) bytes) or udp_key(port)
    (TUNNEL_UDP_PORTS; off = the UDP payload). None: nothing this module unwraps.
    """
    stop = min(stop, len(buf))
    if off < 0 or off > stop:
        return Malformed("tunnel", "bad-offsets")
    try:
        return _unwrap(ethertype_or_ipproto, buf, off, stop, outer)
    except (IndexError, struct.error, ValueError, TypeError):
        return Malformed("tunnel", "internal-bounds")


def _unwrap(key: int, buf, off: int, stop: int, outer) -> Inner | Malformed | None:
    if key == ETH_IPV4 or key == ETH_IPV6:
        if _nibble_ethertype(buf, off, stop) != key:
            return None
        k = _ip_key(buf, off, stop)
        if k is None:
            return None
        key, off, stop, outer = k
    levels: list[_Level] = []
    while True:
        lvl = _one(key, buf, off, stop, outer)
        if lvl is None:
            break
        if isinstance(lvl, Malformed):
            return lvl
        levels.append(lvl)
        nxt = _next_key(lvl, buf)
        if nxt is None:
            break
        if len(levels) >= MAX_NESTING:
            return Malformed("tunnel", "nesting-too-deep")
        key, off, stop, outer = nxt
    if not levels:
        return None
    last = levels[-1]
    return Inner(last.off, last.stop, last.kind, last.ethertype, tuple(t for lv in levels for t in lv.tunnels),
                 last.src_mac, last.dst_mac)
