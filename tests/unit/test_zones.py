"""Zones and Purdue levels (collector/zones.py) and segmentation findings (collector/findings.py) on hand-built
inventories: parsing a declared model, the proposal from roles, assignment and overrides, each finding kind."""

from __future__ import annotations

import pytest

from otscope.collector import findings as F
from otscope.collector import zones as Z
from otscope.domain import Role

PROTOS = F.Protocols(frozenset({"modbus", "s7comm", "enip"}))


def H(i: int, role: Role, *ips: str, vlans: tuple[int, ...] = (0,), macs: tuple[str, ...] = ("02:00:00:00:00:01",),
      protocols: tuple[str, ...] = (), name: str | None = None) -> Z.HostView:
    return Z.HostView(i, role, ips, vlans, macs, protocols, name)


def C(cl: int, sv: int, proto: str, port: int = 502) -> Z.ConvView:
    return Z.ConvView(cl, sv, proto, "tcp", port, 10, 1000, 1.0, 2.0)


PLANT = [H(1, Role.PLC, "10.0.1.10"), H(2, Role.IO_DEVICE, "10.0.1.11"), H(3, Role.HMI_SCADA, "10.0.2.5"),
         H(4, Role.IT_HOST, "10.0.4.7"), H(5, Role.UNKNOWN, "10.0.3.9", protocols=("opcua-server",)),
         H(6, Role.IO_DEVICE, vlans=(20,))]


def test_proposal_levels_by_role_with_evidence() -> None:
    model = Z.build(PLANT, [])
    assert model.status is Z.ModelStatus.PROPOSED
    levels = {z.name: z.level for z in model.zones}
    assert levels == {"10.0.1.0/24": 1, "10.0.2.0/24": 2, "10.0.3.0/24": 3, "10.0.4.0/24": 4, "vlan 20": 1}
    z1 = model.zone("10.0.1.0/24")
    assert z1 is not None and "2 at level 1" in z1.evidence[0] and any("10.0.1.10 is plc" in e for e in z1.evidence)
    a = model.assignments[5]
    assert (a.zone, a.level, a.source) == ("10.0.3.0/24", Z.Level.SITE_OPERATIONS, Z.Source.INFERRED)
    assert model.assignments[6].zone == "vlan 20"


def test_tie_goes_to_the_lower_level() -> None:
    lv, ev = Z.zone_level([(Z.Level.SUPERVISORY, "a"), (Z.Level.BASIC_CONTROL, "b")])
    assert lv is Z.Level.BASIC_CONTROL and ev[1] == "b"
    assert Z.zone_level([])[0] is None


DECL = {"site": "Plant A", "zones": [
    {"name": "cell", "level": 1, "cidrs": ["10.0.1.0/24"], "vlans": [20]},
    {"name": "cell-hmi", "level": 2, "cidrs": ["10.0.1.0/29"]},
    {"name": "it", "level": 4, "cidrs": ["10.0.4.0/24"], "site": "HQ"}]}


def test_declared_most_specific_cidr_then_vlan_and_override() -> None:
    zs = Z.parse_model(DECL)
    assert [z.site for z in zs] == ["Plant A", "Plant A", "HQ"]
    hosts = PLANT + [H(7, Role.HMI_SCADA, "10.0.1.3")]
    over = {3: Z.Override(3, "cell", None, "moved", "alice"), 4: Z.Override(4, None, Z.Level.ENTERPRISE)}
    model = Z.build(hosts, zs, over)
    a = model.assignments
    assert model.status is Z.ModelStatus.DECLARED
    assert (a[7].zone, a[7].level, a[7].source) == ("cell-hmi", 2, Z.Source.DECLARED)
    assert (a[1].zone, a[1].level) == ("cell", 1)
    assert (a[6].zone, a[6].level) == ("cell", 1) and "VLAN 20" in a[6].evidence[0]
    assert (a[3].zone, a[3].level, a[3].source) == ("cell", 1, Z.Source.OVERRIDE) and "alice" in a[3].evidence[0]
    assert (a[4].zone, a[4].level) == ("it", Z.Level.ENTERPRISE)
    assert (a[5].zone, a[5].level, a[5].source) == (Z.UNZONED, None, Z.Source.UNZONED)


@pytest.mark.parametrize("doc, msg", [
    ({"zones": []}, "non-empty"),
    ({"zones": [{"name": "a", "level": 6, "cidrs": ["10.0.0.0/24"]}]}, "level"),
    ({"zones": [{"name": "a", "level": True, "cidrs": ["10.0.0.0/24"]}]}, "level"),
    ({"zones": [{"name": "a", "level": 1, "cidrs": ["10.0.0.5/24"]}]}, "host bits"),
    ({"zones": [{"name": "a", "level": 1}]}, "cidrs or vlans"),
    ({"zones": [{"name": "a", "level": 1, "vlans": [4095]}]}, "VLAN id"),
    ({"zones": [{"name": "<script>", "level": 1, "vlans": [3]}]}, "letters"),
    ({"zones": [{"name": "a", "level": 1, "vlans": [3], "colour": "red"}]}, "unknown key"),
    ({"zones": [{"name": "a", "level": 1, "vlans": [3]}, {"name": "a", "level": 2, "vlans": [4]}]}, "two zones"),
    ({"zones": [{"name": "a", "level": 1, "vlans": [3]}, {"name": "b", "level": 2, "vlans": [3]}]}, "two zones"),
    ({"zones": [{"name": "unzoned", "level": 1, "vlans": [3]}]}, "reserved"),
    ({"site": "x", "zones": [], "extra": 1}, "unknown key"),
])
def test_bad_models_are_refused(doc: dict, msg: str) -> None:
    with pytest.raises(Z.ZoneError, match=msg):
        Z.parse_model(doc)


