"""Compare an otscope inventory with the tshark-derived truth files in ../shared/pcaps/truth."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps"
CAPTURES = SHARED / "captures"
TRUTH = SHARED / "truth"


def truth_files() -> list[Path]:
    return sorted(TRUTH.rglob("*.json")) if TRUTH.is_dir() else []


def capture_for(truth: Path) -> Path:
    return CAPTURES / truth.relative_to(TRUTH).with_suffix("")


@dataclass
class Report:
    missing: list[str] = field(default_factory=list)

    def need(self, ok: bool, what: str) -> None:
        if not ok:
            self.missing.append(what)


def _index(assets: list[dict[str, Any]]) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    by_ip: dict[str, list[dict]] = {}
    by_mac: dict[str, list[dict]] = {}
    for a in assets:
        for ip in a["ips"]:
            by_ip.setdefault(ip, []).append(a)
        for mac in a["macs"]:
            by_mac.setdefault(mac, []).append(a)
    return by_ip, by_mac


def values(assets: list[dict], field: str) -> set[str]:
    return {f["value"] for a in assets for f in a.get("facts", []) if f["field"] == field}


def family(asset: dict, all_assets: list[dict]) -> list[dict]:
    """An asset and its children (backplane modules, units)."""
    return [asset] + [a for a in all_assets if a.get("parent") == asset["id"]]


def compare(truth: dict[str, Any], assets: list[dict[str, Any]]) -> Report:
    rep = Report()
    by_ip, by_mac = _index(assets)
    for h in truth["hosts"]:
        ip, mac = h.get("ip"), h.get("mac")
        if ip is None:
            rep.need(mac in by_mac, f"layer-2 host {mac}")
            found = by_mac.get(mac, [])
        else:
            if h["observed_as"] != "source":
                continue
            rep.need(ip in by_ip, f"host {ip}")
            found = by_ip.get(ip, [])
            if mac and h.get("mac_confidence") in ("high", "medium"):
                rep.need(any(mac in a["macs"] for a in found), f"mac {mac} on {ip}")
        fam = [x for a in found for x in family(a, assets)]
        _role(rep, h, found, ip or mac)
        _identity(rep, h, fam, ip or mac)
        _protocols(rep, h, found, ip or mac)
    return rep


# tshark's role_guess (a direction heuristic, ../shared/pcaps/README.md) -> the otscope roles that agree with it.
# * "field device/RTU/IED/server": an MMS server (IEC 61850 IED on tcp/102) is an RTU/IED, not a PLC (issue 12);
#   the DNP3/IEC 104/C37.118 servers it also covers are skipped below (not protocols otscope dissects).
# * "field device/IO-device": the PN-DCP IO-Device role.
ROLES = {"PLC/controller": {"plc", "gateway"}, "HMI/SCADA/EWS": {"hmi-scada", "engineering-workstation"},
         "network infrastructure": {"network-device"}, "field device/RTU/IED/server": {"rtu-ied"},
         "field device/IO-device": {"io-device"}}
# tshark calls anything that answers EtherNet/IP a "PLC/controller"; issue 12: a device whose own CIP identity says
# Communications Adapter (device type 12: 1756-ENBT, MVI56 cards) is a communications module, and that is right.
CIP_COMMUNICATIONS_ADAPTER = 12


def accepted_roles(h: dict) -> set[str]:
    guess = (h.get("role_guess") or "").split(" (")[0]
    out = set(ROLES.get(guess, ()))
    if guess == "PLC/controller" and any(rec.get("device_type") == CIP_COMMUNICATIONS_ADAPTER
                                         for rec in (h.get("identity") or {}).get("cip_identity", [])):
        out.add("communications-module")
    return out


OURS = ("modbus", "enip", "cip", "s7comm", "cotp", "pn_dcp", "lldp", "cdp", "mms")


def _role(rep: Report, h: dict, found: list[dict], who: str) -> None:
    guess = (h.get("role_guess") or "").split(" (")[0]
    if not any(p.startswith(OURS) for p in h.get("protocols", [])):
        return                     # roles from protocols otscope does not dissect (DNP3, IEC 104, ...) are not ours
    if guess in ROLES and found:
        roles = {a["role"] for a in found}
        rep.need(bool(roles & accepted_roles(h)), f"role {guess} on {who} (got {sorted(roles)})")


def role_report(truth: dict[str, Any], assets: list[dict[str, Any]]) -> Report:
    """Only the role rules of compare(): every source host whose truth role applies has an accepted role."""
    rep = Report()
    by_ip, by_mac = _index(assets)
    for h in truth["hosts"]:
        ip, mac = h.get("ip"), h.get("mac")
        if ip is not None and h["observed_as"] != "source":
            continue
        _role(rep, h, by_ip.get(ip, []) if ip is not None else by_mac.get(mac, []), ip or mac)
    return rep


def _protocols(rep: Report, h: dict, found: list[dict], who: str) -> None:
    labels = {p for a in found for p in a["protocols"]}
    for p in h.get("protocols", []):
        if p.split("-")[0] in ("modbus", "enip", "s7comm", "mms") and p.endswith(("-server", "-client")):
            rep.need(p in labels, f"protocol {p} on {who}")


def _identity(rep: Report, h: dict, fam: list[dict], who: str) -> None:
    ident = h.get("identity") or {}
    summ = h.get("identity_summary") or {}
    for rec in ident.get("cip_identity", []):
        rep.need(rec["product_name"] in values(fam, "product"), f"CIP product {rec['product_name']} on {who}")
        rep.need(rec["serial_number"] in values(fam, "serial"), f"CIP serial {rec['serial_number']} on {who}")
        rep.need(rec["revision"] in values(fam, "firmware"), f"CIP revision {rec['revision']} on {who}")
        rep.need(rec["vendor"] in values(fam, "vendor"), f"CIP vendor {rec['vendor']} on {who}")
    for o in summ.get("order_numbers", []):
        rep.need(o in values(fam, "order_number"), f"order number {o} on {who}")
    for fw in summ.get("firmware_versions", []):
        rep.need(fw in values(fam, "firmware"), f"firmware {fw} on {who}")
    for sn in summ.get("serial_numbers", []):
        rep.need(sn in values(fam, "serial"), f"serial {sn} on {who}")
    for n in summ.get("names", []):
        rep.need(n in values(fam, "name") | values(fam, "module_name"), f"name {n} on {who}")
    for rec in ident.get("modbus_device_id", []):
        for name, value in (rec.get("objects") or {}).items():
            rep.need(value in {f["value"] for a in fam for f in a.get("facts", [])}, f"modbus object {name} on {who}")
    for rec in ident.get("lldp", []):
        if rec.get("system_name"):
            rep.need(rec["system_name"] in values(fam, "name"), f"LLDP name on {who}")
        if rec.get("system_desc"):
            rep.need(rec["system_desc"] in values(fam, "description"), f"LLDP description on {who}")
    for rec in ident.get("cdp", []):
        rep.need(rec["device_id"] in values(fam, "name"), f"CDP device id on {who}")
        rep.need(rec["platform"] in values(fam, "product"), f"CDP platform on {who}")
    for rec in ident.get("dhcp", []):
        if rec.get("hostname"):
            rep.need(rec["hostname"] in values(fam, "name"), f"DHCP hostname on {who}")
    for rec in ident.get("pn_dcp", []):
        if rec.get("describes") == "sender" and rec.get("name_of_station"):
            rep.need(rec["name_of_station"] in values(fam, "name"), f"DCP name on {who}")


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
