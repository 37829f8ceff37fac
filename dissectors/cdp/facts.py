"""CDP -> facts about the sending switch/router port."""

from __future__ import annotations

from otscope.dissectors.base import FactsAbout, L2Output
from otscope.dissectors.cdp.grammar import CAP_BRIDGE, CAP_ROUTER, CAP_SWITCH, CdpFrame

MSG = "CDP"


def facts(frame: CdpFrame, src_mac: str) -> L2Output:
    out = FactsAbout(src_mac, MSG)
    add = out.add
    add("name", frame.device_id)
    add("product", frame.platform)
    add("description", frame.software)
    add("switch_port", frame.port_id)
    for ip in frame.addresses:
        add("management_ip", ip)
    if frame.native_vlan is not None:
        add("native_vlan", str(frame.native_vlan))
    if frame.capabilities is not None:
        add("capabilities", f"0x{frame.capabilities:08x}")
        if frame.capabilities & (CAP_ROUTER | CAP_BRIDGE | CAP_SWITCH):
            add("role_hint", "network-device")
    return out
