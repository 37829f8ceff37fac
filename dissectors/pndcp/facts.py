"""PROFINET DCP -> facts.

Identify responses and Hello describe the sender. A Set request describes its *target* (the values the
engineering tool asks the device to take) and marks the sender as an engineering station. A name in an
Identify request is a search filter (often a device checking for duplicates of its own name): it is kept
as a weak name of the sender, never as the device's name.
"""

from __future__ import annotations

from otscope.dissectors.base import FactsAbout, L2Binding, L2Fact, L2Output, usable_ip
from otscope.dissectors.pndcp.grammar import OPT_CONTROL, OPT_DEVICE, OPT_DHCP, OPT_INITIATIVE, ROLE_BITS, \
    SERVICE_IDENTIFY, SERVICE_SET, SUB_NAME, TYPE_REQUEST, DcpFrame
from otscope.dissectors.pndcp.vendors import vendor_name

# The Set blocks that write a device's configuration (IEC 61158-6-10 DCP options; Wireshark packet-pn-dcp.c:
# Device/NameOfStation, the DHCP option, Control/Reset Factory Settings (5/5) and Reset to Factory (5/6), Device
# Initiative); (option, None) stands for every suboption of the option. IP/IP is the address change itself.
SET_WRITES: dict[tuple[int, int | None], str] = {
    (OPT_DEVICE, SUB_NAME): "name of station", (OPT_DHCP, None): "DHCP parameters",
    (OPT_CONTROL, 5): "reset factory settings", (OPT_CONTROL, 6): "reset to factory",
    (OPT_INITIATIVE, None): "device initiative",
}


def _describe(frame: DcpFrame, mac: str, msg: str) -> L2Output:
    """Facts about the sender of a response or Hello: its identity, role and address. The station type
    (DeviceVendorValue, IEC 61158-6-10 Device/Manufacturer-specific suboption) is the ``product``; the PNO
    vendor id (Device/DeviceID) names the ``vendor`` when the id is in the table, else it stays a number."""
    out = FactsAbout(mac, msg)
    add = out.add
    add("name", frame.name_of_station)
    add("pn_station_type", frame.station_type)
    add("product", frame.station_type)
    add("pn_alias", frame.alias)
    if frame.vendor_id is not None:
        add("pn_vendor_id", f"0x{frame.vendor_id:04x}")
        add("pn_device_id", f"0x{frame.device_id:04x}")
        add("vendor", vendor_name(frame.vendor_id) or "")
    if frame.role is not None:
        add("pn_role", f"0x{frame.role:02x}")
        names = [n for bit, n in ROLE_BITS.items() if frame.role & bit]
        if "io-controller" in names:
            add("role_hint", "plc")
        elif "io-device" in names:
            add("role_hint", "io-device")
    _address(out, frame, mac, msg)
    return out


def _target(frame: DcpFrame, mac: str, msg: str) -> L2Output:
    """A Set request's values are what an engineering tool asks the target to take (name, address), never
    what the target says it is: no identity, no role; the requested name is kept apart."""
    out = FactsAbout(mac, msg)
    out.add("pn_name_requested", frame.name_of_station)
    _address(out, frame, mac, msg)
    return out


def _writes(frame: DcpFrame, target: str, requester: str, msg: str) -> L2Output:
    """What a Set request writes other than the IP address (whose change the collector sees from the address
    binding: an ip-change): each a configuration change of the target, with the requester as its client.
    Transaction markers and Signal (flash the LED) change nothing and are left out."""
    out: L2Output = []
    for what in dict.fromkeys(SET_WRITES.get(b, SET_WRITES.get((b[0], None), "")) for b in frame.blocks):
        if what:
            out.append(L2Fact(target, None, "config_change", f"DCP Set {what}", msg, client=requester))
    return out


def _address(out: FactsAbout, frame: DcpFrame, mac: str, msg: str) -> None:
    if usable_ip(frame.ip):
        out.add("pn_ip", frame.ip)
        out.append(L2Binding(frame.ip, mac, msg))


def facts(frame: DcpFrame, src_mac: str, dst_mac: str) -> L2Output:
    msg = f"PN-DCP {frame.kind}"
    out: L2Output = [L2Fact(src_mac, None, "protocol", "pn_dcp", msg)]
    if frame.service_type != TYPE_REQUEST or frame.kind == "Hello":
        return out + _describe(frame, src_mac, msg)
    if frame.service_id == SERVICE_SET:
        out.append(L2Fact(src_mac, None, "role_hint", "engineering-workstation", msg))
        out.append(L2Fact(src_mac, None, "protocol", "pn_dcp-set-requester", msg))
        return out + _target(frame, dst_mac, msg) + _writes(frame, dst_mac, src_mac, msg)
    if frame.service_id == SERVICE_IDENTIFY:
        if frame.name_of_station:
            out.append(L2Fact(src_mac, None, "name_weak", frame.name_of_station, msg + " (name filter)"))
        elif frame.all_selector or not frame.alias:
            out.append(L2Fact(src_mac, None, "protocol", "pn_dcp-identify-all-requester", msg))
    return out
