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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from otscope.dissectors import registry
from otscope.dissectors.base import Role

IDENTITY_FIELDS = ("vendor", "product", "order_number", "firmware", "serial", "name")
OT_LABEL_PREFIXES = registry.ot_label_prefixes()     # the OT protocols' names (dissectors/registry.py)
SERVER_SUFFIX = "-server"
CLIENT_SUFFIX = "-client"

# Which protocol's word wins when several report the same field (wire identity over inference).
GAP_NOTES = registry.gap_notes()                     # protocols that carry no identity, and why (specs)
SERVER_LABEL_ROLES = registry.server_label_roles()   # server labels proving another role than plc (specs)
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
    component: str = ""                      # "" = the device at the address; "unit:N", "slot:N" = a part behind it
    message: str = ""
    evidence: str = ""


# --- the KPI's asset classes (issue 16) ---------------------------------------------------------------------

class AssetClass(StrEnum):
    """Which definition of "identified" an asset is judged by (the coverage report's lines)."""

    CONTROLLER = "controllers"       # controllers and field devices: PLC, RTU/IED, I/O, gateways, modules, ...
    PC = "pcs"                       # PCs and servers: HMI/SCADA, engineering workstations, IT hosts
    NETWORK = "network"              # switches, routers, firewalls (LLDP/CDP/SNMP say so)


PC_ROLES = (Role.HMI_SCADA, Role.EWS, Role.IT_HOST)
# an OS word from these ranks or weaker is a hint, not an identification: a DHCP fingerprint (6), the initial
# TTL / TCP SYN options (8) (dissectors' specs: rank)
WEAK_OS_RANK = 6

CLASS_DEFINITIONS: dict[AssetClass, tuple[str, str]] = {
    AssetClass.CONTROLLER: ("controllers and field devices",
                            "identified = vendor + product (or order number) + firmware, from the wire"),
    AssetClass.PC: ("PCs and servers (HMI/SCADA, engineering workstations, IT hosts)",
                    "identified = an operating system (os, or os_family from a source stronger than a DHCP "
                    "fingerprint or TTL/SYN hint) + a host name, from the wire"),
    AssetClass.NETWORK: ("network devices", "identified = vendor + model (product) + firmware, from the wire"),
}


def asset_class(role: Role | str) -> AssetClass:
    r = Role(role)
    if r in PC_ROLES:
        return AssetClass.PC
    if r is Role.NETWORK_DEVICE:
        return AssetClass.NETWORK
    return AssetClass.CONTROLLER


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
    role_evidence: str = ""
    protocols: list[str] = field(default_factory=list)
    os: str | None = None                    # the best-ranked os fact (SMB/NTLMSSP, HTTP User-Agent, banners)
    os_family: str | None = None             # windows, linux, macos, bsd, embedded, network-os, unknown
    os_strong: bool = False                  # an os/os_family fact from a source stronger than WEAK_OS_RANK

    @property
    def asset_class(self) -> AssetClass:
        return asset_class(self.role)

    @property
    def identified(self) -> bool:
        """By the asset's class (CLASS_DEFINITIONS): a PC by OS + name, the others by vendor + model + firmware."""
        if self.asset_class is AssetClass.PC:
            return bool(self.os_strong and self.name)
        return bool(self.vendor and (self.product or self.order_number) and self.firmware)

    def missing(self) -> list[str]:
        out = []
        if self.asset_class is AssetClass.PC:
            if not self.os_strong:
                out.append("os")
            if not self.name:
                out.append("name")
            return out
        if not self.vendor:
            out.append("vendor")
        if not (self.product or self.order_number):
            out.append("product")
        if not self.firmware:
            out.append("firmware")
        return out


