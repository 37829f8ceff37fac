"""Beckhoff ADS/AMS: hex messages from the real captures (ITI ICS-Security-Tools beckoff/beckoffiplinktc2.pcapng:
a TwinCAT 2.11 CX on Windows CE), a TwinCAT 3 discovery answer (Pavels-Dev twincat-scan.nse, its example), the
layouts of the ADS specification; malformed, truncated and unknown codes, every anomaly kind, orientation from
the messages."""

from __future__ import annotations

import struct

import pytest

from otscope.dissectors.ads.constants import BODY_KEEP, AdsAnomaly, Command
from otscope.dissectors.ads.dissector import AdsTcp, AdsUdp
from otscope.dissectors.ads.grammar import (os_version, parse_ams_header, parse_device_info, parse_read_state,
                                            parse_tcp_header, parse_udp, twincat_version)
from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Malformed, Truncated, Who

# beckoffiplinktc2.pcapng frames 79/80: Read State request (invoke 3) and its answer (RUN, device state 2);
# tshark: sender 192.168.1.99.1.1:32770 -> target 5.13.117.96.1.1:10000, cmd 4, flags 0x0004 / 0x0005
RS_REQ = bytes.fromhex("000020000000050d756001011027c0a801630101028004000400000000000000000003000000")
RS_RSP = bytes.fromhex("000028000000c0a8016301010280050d756001011027040005000800000000000000030000000000000005000200")
# frames 65/66: UDP discovery request and answer (host CX_0D7560, Windows CE 6.0, TwinCAT 2.11.2228)
DISC_REQ = bytes.fromhex("036614710000000001000000c0a801630101102700000000")
DISC_RSP = bytes.fromhex(
    "036614710000000001000080050d7560010110270300000005000a0043585f30443735363000040014011401000006000000"
    "000000000000000003000000" + "00" * 256 + "03000400020bb408")
# twincat-scan.nse's example answer of a TwinCAT 3.1.4024 runtime on Windows 10 (build 19045), with a fingerprint
TC3_RSP = bytes.fromhex(
    "036614710000000001000080c0a800060101102704000000050010004445534b544f502d523049393751340004001401140100000a"
    "00000000000000654a000002000000" + "00" * 256 + "030004000301b80f1200410063323939353261333937363633"
    "3334323366313138393133613834623061633637316638343165623536383337623237303964653636336630633937316639"
    "3100")
SRV, CLI = "5.13.117.96.1.1", "192.168.1.99.1.1"


def nid(s: str) -> bytes:
    return bytes(int(x) for x in s.split("."))


def ams(cmd: int, flags: int, body: bytes = b"", invoke: int = 7, src: str = CLI, dst: str = SRV, sport: int = 32770,
        dport: int = 851, error: int = 0, reserved: int = 0, cb: int | None = None, length: int | None = None) -> bytes:
    hdr = nid(dst) + struct.pack("<H", dport) + nid(src) + struct.pack("<HHHIII", sport, cmd, flags,
                                                                       len(body) if cb is None else cb, error, invoke)
    return struct.pack("<HI", reserved, 32 + len(body) if length is None else length) + hdr + body


def req(cmd: int, body: bytes = b"", invoke: int = 7, **kw) -> bytes:
    return ams(cmd, 0x0004, body, invoke, **kw)


def rsp(cmd: int, body: bytes = b"", invoke: int = 7, **kw) -> bytes:
    kw.setdefault("src", SRV)
    kw.setdefault("dst", CLI)
    return ams(cmd, 0x0005, body, invoke, **kw)


def devinfo(name: bytes = b"Plc30 App".ljust(16, b"\0")) -> bytes:
    return b"\0\0\0\0" + struct.pack("<BBH", 3, 1, 4024) + name


def facts(d) -> dict[tuple[int, str], set[str]]:
    out: dict[tuple[int, str], set[str]] = {}
    for f in d.out:
        out.setdefault((f.who, f.field), set()).add(f.value)
    return out


def kinds(d) -> list[str]:
    return [a.kind for a in d.anomalies]


