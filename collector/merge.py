"""Merge rules as pure functions (no database, no I/O): identity resolution, summaries, roles, coverage.

Identity resolution (issue: replay spine):
* on-link hosts are identified by (VLAN, MAC): a binding seen with high (ARP, DHCP ACK, PROFINET DCP) or
  medium confidence (one MAC, used by no other IP, initial TTL) ties an IP to that MAC;
* routed hosts (no trustworthy binding) are identified by (VLAN, IP);
* a router's MAC never merges the hosts behind it: their TTL is decremented, so no binding is made;
* a MAC seen with a new IP keeps its asset and gains the address (DHCP renumbering, DCP Set);
* an identity fact (vendor + serial number) seen on two assets links them into one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from otscope.dissectors import registry
from otscope.dissectors.base import Role

IDENTITY_FIELDS = ("vendor", "product", "order_number", "firmware", "serial", "name")
OT_LABEL_PREFIXES = registry.ot_label_prefixes()     # the OT protocols' names (dissectors/registry.py)
SERVER_SUFFIX = "-server"
CLIENT_SUFFIX = "-client"

# Which protocol's word wins when several report the same field (wire identity over inference).
PROTOCOL_RANK = registry.protocol_rank()          # each spec's rank (dissectors/registry.py); others 5


class BindingAction(Enum):
    CREATE = "create"                      # neither the MAC nor the IP is known: new asset with both
    ADD_IP = "add-ip"                      # the MAC's asset gains (or keeps) this IP
    ATTACH_MAC = "attach-mac"              # the IP's asset had no MAC yet: it gets this one
    MERGE_IP_ASSET = "merge-ip-asset"      # the IP-only asset is the same device as the MAC's asset
    NEW_HOLDER = "new-holder"              # the IP now belongs to another MAC: a new device took it


@dataclass(frozen=True, slots=True)
class Owner:
    asset_id: int
    has_mac: bool


def plan_binding(mac_owner: Owner | None, ip_owner: Owner | None) -> BindingAction:
    """What to do with a (VLAN, IP, MAC) binding given who currently holds the MAC and the IP."""
    if mac_owner is None and ip_owner is None:
        return BindingAction.CREATE
    if mac_owner is None:
        assert ip_owner is not None
        return BindingAction.NEW_HOLDER if ip_owner.has_mac else BindingAction.ATTACH_MAC
    if ip_owner is None or ip_owner.asset_id == mac_owner.asset_id:
        return BindingAction.ADD_IP
    return BindingAction.ADD_IP if ip_owner.has_mac else BindingAction.MERGE_IP_ASSET


def is_placeholder(protocol: str, transport: str, port: int) -> bool:
    """``tcp/502``: a conversation whose protocol no dissector has confirmed (yet)."""
    return protocol == f"{transport}/{port}"


def conversation_label(incoming: str, transport: str, port: int, confirmed: str | None) -> str:
    """Which row a conversation's counts go to. A live sensor reports a flow before its protocol is confirmed
    (as ``tcp/502``) and after (as ``modbus``): the unconfirmed part joins the confirmed conversation of the
    same client, server and port, so nothing is split and nothing is counted twice."""
    if is_placeholder(incoming, transport, port) and confirmed is not None:
        return confirmed
    return incoming


def times(first: float | None, last: float | None, new_first: float, new_last: float) -> tuple[float, float]:
    """First seen only moves back, last seen only moves forward."""
    return (new_first if first is None else min(first, new_first),
            new_last if last is None else max(last, new_last))


@dataclass(frozen=True, slots=True)
class FactView:
    field: str
    value: str
    protocol: str
    last_seen: float


@dataclass(slots=True)
class Summary:
    vendor: str | None = None
    product: str | None = None
    order_number: str | None = None
    firmware: str | None = None
    serial: str | None = None
    name: str | None = None
    mac_vendor: str | None = None
    role: Role = Role.UNKNOWN
    protocols: list[str] = field(default_factory=list)

    @property
    def identified(self) -> bool:
        return bool(self.vendor and (self.product or self.order_number) and self.firmware)

    def missing(self) -> list[str]:
        out = []
        if not self.vendor:
            out.append("vendor")
        if not (self.product or self.order_number):
            out.append("product")
        if not self.firmware:
            out.append("firmware")
        return out


def best(facts: Iterable[FactView], fieldname: str) -> str | None:
    """The value to show for a field: best-ranked protocol, then most recently seen; others stay as facts."""
    cands = [f for f in facts if f.field == fieldname]
    if not cands:
        return None
    cands.sort(key=lambda f: (PROTOCOL_RANK.get(f.protocol, 5), -f.last_seen, f.value))
    return cands[0].value


def decide_role(protocols: Sequence[str], hints: Sequence[str], has_children_units: bool = False,
                has_it_traffic: bool = False) -> Role:
    hints_set = set(hints)
    servers = [p for p in protocols if p.endswith(SERVER_SUFFIX) and p.startswith(OT_LABEL_PREFIXES)
               and not p.startswith("cotp")]
    clients = [p for p in protocols if p.endswith(CLIENT_SUFFIX) and p.startswith(OT_LABEL_PREFIXES)]
    if Role.GATEWAY.value in hints_set or has_children_units:
        return Role.GATEWAY
    if servers:
        for r in (Role.IO_DEVICE, Role.HMI_SCADA, Role.NETWORK_DEVICE):
            if r.value in hints_set and Role.PLC.value not in hints_set:
                return r
        return Role.PLC
    if Role.EWS.value in hints_set:
        return Role.EWS
    if clients:
        if Role.IO_DEVICE.value in hints_set:
            return Role.IO_DEVICE
        return Role.HMI_SCADA
    if "enip-io" in protocols:
        return Role.IO_DEVICE                # implicit I/O only: an adapter (or a scanner seen only by its I/O)
    for r in (Role.PLC, Role.IO_DEVICE, Role.NETWORK_DEVICE, Role.HMI_SCADA):
        if r.value in hints_set:
            return r
    if any(p.startswith("cotp-server") for p in protocols):
        return Role.PLC
    if has_it_traffic:
        return Role.IT_HOST
    return Role.UNKNOWN


def summarize(facts: Sequence[FactView], *, has_children_units: bool = False, has_it_traffic: bool = False) -> Summary:
    s = Summary()
    for name in IDENTITY_FIELDS:
        setattr(s, name, best(facts, name))
    if s.product is None:                      # ProductName, else ModelName, else ProductCode / PN station type
        s.product = best(facts, "model") or best(facts, "product_code")
    s.mac_vendor = best(facts, "mac_vendor")
    s.protocols = sorted({f.value for f in facts if f.field == "protocol"})
    hints = sorted({f.value for f in facts if f.field == "role_hint"})
    s.role = decide_role(s.protocols, hints, has_children_units, has_it_traffic)
    return s


def is_ot(summary: Summary) -> bool:
    """An OT asset: it speaks an industrial protocol or has an OT role."""
    if any(p.startswith(OT_LABEL_PREFIXES) for p in summary.protocols):
        return True
    return summary.role in (Role.PLC, Role.HMI_SCADA, Role.EWS, Role.IO_DEVICE, Role.GATEWAY)


@dataclass(frozen=True, slots=True)
class GapInput:
    asset_id: int
    summary: Summary
    sent: bool
    observed_seconds: float
    encrypted: bool
    is_client_only: bool


def gap_reason(g: GapInput) -> tuple[str, str]:
    """Why an OT asset is not identified, and the action that would close the gap."""
    hours = g.observed_seconds / 3600.0
    if g.encrypted:
        return ("S7comm-plus session encrypted (TLS): order number and firmware are hidden from a passive sensor",
                "read the identity from the engineering project or enable active identification for this address")
    if not g.sent:
        return ("only seen as a destination: the device never answered while the sensor listened",
                "check the device is alive; capture where its replies cross the SPAN port")
    if g.is_client_only:
        return ("only acts as a client: Modbus/EtherNet/IP/S7 clients never announce vendor or firmware on the wire",
                "add it to the asset register (HMI/engineering PCs are best documented from their OS inventory)")
    if g.summary.vendor or g.summary.product or g.summary.order_number:
        return (f"partial identity: missing {', '.join(g.summary.missing())} after {hours:.1f} h of traffic",
                "capture during an engineering session (identity reads happen at connect and upload)")
    return (f"no identity exchange observed in {hours:.1f} h of traffic",
            "capture during an engineering session, enable identification for this address, or add it to the register")