def os_view(facts: Iterable[FactView]) -> tuple[str | None, str | None, bool]:
    """(os, os_family, strong): the best-ranked values, and whether any comes from a source stronger than a
    weak hint (WEAK_OS_RANK). Conflicting values stay side by side as facts."""
    facts = [f for f in facts if f.field in ("os", "os_family")]
    strong = any(PROTOCOL_RANK.get(f.protocol, 5) < WEAK_OS_RANK for f in facts)
    return best(facts, "os"), best(facts, "os_family"), strong


def best(facts: Iterable[FactView], fieldname: str) -> str | None:
    """The value to show for a field: best-ranked protocol, then most recently seen; others stay as facts."""
    cands = [f for f in facts if f.field == fieldname]
    if not cands:
        return None
    cands.sort(key=lambda f: (PROTOCOL_RANK.get(f.protocol, 5), -f.last_seen, f.value))
    return cands[0].value


# --- roles ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RoleDecision:
    role: Role
    evidence: str                            # why: the label or the device's own statement that decided it


Hints = Sequence[str] | Sequence[tuple[str, str]] | Mapping[str, str]


def _hint_map(hints: Hints) -> dict[str, str]:
    """role_hint values with the reason each was given (the fact's message and frame)."""
    if isinstance(hints, Mapping):
        return dict(hints)
    out: dict[str, str] = {}
    for h in hints:
        value, why = (h, f"role_hint {h}") if isinstance(h, str) else h
        out.setdefault(value, why)
    return out


def decide_role(protocols: Sequence[str], hints: Hints, has_children_units: bool = False,
                has_it_traffic: bool = False) -> RoleDecision:
    """A role from what the device says it is (its own identity: CIP device type, LLDP/CDP capabilities, a
    gateway's exception codes), then from how it talks (server/client labels), with the evidence.

    * What a device says beats what its traffic suggests: a CIP Communications Adapter (type 12, role_hint
      communications-module) that answers EtherNet/IP is a communications module, not a PLC; LLDP/CDP bridge or
      router capabilities make a network device.
    * An MMS server (IEC 61850 on tcp/102) is an RTU/IED, not a PLC (ISO 9506 / IEC 61850-8-1).
    * HMI vs engineering workstation, one rule for every protocol: engineering traits (SZL and block-list reads,
      upload, download, stop/run, configuration writes, UMAS, PG TSAP: role_hint engineering-workstation) beat
      HMI traits (polling reads/writes, OP TSAP: role_hint hmi-scada, or only acting as an OT client).
    """
    h = _hint_map(hints)
    ot = [p for p in protocols if p.startswith(OT_LABEL_PREFIXES)]
    servers = [p for p in ot if p.endswith(SERVER_SUFFIX) and not p.startswith("cotp")]
    clients = [p for p in ot if p.endswith(CLIENT_SUFFIX)]
    if Role.GATEWAY.value in h:
        return RoleDecision(Role.GATEWAY, h[Role.GATEWAY.value])
    if has_children_units:
        return RoleDecision(Role.GATEWAY, "several Modbus unit ids answer behind this address")
    if Role.PLC.value in h:
        return RoleDecision(Role.PLC, h[Role.PLC.value])
    for r in (Role.COMMUNICATIONS_MODULE, Role.RTU_IED, Role.NETWORK_DEVICE):
        if r.value in h:
            return RoleDecision(r, h[r.value])
    for label, (role, why) in SERVER_LABEL_ROLES.items():
        if label in protocols:
            return RoleDecision(role, why)
    if servers:
        for r in (Role.IO_DEVICE, Role.HMI_SCADA):
            if r.value in h:
                return RoleDecision(r, h[r.value])
        return RoleDecision(Role.PLC, f"answers {', '.join(sorted(servers))}")
    if Role.EWS.value in h:
        return RoleDecision(Role.EWS, h[Role.EWS.value])
    if clients:
        if Role.IO_DEVICE.value in h:
            return RoleDecision(Role.IO_DEVICE, h[Role.IO_DEVICE.value])
        if Role.HMI_SCADA.value in h:
            return RoleDecision(Role.HMI_SCADA, h[Role.HMI_SCADA.value])
        return RoleDecision(Role.HMI_SCADA, f"only polls as {', '.join(sorted(clients))} (no engineering trait)")
    if "enip-io" in protocols:                # implicit I/O only: an adapter (or a scanner seen only by its I/O)
        return RoleDecision(Role.IO_DEVICE, "implicit CIP I/O only (enip-io)")
    for r in (Role.IO_DEVICE, Role.HMI_SCADA):
        if r.value in h:
            return RoleDecision(r, h[r.value])
    if any(p.startswith("cotp-server") for p in protocols):
        return RoleDecision(Role.PLC, "answers ISO-TSAP (COTP) on tcp/102")
    if has_it_traffic:
        return RoleDecision(Role.IT_HOST, "only IT traffic (no OT port)")
    return RoleDecision(Role.UNKNOWN, "")


