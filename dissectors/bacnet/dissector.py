"""BACnet/IP per-flow state (udp/47808): one BVLL message per datagram, framed by its declared BVLC length.

Confirmation: a datagram whose BVLC (type 0x81, a known function, a length that fits), NPDU (version 1, no
reserved control bits, a valid SNET/SADR) and APDU header (a known PDU type) all parse is BACnet/IP: it is
self-validating, a broadcast Who-Is or I-Am has no answer on its flow. Before that, anything else on the port
detaches the dissector (not BACnet); after it, a bad datagram is a typed anomaly and the next one is decoded.

Roles come from the messages, per datagram (both ends of a BACnet flow may ask and answer): the sender of
I-Am / I-Have / ACKs / errors / event and COV notifications is a device (``bacnet-server``: a building
controller through the spec's server_roles); the sender of confirmed requests, Who-Is and Who-Has is a client
(``bacnet-client``: HMI/SCADA, or engineering workstation when it restarts a device, switches its
communication off, transfers files or creates / deletes objects); a sender of neither (network layer
discovery, time synchronisation only) is labelled ``bacnet``. A device whose messages carry SNET/SADR sits
behind a BACnet router: its facts go to the component ``bacnet:<snet>:<sadr hex>`` of the router's address.

Routers and BBMDs: the sender of routed traffic (SNET present), of router network messages (I-Am-Router-To-
Network ...), of Forwarded-NPDUs, Read-BDT/FDT-Acks or a successful BVLC-Result gets ``role_hint gateway``:
it joins BACnet networks (IP subnets, MS/TP trunks) for the devices behind it. We chose gateway over
network-device: a BACnet router or BBMD is the one path to the MS/TP devices it serves, like a Modbus or HART
gateway, and it is usually a building controller itself.

Bounded state: the facts given once per flow (labels, role hints: MAX_DEVICES * 4), and the segmented
ComplexACKs being reassembled (MAX_SEGMENTED at once, MAX_REASSEMBLY octets each). Nothing waits for an answer:
an ACK names its own service, a request its own target.
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.bacnet import facts
from otscope.dissectors.bacnet.constants import (BACNET_PORT, BBMD_ANSWERS, BBMD_REQUESTS, BVLC_HEADER,
                                                 BVLC_TYPE_IP, CLIENT_UNCONFIRMED, ENGINEERING_SERVICES,
                                                 MAX_BVLC, MAX_DEVICES, MAX_REASSEMBLY, MAX_SEGMENTED,
                                                 READ_SERVICES, ROUTER_MESSAGES,
                                                 SERVER_CONFIRMED, SERVER_UNCONFIRMED, WRITE_SERVICES,
                                                 BacnetAnomaly, BvlcFunction, BvlcResult, Confirmed,
                                                 EnableDisable, NetworkMessage, PduType, ReinitState,
                                                 Unconfirmed, kebab, name_of)
from otscope.dissectors.bacnet.grammar import (Apdu, Bvlc, Npdu, b_ip, bvlc_header, known_network_message,
                                               network_message_name, parse_apdu, parse_bvlc_body,
                                               parse_communication_control, parse_i_am, parse_i_have,
                                               parse_network_number_is, parse_networks, parse_npdu,
                                               parse_property_ref, parse_read_property_ack, parse_reinitialize,
                                               parse_rpm_ack, parse_who_has, parse_who_is)
from otscope.dissectors.base import FATAL, OK, Dissector, Malformed, Protocol, Transport, Truncated, Who

CLIENT, SERVER, PEER = "bacnet-client", "bacnet-server", "bacnet"
_FUNCTIONS = frozenset(BvlcFunction)
_PDU_TYPES = frozenset(PduType)
ROUTER_WHY = "routes BACnet between networks"
BBMD_WHY = "BACnet broadcast management device (BBMD)"


class _NotBacnet(Exception):
    """A layer did not parse: (anomaly kind, detail)."""

    def __init__(self, kind: BacnetAnomaly, detail: str = "") -> None:
        super().__init__(kind, detail)
        self.kind, self.detail = kind, detail


def _component(net: int | None, mac: bytes) -> str | None:
    return f"bacnet:{net}:{mac.hex()}" if net is not None and mac else None


def _router_networks(mtype: int, body: bytes) -> tuple[int, ...]:
    """The networks a router message says its sender reaches (6.4.2 - 6.4.8); 0 and 65535 name none (6.2.2:
    0 is no network number, 65535 all networks), so a list of only those proves no router. Messages that name
    no network (Router-Busy/Available to all, Initialize-Routing-Table-Ack, Reject-Message) give (-1,)."""
    if mtype == NetworkMessage.I_AM_ROUTER_TO_NETWORK:
        return tuple(x for x in parse_networks(body) if 0 < x < 0xFFFF)
    if mtype == NetworkMessage.I_COULD_BE_ROUTER_TO_NETWORK:
        if len(body) < 3:
            raise Truncated("I-Could-Be-Router-To-Network")
        return tuple(x for x in (body[0] << 8 | body[1],) if 0 < x < 0xFFFF)
    return (-1,)


class BacnetIp(Dissector):
    protocol: ClassVar[Protocol] = Protocol.BACNET
    transport: ClassVar[Transport] = Transport.UDP
    ports: ClassVar[tuple[int, ...]] = (BACNET_PORT,)
    client_label: ClassVar[str] = CLIENT
    server_label: ClassVar[str] = SERVER

    __slots__ = ("said", "segments")

    def __init__(self) -> None:
        super().__init__()
        self.said: set[tuple[int, str | None, str, str]] = set()   # (who, component, field, value) facts given
        # (sender, invoke id) -> [next sequence number, segments, octets] of a segmented ComplexACK
        self.segments: dict[tuple[int, int], list] = {}

    # -- framing -------------------------------------------------------------------------------------------
    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        try:
            b = self._bvlc(data, frame, ts)
            npdu = self._npdu(b)
            apdu = self._apdu(npdu)
        except _NotBacnet as exc:
            if not self.confirmed:
                return self.fatal(f"not bacnet/ip ({exc.kind}{': ' + exc.detail if exc.detail else ''})")
            self.anomaly(exc.kind, frame, ts, exc.detail)
            return OK
        if not self.confirmed:
            self.confirmed = self.labelled = True
        self.decoded += b.length
        who = Who(side)
        try:
            self._message(b, npdu, apdu, who, frame, ts)
        except (Truncated, Malformed) as exc:
            self.anomaly(BacnetAnomaly.MALFORMED_SERVICE, frame, ts, str(exc))
        return OK

    def _bvlc(self, data: bytes, frame: int, ts: float) -> Bvlc:
        try:
            btype, function, length = bvlc_header(data)
        except Truncated as exc:
            raise _NotBacnet(BacnetAnomaly.BAD_LENGTH, str(exc)) from None
        if btype != BVLC_TYPE_IP:
            raise _NotBacnet(BacnetAnomaly.NOT_BVLC, f"0x{btype:02x}")
        if not BVLC_HEADER <= length <= min(len(data), MAX_BVLC):
            raise _NotBacnet(BacnetAnomaly.BAD_LENGTH, str(length))
        if function not in _FUNCTIONS:
            raise _NotBacnet(BacnetAnomaly.UNKNOWN_FUNCTION, f"0x{function:02x}")
        try:
            b = parse_bvlc_body(function, bytes(data[BVLC_HEADER:length]))
        except (Truncated, Malformed) as exc:
            raise _NotBacnet(BacnetAnomaly.MALFORMED_BVLC, str(exc)) from None
        if len(data) > length and self.confirmed:
            self.anomaly(BacnetAnomaly.TRAILING_BYTES, frame, ts)
        elif len(data) > length:
            raise _NotBacnet(BacnetAnomaly.TRAILING_BYTES)
        return b

    @staticmethod
    def _npdu(b: Bvlc) -> Npdu | None:
        if b.npdu is None:
            return None
        try:
            return parse_npdu(b.npdu)
        except (Truncated, Malformed) as exc:
            raise _NotBacnet(BacnetAnomaly.MALFORMED_NPDU, str(exc)) from None

    @staticmethod
    def _apdu(n: Npdu | None) -> Apdu | None:
        if n is None:
            return None
        if n.message_type is not None:
            if not known_network_message(n.message_type):
                raise _NotBacnet(BacnetAnomaly.UNKNOWN_NETWORK_MESSAGE, f"0x{n.message_type:02x}")
            return None
        try:
            a = parse_apdu(n.body)
        except (Truncated, Malformed) as exc:
            raise _NotBacnet(BacnetAnomaly.MALFORMED_APDU, str(exc)) from None
        if a.pdu_type not in _PDU_TYPES:
            raise _NotBacnet(BacnetAnomaly.UNKNOWN_PDU_TYPE, str(a.pdu_type))
        return a

    # -- helpers -------------------------------------------------------------------------------------------
    def say(self, who: int, field: str, value: str, msg: str, frame: int, ts: float, comp: str | None = None) -> None:
        """A fact given once per flow (labels, role hints: the same datagram repeats them every poll)."""
        key = (who, comp, field, value)
        if key in self.said:
            return
        if len(self.said) >= MAX_DEVICES * 4:
            self.anomaly(BacnetAnomaly.DEVICES_LIMIT, frame, ts)
            return
        self.said.add(key)
        self.fact(who, field, value, msg, frame, ts, comp)

    # -- messages ------------------------------------------------------------------------------------------
    def _message(self, b: Bvlc, n: Npdu | None, a: Apdu | None, who: Who, frame: int, ts: float) -> None:
        fn = BvlcFunction(b.function)
        msg = f"BVLC {kebab(fn)}"
        comp = None
        if fn == BvlcFunction.FORWARDED_NPDU:
            self.count("forwarded-npdu")
            origin = b_ip(b.origin)
            self.say(who, "role_hint", "gateway", f"{msg} from {origin}: {BBMD_WHY}", frame, ts)
            self.say(who, "bacnet_forwarded_from", origin, msg, frame, ts)
            self.say(who, "protocol", PEER, msg, frame, ts)
            comp = f"bacnet:fwd:{b.origin.hex()}"
        if n is None:
            self._bvll(b, fn, who, msg, frame, ts)
            return
        if fn == BvlcFunction.DISTRIBUTE_BROADCAST_TO_NETWORK:
            self.count("distribute-broadcast-to-network")
        routed = _component(n.snet, n.sadr)
        if routed:
            self.say(who, "role_hint", "gateway", f"NPDU from network {n.snet} (SNET/SADR): {ROUTER_WHY}", frame,
                     ts, comp)
            self.say(who, "protocol", PEER, "NPDU with SNET/SADR", frame, ts, comp)
            comp = routed
        if n.message_type is not None:
            self._network_message(n, who, comp, frame, ts)
        elif a is not None:
            target = _component(n.dnet, n.dadr)
            self._application(a, who, comp, target, frame, ts)

    def _bvll(self, b: Bvlc, fn: BvlcFunction, who: Who, msg: str, frame: int, ts: float) -> None:
        """BBMD management (J.2): requests make a client, answers a BBMD."""
        if fn != BvlcFunction.RESULT:
            self.count(kebab(fn))
        if fn in BBMD_REQUESTS:
            self.say(who, "protocol", CLIENT, msg, frame, ts)
            if fn == BvlcFunction.REGISTER_FOREIGN_DEVICE and b.ttl is not None:
                self.say(who, "bacnet_foreign_device_ttl", str(b.ttl), msg, frame, ts)
            if fn == BvlcFunction.WRITE_BDT:
                self.fact(Who(1 - who), "control_action", "write-bdt", msg, frame, ts)
                self.say(who, "role_hint", "engineering-workstation", f"{msg}: configures a BBMD", frame, ts)
        elif fn in BBMD_ANSWERS:
            self.say(who, "protocol", SERVER, msg, frame, ts)
            self.say(who, "role_hint", "gateway", f"{msg}: {BBMD_WHY}", frame, ts)
            if b.entries:
                field = "bacnet_bdt" if fn == BvlcFunction.READ_BDT_ACK else "bacnet_fdt"
                self.fact(who, field, ", ".join(b.entries), msg, frame, ts)
        elif fn == BvlcFunction.RESULT and b.result is not None:
            self.say(who, "protocol", SERVER, msg, frame, ts)
            code = name_of(BvlcResult, b.result) if b.result in BvlcResult._value2member_map_ \
                else f"0x{b.result:04x}"
            self.count(f"bvlc-result {code}")
            if b.result == BvlcResult.SUCCESSFUL_COMPLETION:
                self.say(who, "role_hint", "gateway", f"{msg} successful-completion: {BBMD_WHY}", frame, ts)
        else:                                               # Secure-BVLL: not decoded
            self.say(who, "protocol", PEER, msg, frame, ts)

    def _network_message(self, n: Npdu, who: Who, comp: str | None, frame: int, ts: float) -> None:
        mtype = n.message_type
        assert mtype is not None
        name = network_message_name(mtype)
        if n.vendor_id is not None:
            name = f"proprietary 0x{mtype:02x} vendor {n.vendor_id}"
        self.count(f"network {name}")
        msg = f"BACnet network message {name}"
        if mtype in ROUTER_MESSAGES:
            # a router names the networks it reaches (6.4.2); 0 and 65535 name none (6.2.2: 0 is the local
            # network, 65535 all networks), so a list of only those proves no router
            nets = _router_networks(mtype, n.body)
            if not nets:
                self.say(who, "protocol", PEER, msg, frame, ts, comp)
                return
            self.say(who, "role_hint", "gateway", f"{msg}: {ROUTER_WHY}", frame, ts, comp)
            self.say(who, "protocol", SERVER, msg, frame, ts, comp)
            if mtype == NetworkMessage.I_AM_ROUTER_TO_NETWORK:
                self.fact(who, "bacnet_router_networks", ",".join(map(str, nets)), msg, frame, ts, comp)
        else:
            self.say(who, "protocol", PEER, msg, frame, ts, comp)
            if mtype == NetworkMessage.NETWORK_NUMBER_IS:
                net, _flag = parse_network_number_is(n.body)
                self.fact(who, "bacnet_network_number", str(net), msg, frame, ts, comp)

    def _application(self, a: Apdu, who: Who, comp: str | None, target: str | None, frame: int, ts: float) -> None:
        t = a.pdu_type
        if t == PduType.CONFIRMED_REQUEST:
            self._confirmed(a, who, comp, target, frame, ts)
        elif t == PduType.UNCONFIRMED_REQUEST:
            self._unconfirmed(a, who, comp, frame, ts)
        elif t in (PduType.SIMPLE_ACK, PduType.COMPLEX_ACK, PduType.ERROR, PduType.REJECT) or \
                (t in (PduType.ABORT, PduType.SEGMENT_ACK) and a.from_server):
            self._answer(a, who, comp, frame, ts)
        else:                                               # abort / segment-ACK from the client
            self.count(kebab(PduType(t)))

    def _confirmed(self, a: Apdu, who: Who, comp: str | None, target: str | None, frame: int, ts: float) -> None:
        s = a.service
        assert s is not None
        if s not in Confirmed._value2member_map_:
            self.anomaly(BacnetAnomaly.UNKNOWN_SERVICE, frame, ts, f"confirmed-0x{s:02x}")
            self.count(f"confirmed-0x{s:02x}")
            self.say(who, "protocol", CLIENT, f"BACnet confirmed request 0x{s:02x}", frame, ts, comp)
            return
        svc = Confirmed(s)
        name = kebab(svc)
        msg = f"BACnet {name} request"
        self.count(name)
        if svc in WRITE_SERVICES:
            self.count("writes")
        elif svc in READ_SERVICES:
            self.count("reads")
        self.say(who, "protocol", SERVER if svc in SERVER_CONFIRMED else CLIENT, msg, frame, ts, comp)
        if a.segmented:
            self.count("segmented request")
            return
        if svc in ENGINEERING_SERVICES:
            self.say(who, "role_hint", "engineering-workstation", msg, frame, ts, comp)
        if svc == Confirmed.REINITIALIZE_DEVICE:
            r = parse_reinitialize(a.body)
            state = name_of(ReinitState, r.state)
            self.fact(Who(1 - who), "control_action", f"reinitialize-device {state}", msg, frame, ts, target)
        elif svc == Confirmed.DEVICE_COMMUNICATION_CONTROL:
            c = parse_communication_control(a.body)
            what = f"device-communication-control {name_of(EnableDisable, c.enable_disable)}"
            if c.duration is not None:
                what += f" for {c.duration} min"
            self.fact(Who(1 - who), "control_action", what, msg, frame, ts, target)
        elif svc in (Confirmed.WRITE_PROPERTY, Confirmed.READ_PROPERTY):
            parse_property_ref(a.body)                      # validated: a cut request is an anomaly

    def _unconfirmed(self, a: Apdu, who: Who, comp: str | None, frame: int, ts: float) -> None:
        s = a.service
        assert s is not None
        if s not in Unconfirmed._value2member_map_:
            self.anomaly(BacnetAnomaly.UNKNOWN_SERVICE, frame, ts, f"unconfirmed-0x{s:02x}")
            self.count(f"unconfirmed-0x{s:02x}")
            self.say(who, "protocol", PEER, f"BACnet unconfirmed request 0x{s:02x}", frame, ts, comp)
            return
        svc = Unconfirmed(s)
        name = kebab(svc)
        msg = f"BACnet {name}"
        self.count(name)
        label = SERVER if svc in SERVER_UNCONFIRMED else CLIENT if svc in CLIENT_UNCONFIRMED else PEER
        if svc == Unconfirmed.I_AM:
            facts.i_am(self, who, parse_i_am(a.body), comp, msg, frame, ts)
        elif svc == Unconfirmed.I_HAVE:
            facts.i_have(self, who, parse_i_have(a.body), comp, msg, frame, ts)
        elif svc == Unconfirmed.WHO_IS:
            parse_who_is(a.body)
        elif svc == Unconfirmed.WHO_HAS:
            parse_who_has(a.body)
        self.say(who, "protocol", label, msg, frame, ts, comp)

    def _answer(self, a: Apdu, who: Who, comp: str | None, frame: int, ts: float) -> None:
        t = PduType(a.pdu_type)
        kind = kebab(t)
        s = a.service
        sname = "" if s is None else kebab(Confirmed(s)) if s in Confirmed._value2member_map_ else f"0x{s:02x}"
        msg = f"BACnet {sname} {kind}".replace("  ", " ") if sname else f"BACnet {kind}"
        self.count(f"{kind} {sname}".strip() if t in (PduType.ERROR, PduType.SIMPLE_ACK) else kind)
        self.say(who, "protocol", SERVER, msg, frame, ts, comp)
        if t != PduType.COMPLEX_ACK:
            return
        body = a.body
        if a.segmented:
            self.count("segmented complex-ack")
            whole = self._segment(a, who, frame, ts)
            if whole is None:
                return
            body = whole
        if s == Confirmed.READ_PROPERTY:
            facts.device_property(self, who, parse_read_property_ack(body), comp, msg, frame, ts)
        elif s == Confirmed.READ_PROPERTY_MULTIPLE:
            for pv in parse_rpm_ack(body):
                facts.device_property(self, who, pv, comp, msg, frame, ts)

    def _segment(self, a: Apdu, who: Who, frame: int, ts: float) -> bytes | None:
        """A segmented ComplexACK (20.1.5, 5.4.5): segments in sequence order are joined (bounded: MAX_SEGMENTED
        messages at once, MAX_REASSEMBLY octets each); the whole service body when the last one (more-follows
        clear) arrives. A repeated segment is ignored, a gap drops the message (counted)."""
        key = (who, a.invoke_id or 0)
        seq, more = a.sequence or 0, bool(a.flags & 0x04)
        ent = self.segments.get(key)
        if seq == 0:
            if ent is None and len(self.segments) >= MAX_SEGMENTED:
                self.segments.pop(next(iter(self.segments)))
                self.anomaly(BacnetAnomaly.REASSEMBLY_CAP, frame, ts)
            ent = self.segments[key] = [0, [], 0]
        if ent is None or seq != ent[0]:
            if ent is not None and (ent[0] - seq) & 0xFF < 0x80:
                return None                                 # a segment again (its segment-ACK was lost)
            self.segments.pop(key, None)
            self.count("segments lost")
            return None
        ent[0] = (seq + 1) & 0xFF
        ent[1].append(a.body)
        ent[2] += len(a.body)
        if ent[2] > MAX_REASSEMBLY:
            del self.segments[key]
            self.anomaly(BacnetAnomaly.REASSEMBLY_CAP, frame, ts)
            return None
        if more:
            return None
        del self.segments[key]
        return b"".join(ent[1])
