"""Real protocol stacks (pymodbus, python-snap7, cpppo + pycomm3) in network namespaces, captured on a mirror
port, replayed: every simulated device is found with its identity and the right role."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from tests.conftest import ROOT, Inventory

sys.path.insert(0, str(ROOT / "pcaps"))
import make_captures as mc  # noqa: E402

pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    out = tmp_path_factory.mktemp("caps")
    files = mc.make(out, ("modbus", "s7", "enip"))
    inv = Inventory(f"sqlite:///{out}/inv.db")
    assert all(r.error is None for r in inv.replay(*files))
    return inv


def one(inv: Inventory, ip: str) -> dict:
    (a,) = [a for a in inv.assets() if ip in a["ips"] and a["parent"] is None]
    return a


def test_modbus_devices(plant: Inventory) -> None:
    for name, (octet, ident, _units) in mc.MODBUS_DEVICES.items():
        a = one(plant, f"{mc.NET}.{octet}")
        assert (a["vendor"], a["firmware"]) == (ident["VendorName"], ident["MajorMinorRevision"]), name
        assert a["product"] == ident["ProductName"]
        assert a["role"] == ("gateway" if name == "gw" else "plc")
    gw = one(plant, f"{mc.NET}.12")
    kids = [a for a in plant.assets() if a["parent"] == gw["id"]]
    assert sorted(k["component"] for k in kids) == ["unit:1", "unit:2", "unit:3"]
    plc_a = one(plant, f"{mc.NET}.10")
    assert {"serial=SN-0042", "PumpStation-7"} <= {f["value"] for f in plc_a["facts"]}


def test_s7_devices(plant: Inventory) -> None:
    for name, (octet, ident, rack, slot) in mc.S7_DEVICES.items():
        a = one(plant, f"{mc.NET}.{octet}")
        fw = "V{}.{}.{}".format(*ident["firmware"])
        assert (a["order_number"], a["firmware"], a["serial"], a["name"]) == (
            ident["order_number"], fw, ident["serial"], ident["as_name"]), name
        assert f"rack {rack} slot {slot}" in {f["value"] for f in a["facts"] if f["field"] == "s7_rack_slot"}
        assert a["vendor"] == "Siemens" and a["role"] == "plc"


def test_enip_devices(plant: Inventory) -> None:
    for name, (octet, ident) in mc.ENIP_DEVICES.items():
        a = one(plant, f"{mc.NET}.{octet}")
        rev = ident["Product Revision"]
        assert (a["vendor"], a["product"], a["firmware"], a["serial"]) == (
            "Rockwell Automation/Allen-Bradley", ident["Product Name"], f"{rev & 0xFF}.{rev >> 8}",
            f"0x{ident['Serial Number']:08x}"), name
        assert a["role"] == "plc"


def test_clients_roles(plant: Inventory) -> None:
    assert one(plant, f"{mc.NET}.{mc.HMI}")["role"] == "hmi-scada"
    assert one(plant, f"{mc.NET}.{mc.EWS}")["role"] == "engineering-workstation"


def test_namespaces_cleaned_up(plant: Inventory) -> None:
    import subprocess

    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "ots" not in names or not any(n.startswith(mc.Topology().prefix) for n in names.split())


@pytest.fixture(scope="module")
def substation(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    """The grid scenario regenerated from the real stacks (opendnp3, c104, libiec61850 MMS + GOOSE, pyPMU)."""
    for mod in ("dnp3_python", "c104", "pyiec61850", "synchrophasor"):
        pytest.importorskip(mod)
    out = tmp_path_factory.mktemp("grid")
    (cap,) = mc.make(out, ("grid",))
    inv = Inventory(f"sqlite:///{out}/inv.db")
    assert all(r.error is None for r in inv.replay(cap))
    return inv


def test_substation_devices(substation: Inventory) -> None:
    ip = {name: f"{mc.NET}.{octet}" for name, octet in mc.GRID.items()}
    dnp3, rtu104, ied, pmu = (one(substation, ip[n]) for n in ("rtu-dnp3", "rtu-104", "ied", "pmu"))
    assert all(a["role"] == "rtu-ied" for a in (dnp3, rtu104, ied, pmu))
    assert "dnp3-server" in dnp3["protocols"] and "iec104-server" in rtu104["protocols"]
    assert {"mms-server", "goose"} <= set(ied["protocols"]) and "synphasor-server" in pmu["protocols"]
    sys.path.insert(0, str(mc.PEERS))
    from mms_peer import IDENTITY, IED

    assert (ied["vendor"], ied["product"], ied["firmware"], ied["name"]) == (*IDENTITY, IED)
    kids = [a for a in substation.assets() if a["parent"] == rtu104["id"]]
    assert [k["component"] for k in kids] == [f"ca:{mc.IEC104_CA}"]
    scada = one(substation, f"{mc.NET}.{mc.HMI}")
    assert scada["role"] == "hmi-scada"
    assert {"dnp3-client", "iec104-client", "mms-client", "synphasor-client"} <= set(scada["protocols"])
    assert {f["value"] for f in dnp3["facts"] if f["field"] == "dnp3_address"} == {str(mc.DNP3_OUTSTATION_ADDR)}
