"""Omron FINS grammar and dissector from real bytes (the icsnpp-omron-fins capture, W342 layouts): headers,
0501/0502/0601 answers, SID matching, sender labels, control actions, FINS/TCP framing, every anomaly kind."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Malformed, Truncated, Who
from otscope.dissectors.fins.constants import FinsAnomaly, command_name, end_code_text
from otscope.dissectors.fins.dissector import MAX_PENDING, FinsTcp, FinsUdp
from otscope.dissectors.fins.grammar import (parse_connection_data, parse_controller_data, parse_frame,
                                             parse_tcp_header)

H = bytes.fromhex
# frames 1 and 94 of cisagov-icsnpp-omron-fins testing/traces/omron.pcap (memory area read, request and answer)
REQ_0101 = H("8000020000000000007a010100cccccc0001")
RSP_0101 = H("c100020000000000007a01010000")
# frame 192: 0501 answer, model "A"*20, version "B"*20 (the capture's own test values)
RSP_0501 = H("c100020000000000007a05010000" + "41" * 20 + "42" * 20 + "43" * 40 + "0101000201000202" + "00000004")
RSP_0502 = H("c100020000000000007a050200000201" + "41" * 20 + "02" + "42" * 20)


def req(cmd: int, sid: int = 1, data: bytes = b"", src: tuple[int, int, int] = (0, 25, 0)) -> bytes:
    return bytes([0x80, 0, 2, 0, 10, 0, *src, sid]) + cmd.to_bytes(2, "big") + data


def rsp(cmd: int, sid: int = 1, data: bytes = b"", end: bytes = b"\0\0", src: tuple[int, int, int] = (0, 10, 0)) -> bytes:
    return bytes([0xC0, 0, 2, 0, 25, 0, *src, sid]) + cmd.to_bytes(2, "big") + end + data


def facts(d) -> dict[tuple[int, str], set[str]]:
    out: dict[tuple[int, str], set[str]] = {}
    for f in d.out:
        if f.component is None:                 # the addressed end itself (units are components)
            out.setdefault((f.who, f.field), set()).add(f.value)
    return out


def kinds(d) -> list[str]:
    return [a.kind for a in d.anomalies]


# -- grammar ---------------------------------------------------------------------------------------------------

def test_header_of_a_real_request_and_response() -> None:
    f = parse_frame(REQ_0101)
    assert (f.icf, f.gct, f.sid, f.command, f.end_code, f.is_response) == (0x80, 2, 0x7A, 0x0101, None, False)
    assert str(f.src) == "0.0.0" and f.data == H("00cccccc0001") and f.response_required
    r = parse_frame(RSP_0101)
    assert r.is_response and r.end_code == (0, 0) and not r.response_required and r.data == b""


def test_controller_and_connection_data() -> None:
    cd = parse_controller_data(parse_frame(RSP_0501).data)
    assert cd is not None and (cd.model, cd.version) == ("A" * 20, "B" * 20)
    assert parse_controller_data(b"\0" * 30) is None            # the area-data-only answer
    assert parse_connection_data(parse_frame(RSP_0502).data) == [(1, "A" * 20), (2, "B" * 20)]
    assert parse_connection_data(H("02 01") + b"A" * 20 + H("02") + b"B" * 5) == [(1, "A" * 20)]
    with pytest.raises(Truncated):
        parse_connection_data(H("0101") + b"A" * 3)


def test_bad_and_cut_headers() -> None:
    with pytest.raises(Malformed):
        parse_frame(H("82") + REQ_0101[1:])                     # a reserved ICF bit
    with pytest.raises(Malformed):
        parse_frame(REQ_0101[:1] + H("01") + REQ_0101[2:])      # RSV not 0
    with pytest.raises(Truncated):
        parse_frame(REQ_0101[:11])
    with pytest.raises(Truncated):
        parse_frame(RSP_0101[:13])                              # a response without its end code
    with pytest.raises(Malformed):
        parse_tcp_header(b"SNIF" + bytes(12))


def test_names_and_end_codes_keep_numbers() -> None:
    assert command_name(0x0501) == "controller-data-read" and command_name(0x7F7F) == "0x7f7f"
    assert end_code_text(0x04, 0x01) == "0x0401" and end_code_text(0x80, 0x40) == "0x0000"   # flag bits dropped


# -- dissector (UDP) -------------------------------------------------------------------------------------------

def test_real_exchange_confirms_and_labels_the_senders() -> None:
    d = FinsUdp()
    assert d.feed(REQ_0101, 0, 0.0, 1) == OK and not d.confirmed and not d.out[1:]
    assert d.feed(RSP_0101, 1, 0.0, 2) == OK and d.confirmed
    got = facts(d)
    assert got[(Who.CLIENT, "protocol")] == {"fins-client"} and got[(Who.SERVER, "protocol")] == {"fins-server"}
    assert d.profile == {"memory-area-read": 1}


def test_a_response_on_the_requesters_side_speaks_for_its_sender() -> None:
    """The public capture sends the answers from the asking host: that host is the server of those answers."""
    d = FinsUdp()
    d.feed(REQ_0101, 0, 0.0, 1)
    d.feed(RSP_0501, 0, 0.0, 2)
    got = facts(d)
    assert got[(Who.CLIENT, "protocol")] == {"fins-client", "fins-server"} and (Who.SERVER, "protocol") not in got
    assert got[(Who.CLIENT, "product")] == {"A" * 20} and got[(Who.CLIENT, "firmware")] == {"B" * 20}
    assert got[(Who.CLIENT, "vendor")] == {"Omron"}


def test_identity_mode_units_and_nodes() -> None:
    d = FinsUdp()
    d.feed(req(0x0501, 1), 0, 0.0, 1)
    d.feed(rsp(0x0501, 1, b"CJ2M-CPU31".ljust(20) + b"02.01".ljust(20) + bytes(52)), 1, 0.0, 2)
    d.feed(req(0x0601, 2), 0, 0.0, 3)
    d.feed(rsp(0x0601, 2, H("0104") + bytes(10)), 1, 0.0, 4)
    d.feed(req(0x0502, 3), 0, 0.0, 5)
    d.feed(rsp(0x0502, 3, H("02 00") + b"CJ2M-CPU31".ljust(20) + H("10") + b"CJ1W-ETN21".ljust(20)), 1, 0.0, 6)
    got = facts(d)
    assert got[(Who.SERVER, "product")] == {"CJ2M-CPU31"} and got[(Who.SERVER, "firmware")] == {"02.01"}
    assert got[(Who.SERVER, "cpu_state")] == {"RUN"} and got[(Who.SERVER, "fins_status")] == {"run"}
    assert got[(Who.SERVER, "fins_node")] == {"0.10.0"} and got[(Who.CLIENT, "fins_node")] == {"0.25.0"}
    units = {(f.component, f.value) for f in d.out if f.field == "product" and f.message.startswith("FINS conn")}
    assert units == {(None, "CJ2M-CPU31"), ("fins-unit:16", "CJ1W-ETN21")}


def test_unknown_mode_and_status_keep_their_number() -> None:
    d = FinsUdp()
    d.feed(req(0x0601, 2), 0, 0.0, 1)
    d.feed(rsp(0x0601, 2, H("7f09")), 1, 0.0, 2)
    got = facts(d)
    assert got[(Who.SERVER, "cpu_state")] == {"0x09"} and got[(Who.SERVER, "fins_status")] == {"0x7f"}


def test_run_and_stop_are_control_actions_about_the_receiver() -> None:
    d = FinsUdp()
    d.feed(req(0x0401, 1, H("ffff04")), 0, 0.0, 1)
    d.feed(rsp(0x0401, 1), 1, 0.0, 2)
    d.feed(req(0x0402, 2), 0, 0.0, 3)
    d.feed(req(0x0401, 3, H("ffff07")), 0, 0.0, 4)
    got = facts(d)
    assert got[(Who.SERVER, "control_action")] == {"run (run mode)", "stop", "run (mode 0x07)"}
    assert got[(Who.CLIENT, "role_hint")] == {"engineering-workstation"}


def test_end_codes_are_kept_and_carry_no_identity() -> None:
    d = FinsUdp()
    d.feed(req(0x0501, 1), 0, 0.0, 1)
    d.feed(rsp(0x0501, 1, b"X" * 40, end=H("1101")), 1, 0.0, 2)
    assert d.confirmed and d.profile["controller-data-read end code 0x1101"] == 1
    assert (Who.SERVER, "product") not in facts(d)


def test_not_fins_is_fatal_before_confirmation() -> None:
    assert FinsUdp().feed(b"GET / HTTP/1.1\r\n\r\n", 0, 0.0, 1) == FATAL
    assert FinsUdp().feed(req(0x7F7F), 0, 0.0, 1) == FATAL
    assert FinsUdp().feed(REQ_0101[:5], 0, 0.0, 1) == FATAL
    assert FinsUdp().feed(bytes(3000), 0, 0.0, 1) == FATAL


def test_anomalies_after_confirmation() -> None:
    d = FinsUdp()
    d.feed(REQ_0101, 0, 0.0, 1)
    d.feed(RSP_0101, 1, 0.0, 2)
    assert d.feed(req(0x7F7F, 5), 0, 0.0, 3) == OK                    # kept by number
    assert d.feed(H("82") + REQ_0101[1:], 0, 0.0, 4) == OK
    assert d.feed(REQ_0101[:7], 0, 0.0, 5) == OK
    d.feed(req(0x0601, 6), 0, 0.0, 6)
    d.feed(rsp(0x0601, 6, H("01")), 1, 0.0, 7)                          # cut status answer
    assert d.feed(bytes(3000), 0, 0.0, 8) == OK
    assert kinds(d)[:4] == ["fins-unknown-command-0x7f7f", str(FinsAnomaly.BAD_HEADER) + "-ICF 0x82 RSV 0x00",
                            kinds(d)[2], kinds(d)[3]]
    assert kinds(d)[2].startswith("fins-short-frame") and kinds(d)[3].startswith("fins-short-response")
    assert kinds(d)[4].startswith("fins-bad-header") and d.profile["0x7f7f"] == 1
    d.feed(rsp(0x0101, 0x33), 1, 0.0, 9)
    assert d.profile["response unmatched"] == 1


def test_pending_and_node_caps() -> None:
    d = FinsUdp()
    for sid in range(MAX_PENDING + 1):
        d.feed(req(0x0101, sid % 256, H("82000000000001")), 0, 0.0, sid)
    assert "pending-requests-cap" in kinds(d) and len(d.pending) <= MAX_PENDING
    d.feed(rsp(0x0101, MAX_PENDING), 1, 0.0, 999)
    assert d.confirmed
    for node in range(70):
        d.feed(req(0x0101, 200, src=(1, node, 0)), 0, 0.0, 1000 + node)
    assert "fins-nodes-limit" in kinds(d) and len(d.nodes) == 64


# -- FINS/TCP ----------------------------------------------------------------------------------------------------

def tcp(command: int, data: bytes, error: int = 0) -> bytes:
    return b"FINS" + (8 + len(data)).to_bytes(4, "big") + command.to_bytes(4, "big") + error.to_bytes(4, "big") + data


def test_tcp_handshake_and_frames_in_pieces() -> None:
    d = FinsTcp()
    assert d.feed(tcp(0, bytes(4)), 0, 0.0, 1) == OK
    assert d.feed(tcp(1, (25).to_bytes(4, "big") + (10).to_bytes(4, "big")), 1, 0.0, 2) == OK and d.confirmed
    stream = tcp(2, req(0x0501, 7))
    assert d.feed(stream[:9], 0, 0.0, 3) == INCOMPLETE
    assert d.feed(stream[9:], 0, 0.0, 4) == OK
    answer = tcp(2, rsp(0x0501, 7, b"CJ2M-CPU31".ljust(20) + b"02.01".ljust(20)))
    assert d.feed(answer + answer[:3], 1, 0.0, 5) == INCOMPLETE
    got = facts(d)
    assert got[(Who.SERVER, "product")] == {"CJ2M-CPU31"} and got[(Who.SERVER, "fins_tcp_node")] == {"10"}
    assert got[(Who.CLIENT, "fins_tcp_node")] == {"25"}
    assert got[(Who.CLIENT, "protocol")] == {"fins-client"} and got[(Who.SERVER, "protocol")] == {"fins-server"}
    assert d.profile["tcp client-node-address"] == 1


def test_tcp_anomalies_and_fatal() -> None:
    assert FinsTcp().feed(b"SSH-2.0-OpenSSH_9.2\r\n", 0, 0.0, 1) == FATAL
    assert FinsTcp().feed(tcp(9, b""), 0, 0.0, 1) == FATAL
    assert FinsTcp().feed(b"FINS" + (1 << 20).to_bytes(4, "big") + bytes(8), 0, 0.0, 1) == FATAL
    d = FinsTcp()
    d.feed(tcp(0, bytes(4)), 0, 0.0, 1)
    d.feed(tcp(1, bytes(8)), 1, 0.0, 2)
    assert d.feed(tcp(9, b""), 0, 0.0, 3) == OK
    assert d.feed(tcp(3, b"", error=0x21), 1, 0.0, 4) == OK
    assert d.feed(tcp(2, b"", error=0x03), 1, 0.0, 5) == OK
    assert d.feed(b"XXXX" + bytes(12), 0, 0.0, 6) == OK
    assert kinds(d)[0] == "fins-unknown-tcp-command-9" and kinds(d)[1] == "fins-tcp-error-0x00000003"
    assert kinds(d)[2].startswith("fins-short-frame") and kinds(d)[3].startswith("fins-bad-tcp-header")
    d.feed(b"XXXX" + bytes(12), 0, 0.0, 7)
    assert d.feed(b"XXXX" + bytes(12), 0, 0.0, 8) == FATAL                  # three lost framings in a row


def test_tcp_buffer_overflow_is_counted() -> None:
    d = FinsTcp()
    d.feed(tcp(0, bytes(4)), 0, 0.0, 1)
    d.feed(tcp(1, bytes(8)), 1, 0.0, 2)
    d.buf.cap = 10
    assert d.feed(tcp(2, req(0x0101, 1))[:14], 0, 0.0, 3) == OK and "fins-buffer-overflow" in kinds(d)
