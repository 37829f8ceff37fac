"""A real BACnet/IP stack (bacpypes3 0.0.110) in two network namespaces joined by a veth pair (not loopback: see
../shared/docs/protocol-libs-2.md section 4), captured with tcpdump in the device's namespace, replayed: the device
(instance 1001, vendor 5, its model, firmware and name read by ReadProperty and ReadPropertyMultiple) is a
building controller labelled bacnet-server, the client an HMI labelled bacnet-client, the profile names the
services it sent. Skipped when bacpypes3, root, iproute2 or tcpdump is missing; bounded, namespaces removed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Inventory, run_pipeline
from tests.support.netns import NsPair, sh
from tests.support.truth import values

pytest.importorskip("bacpypes3")
pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]

DEV_IP, CLI_IP, HMI_IP = "10.47.0.10", "10.47.0.20", "10.47.0.21"     # HMI: a second address on the client's end
COMMON = """
import asyncio, sys
from bacpypes3.app import Application
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
"""
DEVICE = COMMON + f"""
from bacpypes3.local.analog import AnalogValueObject
async def main():
    dev = DeviceObject(objectIdentifier=("device", 1001), objectName="AHU-3 Controller", vendorIdentifier=5,
                       vendorName="Johnson Controls", modelName="MS-FEC2611-0", firmwareRevision="10.1.0",
                       applicationSoftwareVersion="FEC 10.1", location="Plant room 2")
    npo = NetworkPortObject("{DEV_IP}/24:47808", objectIdentifier=("network-port", 1), objectName="NetworkPort-1")
    av = AnalogValueObject(objectIdentifier=("analog-value", 1), objectName="SupplyTemp", presentValue=18.5)
    app = Application.from_object_list([dev, npo, av])
    await asyncio.sleep(9); app.close()
asyncio.run(main())
"""
CLIENT = COMMON + """
from bacpypes3.pdu import Address
from bacpypes3.primitivedata import ObjectIdentifier
from bacpypes3.apdu import DeviceCommunicationControlRequest, ReinitializeDeviceRequest
async def main():
    me, engineering = sys.argv[1], sys.argv[2] == "ews"
    dev = DeviceObject(objectIdentifier=("device", 999), objectName="Workstation", vendorIdentifier=999)
    npo = NetworkPortObject(me + "/24:47809", objectIdentifier=("network-port", 1), objectName="NetworkPort-1")
    app = Application.from_object_list([dev, npo])
    target = Address(sys.argv[3])
    print("i-am", len(await app.who_is(1001, 1001, target, timeout=2.0)))
    device = ObjectIdentifier("device,1001")
    for prop in ("object-name", "vendor-name", "model-name", "firmware-revision", "application-software-version",
                 "location"):
        print(prop, await app.read_property(target, device, prop))
    print("rpm", await app.read_property_multiple(target, [device, ["vendor-identifier", "object-name"]]))
    print("pv", await app.read_property(target, ObjectIdentifier("analog-value,1"), "present-value"))
    print("wp", await app.write_property(target, ObjectIdentifier("analog-value,1"), "present-value", 21.0))
    if engineering:                                 # the device rejects both (no handler): the requests are on the wire
        for req in (DeviceCommunicationControlRequest(timeDuration=1, enableDisable="disableInitiation",
                                                      destination=target),
                    DeviceCommunicationControlRequest(enableDisable="enable", destination=target),
                    ReinitializeDeviceRequest(reinitializedStateOfDevice="warmstart", destination=target)):
            try:
                print(type(req).__name__, await asyncio.wait_for(app.request(req), 2.0))
            except BaseException as exc:            # bacpypes3 raises the RejectPDU itself
                print(type(req).__name__, "answer", type(exc).__name__, exc)
    app.close()
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("bacnet") / "bacpypes3.pcap"
    ns = NsPair("obn", DEV_IP, CLI_IP)
    try:
        ns.open()
        sh("ip", "-n", ns.cli, "addr", "add", f"{HMI_IP}/24", "dev", ns.vc)
        ns.capture(out, "udp")
        ns.serve(DEVICE, 15, udp=(47808,))               # the device's endpoint is up
        for ip, kind in ((HMI_IP, "hmi"), (CLI_IP, "ews")):
            cli = ns.client(CLIENT, 12, argv=(ip, kind, f"{DEV_IP}:47808"))
            assert "vendor-name Johnson Controls" in cli.stdout, (cli.stdout, cli.stderr[-2000:])
        ns.finish_capture()
        yield out
    finally:
        ns.close()


def test_device_and_client(capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/p.db")
    inv.replay(capture)
    (dev,) = [a for a in inv.by_ip(DEV_IP) if a["parent"] is None]
    (cli,) = [a for a in inv.by_ip(CLI_IP) if a["parent"] is None]
    (hmi,) = [a for a in inv.by_ip(HMI_IP) if a["parent"] is None]
    assert dev["role"] == "building-controller" and dev["protocols"] == ["bacnet-server"]
    assert hmi["role"] == "hmi-scada" and hmi["protocols"] == ["bacnet-client"]
    assert cli["role"] == "engineering-workstation" and cli["protocols"] == ["bacnet-client"]
    assert values([dev], "control_action") == {"device-communication-control disable-initiation for 1 min",
                                               "device-communication-control enable", "reinitialize-device warmstart"}
    want = {"bacnet_instance": "1001", "bacnet_vendor_id": "5", "name": "AHU-3 Controller",
            "product": "MS-FEC2611-0", "firmware": "10.1.0", "bacnet_application_software_version": "FEC 10.1",
            "bacnet_location": "Plant room 2", "bacnet_max_apdu": "1024"}
    for field, value in want.items():
        assert values([dev], field) == {value}, (field, values([dev], field))
    # the I-Am's vendor id resolved through the ASHRAE table, and the vendor-name property as the device says it
    assert values([dev], "vendor") == {"Johnson Controls, Inc.", "Johnson Controls"}
    assert not [f for f in cli["facts"] if f["field"] in ("vendor", "name", "bacnet_instance")]
    assert not [a for a in inv.assets() if a["parent"] is not None]


def test_profile_and_no_anomaly(capture: Path) -> None:
    _pipe, batch = run_pipeline(capture)
    assert not [a for a in batch.anomalies if a.protocol == "bacnet"]
    comms = {c.client.ip: c for c in batch.comms if c.protocol == "bacnet"}
    assert set(comms) == {CLI_IP, HMI_IP} and {(c.server.ip, c.port) for c in comms.values()} == {(DEV_IP, 47808)}
    polls = {"who-is": 1, "i-am": 1, "read-property": 7, "read-property-multiple": 1, "reads": 8, "complex-ack": 8,
             "write-property": 1, "writes": 1, "simple-ack write-property": 1}
    assert comms[HMI_IP].profile == polls
    assert comms[CLI_IP].profile == {**polls, "device-communication-control": 2, "reinitialize-device": 1,
                                     "reject": 3}
    if shutil.which("tshark"):                        # tshark decodes the same instance, vendor and properties
        out = subprocess.run(["tshark", "-n", "-r", str(capture), "-T", "fields", "-E", "occurrence=a",
                              "-e", "bacapp.instance_number", "-e", "bacapp.vendor_identifier",
                              "-e", "bacapp.property_identifier"], capture_output=True, text=True, timeout=60).stdout
        assert "1001\t5\t" in out
        props = {int(p) for line in out.splitlines() for p in line.split("\t")[2].split(",") if p}
        assert {77, 121, 70, 44, 12, 58, 120, 85} <= props
