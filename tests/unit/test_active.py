"""Active identification (issue 19), without a network: the allow-list at the socket, the safety gate with an
injected clock, the refusal of the capture interface, plan building from an inventory, the runner's results."""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path

import pytest

from otscope.active.guard import Allowed, GuardedSocket, Proto, RequestRefused, Transcript, check_send
from otscope.active.plan import MAX_TARGETS, PlanRequest, build_plan, expand, parse_force, parse_networks
from otscope.active.requests import Kind, Outcome, Step, enip_driver, modbus_client, s7_client
from otscope.active.run import Audit, Runner
from otscope.active.safety import (Clock, Egress, QuietWindow, RateLimiter, Refused, Safety, Stopped, StopSwitch,
                                   check_egress, parse_rate)
from otscope.collector.db import init_schema, make_engine, session_factory
from otscope.collector.queries import coverage
from otscope.collector.service import ingest
from otscope.contract import Batch, CommObs, Evidence, FactObs, Subject

# --- frames -------------------------------------------------------------------------------------------------


def mbap(unit: int, pdu: bytes, tid: int = 1) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


MB = Allowed(Proto.MODBUS, units=frozenset({1, 2}))


@pytest.mark.parametrize("pdu,what", [(b"\x2b\x0e\x01\x00", "basic"), (b"\x2b\x0e\x02\x00", "regular"),
                                      (b"\x2b\x0e\x03\x05", "extended object 5"), (b"\x11", "FC17")])
def test_modbus_identity_reads_pass(pdu: bytes, what: str) -> None:
    [(frame, desc)] = check_send(Proto.MODBUS, mbap(1, pdu), MB)
    assert what in desc and "unit 1" in desc


@pytest.mark.parametrize("frame", [
    mbap(1, b"\x03\x00\x00\x00\x0a"),           # FC3 read holding registers: read-only, still not identity
    mbap(1, b"\x06\x00\x05\x10\x92"),           # FC6 write single register
    mbap(1, b"\x10\x00\x0a\x00\x01\x02\x00\x01"),  # FC16
    mbap(1, b"\x2b\x0e\x04\x00"),               # read code 4 (one specific object): not in the list
    mbap(1, b"\x2b\x0d\x01\x00"),               # MEI 13 (CANopen general reference)
    mbap(1, b"\x5a\x00\x02"),                   # FC90 UMAS
    mbap(1, b"\x08\x00\x01\x00\x00"),           # FC8 diagnostics (restart communications)
    mbap(3, b"\x11"),                           # a unit id that is not in the plan
    mbap(1, b"\x11")[:-1],                      # a cut frame
    mbap(1, b"\x11") + b"\x00",                 # trailing bytes
    mbap(1, b"\x11\x00"),                       # FC17 with data
])
def test_modbus_everything_else_is_refused(frame: bytes) -> None:
    with pytest.raises(RequestRefused):
        check_send(Proto.MODBUS, frame, MB)


def test_modbus_one_bad_frame_refuses_the_whole_send() -> None:
    with pytest.raises(RequestRefused):
        check_send(Proto.MODBUS, mbap(1, b"\x11") + mbap(1, b"\x06\x00\x01\x00\x01"), MB)
    assert len(check_send(Proto.MODBUS, mbap(1, b"\x11") + mbap(2, b"\x11"), MB)) == 2


def encap(cmd: int, data: bytes = b"") -> bytes:
    return struct.pack("<HHII8sI", cmd, len(data), 7, 0, b"_pycomm_", 0) + data


def rr(mr: bytes) -> bytes:
    return encap(0x6F, struct.pack("<IHH", 0, 10, 2) + struct.pack("<HH", 0, 0) + struct.pack("<HH", 0xB2, len(mr))
                 + mr)


GAA = b"\x01\x02\x20\x01\x24\x01"


