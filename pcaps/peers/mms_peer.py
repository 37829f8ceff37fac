"""A real IEC 61850 MMS server and client (libiec61850 through pyiec61850-ng), for pcaps/make_captures.py's
substation scenario and tests/integration/test_mms_captures.py, which run each in its own network namespace and
capture on a mirror port.

    python mms_peer.py server IP SECONDS     an IED: Identify answer, three logical devices (SEL487E + LDInst)
    python mms_peer.py client SERVER_IP      Identify, GetNameList (domains, then a domain's variables), conclude
"""

from __future__ import annotations

import sys
import time

IED = "SEL487E"
LDS = ("PROT", "CTRL", "MEAS")
IDENTITY = ("Schweitzer Engineering Laboratories", "SEL-487E", "R311-V0")


def server(ip: str, seconds: float) -> int:
    import pyiec61850.pyiec61850 as iec

    model = iec.IedModel_create(IED)
    for inst in LDS:
        ld = iec.LogicalDevice_create(inst, model)
        iec.CDC_ENS_create("Mod", iec.toModelNode(iec.LogicalNode_create("LLN0", ld)), 0)
        iec.CDC_MV_create("TotW", iec.toModelNode(iec.LogicalNode_create("MMXU1", ld)), 0, False)
    srv = iec.IedServer_create(model)
    iec.IedServer_setServerIdentity(srv, *IDENTITY)
    iec.IedServer_setLocalIpAddress(srv, ip)
    iec.IedServer_start(srv, 102)
    if not iec.IedServer_isRunning(srv):
        print("server did not start", file=sys.stderr)
        return 2
    try:
        time.sleep(seconds)
    finally:
        iec.IedServer_stop(srv)
        iec.IedServer_destroy(srv)
        iec.IedModel_destroy(model)
    return 0


def client(ip: str) -> int:
    from pyiec61850.mms import MMSClient

    with MMSClient() as c:
        c.connect(ip, 102)
        c.get_server_identity()
        devices = c.get_logical_devices()
        if devices:
            c.get_logical_nodes(devices[0])
        time.sleep(0.2)
    return 0 if sorted(devices) == sorted(IED + ld for ld in LDS) else 3


if __name__ == "__main__":
    if sys.argv[1] == "server":
        sys.exit(server(sys.argv[2], float(sys.argv[3])))
    sys.exit(client(sys.argv[2]))
