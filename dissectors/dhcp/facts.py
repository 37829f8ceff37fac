"""DHCP -> facts about the client (by its hardware address) and the server, and the ACK binding."""

from __future__ import annotations

from otscope.dissectors.base import L2Binding, L2Fact, L2Output
from otscope.dissectors.dhcp.grammar import DhcpMessage

SERVER_TYPES = {2, 5, 6}        # OFFER, ACK, NAK come from the server


def facts(msg: DhcpMessage, src_ip: str) -> L2Output:
    out: L2Output = []
    label = f"DHCP {msg.type_name}"
    mac = msg.chaddr
    from_server = msg.op == 2 or msg.msg_type in SERVER_TYPES

    def client(fieldname: str, value: str) -> None:
        if value:
            out.append(L2Fact(mac, None, fieldname, value, label))

    if from_server:
        if msg.vendor_class and src_ip != "0.0.0.0":
            out.append(L2Fact(None, src_ip, "dhcp_vendor_class", msg.vendor_class, label))
        if src_ip != "0.0.0.0":
            out.append(L2Fact(None, src_ip, "protocol", "dhcp-server", label))
        if msg.msg_type == 5 and msg.yiaddr != "0.0.0.0":                 # ACK: the lease is granted
            out.append(L2Binding(msg.yiaddr, mac, label))
        if msg.yiaddr != "0.0.0.0":
            client("dhcp_offered_ip", msg.yiaddr)
        return out
    client("name", msg.fqdn or msg.hostname)
    client("dhcp_vendor_class", msg.vendor_class)
    client("dhcp_client_id", msg.client_id)
    client("dhcp_requested_ip", msg.requested_ip)
    client("dhcp_parameter_list", msg.param_list)
    client("protocol", "dhcp-client")
    return out