def summarize(facts: Sequence[FactView], *, has_children_units: bool = False, has_it_traffic: bool = False) -> Summary:
    s = Summary()
    for name in IDENTITY_FIELDS:
        setattr(s, name, best(facts, name))
    if s.product is None:                      # ProductName, else ModelName, else ProductCode / PN station type
        s.product = best(facts, "model") or best(facts, "product_code")
    s.mac_vendor = best(facts, "mac_vendor")
    s.os, s.os_family, s.os_strong = os_view(facts)
    s.protocols = sorted({f.value for f in facts if f.field == "protocol"})
    hints: dict[str, str] = {}
    for f in sorted((f for f in facts if f.field == "role_hint"), key=lambda f: (f.value, -f.last_seen)):
        hints.setdefault(f.value, _why(f))
    d = decide_role(s.protocols, hints, has_children_units, has_it_traffic)
    s.role, s.role_evidence = d.role, d.evidence
    return s


def _why(f: FactView) -> str:
    """A role hint's reason as the dissector gave it, with its frame."""
    text = f"{f.protocol}: {f.message or 'role_hint ' + f.value}"
    return f"{text} ({f.evidence})" if f.evidence else text


def is_ot(summary: Summary) -> bool:
    """An OT asset: it speaks an industrial protocol or has an OT role."""
    if any(p.startswith(OT_LABEL_PREFIXES) for p in summary.protocols):
        return True
    return summary.role in OT_ROLES


OT_ROLES = (Role.PLC, Role.RTU_IED, Role.HMI_SCADA, Role.EWS, Role.IO_DEVICE, Role.GATEWAY,
            Role.COMMUNICATIONS_MODULE, Role.BUILDING_CONTROLLER)


@dataclass(frozen=True, slots=True)
class GapInput:
    asset_id: int
    summary: Summary
    sent: bool
    observed_seconds: float
    encrypted: bool
    is_client_only: bool
    encrypted_how: str = ""         # the ``encrypted`` fact's value: which session is encrypted, and how


# What otscope can do today to close a gap (and nothing it cannot): listen at the right time and place, or take
# the identity from the plant's documentation through the register.
ACTION_ENGINEERING = "capture during an engineering session (identity reads happen at connect, upload and download)"
ACTION_REGISTER = "add it to the register (POST /api/v1/register)"
ACTION_SPAN = "check the SPAN port carries this device's replies"
ACTION_PC = ("capture while the PC starts, logs on or renews its DHCP lease (SMB/NTLMSSP, NetBIOS, DHCP, "
             "HTTP and SSH carry its OS and name)")
ACTION_NETWORK = "enable LLDP/CDP on the switch ports or capture its SNMP polling"


def pc_gap(summary: Summary) -> tuple[str, str]:
    """Why a PC/server is not identified (no OS or no name seen), and what would close it."""
    missing = summary.missing()
    hint = ""
    if "os" in missing and (summary.os or summary.os_family):
        hint = f" (only a weak OS hint: {summary.os or summary.os_family}, from a DHCP fingerprint or TTL/SYN)"
    return (f"no {'/'.join(m.upper() if m == 'os' else m for m in missing)} seen: "
            f"missing {', '.join(missing)}{hint}; it announced neither on the IT protocols captured",
            f"{ACTION_PC}, or {ACTION_REGISTER}")


