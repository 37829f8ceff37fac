"""Real grid-protocol stacks for pcaps/make_captures.py's substation scenario (one role per process, each in its
own network namespace; every program ends by itself within its time limit).

    python grid_peers.py dnp3-outstation IP MASTER_ADDR OUTSTATION_ADDR SECONDS   opendnp3 (dnp3-python 0.3.0b1)
    python grid_peers.py dnp3-master MY_IP OUTSTATION_IP MASTER_ADDR OUTSTATION_ADDR  class poll + group 0 read
    python grid_peers.py iec104-server IP COMMON_ADDRESS SECONDS                   c104 (lib60870)
    python grid_peers.py iec104-client SERVER_IP COMMON_ADDRESS                    interrogation, clock sync, command
    python grid_peers.py pmu IP IDCODE SECONDS                                     pyPMU (synchrophasor 1.0.0a0)
    python grid_peers.py pdc PMU_IP IDCODE                                         header, configuration, 20 data frames
    python grid_peers.py goose IFACE                                               libiec61850 GOOSE (pyiec61850-ng)

The MMS server and client are in mms_peer.py. Identities are those of real product lines (SEL, ABB) so the
inventory shows what a real substation shows; the stacks are the real protocol implementations.
"""

from __future__ import annotations

import collections
import collections.abc
import os
import sys
import time


def dnp3_outstation(ip: str, master: int, outstation: int, seconds: float) -> int:
    from dnp3_python.dnp3station.outstation import MyOutStation

    o = MyOutStation(outstation_ip=ip, port=20000, master_id=master, outstation_id=outstation)
    o.start()
    time.sleep(seconds)
    os._exit(0)             # MyOutStation.shutdown() sleeps, DNP3Manager.Shutdown() aborts (protocol-libs-2.md 2a)


def dnp3_master(my_ip: str, outstation_ip: str, master: int, outstation: int) -> int:
    from dnp3_python.dnp3station.master import MyMaster
    from pydnp3 import opendnp3

    m = MyMaster(master_ip=my_ip, outstation_ip=outstation_ip, port=20000, master_id=master, outstation_id=outstation)
    m.start()
    time.sleep(1.0)
    m.get_db_by_group_variation(30, 6)                                                    # READ analog inputs
    m.master.ScanAllObjects(opendnp3.GroupVariationID(0, 254), opendnp3.TaskConfig().Default())   # READ group 0
    time.sleep(1.0)
    os._exit(0)


def iec104_server(ip: str, ca: int, seconds: float) -> int:
    import c104

    srv = c104.Server(ip=ip, port=2404)
    st = srv.add_station(common_address=ca)
    p = st.add_point(io_address=11, type=c104.Type.M_ME_NC_1, report_ms=500)
    p.value = 230.5
    st.add_point(io_address=12, type=c104.Type.M_SP_NA_1)
    st.add_point(io_address=21, type=c104.Type.C_SC_NA_1)
    srv.start()
    time.sleep(seconds)
    srv.stop()
    return 0


def iec104_client(server_ip: str, ca: int) -> int:
    import c104

    cl = c104.Client(tick_rate_ms=100, command_timeout_ms=2000)
    con = cl.add_connection(ip=server_ip, port=2404, init=c104.Init.ALL)
    st = con.add_station(common_address=ca)
    st.add_point(io_address=11, type=c104.Type.M_ME_NC_1)
    c = st.add_point(io_address=21, type=c104.Type.C_SC_NA_1)
    cl.start()
    end = time.time() + 4
    while con.state != c104.ConnectionState.OPEN and time.time() < end:       # wait for OPEN (protocol-libs-2.md 1)
        time.sleep(0.1)
    con.interrogation(common_address=ca, cause=c104.Cot.ACTIVATION, qualifier=c104.Qoi.STATION)
    con.clock_sync(common_address=ca)
    c.value = True
    c.transmit(cause=c104.Cot.ACTIVATION)
    time.sleep(1.5)
    cl.stop()
    return 0


def _pypmu_shim() -> None:
    """pyPMU 1.0.0a0 (2017) reads collections.Sequence, gone since Python 3.10: alias the ABCs (peer only)."""
    for name in ("Sequence", "Iterable", "Mapping", "MutableMapping", "Callable"):
        setattr(collections, name, getattr(collections.abc, name))


def _reap_children_on_exit() -> None:
    """pyPMU serves each client from a multiprocessing child: on SIGTERM (the capture is over) or at the end, stop
    them too, or they outlive the namespace spinning (PID 1 here reaps nothing)."""
    import multiprocessing
    import signal

    def stop(*_: object) -> None:
        for child in multiprocessing.active_children():
            child.kill()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    import atexit
    atexit.register(stop)


def pmu(ip: str, idcode: int, seconds: float) -> int:
    _pypmu_shim()
    from synchrophasor.pmu import Pmu

    _reap_children_on_exit()

    p = Pmu(pmu_id=idcode, data_rate=30, port=4712, ip=ip)
    p.set_configuration()
    p.set_header()
    p.run()
    end = time.time() + seconds
    while time.time() < end:
        if p.clients:
            p.send(p.ieee_data_sample)
        time.sleep(0.03)
    import multiprocessing
    for child in multiprocessing.active_children():
        child.kill()
    os._exit(0)


def pdc(pmu_ip: str, idcode: int) -> int:
    _pypmu_shim()
    from synchrophasor.pdc import Pdc

    d = Pdc(pdc_id=idcode, pmu_ip=pmu_ip, pmu_port=4712)
    d.run()
    d.get_header()
    d.get_config()
    d.start()
    for _ in range(20):
        d.get()
    d.stop()
    os._exit(0)


def goose(iface: str) -> int:
    from pyiec61850.goose import GoosePublisher

    pub = GoosePublisher(iface)
    pub.set_go_cb_ref("SEL487EPROT/LLN0$GO$gcb01")
    pub.set_data_set("SEL487EPROT/LLN0$DS1")
    pub.set_go_id("SEL487E_TRIP1")
    pub.set_app_id(0x1001)
    pub.set_conf_rev(3)
    pub.set_dst_mac(bytes.fromhex("010ccd010001"))
    pub.start()
    for _ in range(3):
        pub.publish([True, 42, 3.5])
        pub.increase_st_num()
        time.sleep(0.05)
    pub.stop()
    return 0


def main(argv: list[str]) -> int:
    cmd, args = argv[0], argv[1:]
    if cmd == "dnp3-outstation":
        return dnp3_outstation(args[0], int(args[1]), int(args[2]), float(args[3]))
    if cmd == "dnp3-master":
        return dnp3_master(args[0], args[1], int(args[2]), int(args[3]))
    if cmd == "iec104-server":
        return iec104_server(args[0], int(args[1]), float(args[2]))
    if cmd == "iec104-client":
        return iec104_client(args[0], int(args[1]))
    if cmd == "pmu":
        return pmu(args[0], int(args[1]), float(args[2]))
    if cmd == "pdc":
        return pdc(args[0], int(args[1]))
    if cmd == "goose":
        return goose(args[0])
    print(f"grid_peers.py: unknown role {cmd!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
