"""Collector rules of issue 12 on batches built by hand (otscope/contract.py, the shape helpers A and B emit per
/work/coord/interfaces.md) and on real captures where today's dissectors already give the input."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import event

from otscope.collector import service
from otscope.collector.queries import coverage
from otscope.collector.service import ingest
from otscope.contract import Batch, BindingObs, CommObs, Evidence, FactObs, HostObs, Subject, TrafficObs
from tests.conftest import PCAPS, Inventory, run_pipeline
from tests.support.truth import CAPTURES

AB = "Rockwell Automation/Allen-Bradley"
ENIP_TEST = CAPTURES / "ITI-ICS-Security-Tools/EthernetIP/enip_test.pcap"
LLDP = CAPTURES / "zeek/lldp.pcap"
_ids = itertools.count(1)


def fact(ip: str | None, field: str, value: str, protocol: str = "enip", component: str | None = None,
         frame: int = 1, mac: str | None = None, message: str = "hand-made") -> FactObs:
    return FactObs(Subject(0, ip, mac, component), field, value, protocol, message, Evidence("hand.pcap", frame, 10.0),
                   10.0 + frame, 10.0 + frame)


def batch(*facts: FactObs, bindings: list[BindingObs] | None = None, **kw: object) -> Batch:
    return Batch(sensor="t", batch_id=f"b{next(_ids)}", facts=list(facts), bindings=bindings or [],
                 **kw)  # type: ignore[arg-type]


def cip(ip: str, serial: str, product: str, component: str | None = None, vendor: str = AB, code: str = "166",
        frame: int = 1) -> list[FactObs]:
    return [fact(ip, "vendor", vendor, component=component, frame=frame),
            fact(ip, "serial", serial, component=component, frame=frame),
            fact(ip, "product_code", code, component=component, frame=frame),
            fact(ip, "product", product, component=component, frame=frame),
            fact(ip, "firmware", "20.11", component=component, frame=frame)]


def ingest_all(inv: Inventory, *batches: Batch) -> list[dict]:
    for b in batches:
        ingest(inv.factory, b)
    return inv.assets()


def by_serial(assets: list[dict], serial: str) -> list[dict]:
    return [a for a in assets if any(f["field"] == "serial" and f["value"] == serial for f in a["facts"])]


# --- 1. one asset per device: vendor + serial -------------------------------------------------------------

def test_enip_plant_controllers_are_one_asset_each_with_the_slot_as_a_fact(inventory: Inventory) -> None:
    inventory.replay(PCAPS / "enip_plant.pcap")
    assets = inventory.assets()
    for serial, ip in (("0xdeadbeef", "198.18.0.30"), ("0x00c0ffee", "198.18.0.31")):
        (a,) = by_serial(assets, serial)                           # before: the controller and "slot 0"
        assert a["ips"] == [ip] and a["children"] == [] and a["parent"] is None
        (slot,) = [f for f in a["facts"] if f["field"] == "slot"]
        assert slot["value"] == "0" and slot["evidence"].startswith("enip_plant.pcap#frame ")
        routed = [f for f in a["facts"] if f["component"] == "slot:0"]
        assert {f["field"] for f in routed} >= {"vendor", "serial", "product"}     # provenance kept


@pytest.mark.parametrize("order", ["same-batch", "parent-first", "child-first"])
def test_slot_fold_is_order_independent(inventory: Inventory, order: str) -> None:
    parent = cip("10.0.0.5", "0x00112233", "1756-L61/B LOGIX5561", frame=3)
    child = cip("10.0.0.5", "0x00112233", "1756-L61/B LOGIX5561", component="slot:0", frame=9)
    parts = {"same-batch": [batch(*parent, *child)], "parent-first": [batch(*parent), batch(*child)],
             "child-first": [batch(*child), batch(*parent)]}[order]
    assets = ingest_all(inventory, *parts)
    assert len(assets) == 1
    (a,) = assets
    assert a["ips"] == ["10.0.0.5"] and [f["value"] for f in a["facts"] if f["field"] == "slot"] == ["0"]
    assert [f["evidence"] for f in a["facts"] if f["field"] == "slot"] == ["hand.pcap#frame 9"]
    # the same identity again later changes nothing
    assert len(ingest_all(inventory, batch(*child), batch(*parent))) == 1


def test_chassis_behind_one_ip_keeps_its_modules_apart(inventory: Inventory) -> None:
    """An ENBT at the address, a 1756-L61 and two MVI56 cards behind it (the shape of the ITI EIP captures the
    shared README describes): same vendor is not the same device; a card seen through two routes is one."""
    assets = ingest_all(inventory, batch(
        *cip("10.1.1.164", "0x00524d8e", "1756-ENBT/A", code="58"),
        *cip("10.1.1.164", "0x00302a11", "1756-L61/B LOGIX5561", component="slot:0", code="55"),
        *cip("10.1.1.164", "0x40a1b2c3", "MVI56-MCM", component="slot:3", vendor="ProSoft Technology", code="5"),
        *cip("10.1.1.164", "0x40a1b2c4", "MVI56-MCM", component="slot:4", vendor="ProSoft Technology", code="5"),
        *cip("10.1.1.164", "0x40a1b2c3", "MVI56-MCM", component="slot:7", vendor="ProSoft Technology", code="5")))
    (front,) = [a for a in assets if a["parent"] is None]
    kids = sorted((a["component"], a["product"]) for a in assets if a["parent"] == front["id"])
    assert kids == [("slot:0", "1756-L61/B LOGIX5561"), ("slot:3", "MVI56-MCM"), ("slot:4", "MVI56-MCM")]
    (mvi,) = [a for a in assets if a["component"] == "slot:3"]
    assert [f["value"] for f in mvi["facts"] if f["field"] == "slot"] == ["7"]


def test_vendor_and_serial_merge_across_ip_change_and_batches(inventory: Inventory) -> None:
    assets = ingest_all(inventory, batch(*cip("192.168.10.120", "0x00524d8e", "1756-ENBT/A", code="58")),
                        batch(*cip("192.168.10.125", "0x00524d8e", "1756-ENBT/A", code="58", frame=40)))
    (a,) = assets
    assert a["ips"] == ["192.168.10.120", "192.168.10.125"]


def test_shared_vendor_or_placeholder_serial_never_merges(inventory: Inventory) -> None:
    assets = ingest_all(inventory, batch(*cip("10.0.0.1", "0x00000001", "1756-L61/B")),
                        batch(*cip("10.0.0.2", "0x00000002", "1756-L61/B")),
                        batch(*cip("10.0.0.3", "0x00000000", "1756-L61/B")),
                        batch(*cip("10.0.0.4", "0x00000000", "1756-L61/B")),
                        batch(*cip("10.0.0.6", "0x00000007", "1756-L61/B", vendor="Acme")),
                        batch(*cip("10.0.0.7", "0x00000007", "1756-L61/B")))
    assert len(assets) == 6


def test_link_by_serial_reloads_the_batch_caches_once(inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many duplicates in one batch: one planning pass and one reload (issue 13: no recursion per merge)."""
    first = batch(*[f for i in range(8) for f in cip(f"10.0.1.{i}", f"0x1000{i:04x}", "1756-ENBT/A")])
    ingest(inventory.factory, first)
    calls = []
    real = service._BatchContext.preload
    monkeypatch.setattr(service._BatchContext, "preload", lambda self: (calls.append(1), real(self))[1])
    ingest(inventory.factory, batch(*[f for i in range(8) for f in cip(f"10.0.2.{i}", f"0x1000{i:04x}",
                                                                       "1756-ENBT/A")]))
    assert len(inventory.assets()) == 8
    assert len(calls) == 2                             # the batch's own load, and one after all the merges