def confirmed_tcp() -> AdsTcp:
    d = AdsTcp()
    assert d.feed(RS_REQ, 0, 0.0, 1) == OK and d.feed(RS_RSP, 1, 0.1, 2) == OK and d.confirmed
    return d


# -- grammar ---------------------------------------------------------------------------------------------------

def test_capture_headers_decode_as_tshark_does() -> None:
    assert parse_tcp_header(RS_REQ) == (0, 32)
    h = parse_ams_header(RS_REQ, 6)
    assert (h.target, h.target_port, h.source, h.source_port) == (SRV, 10000, CLI, 32770)
    assert (h.command, h.flags, h.length, h.error, h.invoke) == (4, 0x0004, 0, 0, 3)
    r = parse_ams_header(RS_RSP, 6)
    assert (r.source, r.flags, r.length, r.invoke) == (SRV, 0x0005, 8, 3)
    st = parse_read_state(RS_RSP[38:])
    assert (st.result, st.ads_state, st.device_state) == (0, 5, 2)


def test_device_info_with_16_and_11_byte_names() -> None:
    i = parse_device_info(devinfo())
    assert (i.name, i.version_text) == ("Plc30 App", "3.1.4024")
    assert parse_device_info(devinfo(b"TestServer\0")).name == "TestServer"      # pyads' stock reply
    assert parse_device_info(struct.pack("<I", 0x701)).result == 0x701           # an error answer has no body
    with pytest.raises(Truncated):
        parse_device_info(b"\0\0\0\0\x03")


def test_udp_discovery_answer_of_the_capture() -> None:
    m = parse_udp(DISC_RSP)
    assert (m.invoke, m.service, m.response, m.netid, m.port, m.cut) == (0, 1, True, SRV, 10000, False)
    tags = dict(m.tags)
    assert sorted(tags) == [3, 4, 5] and tags[5] == b"CX_0D7560\0"
    assert twincat_version(tags[3]) == "2.11.2228"
    osv = os_version(tags[4])
    assert (osv.os, osv.numbers) == ("Windows CE 6.0", "platform 3 version 6.0.0")
    q = parse_udp(DISC_REQ)
    assert (q.response, q.service, q.netid, q.tags) == (False, 1, CLI, ())


def test_udp_tc3_answer_windows_10_and_fingerprint() -> None:
    tags = dict(parse_udp(TC3_RSP).tags)
    assert twincat_version(tags[3]) == "3.1.4024"
    assert os_version(tags[4]).os == "Windows NT 10.0 build 19045"
    assert tags[18].startswith(b"c29952a3") and len(tags[18]) == 65


def test_udp_grammar_refuses_and_cuts() -> None:
    with pytest.raises(Malformed):
        parse_udp(b"\x00" * 24)
    with pytest.raises(Truncated):
        parse_udp(DISC_REQ[:15])
    assert parse_udp(DISC_RSP[:40]).cut
    with pytest.raises(Malformed):
        os_version(struct.pack("<5I", 999, 6, 0, 0, 3))                # the size word disagrees with the tag
    with pytest.raises(Truncated):
        twincat_version(b"\x02\x0b")


# -- the TCP dissector -----------------------------------------------------------------------------------------

def test_capture_exchange_confirms_labels_and_facts() -> None:
    d = confirmed_tcp()
    f = facts(d)
    assert f[(Who.CLIENT, "protocol")] == {"ads-client"} and f[(Who.SERVER, "protocol")] == {"ads-server"}
    assert f[(Who.CLIENT, "ads_netid")] == {CLI} and f[(Who.SERVER, "ads_netid")] == {SRV}
    assert f[(Who.SERVER, "cpu_state")] == {"RUN"} and f[(Who.SERVER, "ads_device_state")] == {"2"}
    assert f[(Who.SERVER, "ads_port")] == {"10000"}
    assert (Who.CLIENT, "ads_port") not in f and d.profile == {"read-state": 1} and not d.anomalies
    assert d.decoded == len(RS_REQ) + len(RS_RSP)