def gap_reason(g: GapInput) -> tuple[str, str]:
    """Why an OT asset is not identified, and the action that would close the gap."""
    hours = g.observed_seconds / 3600.0
    if g.encrypted:
        how = g.encrypted_how or "S7comm-plus session switched to TLS"
        return (f"encrypted session ({how}): vendor, order number and firmware are hidden from a passive sensor",
                f"read the identity from the engineering project and {ACTION_REGISTER}")
    if not g.sent:
        return ("only seen as a destination: the device never answered while the sensor listened",
                f"{ACTION_SPAN}; check the device is alive")
    if g.summary.asset_class is AssetClass.PC:
        return pc_gap(g.summary)
    if g.summary.asset_class is AssetClass.NETWORK:
        return (f"network device: missing {', '.join(g.summary.missing())} (no LLDP/CDP or SNMP system description "
                "seen)", f"{ACTION_NETWORK}, or {ACTION_REGISTER}")
    if g.is_client_only:
        return ("only acts as a client: Modbus/EtherNet/IP/S7 clients never announce vendor or firmware on the wire",
                f"{ACTION_REGISTER} (HMI/engineering PCs are best documented from their OS inventory)")
    if g.summary.vendor or g.summary.product or g.summary.order_number:
        return (f"partial identity: missing {', '.join(g.summary.missing())} after {hours:.1f} h of traffic",
                f"{ACTION_ENGINEERING}, or {ACTION_REGISTER}")
    notes = sorted({GAP_NOTES[p.removesuffix(SERVER_SUFFIX)] for p in g.summary.protocols
                    if p.endswith(SERVER_SUFFIX) and p.removesuffix(SERVER_SUFFIX) in GAP_NOTES})
    if notes:
        return ("; ".join(notes), ACTION_REGISTER)
    return (f"no identity exchange observed in {hours:.1f} h of traffic",
            f"{ACTION_ENGINEERING}, or {ACTION_REGISTER}")


def traffic_verdict(seen: int, decoded: int, target: float) -> tuple[float | None, bool | None, str]:
    """Share of OT bytes decoded, pass, and a status; with no OT bytes the KPI does not apply (it is neither
    0 % nor a failure: there was nothing to decode)."""
    if seen <= 0:
        return None, None, "not applicable"
    share = round(decoded / seen, 4)
    ok = share >= target
    return share, ok, "pass" if ok else "fail"


# --- one asset per device -----------------------------------------------------------------------------------

# serial numbers that do not tell devices apart (unset, all zeros, all ones)
_NO_SERIAL = {"", "0", "0x0", "0x00000000", "0xffffffff", "ffffffff", "00000000", "none", "n/a", "unknown"}


def meaningful_serial(serial: str) -> bool:
    return serial.strip().lower() not in _NO_SERIAL


@dataclass(frozen=True, slots=True)
class Ident:
    """What the vendor + serial rule needs of one asset."""

    asset_id: int
    parent_id: int | None
    component: str | None
    vendors: frozenset[str]
    serials: frozenset[str]
    product_codes: frozenset[str] = frozenset()

    def keys(self) -> set[tuple[str, str]]:
        return {(v, s) for v in self.vendors for s in self.serials if meaningful_serial(s)}


def same_device(a: Ident, b: Ident) -> bool:
    """Vendor + serial number (CIP Identity attributes 1 and 6: a serial is unique per vendor, Vol. 1 5-2.2.1.6);
    when both carry a product code it must agree too. A shared vendor alone never makes one device."""
    if not a.keys() & b.keys():
        return False
    return not (a.product_codes and b.product_codes and not a.product_codes & b.product_codes)