# --- 2. an LLDP/CDP neighbour is the IP asset it names ----------------------------------------------------

def _arp(ip: str, mac: str) -> Batch:
    ev = Evidence("hand.pcap", 1, 10.0)
    return batch(bindings=[BindingObs(0, ip, mac, "high", "arp", ev, 10.0, 10.0)],
                 hosts=[HostObs(Subject(0, ip), True, 10.0, 10.0)])


@pytest.mark.skipif(not LLDP.is_file(), reason="../shared/pcaps is not beside the project")
@pytest.mark.parametrize("lldp_first", [True, False])
def test_lldp_neighbour_with_management_ip_is_the_ip_asset(inventory: Inventory, lldp_first: bool) -> None:
    _p, real = run_pipeline(LLDP)                        # SMCGS8P-Smart, management address 192.168.2.10
    ip_side = _arp("192.168.2.10", "00:22:2d:81:db:99")
    assets = ingest_all(inventory, *((real, ip_side) if lldp_first else (ip_side, real)))
    assert len(assets) == 1
    (a,) = assets
    assert a["ips"] == ["192.168.2.10"] and "00:22:2d:81:db:10" in a["macs"]
    names = [f for f in a["facts"] if f["field"] == "name"]
    assert names and names[0]["protocol"] == "lldp" and names[0]["evidence"] == "lldp.pcap#frame 1"
    assert a["role"] == "network-device"