def test_orientation_comes_from_the_messages_not_the_side() -> None:
    """A flow whose first packet was the PLC's answer (no handshake, 48898 decides nothing): the side that asks
    is the client, whatever side the flow table gave it."""
    d = AdsTcp()
    assert d.feed(rsp(Command.READ_DEVICE_INFO, devinfo(), 5), 0, 0.0, 1) == OK
    assert d.feed(req(Command.READ_DEVICE_INFO, b"", 6), 1, 0.1, 2) == OK
    assert d.feed(rsp(Command.READ_DEVICE_INFO, devinfo(), 6), 0, 0.2, 3) == OK and d.confirmed
    f = facts(d)
    assert f[(Who.CLIENT, "protocol")] == {"ads-server"} and f[(Who.SERVER, "protocol")] == {"ads-client"}
    assert f[(Who.CLIENT, "product")] == {"Plc30 App"} and f[(Who.CLIENT, "firmware")] == {"3.1.4024"}
    assert d.profile == {"read-device-info response unmatched": 1, "read-device-info": 1}


def test_write_control_is_a_control_action_and_an_engineering_trait() -> None:
    d = confirmed_tcp()
    d.feed(req(Command.WRITE_CONTROL, struct.pack("<HHI", 6, 0, 0), 9), 0, 1.0, 3)
    d.feed(rsp(Command.WRITE_CONTROL, b"\0\0\0\0", 9), 1, 1.1, 4)
    f = facts(d)
    assert f[(Who.SERVER, "control_action")] == {"stop (ADS state STOP, AMS port 851)"}
    assert f[(Who.CLIENT, "role_hint")] == {"engineering-workstation"}
    d.feed(req(Command.WRITE_CONTROL, struct.pack("<HHI", 0x63, 0, 0), 10), 0, 1.2, 5)   # unknown state: number
    assert "set state (ADS state 0x0063, AMS port 851)" in facts(d)[(Who.SERVER, "control_action")]
    assert d.profile["write-control STOP"] == 1 and d.profile["write-control 0x0063"] == 1


def test_unknown_ads_state_keeps_its_number_and_errors_are_counted() -> None:
    d = confirmed_tcp()
    d.feed(req(Command.READ_STATE, b"", 11), 0, 1.0, 3)
    d.feed(rsp(Command.READ_STATE, struct.pack("<IHH", 0, 0x42, 0), 11), 1, 1.1, 4)
    assert "0x0042" in facts(d)[(Who.SERVER, "cpu_state")]
    d.feed(req(Command.READ, struct.pack("<III", 0x4020, 0, 4), 12), 0, 1.2, 5)
    d.feed(rsp(Command.READ, struct.pack("<II", 0x710, 0), 12), 1, 1.3, 6)
    d.feed(req(Command.READ, struct.pack("<III", 0x4020, 0, 4), 13), 0, 1.4, 7)
    d.feed(rsp(Command.READ, b"", 13, error=0x745), 1, 1.5, 8)
    assert d.profile["read error 0x710"] == 1 and d.profile["read ams error 0x745"] == 1


def test_device_notification_sender_is_the_server() -> None:
    d = AdsTcp()
    assert d.feed(ams(Command.DEVICE_NOTIFICATION, 0x0004, struct.pack("<II", 0, 0), src=SRV, dst=CLI), 0, 0.0, 1) == OK
    assert facts(d)[(Who.CLIENT, "protocol")] == {"ads-server"} and not d.confirmed


def test_long_read_answer_is_skipped_by_its_length_not_buffered() -> None:
    d = confirmed_tcp()
    d.feed(req(Command.READ, struct.pack("<III", 0x4020, 0, 5000), 20), 0, 1.0, 3)
    big = rsp(Command.READ, struct.pack("<II", 0, 5000) + bytes(5000), 20)
    after = rsp(Command.READ_STATE, struct.pack("<IHH", 0, 6, 0), 21)
    d.feed(req(Command.READ_STATE, b"", 21), 0, 1.1, 4)
    assert d.feed(big[:90], 1, 1.2, 5) == INCOMPLETE
    assert d.feed(big[90:110], 1, 1.25, 5) == OK and d.skip[1] == len(big) - 110
    assert d.feed(big[110:3000], 1, 1.3, 6) == OK and not d.buf.pending[1]
    assert d.feed(big[3000:] + after[:10], 1, 1.4, 7) == INCOMPLETE
    assert d.feed(after[10:], 1, 1.5, 8) == OK
    assert "STOP" in facts(d)[(Who.SERVER, "cpu_state")] and not d.anomalies
    assert len(d.buf.pending[1]) == 0 and BODY_KEEP < 5000


