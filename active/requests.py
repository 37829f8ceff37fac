"""The fixed allow-list of identity requests and how each is made with its library.

Each protocol has one session function: it gets one guarded connection (guard.GuardedSocket) and the steps
for one device, and returns one result per step. The libraries never open a socket of their own here: their
connect/reconnect paths are replaced so that the only socket they ever hold is the guarded one.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from otscope.active.guard import GuardedSocket, Proto, RequestRefused, Transcript
from otscope.active.safety import Stopped

DEFAULT_PORTS = {Proto.MODBUS: 502, Proto.ENIP: 44818, Proto.S7: 102}
MAX_MORE_FOLLOWS = 8          # FC43 continuation requests per read code at most
MAX_SLOTS = 17                # backplane slots 0-16 when asked for all


class Kind(StrEnum):
    MODBUS_DEVICE_ID = "fc43-device-id"            # Modbus FC43/14, read code 1 basic / 2 regular / 3 extended
    MODBUS_SERVER_ID = "fc17-server-id"            # Modbus FC17
    ENIP_LIST_IDENTITY = "list-identity"           # EtherNet/IP encapsulation command 0x63 over TCP
    ENIP_IDENTITY = "identity-object"              # CIP Get_Attributes_All Identity 1/1, unrouted
    ENIP_SLOT_IDENTITY = "slot-identity-object"    # the same through Unconnected Send to a backplane slot
    S7_CONNECT = "iso-connect"                     # S7: COTP CR with the rack/slot TSAP, Setup Communication
    S7_SZL = "szl-read"                            # S7: Read SZL 0x0011 / 0x001C index 0


KIND_PROTO = {Kind.MODBUS_DEVICE_ID: Proto.MODBUS, Kind.MODBUS_SERVER_ID: Proto.MODBUS,
              Kind.ENIP_LIST_IDENTITY: Proto.ENIP, Kind.ENIP_IDENTITY: Proto.ENIP, Kind.ENIP_SLOT_IDENTITY: Proto.ENIP,
              Kind.S7_CONNECT: Proto.S7, Kind.S7_SZL: Proto.S7}
READ_CODE_NAMES = {1: "basic", 2: "regular", 3: "extended"}


@dataclass(frozen=True, slots=True)
class Step:
    """One named request of a plan: the target, what is asked, and why."""

    target: str
    port: int
    kind: Kind
    why: str
    unit: int | None = None        # Modbus unit id
    read_code: int | None = None   # FC43/14 read device id code
    slot: int | None = None        # CIP backplane slot / S7 slot
    rack: int | None = None        # S7 rack
    szl: int | None = None         # S7 SZL id

    @property
    def proto(self) -> Proto:
        return KIND_PROTO[self.kind]

    def request(self) -> str:
        k = self.kind
        if k is Kind.MODBUS_DEVICE_ID:
            return (f"Modbus FC43/14 Read Device Identification {READ_CODE_NAMES[self.read_code or 1]} "
                    f"(MoreFollows followed) unit {self.unit}")
        if k is Kind.MODBUS_SERVER_ID:
            return f"Modbus FC17 Report Server ID unit {self.unit}"
        if k is Kind.ENIP_LIST_IDENTITY:
            return "EtherNet/IP ListIdentity (TCP)"
        if k is Kind.ENIP_IDENTITY:
            return "CIP Get_Attributes_All Identity 1/1"
        if k is Kind.ENIP_SLOT_IDENTITY:
            return f"CIP Unconnected_Send backplane slot {self.slot}: Get_Attributes_All Identity 1/1"
        if k is Kind.S7_CONNECT:
            return f"S7 COTP connect rack {self.rack} slot {self.slot} + Setup Communication"
        return f"S7 Read SZL 0x{self.szl or 0:04x} index 0"

    def as_dict(self) -> dict:
        return {"target": self.target, "port": self.port, "protocol": self.proto.value, "kind": self.kind.value,
                "request": self.request(), "why": self.why}


LIBRARIES = {Proto.MODBUS: "pymodbus", Proto.ENIP: "pycomm3", Proto.S7: "snap7"}
PACKAGES = {Proto.MODBUS: "pymodbus", Proto.ENIP: "pycomm3", Proto.S7: "python-snap7"}


def missing_libraries(protos: set[Proto]) -> list[str]:
    """The client libraries the planned protocols need and this installation lacks (pip names)."""
    import importlib.util

    return sorted(PACKAGES[p] for p in protos if importlib.util.find_spec(LIBRARIES[p]) is None)


class Outcome(StrEnum):
    ANSWERED = "answered"
    EXCEPTION = "exception"          # the device answered with a protocol error (Modbus exception, CIP status)
    NO_ANSWER = "no answer"
    GARBAGE = "garbage"              # bytes came back that are not an answer
    RESET = "reset"                  # the device reset or closed the connection
    REFUSED = "refused"              # the TCP connection was refused
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"              # not sent: stop switch, quiet window, an earlier failure on the device
    BLOCKED = "blocked"              # the allow-list refused what the library tried to send (never expected)


@dataclass(slots=True)
class StepResult:
    outcome: Outcome
    detail: str = ""


def classify(ok: bool, error_answer: str | None, exc: BaseException | None, tr: Transcript, step: int) -> StepResult:
    """One step's result from what the library said and what the socket saw during the step."""
    if isinstance(exc, RequestRefused):
        return StepResult(Outcome.BLOCKED, str(exc)[:200])
    if error_answer:
        return StepResult(Outcome.EXCEPTION, error_answer[:200])
    if ok:
        return StepResult(Outcome.ANSWERED)
    got = tr.bytes_in_step(step)
    why = f"{type(exc).__name__}: {exc}"[:200] if exc is not None else ""
    if got:
        return StepResult(Outcome.GARBAGE, f"{got} bytes that are not an answer" + (f" ({why})" if why else ""))
    if tr.reset:
        return StepResult(Outcome.RESET, "the device closed or reset the connection")
    return StepResult(Outcome.NO_ANSWER, why or "no answer before the timeout")