def test_lldp_neighbour_merged_into_a_routed_ip_then_bound_stays_one_device(inventory: Inventory) -> None:
    """The management address was first seen routed (no MAC), the LLDP neighbour merged into it by that address;
    a later ARP binding of the address to the chassis MAC is the same device, not a new holder of the IP."""
    routed = batch(fact("10.0.9.1", "protocol", "modbus-server", "modbus"))
    lldp = batch(fact(None, "management_ip", "10.0.9.1", "lldp", mac="00:0e:8c:00:00:02"),
                 fact(None, "chassis_mac", "00:0e:8c:00:00:01", "lldp", mac="00:0e:8c:00:00:02"))
    assets = ingest_all(inventory, routed, lldp, _arp("10.0.9.1", "00:0e:8c:00:00:01"))
    (a,) = assets
    assert a["ips"] == ["10.0.9.1"] and set(a["macs"]) == {"00:0e:8c:00:00:01", "00:0e:8c:00:00:02"}


def test_lldp_chassis_mac_of_an_ip_asset_merges(inventory: Inventory) -> None:
    lldp = batch(fact(None, "chassis_mac", "00:0e:8c:01:02:03", "lldp", mac="00:0e:8c:01:02:99"),
                 fact(None, "name", "scalance-x208", "lldp", mac="00:0e:8c:01:02:99"))
    assets = ingest_all(inventory, lldp, _arp("10.0.0.8", "00:0e:8c:01:02:03"))
    (a,) = assets
    assert a["ips"] == ["10.0.0.8"] and set(a["macs"]) == {"00:0e:8c:01:02:03", "00:0e:8c:01:02:99"}


def test_lldp_neighbour_naming_an_unknown_address_stays(inventory: Inventory) -> None:
    lldp = batch(fact(None, "management_ip", "208.73.217.142", "lldp", mac="00:21:91:06:f1:66"))
    assert len(ingest_all(inventory, lldp, _arp("192.168.10.5", "00:21:91:06:f1:67"))) == 2


# --- 3. Modbus units ---------------------------------------------------------------------------------------

def mbf(ip: str, field: str, value: str, unit: int | None, frame: int) -> FactObs:
    return fact(ip, field, value, "modbus", f"unit:{unit}" if unit is not None else None, frame)


def test_one_answering_unit_is_the_device_at_the_address(inventory: Inventory) -> None:
    assets = ingest_all(inventory, batch(mbf("10.0.0.10", "protocol", "modbus-server", 1, 5),
                                         mbf("10.0.0.10", "vendor", "Schneider Electric", 1, 6),
                                         mbf("10.0.0.10", "modbus_unit", "7", 7, 8)))   # written to, never answered
    (a,) = assets
    assert a["vendor"] == "Schneider Electric" and a["role"] == "plc" and a["children"] == []
    assert {f["component"] for f in a["facts"]} == {"unit:1", "unit:7"}


