"""DHCP/BOOTP -> facts about the client (by its hardware address, chaddr) and the server, and bindings.

* Client messages (BOOTREQUEST): the names the client gives itself (option 12, option 81 and the domain part
  of its FQDN), its vendor class (60), client id, requested address and parameter list (``dhcp_fingerprint``,
  the raw comma list), all on the client's MAC; the DHCP client and OS family the fingerprint rules name
  (dhcp/fingerprint.py), as the weak ``dhcp-fingerprint`` source.
* Server replies (BOOTREPLY): a name the server assigns (option 12 or 81 in OFFER/ACK or in a plain BOOTP
  reply, RFC 2132 3.14 / RFC 4702 3) is the client's name, on chaddr. The address is bound to chaddr when
  it is granted: a DHCPACK (RFC 2131 3.1 step 5) or a BOOTP reply (RFC 951 7.5: yiaddr is the client's
  address). An OFFER is not a lease (the client may take another server's offer): it stays
  ``dhcp_offered_ip``.
"""

from __future__ import annotations

from otscope.dissectors.base import FactsAbout, L2Anomaly, L2Binding, L2Fact, L2Output, usable_ip
from otscope.dissectors.dhcp.fingerprint import classify
from otscope.dissectors.dhcp.grammar import DhcpMessage, MsgType, Op
from otscope.domain import SOURCES

FINGERPRINT = SOURCES["DHCP_FINGERPRINT"]     # a weak source of its own (rank 6): dissectors/dhcp/fingerprint.py

NO_IP = "0.0.0.0"
SERVER_TYPES = {MsgType.OFFER, MsgType.ACK, MsgType.NAK}
CLIENT_TYPES = {MsgType.DISCOVER, MsgType.REQUEST, MsgType.DECLINE, MsgType.RELEASE, MsgType.INFORM}
NAMING_REPLIES = {MsgType.OFFER, MsgType.ACK}


def _granted(msg: DhcpMessage) -> bool:
    """The reply hands yiaddr to the client: DHCPACK, or BOOTP (no message type option at all); an address
    that cannot be one host's (broadcast, multicast, loopback) is never bound."""
    return usable_ip(msg.yiaddr) and (msg.msg_type == MsgType.ACK or msg.msg_type is None)


def _server(msg: DhcpMessage, src_ip: str, out: L2Output) -> None:
    label = msg.label
    if src_ip != NO_IP:
        if msg.vendor_class:
            out.append(L2Fact(None, src_ip, "dhcp_vendor_class", msg.vendor_class, label))
        out.append(L2Fact(None, src_ip, "protocol", "dhcp-server", label))
    client = FactsAbout(msg.chaddr, f"{label} (name assigned by the server)")
    if msg.msg_type is None or msg.msg_type in NAMING_REPLIES:
        client.add("name", msg.hostname)
        client.add("name", msg.fqdn.name if msg.fqdn else "")
    out.extend(client)
    if _granted(msg):
        out.append(L2Binding(msg.yiaddr, msg.chaddr, label))
    elif msg.yiaddr != NO_IP:
        out.append(L2Fact(msg.chaddr, None, "dhcp_offered_ip", msg.yiaddr, label))


def _client(msg: DhcpMessage, out: L2Output) -> None:
    client = FactsAbout(msg.chaddr, msg.label)
    add = client.add
    add("name", msg.hostname)
    add("name", msg.fqdn.name if msg.fqdn else "")
    add("dhcp_vendor_class", msg.vendor_class)
    add("dhcp_client_id", msg.client_id)
    add("dhcp_requested_ip", msg.requested_ip)
    add("dhcp_fingerprint", msg.param_list)
    add("protocol", "dhcp-client")
    if msg.fqdn and "." in msg.fqdn.name.strip("."):
        add("domain", msg.fqdn.name.strip(".").split(".", 1)[1])
    out.extend(client)
    rule = classify(msg.param_list, msg.vendor_class)
    if rule is not None:
        why = f"{msg.label} (DHCP fingerprint: {rule.name})"
        out.append(L2Fact(msg.chaddr, None, "dhcp_client_guess", rule.name, why, protocol=FINGERPRINT))
        out.append(L2Fact(msg.chaddr, None, "os_family", rule.os_family, why, protocol=FINGERPRINT))


def facts(msg: DhcpMessage, src_ip: str) -> L2Output:
    out: L2Output = [L2Anomaly(kind) for kind in msg.anomalies]
    if (msg.op == Op.BOOTREPLY and msg.msg_type in CLIENT_TYPES) or \
            (msg.op == Op.BOOTREQUEST and msg.msg_type in SERVER_TYPES):
        out.append(L2Anomaly("op-type-mismatch"))            # RFC 2131 table 3: op and message type disagree
    elif msg.op == Op.BOOTREPLY:
        _server(msg, src_ip, out)
    else:
        _client(msg, out)
    return out