@pytest.mark.parametrize("frame", [
    ams(4, 0x0004, reserved=0x1000),                 # an AMS/TCP router command, not an AMS packet
    ams(4, 0x0004, length=8),                        # shorter than the AMS header
    ams(4, 0x0004, cb=4),                            # cbData disagrees with the AMS/TCP length
    ams(4, 0x0000),                                  # no ADS command bit
    ams(0x77, 0x0004),                               # unknown command
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(40),
])
def test_not_ads_before_confirmation_is_fatal(frame: bytes) -> None:
    d = AdsTcp()
    assert d.feed(frame, 0, 0.0, 1) == FATAL and d.fatal_reason.startswith("not ads")


def test_every_tcp_anomaly_after_confirmation() -> None:
    d = confirmed_tcp()
    d.feed(ams(4, 0x0004, cb=4), 0, 1.0, 3)                          # framed by the AMS/TCP length, parsed
    d.feed(ams(0x77, 0x0004), 0, 1.1, 4)
    d.feed(ams(4, 0x0008), 0, 1.2, 5)                                # a system command (no ADS bit): skipped
    d.feed(req(Command.READ, b"\x01\x02"), 0, 1.3, 6)                # a Read without index group/offset/length
    d.feed(ams(4, 0x0004, reserved=1), 0, 1.4, 7)
    d.feed(RS_REQ, 0, 1.5, 8)                                        # a good frame resets the resync count
    d.feed(ams(4, 0x0004, length=2), 0, 1.6, 9)
    assert kinds(d) == ["ads-length-mismatch", "ads-unknown-command-0x0077", "ads-not-ads-command",
                        "ads-short-body-read", "ads-bad-reserved", "ads-bad-length"]
    assert d.feed(ams(4, 0x0004, reserved=1), 0, 1.7, 10) == OK
    assert d.feed(ams(4, 0x0004, reserved=1), 0, 1.8, 11) == FATAL and "lost framing" in d.fatal_reason


def test_pending_and_netid_caps() -> None:
    d = confirmed_tcp()
    for i in range(70):
        d.feed(req(Command.READ_STATE, b"", 100 + i, src=f"10.0.{i}.1.1.1"), 0, 1.0, 3 + i)
    assert AdsAnomaly.PENDING_REQUESTS_CAP.value in kinds(d) and len(d.pending) <= 64
    assert AdsAnomaly.NETIDS_LIMIT.value in kinds(d) and len(d.netids[0]) == 16


# -- the UDP service -------------------------------------------------------------------------------------------

def test_udp_discovery_exchange_of_the_capture() -> None:
    d = AdsUdp()
    assert d.feed(DISC_REQ, 0, 0.0, 65) == OK and d.feed(DISC_RSP, 1, 0.1, 66) == OK and d.confirmed
    f = facts(d)
    assert f[(Who.CLIENT, "protocol")] == {"ads-client"} and (Who.CLIENT, "ads_netid") not in f   # a placeholder
    assert f[(Who.SERVER, "protocol")] == {"ads-server"} and f[(Who.SERVER, "ads_netid")] == {SRV}
    assert f[(Who.SERVER, "name")] == {"CX_0D7560"} and f[(Who.SERVER, "os")] == {"Windows CE 6.0"}
    assert f[(Who.SERVER, "ads_twincat_version")] == {"2.11.2228"}
    assert f[(Who.SERVER, "vendor")] == {"Beckhoff Automation"}
    assert (Who.SERVER, "firmware") not in f and not d.anomalies