def test_second_answering_unit_makes_a_gateway_and_moves_the_facts(inventory: Inventory) -> None:
    b1 = batch(mbf("10.0.0.12", "protocol", "modbus-server", 1, 5),
               mbf("10.0.0.12", "vendor", "Schneider Electric", 1, 6),
               mbf("10.0.0.12", "modbus_unit", "9", 9, 7), mbf("10.0.0.12", "vendor", "Moxa", None, 4))
    b2 = batch(mbf("10.0.0.12", "protocol", "modbus-server", 2, 20), mbf("10.0.0.12", "vendor", "WAGO", 2, 21))
    b3 = batch(mbf("10.0.0.12", "product", "750-352", 2, 30))                           # straight to the child
    assets = ingest_all(inventory, b1, b2, b3)
    (gw,) = [a for a in assets if a["parent"] is None]
    assert gw["role"] == "gateway" and gw["vendor"] == "Moxa"                # only its own (unit 0/255) answers
    kids = {a["component"]: a for a in assets if a["parent"] == gw["id"]}
    assert sorted(kids) == ["unit:1", "unit:2", "unit:9"]                    # unit 9 was only written to
    assert kids["unit:1"]["vendor"] == "Schneider Electric" and kids["unit:2"]["vendor"] == "WAGO"
    assert kids["unit:2"]["product"] == "750-352"
    assert [f["evidence"] for f in kids["unit:1"]["facts"] if f["field"] == "vendor"] == ["hand.pcap#frame 6"]
    assert not [f for f in gw["facts"] if f["component"]]
    with inventory.factory() as s:
        cov = coverage(s)
    assert cov["assets_total"] == 1 and sorted(c["component"] for c in cov["components"]) == \
        ["unit:1", "unit:2", "unit:9"]


def test_gateway_by_its_exception_code(inventory: Inventory) -> None:
    assets = ingest_all(inventory, batch(mbf("10.0.0.13", "role_hint", "gateway", None, 3),
                                         mbf("10.0.0.13", "vendor", "Prosoft", 4, 5)))
    (gw,) = [a for a in assets if a["parent"] is None]
    assert gw["role"] == "gateway" and gw["vendor"] is None
    assert [a["component"] for a in assets if a["parent"] == gw["id"]] == ["unit:4"]


def test_unit_facts_cost_a_constant_number_of_queries(make_inventory) -> None:  # type: ignore[no-untyped-def]
    counts = []
    for n in (20, 400):
        inv = make_inventory(f"q{n}")
        ingest(inv.factory, batch(mbf("10.0.0.20", "protocol", "modbus-server", 1, 1)))
        stmts: list[str] = []
        event.listen(inv.engine, "before_cursor_execute", lambda *a: stmts.append(a[2]))
        ingest(inv.factory, batch(mbf("10.0.0.20", "protocol", "modbus-server", 2, 2),
                                  *[mbf("10.0.0.20", "register_map", f"hr{i}", 1 + i % 2, 10 + i) for i in range(n)]))
        counts.append(len(stmts))
        assert len([a for a in inv.assets() if a["parent"]]) == 2
    assert counts[0] == counts[1], counts


# --- 4. coverage -----------------------------------------------------------------------------------------

def test_no_ot_bytes_is_not_applicable(inventory: Inventory) -> None:
    ingest(inventory.factory, _arp("10.0.0.1", "00:00:00:00:00:01"))
    with inventory.factory() as s:
        tr = coverage(s)["traffic"]
    assert (tr["share"], tr["pass"], tr["status"]) == (None, None, "not applicable")
    from otscope.api.schemas import CoverageOut

    with inventory.factory() as s:
        out = CoverageOut.model_validate(coverage(s)).model_dump(by_alias=True)
    assert out["traffic"]["share"] is None and out["traffic"]["pass"] is None      # the API says so too
    ingest(inventory.factory, batch(traffic=[TrafficObs("modbus", 3, 100, 50)]))
    with inventory.factory() as s:
        tr = coverage(s)["traffic"]
    assert (tr["share"], tr["pass"], tr["status"]) == (0.5, False, "fail")