@dataclass(frozen=True, slots=True)
class Fold:
    keep: int
    drop: int
    slot: str | None            # the dropped asset's backplane slot ("slot:0"), kept as a fact on ``keep``


def plan_identity_merges(idents: Sequence[Ident]) -> list[Fold]:
    """Assets that are one device by vendor + serial, grouped (order independent: the same groups whatever
    arrived first). Each group keeps a top-level asset (it has the addresses; the lowest id), else its lowest
    id; children are folded before top-level assets so a parent's merge never moves a child still to fold."""
    parent = {i.asset_id: i.asset_id for i in idents}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_key: dict[tuple[str, str], list[Ident]] = {}
    for i in idents:
        for k in i.keys():
            by_key.setdefault(k, []).append(i)
    for group in by_key.values():
        for a in group:
            for b in group:
                if a.asset_id < b.asset_id and same_device(a, b):
                    ra, rb = root(a.asset_id), root(b.asset_id)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[Ident]] = {}
    for i in idents:
        groups.setdefault(root(i.asset_id), []).append(i)
    out: list[Fold] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        keep = min(members, key=lambda i: (i.parent_id is not None, i.asset_id))
        for m in members:
            if m is not keep:
                slot = m.component if m.parent_id is not None and (m.component or "").startswith("slot:") else None
                out.append(Fold(keep.asset_id, m.asset_id, slot))
    top = {i.asset_id: i.parent_id is None for i in idents}
    out.sort(key=lambda f: (top[f.drop], f.drop))
    return out


@dataclass(frozen=True, slots=True)
class L2Claim:
    """A layer-2-only asset (LLDP/CDP neighbour: a MAC, no IP) and the addresses it says are its own."""

    asset_id: int
    management_ips: frozenset[str]
    chassis_macs: frozenset[str]


def plan_l2_merges(claims: Sequence[L2Claim], ip_owners: Mapping[str, set[int]],
                   mac_owners: Mapping[str, set[int]]) -> list[tuple[int, int]]:
    """(keep, drop): an L2-only neighbour whose management address is an IP of one IP asset, or whose chassis MAC
    is the MAC of one IP asset, is that asset (IEEE 802.1AB 8.5.9 management address, 8.5.2 chassis id). An
    address held by several assets is ambiguous: nothing is merged on it."""
    out: list[tuple[int, int]] = []
    for c in claims:
        targets: set[int] = set()
        for ip in c.management_ips:
            targets |= ip_owners.get(ip, set())
        for mac in c.chassis_macs:
            targets |= mac_owners.get(mac, set())
        targets.discard(c.asset_id)
        if len(targets) == 1:
            out.append((targets.pop(), c.asset_id))
    return out


# --- Modbus units behind one address ------------------------------------------------------------------------

def unit_of(component: str | None) -> int | None:
    """``unit:N`` -> N (a Modbus unit id, 1..247; Modbus Application Protocol v1.1b3 4.4, MBAP 'Unit Identifier')."""
    if not component or not component.startswith("unit:"):
        return None
    try:
        n = int(component[5:])
    except ValueError:
        return None
    return n if 1 <= n <= 247 else None


def is_modbus_gateway(facts: Iterable[FactView]) -> bool:
    """An address is a gateway when >= 2 distinct unit ids have answered it (modbus-server facts with distinct
    unit components), or when it says so itself (exception 0x0A/0x0B: role_hint gateway, no component)."""
    answered: set[int] = set()
    for f in facts:
        if f.field == "role_hint" and f.value == Role.GATEWAY.value and not f.component:
            return True
        if f.field == "protocol" and f.value == "modbus-server":
            u = unit_of(f.component)
            if u is not None:
                answered.add(u)
    return len(answered) >= 2


def own_facts(facts: Sequence[FactView], gateway: bool) -> list[FactView]:
    """A gateway's identity comes only from answers addressed to itself (unit 0/255: no component)."""
    return [f for f in facts if not f.component] if gateway else list(facts)


