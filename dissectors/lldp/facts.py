"""LLDP -> facts about the sending port's MAC (a switch or a station)."""

from __future__ import annotations

from otscope.dissectors.base import FactsAbout, L2Anomaly, L2Output, usable_ip
from otscope.dissectors.lldp.grammar import NETWORK_DEVICE_CAPS, Cap, LldpFrame, MedInventory
from otscope.dissectors.sysdesc import add_identity

MSG = "LLDP"
# LLDP-MED inventory TLV -> inventory field (the device states these about itself)
MED_FIELDS = {MedInventory.MANUFACTURER: "vendor", MedInventory.MODEL: "product",
              MedInventory.FIRMWARE_REVISION: "firmware", MedInventory.SERIAL_NUMBER: "serial",
              MedInventory.SOFTWARE_REVISION: "software_version", MedInventory.HARDWARE_REVISION: "hardware_version",
              MedInventory.ASSET_ID: "asset_id"}


def _caps_names(caps: int) -> str:
    return ",".join(c.name.lower().replace("_", "-") for c in Cap if caps & c)


def facts(frame: LldpFrame, src_mac: str) -> L2Output:
    out = FactsAbout(src_mac, MSG)
    add = out.add
    add("name", frame.system_name)
    add("description", frame.system_desc)
    add_identity(add, frame.system_desc)                      # vendor, product, order number, firmware
    if frame.inventory:
        out.message = "LLDP-MED inventory"
        for sub, value in frame.inventory.items():
            add(MED_FIELDS[sub], value)
        out.message = MSG
    add("lldp_chassis_id", frame.chassis_id)
    add("chassis_mac", frame.chassis_mac)
    add("switch_port", frame.port_id)
    add("port_description", frame.port_desc)
    for ip in frame.mgmt_ipv4:
        if usable_ip(ip):
            add("management_ip", ip)
    if frame.enabled_caps is not None:
        add("capabilities", f"0x{frame.enabled_caps:04x}")
        forwards = frame.enabled_caps & NETWORK_DEVICE_CAPS
        if forwards:
            out.message = f"LLDP enabled capabilities {_caps_names(forwards)}"
            add("role_hint", "network-device")
            out.message = MSG
    out.extend(L2Anomaly(kind) for kind in frame.anomalies)
    return out