def test_udp_tc3_answer_alone_is_labelled_not_confirmed() -> None:
    d = AdsUdp()
    assert d.feed(TC3_RSP, 0, 0.0, 1) == OK and d.labelled and not d.confirmed
    f = facts(d)
    assert f[(Who.CLIENT, "name")] == {"DESKTOP-R0I97Q4"} and f[(Who.CLIENT, "protocol")] == {"ads-server"}
    assert f[(Who.CLIENT, "os")] == {"Windows NT 10.0 build 19045"}
    assert next(iter(f[(Who.CLIENT, "ads_fingerprint")])).startswith("c29952a3")


def udp(service: int, tags: list[tuple[int, bytes]], invoke: int = 1, netid: str = CLI) -> bytes:
    body = b"".join(struct.pack("<HH", t, len(v)) + v for t, v in tags)
    return struct.pack("<III", 0x71146603, invoke, service) + nid(netid) + struct.pack("<HI", 10000, len(tags)) + body


def test_add_route_never_reports_the_password() -> None:
    d = AdsUdp()
    d.feed(udp(6, [(12, b"ews-7\0"), (7, nid("10.1.1.7.1.1")), (13, b"Administrator\0"), (2, b"1\0"),
                   (5, b"10.1.1.7\0"), (14, bytes(16))]), 0, 0.0, 1)
    d.feed(udp(0x80000006, [(1, b"\0\0\0\0")], netid=SRV), 1, 0.1, 2)
    f = facts(d)
    assert f[(Who.CLIENT, "ads_route_name")] == {"ews-7"} and f[(Who.CLIENT, "ads_route_user")] == {"Administrator"}
    assert f[(Who.CLIENT, "ads_netid")] == {CLI, "10.1.1.7.1.1"} and f[(Who.CLIENT, "ads_route_address")] == {"10.1.1.7"}
    assert f[(Who.CLIENT, "role_hint")] == {"engineering-workstation"}
    assert f[(Who.SERVER, "ads_route_result")] == {"accepted"} and (Who.SERVER, "config_change") in f
    assert not any(x.value == "1" for x in d.out) and d.profile["add-route tag password"] == 1
    assert d.profile["add-route tag 14"] == 1 and d.confirmed
    d.feed(udp(0x80000006, [(1, struct.pack("<I", 0x704))], invoke=2, netid=SRV), 1, 0.2, 3)
    assert "refused 0x704" in facts(d)[(Who.SERVER, "ads_route_result")]


def test_udp_anomalies_and_not_ads() -> None:
    assert AdsUdp().feed(b"\x01\x02\x03\x04" + bytes(30), 0, 0.0, 1) == FATAL
    d = AdsUdp()
    d.feed(DISC_REQ, 0, 0.0, 1)
    d.feed(b"junk" * 5, 1, 0.1, 2)
    d.feed(DISC_RSP[:40], 1, 0.2, 3)
    d.feed(udp(0x2A, []), 0, 0.3, 4)
    assert kinds(d) == ["ads-bad-udp-header", "ads-bad-udp-tag-discovery", "ads-unknown-udp-service-0x2a"]
    assert d.profile["service 0x2a request"] == 1


def test_broadcast_search_through_the_pipeline(tmp_path) -> None:
    """TwinCAT's broadcast search: the request to 255.255.255.255 says nothing about the broadcast address; the
    answer (unicast, from 48899 to 48899, no handshake to orient it) makes its sender the ADS server."""
    from tests.conftest import run_pipeline, write_pcap
    from tests.support.frames import udp as udp_frame
    frames = [udp_frame("192.168.1.99", "255.255.255.255", 48899, 48899, DISC_REQ),
              udp_frame("192.168.1.8", "192.168.1.99", 48899, 48899, DISC_RSP, smac="00:01:05:0d:75:60",
                        dmac="00:0c:29:00:00:02")]
    _p, b = run_pipeline(write_pcap(tmp_path / "search.pcap", frames))
    got = {(f.subject.ip, f.field, f.value) for f in b.facts if f.protocol == "ads"}
    assert ("192.168.1.99", "protocol", "ads-client") in got and ("192.168.1.8", "protocol", "ads-server") in got
    assert ("192.168.1.8", "name", "CX_0D7560") in got and not any(ip == "255.255.255.255" for ip, _f, _v in got)
    assert not any(ip == "192.168.1.99" and f != "protocol" for ip, f, _v in got)
