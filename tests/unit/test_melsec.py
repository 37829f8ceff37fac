"""MELSEC SLMP / MC protocol grammar and dissector from real bytes (pymcprotocol 0.3.0 against virtual-plc 0.3.0,
3E binary and 4E ASCII; SLMP Reference Manual layouts) and the MELSOFT udp/5560 datagram (frames 13/14 of
ITI/ICS-Security-Tools pcaps/MELSEC/melsoft_UDP_clean_1.pcap): framing, matching, identity, control actions,
unknown codes by number, every anomaly kind."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Malformed, Truncated, Who
from otscope.dissectors.melsec.constants import command_name
from otscope.dissectors.melsec.dissector import MAX_PENDING, MelsecTcp, MelsecUdp, MelsoftUdp
from otscope.dissectors.melsec.grammar import (device_of, frame_size, melsoft_cpu_model, parse_cpu_model,
                                               parse_melsoft, parse_message)

H = bytes.fromhex
# pymcprotocol Type3E binary read_cputype() and virtual-plc's answer (Q03UDVCPU, code 0x0366)
REQ_CPU = H("500000ffff03000600040001010000")
RSP_CPU = H("d00000ffff030014000000513033554456435055000000000000006603")
REQ_READ_D = H("500000ffff03000c00040001040000000000a80400")        # batch read D0, 4 words
RSP_READ_D = H("d00000ffff03000a0000000000000000000000")
REQ_WRITE_D = H("500000ffff030012000400011400000a0000a80300010002000300")
REQ_STOP = H("500000ffff030008000400021000000100")
RSP_OK = H("d00000ffff030002000000")
# pymcprotocol Type4E ASCII read_cputype() and the answer (space padded name)
REQ_CPU_4E_ASCII = b"54000000000000FF03FF00000C000401010000"
RSP_CPU_4E_ASCII = b"D4000000000000FF03FF0000180000Q03UDVCPU       0366"
REQ_READ_4E_ASCII = b"54000000000000FF03FF000018000404010000D*0001000002"
# MELSOFT frames 13 and 14 (GX Works3 <-> FX5U-32MT/ES)
MELSOFT_REQ = H("57010000001111070000ffff030000fe03000020001c0a16140000000000000000000000000000000000000000012101"
                "0000000001")
MELSOFT_RSP = H("d70100000011117f000000a80300ffff03000038009c0a1814000000000000000000000000000000000000000000000121"
                "01000000465835552d33324d542f455300000000294a000800000000")


def facts(d) -> dict[tuple[int, str], set[str]]:
    out: dict[tuple[int, str], set[str]] = {}
    for f in d.out:
        out.setdefault((f.who, f.field), set()).add(f.value)
    return out


def kinds(d) -> list[str]:
    return [a.kind for a in d.anomalies]


# -- grammar -------------------------------------------------------------------------------------------------

def test_3e_binary_frames() -> None:
    lay = frame_size(REQ_CPU)
    assert (lay.header, lay.size, lay.ascii, lay.is_4e, lay.is_response) == (9, 15, False, False, False)
    m = parse_message(REQ_CPU, lay)
    assert (m.network, m.pc, m.io, m.station, m.command, m.subcommand) == (0, 0xFF, 0x03FF, 0, 0x0101, 0)
    r = parse_message(RSP_CPU, frame_size(RSP_CPU))
    assert r.end_code == 0 and parse_cpu_model(r.data, False) == type(parse_cpu_model(r.data, False))("Q03UDVCPU",
                                                                                                     0x0366)
    w = parse_message(REQ_WRITE_D, frame_size(REQ_WRITE_D))
    assert w.command == 0x1401 and device_of(w.data, False, w.subcommand or 0) == "D"


def test_4e_ascii_frames() -> None:
    lay = frame_size(REQ_CPU_4E_ASCII)
    assert (lay.header, lay.size, lay.ascii, lay.is_4e) == (26, len(REQ_CPU_4E_ASCII), True, True)
    m = parse_message(REQ_CPU_4E_ASCII, lay)
    assert (m.serial, m.pc, m.io, m.command) == (0, 0xFF, 0x03FF, 0x0101)
    r = parse_message(RSP_CPU_4E_ASCII, frame_size(RSP_CPU_4E_ASCII))
    cm = parse_cpu_model(r.data, True)
    assert (cm.name, cm.code) == ("Q03UDVCPU", 0x0366)
    rd = parse_message(REQ_READ_4E_ASCII, frame_size(REQ_READ_4E_ASCII))
    assert device_of(rd.data, True, rd.subcommand or 0) == "D"


def test_3e_binary_4e_serial_and_ascii_3e() -> None:
    four = H("5400" "3412" "0000") + REQ_CPU[2:]
    m = parse_message(four, frame_size(four))
    assert m.serial == 0x1234 and m.command == 0x0101
    ascii3 = b"500000FF03FF00000C000401010000"
    assert parse_message(ascii3, frame_size(ascii3)).command == 0x0101


def test_framing_errors() -> None:
    with pytest.raises(Truncated):
        frame_size(REQ_CPU[:3])
    with pytest.raises(Truncated):
        frame_size(REQ_CPU[:8])
    with pytest.raises(Malformed):
        frame_size(b"GET / HTTP/1.1\r\n")
    with pytest.raises(Malformed):
        frame_size(H("500000ffff03000100"))                  # a request shorter than timer + command + sub
    with pytest.raises(Malformed):
        frame_size(b"500000FF03FF00zz0C00")                   # not hex text
    with pytest.raises(Truncated):
        parse_cpu_model(b"Q03", False)
    with pytest.raises(Truncated):
        device_of(b"\0\0", False, 0)
    assert device_of(H("000000ee0100"), False, 0) == "0xee" and command_name(0x7777) == "0x7777"


def test_melsoft_datagrams() -> None:
    q, a = parse_melsoft(MELSOFT_REQ), parse_melsoft(MELSOFT_RSP)
    assert (q.is_response, q.command, a.is_response, a.command, a.end_code) == (False, 0x0121, True, 0x0121, 0)
    cm = melsoft_cpu_model(a)
    assert cm is not None and (cm.name, cm.code) == ("FX5U-32MT/ES", 0x4A29)
    assert melsoft_cpu_model(q) is None
    with pytest.raises(Malformed):
        parse_melsoft(MELSOFT_REQ[:-1])                        # the length must count the body exactly
    with pytest.raises(Malformed):
        parse_melsoft(H("5702") + MELSOFT_REQ[2:])
    with pytest.raises(Malformed):
        parse_melsoft(MELSOFT_RSP[:21] + H("1c") + MELSOFT_RSP[22:])   # a response without the response bit
    bad = bytearray(MELSOFT_RSP)
    bad[21 + 32] = 0x01
    with pytest.raises(Malformed):
        melsoft_cpu_model(parse_melsoft(bytes(bad)))


# -- dissector -----------------------------------------------------------------------------------------------

def test_3e_exchange_identity_profile_and_control() -> None:
    d = MelsecTcp()
    assert d.feed(REQ_CPU, 0, 0.0, 1) == OK and not d.confirmed
    assert d.feed(RSP_CPU[:10], 1, 0.0, 2) == INCOMPLETE
    assert d.feed(RSP_CPU[10:], 1, 0.0, 3) == OK and d.confirmed
    d.feed(REQ_READ_D + REQ_WRITE_D, 0, 0.0, 4)
    d.feed(RSP_READ_D + RSP_OK, 1, 0.0, 5)
    d.feed(REQ_STOP, 0, 0.0, 6)
    d.feed(RSP_OK, 1, 0.0, 7)
    got = facts(d)
    assert got[(Who.SERVER, "product")] == {"Q03UDVCPU"} and got[(Who.SERVER, "melsec_cpu_code")] == {"0x0366"}
    assert got[(Who.SERVER, "vendor")] == {"Mitsubishi Electric"}
    assert got[(Who.SERVER, "control_action")] == {"remote stop"}
    assert got[(Who.CLIENT, "protocol")] == {"melsec-client"} and got[(Who.SERVER, "protocol")] == {"melsec-server"}
    assert d.profile == {"read-cpu-model": 1, "batch-read": 1, "batch-read D": 1, "batch-write": 1,
                         "batch-write D": 1, "remote-stop": 1}
    assert d.anomalies == []


def test_4e_ascii_over_udp() -> None:
    d = MelsecUdp()
    d.feed(REQ_CPU_4E_ASCII, 0, 0.0, 1)
    d.feed(RSP_CPU_4E_ASCII, 1, 0.0, 2)
    assert d.confirmed and facts(d)[(Who.SERVER, "product")] == {"Q03UDVCPU"}
    assert d.feed(REQ_CPU_4E_ASCII + b"00", 0, 0.0, 3) == OK and kinds(d)[0].startswith("melsec-bad-length")
    assert MelsecUdp().feed(REQ_CPU + b"\0", 0, 0.0, 1) == FATAL


def test_end_codes_are_kept_and_unmatched_answers_wait() -> None:
    d = MelsecTcp()
    d.feed(RSP_CPU, 1, 0.0, 1)
    assert not d.confirmed and d.out == []                 # an answer to a request we did not see
    d.feed(REQ_CPU, 0, 0.0, 2)
    d.feed(H("d00000ffff0300020059c0"), 1, 0.0, 3)         # end code 0xC059: command not supported
    assert d.confirmed and d.profile["read-cpu-model end code 0xc059"] == 1 and (Who.SERVER, "product") not in facts(d)
    d.feed(RSP_OK, 1, 0.0, 4)
    assert d.profile["response unmatched"] == 1


def test_not_slmp_is_fatal_before_confirmation() -> None:
    assert MelsecTcp().feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, 0.0, 1) == FATAL
    assert MelsecTcp().feed(H("500000ffff030006000400") + H("7777") + H("0000"), 0, 0.0, 1) == FATAL
    assert MelsecTcp().feed(H("500000ffff0300ffff"), 0, 0.0, 1) == FATAL
    assert MelsecTcp().feed(b"5000" + b"00FF03FF00zz0C00" + bytes(20), 0, 0.0, 1) == FATAL


def test_anomalies_after_confirmation() -> None:
    d = MelsecTcp()
    d.feed(REQ_CPU, 0, 0.0, 1)
    d.feed(RSP_CPU, 1, 0.0, 2)
    assert d.feed(H("500000ffff030006000400") + H("7777") + H("0000"), 0, 0.0, 3) == OK
    assert d.feed(H("500000ffff030006000400") + H("0104") + H("0000"), 0, 0.0, 4) == OK    # batch read, no device
    d.feed(RSP_OK + RSP_OK, 1, 0.0, 5)                     # 3E answers go to the oldest requests
    d.feed(REQ_CPU, 0, 0.0, 5)
    d.feed(H("d00000ffff030005000000513033"), 1, 0.0, 6)                                   # cut model name
    assert d.feed(b"5000" + b"00FF03FF00000C" + b"001004zz0000", 0, 0.0, 7) == OK          # not hex text
    assert d.feed(H("1234") + bytes(20), 0, 0.0, 8) == OK
    k = kinds(d)
    assert k[0] == "melsec-unknown-command-0x7777" and k[1] == "melsec-short-request-batch-read"
    assert k[2].startswith("melsec-short-response-read-cpu-model") and k[3].startswith("melsec-bad-ascii")
    assert k[4].startswith("melsec-unknown-subheader") and d.profile["0x7777"] == 1
    assert d.feed(H("500000ffff0300ffff"), 0, 0.0, 9) == OK and kinds(d)[5].startswith("melsec-bad-length")
    assert d.feed(H("1234") + bytes(20), 0, 0.0, 10) == FATAL          # three lost framings in a row


def test_pending_cap_and_buffer_overflow() -> None:
    d = MelsecTcp()
    d.feed(REQ_CPU * (MAX_PENDING + 1), 0, 0.0, 1)
    assert "pending-requests-cap" in kinds(d)
    four = MelsecTcp()
    for serial in range(MAX_PENDING + 1):
        four.feed(H("5400") + serial.to_bytes(2, "little") + H("0000") + REQ_CPU[2:], 0, 0.0, serial)
    assert "pending-requests-cap" in kinds(four)
    d.feed(RSP_CPU, 1, 0.0, 2)
    d.buf.cap = 4
    assert d.feed(REQ_CPU[:8], 0, 0.0, 3) == OK and "melsec-buffer-overflow" in kinds(d)


def test_melsoft_labels_each_sender_and_reads_the_cpu_model() -> None:
    q, a = MelsoftUdp(), MelsoftUdp()              # broadcast: each direction is its own flow
    assert q.feed(MELSOFT_REQ, 0, 0.0, 13) == OK and facts(q) == {(Who.CLIENT, "protocol"): {"melsoft-client"}}
    assert a.feed(MELSOFT_RSP, 1, 0.0, 14) == OK
    got = facts(a)
    assert got[(Who.SERVER, "product")] == {"FX5U-32MT/ES"} and got[(Who.SERVER, "melsec_cpu_code")] == {"0x4a29"}
    assert got[(Who.SERVER, "protocol")] == {"melsoft-server"} and (Who.CLIENT, "protocol") not in got
    assert a.feed(H("da0000011400c0a80365c0a80065"), 1, 0.0, 15) == OK and a.profile["discovery response"] == 1
    assert a.feed(MELSOFT_RSP[:-1], 1, 0.0, 16) == OK and kinds(a)[0].startswith("melsec-bad-length")
    assert MelsoftUdp().feed(b"hello world, not melsoft", 0, 0.0, 1) == FATAL
    cut = bytearray(MELSOFT_RSP[:21 + 40])
    cut[19] = 40
    assert MelsoftUdp().feed(bytes(cut), 1, 0.0, 1) == OK      # a valid frame whose model is cut: counted


# -- the hint ports are ephemeral ports too ------------------------------------------------------------------

def test_a_client_on_an_slmp_hint_port_does_not_turn_the_flow_around(tmp_path) -> None:
    """1025-1030 and 5000-5010 are also the first ephemeral ports of Windows XP / BSD clients: a FINS client on
    udp/1025 talking to 9600 must stay the client (of the SLMP hints only 5006/5007, GX Works' own, decide a
    flow's direction)."""
    from otscope.agent.flows import SERVER_PORTS, orient
    from tests.conftest import run_pipeline, write_pcap
    from tests.support.frames import udp
    from tests.unit.test_fins import req, rsp

    assert (set(range(1025, 1031)) | set(range(5000, 5011))) & SERVER_PORTS == {5006, 5007}
    assert orient(1025, 9600, False, False) and orient(5001, 20000, False, False)
    frames = [udp("10.0.0.1", "10.0.0.2", 1025, 9600, req(0x0501, 1)),
              udp("10.0.0.2", "10.0.0.1", 9600, 1025, rsp(0x0501, 1, b"CJ2M-CPU31".ljust(20) + b"02.01".ljust(20)))]
    _p, batch = run_pipeline(write_pcap(tmp_path / "fins1025.pcap", frames))
    (comm,) = [c for c in batch.comms if c.protocol == "fins"]
    assert (comm.client.ip, comm.server.ip, comm.port) == ("10.0.0.1", "10.0.0.2", 9600)
    assert {(f.subject.ip, f.value) for f in batch.facts if f.field == "protocol"} == {
        ("10.0.0.1", "fins-client"), ("10.0.0.2", "fins-server")}


def test_an_it_flow_from_a_hint_port_keeps_its_server_and_gets_no_dissector(tmp_path) -> None:
    """A Windows XP browser on tcp/1026 fetching from port 80: the web server stays the server (the flow is not
    turned towards the MELSEC hint port) and no dissector is tried and detached."""
    from tests.conftest import run_pipeline, write_pcap
    from tests.support.frames import TcpSession

    s = TcpSession("10.0.0.5", "10.0.0.80", 1026, 80).handshake()
    s.to_server(b"GET / HTTP/1.1\r\n\r\n")
    s.to_client(b"HTTP/1.1 200 OK\r\n\r\n")
    pipe, batch = run_pipeline(write_pcap(tmp_path / "xp.pcap", s.frames))
    (comm,) = batch.comms
    assert (comm.client.ip, comm.server.ip, comm.port) == ("10.0.0.5", "10.0.0.80", 80)
    assert pipe.stats.dissector_detached == 0 and not batch.anomalies


def test_only_the_hint_ports_are_hint_only() -> None:
    from otscope.agent.flows import HINT_ONLY_PORTS
    assert HINT_ONLY_PORTS == frozenset(range(1025, 1031)) | frozenset(range(5000, 5011)) - {5006, 5007}
