"""Property-based fuzzing of OPC UA binary: the grammar raises nothing but Truncated/Malformed, the dissector never
raises, keeps its state bounded and emits bounded printable values, fed random, cut, patched and re-chunked
streams (after a real HEL/ACK/OPN exchange, so the service decoders are reached)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.base import FATAL, Malformed, Truncated
from otscope.dissectors.opcua import grammar as g
from otscope.dissectors.opcua.constants import MAX_CHUNKS, MAX_MESSAGE, MAX_PARTIAL
from otscope.dissectors.opcua.dissector import BUFFER_CAP, MAX_SEEN, OpcUaDissector
from tests.unit.test_opcua import ACK, CREATE_SESSION_REQ, HEL, OPN_REQ, OPN_RSP, READ_REQ, READ_RSP

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PARSERS = (g.parse_hello, g.parse_ack, g.parse_error, g.parse_reverse_hello, g.parse_opn, g.parse_symmetric,
           g.split_sequence)
BODIES = (g.open_channel_request, g.get_endpoints_response, g.find_servers_response, g.create_session_request,
          g.create_session_response, g.read_request, g.read_response, g.request_header, g.response_header,
          lambda r: r.variant(), lambda r: r.data_value(), lambda r: r.diagnostic_info(), lambda r: r.nodeid(),
          lambda r: r.expanded_nodeid(), lambda r: r.extension_object(), lambda r: r.localized_text())


def check(d: OpcUaDissector) -> None:
    assert len(d.pending) <= 64 and len(d.seen) <= MAX_SEEN + 8 and len(d.asked) <= 64
    assert all(len(p) <= BUFFER_CAP for p in d.buf.pending)
    for parts in d.partial:
        assert len(parts) <= MAX_PARTIAL
        assert all(len(v) <= MAX_CHUNKS and sum(map(len, v)) <= MAX_MESSAGE for v in parts.values())
    for f in d.out:
        assert f.value and len(f.value) <= 400 and f.value.isprintable(), f


@FUZZ
@given(st.binary(max_size=400))
def test_grammar(data: bytes) -> None:
    for parse in PARSERS:
        try:
            parse(data)
        except (Truncated, Malformed):
            pass
    for body in BODIES:
        try:
            body(g.UaReader(data))
        except (Truncated, Malformed):
            pass


def feed_all(chunks: list[tuple[int, bytes]]) -> OpcUaDissector:
    d = OpcUaDissector()
    for i, (side, chunk) in enumerate(chunks):
        if d.feed(chunk, side, float(i), i + 1) == FATAL:
            break
    check(d)
    return d


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=120)), max_size=12))
def test_random_streams(chunks: list[tuple[int, bytes]]) -> None:
    feed_all(chunks)
    feed_all([(0, HEL), (1, ACK), *chunks])


OPENED = [(0, HEL), (1, ACK), (0, OPN_REQ), (1, OPN_RSP)]


@FUZZ
@given(st.sampled_from([READ_REQ, READ_RSP, CREATE_SESSION_REQ, OPN_REQ]), st.integers(8, 180), st.binary(max_size=8),
       st.integers(0, 1), st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=60)), max_size=6))
def test_patched_messages_after_a_valid_exchange(base: bytes, at: int, patch: bytes, side: int,
                                                 noise: list[tuple[int, bytes]]) -> None:
    patched = base[:at] + patch + base[at + len(patch):]
    feed_all([*OPENED, (side, patched), *noise])


@FUZZ
@given(st.lists(st.integers(1, 60), min_size=1, max_size=20))
def test_any_segmentation_gives_the_same_facts(cuts: list[int]) -> None:
    stream = READ_REQ + CREATE_SESSION_REQ
    whole = feed_all([*OPENED, (0, stream), (1, READ_RSP)])
    pieces, pos = [], 0
    for c in cuts:
        pieces.append((0, stream[pos:pos + c]))
        pos += c
    pieces.append((0, stream[pos:]))
    split = feed_all([*OPENED, *pieces, (1, READ_RSP)])
    assert [(f.field, f.value) for f in split.out] == [(f.field, f.value) for f in whole.out]