def test_toml() -> None:
    zs = Z.parse_toml(b'site = "P"\n[[zones]]\nname = "cell"\nlevel = 1\ncidrs = ["10.1.0.0/16"]\n')
    assert zs[0].name == "cell" and zs[0].cidrs == ("10.1.0.0/16",)
    with pytest.raises(Z.ZoneError, match="TOML"):
        Z.parse_toml(b"x = ")
    with pytest.raises(Z.ZoneError, match="UTF-8"):
        Z.parse_toml(b"\xff\xfe")


def _found(hosts: list[Z.HostView], convs: list[Z.ConvView], decl: list[Z.ZoneDef] | None = None) -> list[F.Finding]:
    model = Z.build(hosts, decl or [])
    return F.compute(model, hosts, convs, PROTOS)


def test_crossings() -> None:
    convs = [C(4, 1, "modbus"), C(5, 1, "s7comm", 102), C(3, 1, "modbus"), C(4, 5, "http", 80)]
    got = {(f.kind, f.key) for f in _found(PLANT, convs)}
    assert (F.FindingKind.IT_TO_CONTROL, "it-to-control:4:1:modbus") in got       # 4 -> 1
    assert (F.FindingKind.LEVEL_CROSSING, "level-crossing:5:1:s7comm") in got     # 3 -> 1
    assert not any(k[1].endswith(("3:1:modbus", "4:5:http")) for k in got)       # one step: none
    f = next(f for f in _found(PLANT, convs) if f.kind is F.FindingKind.IT_TO_CONTROL)
    assert "10.0.4.7 (it-host, zone 10.0.4.0/24, level 4) -> 10.0.1.10 (plc" in f.evidence[0]


def test_flat_network_by_subnet_and_vlan() -> None:
    hosts = [H(1, Role.PLC, "10.0.1.10", vlans=(30,)), H(2, Role.IT_HOST, "10.0.1.20", vlans=(30,)),
             H(3, Role.PLC, "10.0.9.1"), H(4, Role.HMI_SCADA, "10.0.9.2")]
    flat = [f for f in _found(hosts, []) if f.kind is F.FindingKind.FLAT_NETWORK]
    assert sorted(f.key for f in flat) == ["flat-network:VLAN 30", "flat-network:subnet 10.0.1.0/24"]
    assert flat[0].assets == (1, 2) and "1 controller(s) and 1 IT host(s)" in flat[0].evidence[0]


def test_dual_homed_mac_and_service_bridge() -> None:
    hosts = [H(1, Role.PLC, "10.0.1.10"), H(2, Role.HMI_SCADA, "10.0.1.50", "10.0.5.50"),
             H(3, Role.NETWORK_DEVICE, "10.0.1.1", "10.0.5.1"),
             H(4, Role.HMI_SCADA, "10.0.2.5"), H(5, Role.IT_HOST, "10.0.4.7"), H(6, Role.PLC, "10.0.2.9")]
    convs = [C(6, 4, "modbus"), C(5, 4, "smb", 445)]
    got = {f.key: f for f in _found(hosts, convs) if f.kind is F.FindingKind.DUAL_HOMED}
    assert set(got) == {"dual-homed:2", "bridge:4"}                  # the router (3) bridges by design
    assert "10.0.1.0/24, 10.0.5.0/24" in got["dual-homed:2"].evidence[0]
    assert got["bridge:4"].evidence[0].startswith("serves modbus") and "IT side" in got["bridge:4"].evidence[1]


def test_public_address() -> None:
    hosts = [H(1, Role.PLC, "10.0.1.10"), H(2, Role.UNKNOWN, "8.8.8.8"), H(3, Role.IT_HOST, "10.0.4.7"),
             H(4, Role.UNKNOWN, "192.168.7.7")]
    convs = [C(1, 2, "dns", 53), C(3, 2, "dns", 53), C(1, 4, "modbus")]
    pub = [f for f in _found(hosts, convs) if f.kind is F.FindingKind.PUBLIC_ADDRESS]
    assert [f.key for f in pub] == ["public-address:1:2"]              # the IT host may; 192.168/16 is private


def test_filters_and_occurrences_are_stable() -> None:
    found = _found(PLANT, [C(4, 1, "modbus")])
    assert [f.key for f in F.select_findings(found, zone="10.0.4.0/24")] == ["it-to-control:4:1:modbus"]
    assert F.select_findings(found, kind=F.FindingKind.FLAT_NETWORK) == []
    bigger = _found(PLANT, [Z.ConvView(4, 1, "modbus", "tcp", 502, 99, 9999, 1.0, 9.0)])
    a, b = F.occurrences(found, "s", 1.0)[0], F.occurrences(bigger, "s", 1.0)[0]
    assert a.identity() == b.identity() and a.evidence == b.evidence and "packets" not in a.evidence


def test_zone_flows_aggregate_and_flag_crossings() -> None:
    model = Z.build(PLANT, [])
    flows = Z.zone_flows(model, [C(4, 1, "modbus"), C(4, 2, "modbus"), C(3, 1, "modbus")])
    assert [(f["from"], f["to"], f["conversations"], f["packets"], f["crossing"]) for f in flows] == [
        ("10.0.2.0/24", "10.0.1.0/24", 1, 10, False), ("10.0.4.0/24", "10.0.1.0/24", 2, 20, True)]