def test_cli_coverage_table_says_not_applicable(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from otscope.agent.cli import app

    inv = Inventory(f"sqlite:///{tmp_path}/c.db")
    ingest(inv.factory, _arp("10.0.0.1", "00:00:00:00:00:01"))
    out = CliRunner().invoke(app, ["coverage", "--db", inv.url]).output
    assert "traffic coverage not applicable" in out and "0.0%" not in out.split("traffic coverage")[1]


# --- 5. roles with their evidence --------------------------------------------------------------------------

@pytest.mark.skipif(not ENIP_TEST.is_file(), reason="../shared/pcaps is not beside the project")
def test_enbt_is_a_communications_module_with_its_evidence(inventory: Inventory) -> None:
    """enip_test.pcap: a 1756-ENBT/A (CIP device type 12) answers ListIdentity. With the role_hint helper A's
    device-type table emits (interfaces.md; added here by hand from the capture's own device_type fact and frame
    while A is not merged) it is a communications module, not a PLC."""
    _p, real = run_pipeline(ENIP_TEST)
    if not any(f.field == "role_hint" and f.value == "communications-module" for f in real.facts):
        dt = next(f for f in real.facts if f.field == "cip_device_type" and f.value == "12")
        real.facts.append(FactObs(dt.subject, "role_hint", "communications-module", "enip",
                                  "CIP device type 12 (Communications Adapter)", dt.evidence, dt.first_seen,
                                  dt.last_seen))
    ingest(inventory.factory, real)
    (enbt,) = inventory.by_ip("10.1.1.164")
    assert enbt["role"] == "communications-module"
    assert "device type 12" in enbt["role_evidence"] and "enip_test.pcap#frame 7" in enbt["role_evidence"]
    (hmi,) = inventory.by_ip("10.1.1.167")
    assert hmi["role"] == "hmi-scada" and "enip-client" in hmi["role_evidence"]


def test_mms_server_is_an_rtu_ied(inventory: Inventory) -> None:
    (a,) = ingest_all(inventory, batch(fact("10.0.0.30", "protocol", "cotp-server", "cotp"),
                                       fact("10.0.0.30", "protocol", "mms-server", "mms")))
    assert a["role"] == "rtu-ied" and "MMS" in a["role_evidence"]


def test_comms_still_attach_to_the_folded_asset(inventory: Inventory) -> None:
    c = CommObs(Subject(0, "10.0.0.9"), Subject(0, "10.0.0.5"), "tcp", 44818, "enip", 4, 400, 10.0, 11.0)
    assets = ingest_all(inventory, batch(*cip("10.0.0.5", "0x0abc", "1756-L61/B", component="slot:0"), comms=[c]),
                        batch(*cip("10.0.0.5", "0x0abc", "1756-L61/B")))
    assert len(assets) == 2 and len(by_serial(assets, "0x0abc")) == 1


def test_becoming_a_gateway_moves_stored_facts_in_constant_queries(  # type: ignore[no-untyped-def]
        make_inventory) -> None:
    counts = []
    for n in (20, 400):
        inv = make_inventory(f"g{n}")
        ingest(inv.factory, batch(mbf("10.0.0.21", "protocol", "modbus-server", 1, 1),
                                  *[mbf("10.0.0.21", "register_map", f"hr{i}", 1, 10 + i) for i in range(n)]))
        stmts: list[str] = []
        event.listen(inv.engine, "before_cursor_execute", lambda *a: stmts.append(a[2]))
        ingest(inv.factory, batch(mbf("10.0.0.21", "protocol", "modbus-server", 2, 5000)))
        counts.append(len(stmts))
        (unit1,) = [a for a in inv.assets() if a["component"] == "unit:1"]
        assert len([f for f in unit1["facts"] if f["field"] == "register_map"]) == n
    assert counts[0] == counts[1], counts
