"""LLDP -> facts about the sending port's MAC (a switch or a station)."""

from __future__ import annotations

from otscope.dissectors.base import FactsAbout, L2Output
from otscope.dissectors.lldp.grammar import CAP_BRIDGE, CAP_ROUTER, LldpFrame

MSG = "LLDP"


def facts(frame: LldpFrame, src_mac: str) -> L2Output:
    out = FactsAbout(src_mac, MSG)
    add = out.add
    add("name", frame.system_name)
    add("description", frame.system_desc)
    add("lldp_chassis_id", frame.chassis_id)
    add("switch_port", frame.port_id)
    add("port_description", frame.port_desc)
    for ip in frame.mgmt_ipv4:
        add("management_ip", ip)
    if frame.enabled_caps is not None:
        add("capabilities", f"0x{frame.enabled_caps:04x}")
        if frame.enabled_caps & (CAP_BRIDGE | CAP_ROUTER):
            add("role_hint", "network-device")
    return out
