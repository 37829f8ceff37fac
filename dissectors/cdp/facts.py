"""CDP -> facts about the sending switch/router port."""

from __future__ import annotations

from otscope.dissectors.base import FactsAbout, L2Output, usable_ip
from otscope.dissectors.cdp.grammar import NETWORK_DEVICE_CAPS, Cap, CdpFrame
from otscope.dissectors.sysdesc import add_identity

MSG = "CDP"


def facts(frame: CdpFrame, src_mac: str) -> L2Output:
    out = FactsAbout(src_mac, MSG)
    add = out.add
    add("name", frame.device_id)
    add("product", frame.platform)
    add("description", frame.software)
    add_identity(add, frame.software, frame.platform)        # vendor, order number, firmware (IOS version)
    add("switch_port", frame.port_id)
    for ip in frame.addresses:
        if usable_ip(ip):
            add("management_ip", ip)
    if frame.native_vlan is not None:
        add("native_vlan", str(frame.native_vlan))
    if frame.capabilities is not None:
        add("capabilities", f"0x{frame.capabilities:08x}")
        forwards = frame.capabilities & NETWORK_DEVICE_CAPS
        if forwards:
            names = ",".join(c.name.lower().replace("_", "-") for c in Cap if forwards & c)
            out.message = f"CDP capabilities {names}"
            add("role_hint", "network-device")
            out.message = MSG
    return out