def ucmm(embedded: bytes, route: bytes) -> bytes:
    pad = b"\x00" if len(embedded) & 1 else b""
    return (b"\x52\x02\x20\x06\x24\x01" + b"\x0a\x0e" + struct.pack("<H", len(embedded)) + embedded + pad
            + bytes([len(route) // 2, 0]) + route)


EN = Allowed(Proto.ENIP, slots=frozenset({0, 3}))


@pytest.mark.parametrize("frame,what", [(encap(0x65, b"\x01\x00\x00\x00"), "RegisterSession"),
                                        (encap(0x66), "UnregisterSession"), (encap(0x63), "ListIdentity"),
                                        (rr(GAA), "Get_Attributes_All Identity 1/1"),
                                        (rr(ucmm(GAA, b"\x01\x03")), "backplane slot 3")])
def test_enip_identity_reads_pass(frame: bytes, what: str) -> None:
    [(_f, desc)] = check_send(Proto.ENIP, frame, EN)
    assert what in desc


@pytest.mark.parametrize("frame", [
    encap(0x04),                                              # ListServices
    encap(0x70, b"\x00" * 16),                                # SendUnitData (connected messaging)
    rr(b"\x4c\x02\x20\x6b\x24\x01"),                          # Read Tag
    rr(b"\x4d\x02\x20\x6b\x24\x01\xc3\x00\x01\x00\x00\x00"),  # Write Tag
    rr(b"\x10\x03\x20\x01\x24\x01\x30\x07"),                  # Set_Attribute_Single on Identity
    rr(b"\x05\x02\x20\x01\x24\x01"),                          # Reset service on Identity
    rr(b"\x01\x02\x20\x02\x24\x01"),                          # Get_Attributes_All of the Message Router
    rr(b"\x54\x02\x20\x06\x24\x01" + b"\x00" * 36),           # Forward_Open
    rr(ucmm(GAA, b"\x01\x05")),                               # a slot not in the plan
    rr(ucmm(b"\x4c\x02\x20\x6b\x24\x01", b"\x01\x00")),       # Unconnected Send wrapping a tag read
    rr(ucmm(GAA, b"\x01\x00\x02\x05")),                       # a route beyond the backplane
    encap(0x65, b"\x01\x00\x00\x00")[:-1],                    # a cut frame
])
def test_enip_everything_else_is_refused(frame: bytes) -> None:
    with pytest.raises(RequestRefused):
        check_send(Proto.ENIP, frame, EN)


def tpkt(payload: bytes) -> bytes:
    return struct.pack(">BBH", 3, 0, len(payload) + 4) + payload


def s7(rosctr: int, params: bytes, data: bytes = b"") -> bytes:
    return tpkt(b"\x02\xf0\x80" + struct.pack(">BBHHHH", 0x32, rosctr, 0, 1, len(params), len(data)) + params + data)


def szl(szl_id: int) -> bytes:
    return s7(7, b"\x00\x01\x12\x04\x11\x44\x01\x00", b"\xff\x09\x00\x04" + struct.pack(">HH", szl_id, 0))


S7A = Allowed(Proto.S7)


@pytest.mark.parametrize("frame,what", [
    (tpkt(b"\x11\xe0\x00\x00\x00\x01\x00\xc0\x01\x0a\xc1\x02\x01\x00\xc2\x02\x02\x02"), "Connection Request"),
    (s7(1, b"\xf0\x00\x00\x01\x00\x01\x01\xe0"), "Setup Communication"),
    (szl(0x0011), "SZL 0x0011"), (szl(0x001C), "SZL 0x001c"),
    (s7(7, b"\x00\x01\x12\x08\x12\x44\x01\x01\x00\x00\x00\x00"[:4] + b"\x11\x44\x01\x01\x00\x00\x00\x00",
        b"\x0a\x00\x00\x00"), "follow-up")])
def test_s7_identity_reads_pass(frame: bytes, what: str) -> None:
    [(_f, desc)] = check_send(Proto.S7, frame, S7A)
    assert what in desc


@pytest.mark.parametrize("frame", [
    s7(1, b"\x04\x01\x12\x0a\x10\x02\x00\x01\x00\x01\x84\x00\x00\x00"),   # Read Var (data, not identity)
    s7(1, b"\x05\x01\x12\x0a\x10\x02\x00\x01\x00\x01\x84\x00\x00\x00", b"\x00\x04\x00\x08\x01"),  # Write Var
    s7(1, b"\x29\x00\x00\x00\x00\x00\x09P_PROGRAM"),                     # PLC Stop
    s7(1, b"\x28\x00\x00\x00\x00\x00\x00\xfd\x00\x00\x09P_PROGRAM"),     # PI service (hot start)
    s7(1, b"\x1d\x00\x00\x00\x00\x00\x00\x00\x09_0A00001P"),             # Start Upload
    s7(1, b"\x1a\x00\x01\x00\x00\x00\x00\x00\x09_0A00001P"),             # Request Download
    szl(0x0424),                                                         # SZL 0x0424 (CPU state): not listed
    szl(0x0131),
    s7(7, b"\x00\x01\x12\x04\x11\x47\x02\x00", b"\xff\x09\x00\x00"),      # userdata time functions: set clock
    s7(7, b"\x00\x01\x12\x04\x11\x43\x01\x00", b"\xff\x09\x00\x02\x00\x00"),   # block functions: list blocks
    tpkt(b"\x02\xf0\x80\x72\x01\x00\x10"),                              # S7comm-plus
    tpkt(b"\x11\xe0"),                                                   # a cut frame
])
def test_s7_everything_else_is_refused(frame: bytes) -> None:
    with pytest.raises(RequestRefused):
        check_send(Proto.S7, frame, S7A)


# --- the libraries, through the guard: a forbidden call never reaches the wire --------------------------------

@pytest.fixture
def pair():  # type: ignore[no-untyped-def]
    ours, device = socket.socketpair()
    ours.settimeout(0.2)
    device.setblocking(False)
    yield ours, device
    ours.close()
    device.close()


def nothing_sent(device: socket.socket) -> bool:
    try:
        return device.recv(4096) == b""
    except BlockingIOError:
        return True


def guarded(ours: socket.socket, proto: Proto, allowed: Allowed, sent: list[str]) -> GuardedSocket:
    return GuardedSocket(ours, proto, allowed, lambda what, _f: sent.append(what), Transcript())


@pytest.mark.parametrize("call", [
    lambda c: c.write_register(5, 4242, device_id=1), lambda c: c.write_coil(3, True, device_id=1),
    lambda c: c.write_registers(10, [1, 2], device_id=1), lambda c: c.read_holding_registers(0, count=2, device_id=1),
    lambda c: c.diag_restart_communication(False, device_id=1), lambda c: c.report_device_id(device_id=9),
])
def test_pymodbus_calls_outside_the_list_are_refused(pair, call) -> None:  # type: ignore[no-untyped-def]
    ours, device = pair
    sent: list[str] = []
    client = modbus_client(guarded(ours, Proto.MODBUS, MB, sent), "192.0.2.1", 502, 0.2)
    with pytest.raises(RequestRefused):
        call(client)
    assert sent == [] and nothing_sent(device)


def test_pymodbus_identity_read_goes_through_the_gate(pair) -> None:  # type: ignore[no-untyped-def]
    ours, device = pair
    sent: list[str] = []
    client = modbus_client(guarded(ours, Proto.MODBUS, MB, sent), "192.0.2.1", 502, 0.2)
    from pymodbus.exceptions import ModbusException

    try:
        client.read_device_information(read_code=1, object_id=0, device_id=2)
    except ModbusException:
        pass                                      # nobody answers: a timeout
    assert sent == ["Modbus FC43/14 Read Device Identification basic object 0 unit 2"]
    assert device.recv(64)[7:] == b"\x2b\x0e\x01\x00"


@pytest.mark.parametrize("call", [
    lambda d, s: d.generic_message(service=s.set_attribute_single, class_code=1, instance=1, attribute=7,
                                   request_data=b"\x03abc", connected=False),
    lambda d, s: d.generic_message(service=s.reset, class_code=1, instance=1, connected=False),
    lambda d, s: d.generic_message(service=s.get_attributes_all, class_code=2, instance=1, connected=False),
    lambda d, s: d.get_module_info(7),             # a slot not in the plan
    lambda d, s: d.generic_message(service=s.get_attributes_all, class_code=1, instance=1, connected=True),
])
def test_pycomm3_calls_outside_the_list_are_refused(pair, call) -> None:  # type: ignore[no-untyped-def]
    from pycomm3 import Services
    from pycomm3.exceptions import PycommError

    ours, device = pair
    sent: list[str] = []
    drv = enip_driver(guarded(ours, Proto.ENIP, EN, sent), "192.0.2.1", 44818, 0.2)
    drv._connection_opened, drv._session = True, 7          # as after RegisterSession
    with pytest.raises((RequestRefused, PycommError)) as info:
        call(drv, Services)
    chain, e = [], info.value
    while e is not None:
        chain.append(e)
        e = e.__cause__ or e.__context__
    assert any(isinstance(x, RequestRefused) for x in chain)
    assert sent == [] and nothing_sent(device)


@pytest.mark.parametrize("call", [
    lambda c: c.db_write(1, 0, bytearray(b"\x01")), lambda c: c.db_read(1, 0, 4), lambda c: c.plc_stop(),
    lambda c: c.plc_hot_start(), lambda c: c.read_szl(0x0424, 0), lambda c: c.upload(1),
    lambda c: c.set_plc_datetime(__import__("datetime").datetime(2020, 1, 1)), lambda c: c.list_blocks(),
])
def test_snap7_calls_outside_the_list_are_refused(pair, call) -> None:  # type: ignore[no-untyped-def]
    from snap7.connection import ISOTCPConnection

    ours, device = pair
    sent: list[str] = []
    client = s7_client(guarded(ours, Proto.S7, S7A, sent), 0.2)
    conn = ISOTCPConnection("192.0.2.1")
    conn.socket, conn.connected = guarded(ours, Proto.S7, S7A, sent), True   # as after COTP CC
    client.connection, client.connected = conn, True
    with pytest.raises(Exception) as info:
        call(client)
    chain, e = [], info.value
    while e is not None:
        chain.append(e)
        e = e.__cause__ or e.__context__
    assert any(isinstance(x, RequestRefused) for x in chain), chain
    assert sent == [] and nothing_sent(device)


def test_a_trickling_answer_is_cut_off(pair) -> None:  # type: ignore[no-untyped-def]
    ours, device = pair
    t = [0.0]
    g = GuardedSocket(ours, Proto.MODBUS, MB, lambda *_a: None, Transcript(), answer_window=2.0,
                      monotonic=lambda: t[0])
    g.sendall(mbap(1, b"\x11"))
    device.sendall(b"\x00\x01")
    assert g.recv(10) == b"\x00\x01"            # within the window
    device.sendall(b"\x00")
    t[0] = 2.5                                   # bytes are there, but the window is over
    with pytest.raises(TimeoutError):
        g.recv(10)
    assert g.transcript.timed_out


def test_eof_twice_is_an_error_and_marks_a_reset(pair) -> None:  # type: ignore[no-untyped-def]
    ours, device = pair
    g = GuardedSocket(ours, Proto.MODBUS, MB, lambda *_a: None, Transcript())
    device.close()
    assert g.recv(10) == b""
    with pytest.raises(ConnectionResetError):
        g.recv(10)                               # pycomm3 would otherwise loop on EOF for ever
    assert g.transcript.reset


# --- safety --------------------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep = None

    def clock(self) -> Clock:
        return Clock(now=lambda: self.t, sleep=self.sleep, wall=lambda: 1_700_000_000.0 + self.t)

    def sleep(self, d: float) -> None:
        self.sleeps.append(d)
        self.t += d
        if self.on_sleep:
            self.on_sleep()


def test_rate_limiter_spaces_sends_evenly_without_real_sleep() -> None:
    fc = FakeClock()
    lim = RateLimiter(2.0, fc.clock())
    times = [lim.acquire() for _ in range(5)]
    assert [round(b - a, 6) for a, b in zip(times, times[1:])] == [0.5] * 4
    fc.t += 10                                   # idle: the next send goes at once, no burst is banked
    t = lim.acquire()
    assert t == fc.t and round(lim.acquire() - t, 6) == 0.5


def test_rate_limiter_sees_the_stop_switch_while_waiting() -> None:
    fc = FakeClock()
    stop = StopSwitch()
    safety = Safety(RateLimiter(0.1, fc.clock()), stop)
    safety.before_send()
    fc.on_sleep = lambda: stop.event.set() if fc.t > 1003 else None
    with pytest.raises(Stopped):
        safety.before_send()
    assert fc.t < 1010                           # it did not wait out the 10 s slot


def test_stop_file_and_quiet_window(tmp_path: Path) -> None:
    fc = FakeClock()
    stop = StopSwitch(str(tmp_path / "stop"))
    safety = Safety(RateLimiter(1, fc.clock()), stop)
    safety.check()
    (tmp_path / "stop").write_text("")
    with pytest.raises(Stopped, match="stop file"):
        safety.check()
    q = QuietWindow.parse("22:00-06:00")
    assert q.contains(3 * 3600) and q.contains(23 * 3600) and not q.contains(12 * 3600)
    day = QuietWindow.parse("06:00-18:00")
    wall = fc.clock().wall()
    inside = day.contains(wall)
    with pytest.raises(Stopped, match="quiet window") if inside else _nothing():
        Safety(RateLimiter(1, fc.clock()), quiet=(day,)).check()
    for bad in ("25:00-01:00", "6-18", ""):
        with pytest.raises(Refused):
            QuietWindow.parse(bad)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> bool:
        return False


def test_backoff_doubles_and_is_bounded() -> None:
    fc = FakeClock()
    safety = Safety(RateLimiter(1, fc.clock()))
    t0 = fc.t
    safety.backoff(1)
    t1 = fc.t
    safety.backoff(3)
    assert round(t1 - t0, 6) == 2.0 and round(fc.t - t1, 6) == 8.0


def test_parse_rate() -> None:
    assert parse_rate("1/s") == 1.0 and parse_rate("30/min") == 0.5 and parse_rate("4") == 4.0
    for bad in ("0/s", "fast", "1000/s", "-1"):
        with pytest.raises(Refused):
            parse_rate(bad)


def test_the_capture_interface_is_refused() -> None:
    capture = {"span0"}
    with pytest.raises(Refused, match="capture interface"):
        check_egress(Egress(interface="span0"), capture)
    with pytest.raises(Refused, match="capture interface span0"):
        check_egress(Egress(source="198.18.0.2"), capture, owner=lambda ip: "span0")
    with pytest.raises(Refused, match="route to 198.18.0.10 leaves through the capture interface"):
        check_egress(Egress(), capture, ["198.18.0.10"], route=lambda t, s: "span0")
    with pytest.raises(Refused, match="no such interface"):
        check_egress(Egress(interface="nosuch0"), capture)
    with pytest.raises(Refused, match="not an interface name"):
        check_egress(Egress(interface="../../etc"), capture)
    with pytest.raises(Refused, match="not both"):
        check_egress(Egress(interface="lo", source="127.0.0.1"), capture)
    check_egress(Egress(interface="lo"), capture)                            # a separate interface: fine
    check_egress(Egress(source="198.18.0.2"), capture, ["198.18.0.10"], route=lambda t, s: "eth1",
                 owner=lambda ip: "eth1")


def test_capture_interfaces_come_from_sensor_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    from otscope.active.safety import capture_interfaces

    monkeypatch.setenv("OTSCOPE_CAPTURE_INTERFACES", "mirror1, mirror2")
    got = capture_interfaces(["span0"], [{"interface": "enp3s0", "packets": 5}, {"packets": 1}])
    assert got == {"span0", "mirror1", "mirror2", "enp3s0"}


# --- plans ---------------------------------------------------------------------------------------------------

T = 1_700_000_000.0
EV = Evidence("seed.pcap", 1, T)


def seed(factory, devices: dict[str, list[tuple[str, str | None, str]]], ports: dict[str, tuple[str, int]]) -> None:
    """devices: ip -> [(field, component, value)]; ports: ip -> (protocol, port) of a conversation."""
    facts = [FactObs(Subject(0, ip=ip, component=comp), field, value, "seed", "seeded", EV, T, T)
             for ip, fs in devices.items() for field, comp, value in fs]
    comms = [CommObs(Subject(0, ip="198.18.0.200"), Subject(0, ip=ip), "tcp", port, proto, 5, 500, T, T)
             for ip, (proto, port) in ports.items()]
    ingest(factory, Batch(sensor="seed", batch_id="seed", facts=facts, comms=comms))


@pytest.fixture
def inv(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/inv.db")
    init_schema(engine)
    factory = session_factory(engine)
    seed(factory, {
        "198.18.0.10": [("protocol", "unit:1", "modbus-server"), ("protocol", "unit:3", "modbus-server")],
        "198.18.0.11": [("protocol", None, "s7comm-server"), ("s7_rack_slot", None, "rack 0 slot 1")],
        "198.18.0.12": [("protocol", None, "enip-server"), ("protocol", "slot:2", "enip-server")],
        "198.18.0.13": [("protocol", None, "modbus-server")],
        "198.18.1.14": [("protocol", None, "modbus-server")],
        "198.18.0.15": [("protocol", None, "http-server")],
    }, {"198.18.0.10": ("modbus", 5020)})
    return factory


def plan_of(factory, **kw):  # type: ignore[no-untyped-def]
    with factory() as s:
        return build_plan(s, PlanRequest(**kw))


def test_plan_uses_what_the_inventory_saw(inv) -> None:  # type: ignore[no-untyped-def]
    plan = plan_of(inv, gaps=True, allow=("198.18.0.0/24",))
    by = {}
    for st in plan.steps:
        by.setdefault(st.target, []).append(st)
    gw = by["198.18.0.10"]
    assert {st.unit for st in gw} == {1, 3} and {st.port for st in gw} == {5020}
    assert [(st.kind, st.read_code) for st in gw if st.unit == 1] == [
        (Kind.MODBUS_DEVICE_ID, 1), (Kind.MODBUS_DEVICE_ID, 2), (Kind.MODBUS_DEVICE_ID, 3), (Kind.MODBUS_SERVER_ID, None)]
    s7s = by["198.18.0.11"]
    assert [(st.kind, st.rack, st.slot, st.szl) for st in s7s] == [
        (Kind.S7_CONNECT, 0, 1, None), (Kind.S7_SZL, 0, 1, 0x0011), (Kind.S7_SZL, 0, 1, 0x001C)]
    assert {st.port for st in s7s} == {102}
    en = by["198.18.0.12"]
    assert [(st.kind, st.slot) for st in en] == [(Kind.ENIP_LIST_IDENTITY, None), (Kind.ENIP_IDENTITY, None),
                                                 (Kind.ENIP_SLOT_IDENTITY, 2)]
    assert {st.unit for st in by["198.18.0.13"]} == {255}          # no unit seen: the device itself
    refused = {r.target: r.reason for r in plan.refused}
    assert "198.18.1.14" in refused and "allow" in refused["198.18.1.14"]
    assert "198.18.0.15" not in by                                 # speaks no protocol active identification has
    assert all(st.why for st in plan.steps)


def test_plan_only_protocols_seen_unless_forced(inv) -> None:  # type: ignore[no-untyped-def]
    plan = plan_of(inv, targets=("198.18.0.11", "198.18.0.15", "198.18.0.99"), allow=("198.18.0.0/24",))
    assert {st.proto for st in plan.steps} == {Proto.S7}
    assert {r.target for r in plan.refused} == {"198.18.0.15", "198.18.0.99"}
    forced = plan_of(inv, targets=("198.18.0.11", "198.18.0.99"), allow=("198.18.0.0/24",),
                     force=("198.18.0.99=enip",), all_slots=True)
    extra = [st for st in forced.steps if st.target == "198.18.0.99"]
    assert {st.proto for st in extra} == {Proto.ENIP}
    assert sorted(st.slot for st in extra if st.kind is Kind.ENIP_SLOT_IDENTITY) == list(range(17))
    assert "forced" in extra[0].why


def test_plan_refusals(inv) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Refused, match="without --allow"):
        plan_of(inv, gaps=True)
    with pytest.raises(Refused, match="--gaps or --targets"):
        plan_of(inv, gaps=True, targets=("198.18.0.10",), allow=("198.18.0.0/24",))
    with pytest.raises(Refused, match="more than"):
        expand(parse_networks(["10.0.0.0/16"], "--targets"))
    assert len(expand(parse_networks(["10.0.0.0/22"], "--targets"))) == MAX_TARGETS - 2
    for bad in ("198.18.0.1", "198.18.0.1=ftp", "nonsense=modbus"):
        with pytest.raises(Refused):
            parse_force([bad])
    with pytest.raises(Refused):
        parse_networks(["198.18.0.300/24"], "--allow")


def test_plan_sessions_group_one_connection_per_device_and_protocol(inv) -> None:  # type: ignore[no-untyped-def]
    plan = plan_of(inv, gaps=True, allow=("198.18.0.0/16",))
    keys = [k for k, _steps in plan.sessions()]
    assert len(keys) == len(set(keys)) == 5
    lines = plan.lines()
    assert len(lines) == 1 + len(plan.steps) + len(plan.refused)
    assert all(st.request() in "\n".join(lines) for st in plan.steps)


# --- the runner, with a fake network -----------------------------------------------------------------------

def test_runner_results_retry_backoff_and_audit(inv) -> None:  # type: ignore[no-untyped-def]
    plan = plan_of(inv, targets=("198.18.0.10", "198.18.0.11", "198.18.0.13"), allow=("198.18.0.0/24",))
    fc = FakeClock()
    calls: list[str] = []

    def connect(ip: str, port: int, egress: Egress, timeout: float) -> socket.socket:
        calls.append(ip)
        if ip == "198.18.0.10":
            raise ConnectionRefusedError(111, "refused")
        if ip == "198.18.0.11":
            raise TimeoutError("timed out")
        raise OSError(113, "No route to host")

    audit = Audit(None, "alice", "job-1")
    report = Runner(Safety(RateLimiter(1, fc.clock())), Egress(), audit, connect=connect).run(plan)
    res = {t["target"]: t for t in report.targets()}
    assert res["198.18.0.10"]["result"] == "refused"
    assert res["198.18.0.11"]["result"] == "no answer"
    assert res["198.18.0.13"]["result"] == "unreachable"
    # a refused connection is final; no answer is tried once more after a back-off
    assert calls.count("198.18.0.10") == 1 and calls.count("198.18.0.11") == 2
    assert 2.0 in [round(x, 6) for x in fc.sleeps] or sum(fc.sleeps) >= 2.0
    events = [line["event"] for line in audit.lines]
    assert events.count("connect") == len(calls) and "retry" in events and events[-1] == "done"
    assert all(line["operator"] == "alice" for line in audit.lines)
    assert report.requests_sent == 0 and report.facts == []


def test_runner_stop_switch_skips_the_rest(inv) -> None:  # type: ignore[no-untyped-def]
    plan = plan_of(inv, gaps=True, allow=("198.18.0.0/24",))
    stop = StopSwitch()
    stop.event.set()
    report = Runner(Safety(RateLimiter(1, FakeClock().clock()), stop), Egress(), Audit(None, "bob", "j"),
                    connect=lambda *a: pytest.fail("nothing may be sent after the stop")).run(plan)
    assert report.stopped == "stop requested"
    assert {r.result.outcome for r in report.steps} == {Outcome.SKIPPED}


# --- facts and coverage ----------------------------------------------------------------------------------------

def test_transcript_facts_carry_active_provenance_and_nothing_about_us() -> None:
    from otscope.active.run import transcript_facts
    from otscope.domain import Side
    from otscope.active.guard import Chunk

    req = mbap(1, b"\x2b\x0e\x01\x00", tid=5)
    objs = [(0, b"Schneider Electric"), (1, b"BMX P34 2020"), (2, b"v3.20")]
    body = b"\x2b\x0e\x01\x01\x00\x00" + bytes([len(objs)]) + b"".join(bytes([i, len(v)]) + v for i, v in objs)
    tr = Transcript([Chunk(Side.TO_SERVER, req, T, 0), Chunk(Side.TO_CLIENT, mbap(1, body, tid=5), T + 0.01, 0)])
    st = Step("198.18.0.10", 502, Kind.MODBUS_DEVICE_ID, "test", unit=1, read_code=1)
    facts = transcript_facts(Proto.MODBUS, [st], tr, 0, "alice")
    got = {(f.field, f.value, f.subject.component) for f in facts}
    assert ("vendor", "Schneider Electric", "unit:1") in got and ("firmware", "v3.20", "unit:1") in got
    assert all(f.subject.ip == "198.18.0.10" for f in facts)
    assert not any(f.value == "modbus-client" for f in facts)
    assert all(f.message.startswith("method: active; request: " + st.request()) and "operator: alice" in f.message
               for f in facts)
    assert all(f.evidence.source == "active:alice" and f.evidence.frame is None for f in facts)


def test_coverage_shows_passive_and_active_side_by_side(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/c.db")
    init_schema(engine)
    factory = session_factory(engine)

    def ident(ip: str, sensor: str, fields: dict[str, str]) -> None:
        ev = Evidence(sensor if sensor.startswith("active:") else "p.pcap", None if sensor.startswith("active:") else 1, T)
        facts = [FactObs(Subject(0, ip=ip), "protocol", "modbus-server", "modbus", "m", ev, T, T)]
        facts += [FactObs(Subject(0, ip=ip), k, v, "modbus", "m", ev, T, T) for k, v in fields.items()]
        ingest(factory, Batch(sensor=sensor, batch_id=f"{sensor}-{ip}", facts=facts))

    full = {"vendor": "V", "product": "P", "firmware": "1.0"}
    ident("198.18.0.1", "replay", full)                         # passive
    ident("198.18.0.2", "active:alice", full)                   # active
    ident("198.18.0.3", "replay", {"vendor": "V"})
    ident("198.18.0.3", "active:alice", {"product": "P", "firmware": "2.0"})   # both
    ident("198.18.0.4", "replay", {})                           # none
    with factory() as s:
        cov = coverage(s)
    idn = cov["identification"]
    assert (idn["passive"], idn["active"], idn["both"], idn["none"]) == (1, 1, 1, 1)
    assert idn["identified"] == {"passive": 1, "active": 1, "both": 1, "none": 0}
    assert [g["identity_method"] for g in cov["gaps"]] == ["none"]
    from otscope.api.schemas import CoverageOut

    CoverageOut.model_validate(cov)


# --- CLI: dry run and one-line errors ------------------------------------------------------------------------

def test_cli_dry_run_prints_the_plan_and_sends_nothing(inv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from otscope.agent.cli import app

    url = str(inv.kw["bind"].url)
    audit = tmp_path / "audit.jsonl"
    r = CliRunner().invoke(app, ["identify", "--db", url, "--gaps", "--allow", "198.18.0.0/24", "--dry-run",
                                 "--audit", str(audit)])
    assert r.exit_code == 0, r.output
    with inv() as s:
        plan = build_plan(s, PlanRequest(gaps=True, allow=("198.18.0.0/24",)))
    for st in plan.steps:
        assert st.request() in r.output and st.target in r.output
    assert f"dry run: {len(plan.steps)} request(s) planned, nothing sent" in r.output
    assert not audit.exists()
    j = CliRunner().invoke(app, ["identify", "--db", url, "--gaps", "--allow", "198.18.0.0/24", "--dry-run",
                                 "--format", "json"])
    assert json.loads(j.output)["steps"] == plan.as_dict()["steps"]


@pytest.mark.parametrize("args,msg", [
    (["--gaps"], "without --allow"), (["--gaps", "--allow", "x"], "not an IP address"),
    (["--gaps", "--allow", "10.0.0.0/8", "--rate", "0/s"], "--rate"),
    (["--gaps", "--allow", "10.0.0.0/8", "--interface", "span0", "--capture-interface", "span0"], "capture interface"),
    (["--allow", "10.0.0.0/8"], "--gaps or --targets"),
    (["--gaps", "--allow", "10.0.0.0/8", "--quiet", "later"], "--quiet"),
    (["--targets", "198.18.0.10", "--allow", "198.18.0.0/24", "--audit", "/nonexistent/dir/a.jsonl"], "audit log"),
])
def test_cli_refusals_are_one_line(inv, args: list[str], msg: str) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from otscope.agent.cli import app

    r = CliRunner().invoke(app, ["identify", "--db", str(inv.kw["bind"].url), *args])
    assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output
    assert len([x for x in r.output.splitlines() if x.strip()]) == 1


def test_a_missing_client_library_is_one_clear_refusal(inv, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from otscope.active import requests
    from otscope.active.job import IdentifyConfig, prepare

    cfg = IdentifyConfig(PlanRequest(targets=("198.18.0.10",), allow=("198.18.0.0/24",)), "alice")
    assert prepare(inv, cfg, route=lambda t, s: "eth9").steps             # installed: planned
    monkeypatch.setitem(requests.LIBRARIES, Proto.MODBUS, "no_such_modbus_library")
    with pytest.raises(Refused, match=r"needs pymodbus: pip install 'otscope\[active\]'"):
        prepare(inv, cfg, route=lambda t, s: "eth9")


def test_a_failed_inventory_write_is_a_result_not_a_crash(inv) -> None:  # type: ignore[no-untyped-def]
    from otscope.active.run import RunReport

    def boom(_batch: Batch) -> None:
        raise RuntimeError("database is locked")

    audit = Audit(None, "alice", "j")
    runner = Runner(Safety(RateLimiter(1, FakeClock().clock())), Egress(), audit, sink=boom)
    rep = RunReport("j", "alice", facts=[FactObs(Subject(0, ip="198.18.0.10"), "vendor", "V", "modbus", "m",
                                                 Evidence("active:alice", None, T), T, T)])
    runner._ingest(rep)
    assert rep.ingest_error == "RuntimeError: database is locked"
    assert audit.lines[-1]["event"] == "ingest-failed"