def unwrap(e: BaseException) -> BaseException:
    """The libraries wrap what the guard raised (pycomm3 ``from err``, python-snap7 inside ``except``): a
    Stopped anywhere in the chain is re-raised (the run ends), a RequestRefused is the step's real cause."""
    seen: BaseException | None = e
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, Stopped):
            raise seen
        if isinstance(seen, RequestRefused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return e


Session = Callable[[list[Step], GuardedSocket, Transcript, float], list[StepResult]]


def _quiet_libraries() -> None:
    for name in ("pymodbus", "pycomm3", "snap7"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


# --- Modbus (pymodbus) ------------------------------------------------------------------------------------

def modbus_client(sock: GuardedSocket, target: str, port: int, timeout: float):  # type: ignore[no-untyped-def]
    """A pymodbus client whose only socket is the guarded one: its connect() would open its own
    (socket.create_connection), so here it only reports whether the guarded one is still there."""
    from pymodbus.client import ModbusTcpClient

    class GuardedModbusClient(ModbusTcpClient):
        def connect(self) -> bool:  # type: ignore[override]
            return self.socket is not None

    client = GuardedModbusClient(target, port=port, timeout=timeout, retries=0)
    client.socket = sock  # type: ignore[assignment]
    return client


def _modbus_session(steps: list[Step], sock: GuardedSocket, tr: Transcript, timeout: float) -> list[StepResult]:
    from pymodbus.exceptions import ModbusException

    client = modbus_client(sock, steps[0].target, steps[0].port, timeout)
    out = []
    for i, st in enumerate(steps):
        tr.step = i
        ok, err_answer, exc = False, None, None
        try:
            if st.kind is Kind.MODBUS_DEVICE_ID:
                obj = 0
                for _ in range(1 + MAX_MORE_FOLLOWS):
                    r = client.read_device_information(read_code=st.read_code or 1, object_id=obj,
                                                       device_id=st.unit or 0)
                    if r.isError():
                        err_answer = f"Modbus exception {getattr(r, 'exception_code', '?')}"
                        break
                    ok = True
                    nxt = int(getattr(r, "next_object_id", 0) or 0)
                    if not getattr(r, "more_follows", 0) or nxt <= obj:
                        break
                    obj = nxt
            else:
                r = client.report_device_id(device_id=st.unit or 0)
                if r.isError():
                    err_answer = f"Modbus exception {getattr(r, 'exception_code', '?')}"
                else:
                    ok = True
        except (ModbusException, OSError, RequestRefused, ValueError, struct.error) as e:
            exc = unwrap(e)
        out.append(classify(ok, err_answer, exc, tr, i))
        if client.socket is None or isinstance(exc, RequestRefused):
            break                      # pymodbus dropped the connection: the rest of this device's steps wait
    return out


# --- EtherNet/IP (pycomm3) --------------------------------------------------------------------------------

def enip_driver(sock: GuardedSocket, target: str, port: int, timeout: float):  # type: ignore[no-untyped-def]
    """A pycomm3 CIPDriver over the guarded connection (pycomm3's Socket() would open a raw socket of its own)."""
    from pycomm3 import CIPDriver
    from pycomm3.socket_ import Socket

    class GuardedSock(Socket):
        def __init__(self) -> None:  # noqa: D107 - no super().__init__: it opens a socket
            self.sock = sock  # type: ignore[assignment]

        def connect(self, host: str, port: int) -> None:
            return None            # already connected, to the planned target only

    drv = CIPDriver(f"{target}:{port}")
    drv._cfg["socket_timeout"] = timeout
    drv._sock = GuardedSock()
    return drv


def _enip_session(steps: list[Step], sock: GuardedSocket, tr: Transcript, timeout: float) -> list[StepResult]:
    from pycomm3 import ClassCode, Services
    from pycomm3.cip import PADDED_EPATH, PortSegment
    from pycomm3.exceptions import PycommError
    from pycomm3.packets import ListIdentityRequestPacket

    drv = enip_driver(sock, steps[0].target, steps[0].port, timeout)
    out: list[StepResult] = []
    tr.step = 0
    try:
        opened = drv.open()                   # RegisterSession
    except (PycommError, OSError, RequestRefused) as e:
        res = classify(False, None, unwrap(e), tr, 0)
        return [res] + [StepResult(Outcome.SKIPPED, "no session") for _ in steps[1:]]
    if not opened:
        return [classify(False, None, None, tr, 0)] + [StepResult(Outcome.SKIPPED, "no session") for _ in steps[1:]]
    for i, st in enumerate(steps):
        tr.step = i
        ok, err_answer, exc = False, None, None
        try:
            if st.kind is Kind.ENIP_LIST_IDENTITY:
                resp = drv.send(ListIdentityRequestPacket())
                ok = bool(resp) and bool(resp.identity)
            else:
                route = (PADDED_EPATH.encode((PortSegment("bp", st.slot or 0),), length=True, pad_length=True)
                         if st.kind is Kind.ENIP_SLOT_IDENTITY else False)
                tag = drv.generic_message(service=Services.get_attributes_all, class_code=ClassCode.identity_object,
                                          instance=1, connected=False,
                                          unconnected_send=st.kind is Kind.ENIP_SLOT_IDENTITY, route_path=route,
                                          name="identity")
                if tag.error:
                    if tr.bytes_in_step(i) and "failed to receive" not in str(tag.error):
                        err_answer = f"CIP error: {tag.error}"
                else:
                    ok = tag.value is not None
        except (PycommError, OSError, RequestRefused, ValueError, struct.error) as e:
            exc = unwrap(e)
        out.append(classify(ok, err_answer, exc, tr, i))
        if exc is not None and tr.reset:
            out += [StepResult(Outcome.SKIPPED, "the connection was lost") for _ in steps[i + 1:]]
            break
    try:
        tr.step = len(steps) - 1
        drv.close()                          # UnregisterSession
    except Exception:  # noqa: BLE001 - closing a dead connection is not a result
        pass
    return out


# --- S7 (python-snap7) ------------------------------------------------------------------------------------

S7_CONNECTION_TYPE = 2        # OP (HMI-like) TSAP class: the least an S7 CPU answers SZL reads on


def s7_client(sock: GuardedSocket, timeout: float):  # type: ignore[no-untyped-def]
    """A python-snap7 client whose ISO connection uses the guarded socket (no socket, heartbeat or optimizer of
    its own; auto-reconnect stays off)."""
    from snap7.client import Client
    from snap7.connection import ISOTCPConnection

    class GuardedConnection(ISOTCPConnection):
        def _tcp_connect(self) -> None:
            self.socket = sock  # type: ignore[assignment]

    class GuardedClient(Client):
        def guarded_connect(self, host: str, port: int, rack: int, slot: int) -> None:
            """Client._connect without its own socket: COTP CR with the rack/slot TSAP + Setup Communication."""
            self.remote_tsap = (self.connection_type << 8) | (rack << 5) | slot
            self.host, self.port, self.rack, self.slot = host, port, rack, slot
            self.connection = GuardedConnection(host=host, port=port, local_tsap=self.local_tsap,
                                                remote_tsap=self.remote_tsap)
            self.connection.connect(timeout=timeout)
            self._setup_communication()
            self.connected = True

    client = GuardedClient()
    client.connection_type = S7_CONNECTION_TYPE
    return client


def _s7_session(steps: list[Step], sock: GuardedSocket, tr: Transcript, timeout: float) -> list[StepResult]:
    from snap7.error import S7Error

    client = s7_client(sock, timeout)
    out: list[StepResult] = []
    for i, st in enumerate(steps):
        tr.step = i
        ok, err_answer, exc = False, None, None
        try:
            if st.kind is Kind.S7_CONNECT:
                client.guarded_connect(st.target, st.port, st.rack or 0, st.slot or 0)
                ok = True
            else:
                try:
                    client.read_szl(st.szl or 0, 0)
                    ok = True
                except RuntimeError as e:              # python-snap7: an SZL return code other than 0xFF
                    err_answer = str(e)
        except (S7Error, OSError, RequestRefused, ValueError, struct.error) as e:
            exc = unwrap(e)
        out.append(classify(ok, err_answer, exc, tr, i))
        if not ok and not err_answer:
            out += [StepResult(Outcome.SKIPPED, "no S7 connection") for _ in steps[i + 1:]]
            break
    try:
        if client.connection is not None:
            client.connection.socket = None      # close the guarded socket ourselves (no DR needed)
            client.connection.connected = False
        client.connected = False
    except Exception:  # noqa: BLE001
        pass
    return out


SESSIONS: dict[Proto, Session] = {Proto.MODBUS: _modbus_session, Proto.ENIP: _enip_session, Proto.S7: _s7_session}


def run_session(proto: Proto, steps: list[Step], sock: GuardedSocket, tr: Transcript,
                timeout: float) -> list[StepResult]:
    """The steps of one device and protocol over one guarded connection; one result per step, never raises."""
    _quiet_libraries()
    try:
        res = SESSIONS[proto](steps, sock, tr, timeout)
    except Stopped:
        raise
    except Exception as e:  # noqa: BLE001 - a library bug on hostile input is a result, not a crash
        res = [StepResult(Outcome.SKIPPED, "not reached") for _ in range(max(tr.step, 0))]
        res.append(classify(False, None, unwrap(e), tr, max(tr.step, 0)))
    while len(res) < len(steps):
        res.append(StepResult(Outcome.SKIPPED, "not reached"))
    return res[:len(steps)]
