"""PNIO-CM per-flow state: connectionless DCE/RPC on udp/34964 (IEC 61158-6-10 "RPC"; DCE 1.1 RPC ch. 12).

One datagram is one RPC PDU (80-byte header, body of the header's fragment length). A flow is this protocol
when a datagram parses as connectionless DCE/RPC for a PNIO interface (device, controller, supervisor,
parameter server) or the endpoint mapper; it is confirmed by a PNIO request or response whose NDR arguments
and blocks parse (the 128-bit interface UUID and the block structure validate the message itself): a device
answers a request to udp/34964 from another, ephemeral port, so a request and its response are usually on two
flows (the flow table gives the answer's flow this dissector too: ``answers_from_other_port``). Fragmented
PDUs are reassembled in order, bounded (MAX_FRAGMENTS_BYTES, MAX_PENDING_FRAGMENTS).

Who is who, from the messages (not the port): the end that implements the PNIO *device* interface is the IO
device (it answers Connect/Read/Write/Control and is the caller of ApplicationReady on the *controller*
interface); it carries the ``pnio-cm-server`` label, the other end ``pnio-cm-client``. The Connect requester
is the IO controller (role_hint plc; CMInitiatorStationName is its name); the Connect responder the IO device
(role_hint io-device; ARServerBlock's CMResponderStationName is its name). A record read without an AR
(Read Implicit, a nil AR UUID) is what engineering and diagnosis tools do: role_hint engineering-workstation
for its requester (a controller that also connects is a plc: the merge prefers plc).
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from otscope.dissectors.base import INCOMPLETE, OK, Dissector, Malformed, Protocol, Transport, Truncated, Who
from otscope.dissectors.pnio import facts
from otscope.dissectors.pnio.constants import (CONTROL_BLOCKS, CONTROLLER_IF, EPM_IF, INTERFACES,
                                               MAX_FRAGMENTS_BYTES, MAX_PENDING_FRAGMENTS, Opnum, PnioAnomaly, PType,
                                               opnum_name)
from otscope.dissectors.pnio.grammar import RpcPdu, parse_args, parse_cm, parse_rpc

MAX_PENDING = 64
_NIL = uuid.UUID(int=0)
_IDEMPOTENT = frozenset({PType.PING, PType.WORKING, PType.NOCALL, PType.ACK, PType.FACK, PType.CL_CANCEL,
                         PType.CANCEL_ACK})


class PnioCmDissector(Dissector):
    protocol: ClassVar[Protocol] = Protocol.PNIO
    transport: ClassVar[Transport] = Transport.UDP
    ports: ClassVar[tuple[int, ...]] = (34964,)
    client_label: ClassVar[str] = "pnio-cm-client"
    server_label: ClassVar[str] = "pnio-cm-server"
    # a PNIO device answers a request to udp/34964 from an ephemeral port, and the controller goes on there
    answers_from_other_port: ClassVar[bool] = True

    __slots__ = ("pending", "frags", "device_who", "ids_seen")

    def __init__(self) -> None:
        super().__init__()
        # (activity, seq) -> (opnum, interface, requester side)
        self.pending: dict[tuple[uuid.UUID, int], tuple[int, uuid.UUID, int]] = {}
        self.frags: dict[tuple[int, uuid.UUID, int], list[bytes]] = {}
        self.device_who: int | None = None
        self.ids_seen: set[uuid.UUID] = set()

    # -- framing -----------------------------------------------------------------------------------------
    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        try:
            pdu = parse_rpc(data)
        except (Truncated, Malformed) as exc:
            if not self.labelled:
                return self.fatal(f"not connectionless DCE/RPC: {exc}")
            kind = PnioAnomaly.RPC_TRUNCATED if isinstance(exc, Truncated) else PnioAnomaly.NOT_DCERPC
            self.anomaly(kind, frame, ts)
            return OK
        iface = pdu.interface if pdu.ptype in (PType.REQUEST, PType.RESPONSE) else None
        if iface is not None and iface not in INTERFACES:
            if not self.labelled:
                return self.fatal(f"DCE/RPC interface {iface} is not a PNIO one")
            self.anomaly(PnioAnomaly.UNKNOWN_INTERFACE, frame, ts, str(iface)[:8])
            return OK
        self.decoded += len(data)
        if pdu.interface == EPM_IF:
            self.count("epm")
            return OK
        body = self._reassemble(pdu, side, frame, ts)
        if body is None:
            return INCOMPLETE if pdu.fragmented else OK
        try:
            if pdu.ptype == PType.REQUEST:
                self._request(pdu, body, side, ts, frame)
                self.confirmed = True           # a PNIO interface UUID and well-formed blocks: self-validating
            elif pdu.ptype == PType.RESPONSE:
                self._response(pdu, body, side, ts, frame)
                self.confirmed = True
            elif pdu.ptype in (PType.FAULT, PType.REJECT):
                self.pending.pop((pdu.activity, pdu.seq), None)
                self.count("fault")
                self.anomaly(PnioAnomaly.RPC_FAULT, frame, ts, opnum_name(pdu.opnum))
            elif pdu.ptype in _IDEMPOTENT:
                self.count(PType(pdu.ptype).name.lower())
        except Truncated:
            self.anomaly(PnioAnomaly.RPC_TRUNCATED, frame, ts)
        except Malformed:
            self.anomaly(PnioAnomaly.BAD_BLOCK, frame, ts)
        return OK

    def _reassemble(self, pdu: RpcPdu, side: int, frame: int, ts: float) -> bytes | None:
        """The whole body of a (possibly fragmented) PDU; None while fragments are missing."""
        if not pdu.fragmented:
            return pdu.body
        key = (side, pdu.activity, pdu.seq)
        parts = self.frags.get(key)
        if parts is None:
            if pdu.fragnum != 0:
                return None                              # its first fragment was not captured
            if len(self.frags) >= MAX_PENDING_FRAGMENTS:
                self.frags.pop(next(iter(self.frags)))
                self.anomaly(PnioAnomaly.FRAGMENTS_DROPPED, frame, ts)
            parts = self.frags[key] = []
        if pdu.fragnum != len(parts) or sum(map(len, parts)) + len(pdu.body) > MAX_FRAGMENTS_BYTES:
            del self.frags[key]
            self.anomaly(PnioAnomaly.FRAGMENTS_DROPPED, frame, ts)
            return None
        parts.append(pdu.body)
        if not pdu.last_fragment:
            return None
        del self.frags[key]
        return b"".join(parts)

    # -- who is who --------------------------------------------------------------------------------------
    @staticmethod
    def _who(side: int) -> int:
        return Who.CLIENT if side == 0 else Who.SERVER

    def _device_end(self, pdu: RpcPdu, requester: int) -> int:
        """The IO device end: the callee of the device interface, the caller of the controller interface."""
        return requester if pdu.interface == CONTROLLER_IF else 1 - requester

    def _labels(self, device: int, message: str, frame: int, ts: float) -> None:
        if self.device_who is None:
            self.device_who = device
            self.labelled = True
            self.fact(device, "protocol", self.server_label, message, frame, ts)
            self.fact(1 - device, "protocol", self.client_label, message, frame, ts)

    # -- messages ----------------------------------------------------------------------------------------
    def _request(self, pdu: RpcPdu, body: bytes, side: int, ts: float, frame: int) -> None:
        requester = self._who(side)
        op = pdu.opnum
        name = opnum_name(op)
        if op not in Opnum._value2member_map_:
            self.anomaly(PnioAnomaly.UNKNOWN_OPNUM, frame, ts, name)
        if len(self.pending) >= MAX_PENDING:
            self.pending.pop(next(iter(self.pending)))
        self.pending[(pdu.activity, pdu.seq)] = (op, pdu.interface, side)
        device = self._device_end(pdu, requester)
        msg = f"PNIO-CM {name} request ({INTERFACES.get(pdu.interface, '?')} interface)"
        self._labels(device, msg, frame, ts)
        self._object(pdu, 1 - requester, msg, frame, ts)
        args = parse_args(body, pdu.little, response=False)
        m = parse_cm(args.blocks)
        self._unknown(m.unknown, frame, ts)
        if op == Opnum.CONNECT:
            self.count("connect")
            facts.connect_request(self, m, requester, device, msg, frame, ts)
        elif op in (Opnum.READ, Opnum.READ_IMPLICIT):
            index = m.read[3] if m.read else -1
            self.count(f"read 0x{index:04x}" if index >= 0 else "read")
            if op == Opnum.READ_IMPLICIT or (m.ar_uuid is not None and m.ar_uuid == _NIL):
                self.fact(requester, "role_hint", "engineering-workstation",
                          f"{msg}: record 0x{index:04x} read without an AR (implicit)", frame, ts)
        elif op == Opnum.WRITE:
            self.count("write")
            if m.write:
                self.fact(device, "control_action", f"record write 0x{m.write[3]:04x}", msg, frame, ts)
        elif op == Opnum.CONTROL:
            for btype, _cmd in m.control:
                self.count(f"control {CONTROL_BLOCKS.get(btype, f'0x{btype:04x}')}")
        elif op == Opnum.RELEASE:
            self.count("release")
            self.fact(device, "control_action", "release (AR ends: outputs to substitute values)", msg, frame, ts)

    def _response(self, pdu: RpcPdu, body: bytes, side: int, ts: float, frame: int) -> None:
        """A response carries its operation and interface itself: it is used even when its request was not
        captured (or came on the flow to udp/34964 while this answer comes from the device's other port)."""
        req = self.pending.pop((pdu.activity, pdu.seq), None)
        op, responder = pdu.opnum, self._who(side)
        device = 1 - responder if pdu.interface == CONTROLLER_IF else responder
        if req is None or req[2] == side:
            # its request went to udp/34964, this answer comes from the device's other port (another flow)
            self.count(f"{opnum_name(op)} response")
        self._labels(device, f"PNIO-CM {opnum_name(op)} response", frame, ts)
        msg = f"PNIO-CM {opnum_name(op)} response"
        args = parse_args(body, pdu.little, response=True)
        if args.status != b"\x00\x00\x00\x00":
            self.count("pnio-error")
            self.anomaly(PnioAnomaly.PNIO_ERROR, frame, ts, args.status.hex())
            return
        m = parse_cm(args.blocks)
        self._unknown(m.unknown, frame, ts)
        if op == Opnum.CONNECT:
            facts.connect_response(self, m, device, msg, frame, ts)
        elif op in (Opnum.READ, Opnum.READ_IMPLICIT):
            facts.read_response(self, m, device, msg, frame, ts)

    def _object(self, pdu: RpcPdu, callee: int, msg: str, frame: int, ts: float) -> None:
        if pdu.object not in self.ids_seen and len(self.ids_seen) < 8:
            self.ids_seen.add(pdu.object)
            facts.object_uuid(self, pdu.object, callee, msg, frame, ts)

    def _unknown(self, unknown: list[int], frame: int, ts: float) -> None:
        for btype in unknown:
            self.anomaly(PnioAnomaly.UNKNOWN_BLOCK, frame, ts, f"0x{btype:04x}")

