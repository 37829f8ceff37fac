"""Property-based fuzzing of FINS and MELSEC SLMP / MELSOFT: the grammars raise nothing but Truncated/Malformed,
the dissectors never raise, always return a status, keep their state bounded and emit bounded printable values,
fed random, cut, patched and re-chunked streams after a valid exchange."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, NEWS, OK, Malformed, Truncated
from otscope.dissectors.fins.constants import MAX_NODES, TCP_MAX_LENGTH
from otscope.dissectors.fins.dissector import MAX_PENDING as FINS_PENDING, FinsTcp, FinsUdp
from otscope.dissectors.fins.grammar import (parse_connection_data, parse_controller_data, parse_controller_status,
                                             parse_frame, parse_node_addresses, parse_tcp_header)
from otscope.dissectors.melsec.constants import MAX_DATA_LEN
from otscope.dissectors.melsec.dissector import MAX_PENDING, MelsecTcp, MelsecUdp, MelsoftUdp
from otscope.dissectors.melsec.grammar import (device_of, frame_size, melsoft_cpu_model, parse_cpu_model,
                                               parse_melsoft, parse_message)
from tests.unit.test_fins import REQ_0101, RSP_0501, req, rsp, tcp
from tests.unit.test_melsec import (MELSOFT_REQ, MELSOFT_RSP, REQ_CPU, REQ_CPU_4E_ASCII, RSP_CPU,
                                    RSP_CPU_4E_ASCII)

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STATUSES = {OK, INCOMPLETE, FATAL, NEWS, DONE}


def check_out(d) -> None:
    for f in d.out:
        assert f.value and len(f.value) <= 200 and f.value.isprintable(), f


@FUZZ
@given(st.binary(max_size=200), st.booleans(), st.integers(0, 4))
def test_grammars(data: bytes, flag: bool, sub: int) -> None:
    for parse in (parse_frame, parse_connection_data, parse_controller_status, parse_tcp_header,
                  parse_node_addresses, parse_melsoft, frame_size, lambda b: parse_cpu_model(b, flag),
                  lambda b: device_of(b, flag, sub)):
        try:
            parse(data)
        except (Truncated, Malformed):
            pass
    parse_controller_data(data)
    try:
        lay = frame_size(data)
        if lay.size <= len(data):
            parse_message(data[:lay.size], lay)
    except (Truncated, Malformed):
        pass
    try:
        melsoft_cpu_model(parse_melsoft(data))
    except (Truncated, Malformed):
        pass


def run(cls, chunks: list[tuple[int, bytes]]):
    d = cls()
    for i, (side, chunk) in enumerate(chunks):
        status = d.feed(chunk, side, float(i), i + 1)
        assert status in STATUSES
        if status == FATAL:
            break
    check_out(d)
    return d


def check_fins(d) -> None:
    assert len(d.pending) <= FINS_PENDING + 1 and len(d.nodes) <= MAX_NODES
    if isinstance(d, FinsTcp):
        assert all(len(p) <= 2 * TCP_MAX_LENGTH for p in d.buf.pending)


def check_melsec(d) -> None:
    if isinstance(d, MelsecTcp):
        assert len(d.fifo) <= MAX_PENDING and len(d.by_serial) <= MAX_PENDING
        assert all(len(p) <= 4 * MAX_DATA_LEN for p in d.buf.pending)


CHUNKS = st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=120)), max_size=12)


@FUZZ
@given(CHUNKS)
def test_random_streams(chunks: list[tuple[int, bytes]]) -> None:
    for cls in (FinsUdp, FinsTcp):
        check_fins(run(cls, chunks))
    for cls in (MelsecTcp, MelsecUdp):
        check_melsec(run(cls, chunks))
    run(MelsoftUdp, chunks)


@FUZZ
@given(CHUNKS, st.integers(0, 120), st.binary(max_size=8))
def test_valid_exchange_then_noise_and_patched_frames(noise: list[tuple[int, bytes]], cut: int, patch: bytes) -> None:
    def patched(b: bytes) -> bytes:
        return b[:cut] + patch + b[cut + len(patch):]

    check_fins(run(FinsUdp, [(0, REQ_0101), (1, rsp(0x0101, 0x7A)), (0, req(0x0501)), (1, patched(RSP_0501)),
                             *noise]))
    stream = tcp(0, bytes(4)) + tcp(1, bytes(8)) + tcp(2, req(0x0501)) + tcp(2, patched(rsp(0x0501, 1, bytes(40))))
    check_fins(run(FinsTcp, [(0, stream[:cut]), (0, stream[cut:]), *noise]))
    for cls, q, a in ((MelsecTcp, REQ_CPU, RSP_CPU), (MelsecUdp, REQ_CPU_4E_ASCII, RSP_CPU_4E_ASCII)):
        check_melsec(run(cls, [(0, q), (1, a), (0, q), (1, patched(a)), (0, patched(q)), *noise]))
    run(MelsoftUdp, [(0, MELSOFT_REQ), (1, patched(MELSOFT_RSP)), *noise])


@FUZZ
@given(st.binary(min_size=1, max_size=400), st.integers(1, 50))
def test_rechunking_a_valid_stream_gives_the_same_facts(extra: bytes, step: int) -> None:
    stream = tcp(0, bytes(4)) + tcp(1, bytes(8)) + tcp(2, req(0x0501)) + \
        tcp(2, rsp(0x0501, 1, b"CJ2M-CPU31".ljust(20) + b"02.01".ljust(20)))
    whole = run(FinsTcp, [(0, stream)])
    pieces = run(FinsTcp, [(0, stream[i:i + step]) for i in range(0, len(stream), step)])
    assert [(f.field, f.value) for f in whole.out] == [(f.field, f.value) for f in pieces.out]
    m = REQ_CPU + RSP_CPU
    a = run(MelsecTcp, [(0, REQ_CPU), (1, RSP_CPU)])
    b = run(MelsecTcp, [(0, REQ_CPU[i:i + step]) for i in range(0, len(REQ_CPU), step)] +
            [(1, RSP_CPU[i:i + step]) for i in range(0, len(RSP_CPU), step)])
    assert [(f.field, f.value) for f in a.out] == [(f.field, f.value) for f in b.out] and len(m) == 44
