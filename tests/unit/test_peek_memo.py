"""The peek memo (agent/peek.py, agent/_fastscan.c Memo): a later TLS flow of a conversation whose handshake
differs from a finished one only in bytes the dissector does not use (randoms, session ids, key shares) is
counted by C instead of being dissected again, and the inventory is the same as when every flow is dissected:
same facts, same first evidence, same last seen, same labels; with the memo off and in the pure-Python backend.

The captures are built here: TLS 1.3 and 1.2 handshakes with fresh randoms per connection, a flow whose
ServerHello differs after a matching ClientHello (C hands over the rest, Python feeds the memo's bytes first),
one whose ClientHello names another server (a new memo replaces the old one), two concurrent flows and a client
whose server never answers."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.agent.peek import memo_plan
from otscope.dissectors.base import DONE, FATAL, MemoUnused
from otscope.dissectors.tls.dissector import TlsDissector
from tests.conftest import run_pipeline, write_pcap
from tests.support.frames import TcpSession

CLIENT, SERVER, OTHER = "10.20.0.5", "10.20.0.80", "10.20.0.81"


def _ext(t: int, data: bytes) -> bytes:
    return struct.pack("!HH", t, len(data)) + data


def client_hello(rng: random.Random, sni: str = "hist-01.plant.local", ciphers=(0x1301, 0x1302, 0xC02F),
                 padding: int = 0, ticket: bytes = b"") -> bytes:
    name = sni.encode()
    sni_list = struct.pack("!BH", 0, len(name)) + name
    alpn = b"\x02h2\x08http/1.1"
    exts = (_ext(0, struct.pack("!H", len(sni_list)) + sni_list) + _ext(0x000A, b"\x00\x04\x00\x1d\x00\x17")
            + _ext(0x0010, struct.pack("!H", len(alpn)) + alpn) + _ext(0x000D, b"\x00\x04\x04\x03\x08\x04")
            + _ext(0x0023, ticket)
            + _ext(0x0033, struct.pack("!HHH", 36, 0x001D, 32) + rng.randbytes(32))
            + _ext(0x002B, b"\x04\x03\x04\x03\x03") + (_ext(0x0015, rng.randbytes(padding)) if padding else b""))
    body = (b"\x03\x03" + rng.randbytes(32) + b"\x20" + rng.randbytes(32) + struct.pack("!H", 2 * len(ciphers))
            + b"".join(struct.pack("!H", c) for c in ciphers) + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def server_flight13(rng: random.Random, cipher: int = 0x1301, tail: int = 300) -> bytes:
    """ServerHello (TLS 1.3), ChangeCipherSpec, then encrypted records (random bytes of a random length)."""
    exts = _ext(0x002B, b"\x03\x04") + _ext(0x0033, struct.pack("!HH", 0x001D, 32) + rng.randbytes(32))
    body = (b"\x03\x03" + rng.randbytes(32) + b"\x20" + rng.randbytes(32) + struct.pack("!HB", cipher, 0)
            + struct.pack("!H", len(exts)) + exts)
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return (b"\x16\x03\x03" + struct.pack("!H", len(hs)) + hs + b"\x14\x03\x03\x00\x01\x01"
            + b"\x17\x03\x03" + struct.pack("!H", tail) + rng.randbytes(tail))


def server_flight12(rng: random.Random) -> bytes:
    """ServerHello (TLS 1.2), a ServerKeyExchange with a fresh key, ServerHelloDone: one record."""
    sh = b"\x03\x03" + rng.randbytes(32) + b"\x00" + struct.pack("!HB", 0xC02F, 0)
    ske = b"\x03\x00\x1d\x20" + rng.randbytes(32) + b"\x04\x01\x00\x40" + rng.randbytes(64)
    msgs = (b"\x02" + len(sh).to_bytes(3, "big") + sh + b"\x0c" + len(ske).to_bytes(3, "big") + ske
            + b"\x0e\x00\x00\x00")
    return b"\x16\x03\x03" + struct.pack("!H", len(msgs)) + msgs


def _session(frames: list, t: list[float], cport: int, ch: bytes, sf: bytes | None, server: str = SERVER,
             gap: float = 0.01) -> TcpSession:
    s = TcpSession(CLIENT, server, cport, 443).handshake()
    s.to_server(ch)
    if sf is not None:
        s.to_client(sf)
    for fr in s.frames:
        t[0] += gap
        frames.append((t[0], fr))
    return s


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(7)
    frames: list = []
    t = [1_700_000_000.0]
    for port in (40001, 40002, 40003):                   # the same client program and server: 2 and 3 match
        _session(frames, t, port, client_hello(rng), server_flight13(rng, tail=rng.randint(100, 900)))
    _session(frames, t, 40004, client_hello(rng), server_flight13(rng, cipher=0x1302))   # ServerHello differs
    _session(frames, t, 40005, client_hello(rng, sni="other.plant.local"), server_flight13(rng))  # a new memo
    _session(frames, t, 40006, client_hello(rng), server_flight13(rng))      # matches the replaced memo? no:
    _session(frames, t, 40007, client_hello(rng, sni="other.plant.local"), server_flight13(rng))  # this one does
    a = TcpSession(CLIENT, SERVER, 40008, 443).handshake()                  # two at once, answers crossed
    b = TcpSession(CLIENT, SERVER, 40009, 443).handshake()
    a.to_server(client_hello(rng, sni="other.plant.local"))
    b.to_server(client_hello(rng, sni="other.plant.local"))
    b.to_client(server_flight13(rng))
    a.to_client(server_flight13(rng))
    for fr in [*a.frames[:2], *b.frames[:2], a.frames[2], b.frames[2], b.frames[3], a.frames[3]]:
        t[0] += 0.01
        frames.append((t[0], fr))
    _session(frames, t, 40010, client_hello(rng, sni="other.plant.local"), None)   # no answer
    for port in (40011, 40012, 40013):                   # TLS 1.2: the ServerKeyExchange is fresh each time
        _session(frames, t, port, client_hello(rng), server_flight12(rng), server=OTHER)
    t[0] += 5.0                                          # a much later flow: last seen moves there
    _session(frames, t, 40014, client_hello(rng), server_flight12(rng), server=OTHER)
    return write_pcap(tmp_path_factory.mktemp("memo") / "tls_memo.pcap", frames)


def _key(batch) -> tuple:
    return (sorted(map(repr, batch.facts)), sorted(map(repr, batch.comms)), sorted(map(repr, batch.anomalies)))


def test_same_inventory_with_and_without_the_memo(capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, memo = run_pipeline(capture)
    if fast.fast is None:
        pytest.skip("the C fast path is not built")
    whole, parts = fast.fast.memo_counts()
    assert whole >= 5 and parts > whole                   # the memo engaged: later flows were counted by C
    _, py = run_pipeline(capture, fast=False)
    monkeypatch.setattr(TlsDissector, "memo", False)
    _, plain = run_pipeline(capture)
    assert _key(memo) == _key(plain) == _key(py)
    facts = {(f.field, f.value): f for f in memo.facts}
    assert facts[("tls_cipher", "TLS_AES_256_GCM_SHA384 (0x1302)")].evidence.frame == 16     # flow 4: frames 13-16
    late = facts[("tls_cipher", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (0xc02f)")]
    assert late.last_seen - late.first_seen > 5.0         # the memo's later flows moved last seen
    assert not memo.anomalies


def test_memo_plan_compares_all_but_the_unused_bytes() -> None:
    rec = [(0, b"A" * 10, ()), (1, b"B" * 8, ()), (0, b"C" * 6, ())]
    unused = MemoUnused(((0, 2, 4), (0, 12, 13), (1, 0, 8)), (None, None))
    plan = memo_plan(rec, unused)
    assert plan == [(0, 1, 10, b"A" * 10, ((0, 2), (4, 10))), (1, 1, 8, b"B" * 8, ()),
                    (0, 1, 6, b"C" * 6, ((0, 2), (3, 6)))]
    # the last event read in part: only its read bytes are compared, a later one may be longer
    plan = memo_plan([(0, b"x" * 5, ()), (1, b"y" * 9, ())], MemoUnused((), (None, 4)))
    assert plan == [(0, 1, 5, b"x" * 5, ((0, 5),)), (1, 0, 4, b"y" * 4, ((0, 4),))]
    # read in part before the last event, too many events: no memo
    assert memo_plan([(1, b"y" * 9, ()), (0, b"x", ())], MemoUnused((), (None, 4))) is None
    assert memo_plan([(0, b"x", ())] * 5, MemoUnused((), (None, None))) is None


def _outputs(events: list[tuple[int, bytes]]) -> tuple:
    d = TlsDissector()
    status = []
    for i, (side, data) in enumerate(events):
        status.append(d.feed(data, side, 1.0 + i, i + 1))
        if status[-1] in (DONE, FATAL):
            break
    facts = [(f.who, f.field, f.value, f.message, f.frame) for f in d.out]
    return status, facts, [a.kind for a in d.anomalies], d.confirmed, d


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 32 - 1), tls12=st.booleans(), padding=st.sampled_from([0, 17, 200]),
       ticket=st.sampled_from([b"", b"t" * 40]), noise=st.binary(min_size=1, max_size=64))
def test_unused_bytes_change_nothing(seed: int, tls12: bool, padding: int, ticket: bytes, noise: bytes) -> None:
    """Overwrite every byte the dissector calls unused: statuses, facts, anomalies and confirmation stay."""
    rng = random.Random(seed)
    ch = client_hello(rng, padding=padding, ticket=ticket)
    sf = server_flight12(rng) if tls12 else server_flight13(rng)
    events = [(0, ch), (1, sf)]
    status, facts, anomalies, confirmed, d = _outputs(events)
    assert status[-1] == DONE and not anomalies
    unused = d.memo_unused()
    assert unused is not None and unused.ranges
    streams = {0: bytearray(ch), 1: bytearray(sf)}
    k = 0
    for side, a, b in unused.ranges:
        for i in range(a, b):
            streams[side][i] = noise[k % len(noise)] ^ (i & 0xFF)
            k += 1
    stop = unused.read_to[1]
    if stop is not None:                                 # after where it stopped reading: anything
        streams[1][stop:] = bytes(len(streams[1]) - stop)
    again = _outputs([(0, bytes(streams[0])), (1, bytes(streams[1]))])
    assert again[:4] == (status, facts, anomalies, confirmed)


# -- HTTP: events compared by their heads' normal form (dissectors/base.TextMemo) ---------------------------------
def _text_table():
    from otscope.agent.flowtable import c_table
    from otscope.dissectors.http.dissector import HttpDissector
    t = c_table(0.05, (0, 1))
    if t is None:
        pytest.skip("the C fast path is not built")
    s = HttpDissector.text_memo
    t.memo_text_config(0, s.max_head, s.body_window, s.drop_target, s.keep, s.cond, s.element)
    return t


def request(path: str = "/trends/data?tag=FT101", ua: str = "WinCC-Client/7.5 (Windows NT 10.0; Win64; x64)",
            extra: str = "Cookie: sid=1234\r\n") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: hist-01.plant.local\r\nUser-Agent: {ua}\r\n{extra}"
            "Accept: */*\r\n\r\n").encode()


def response(n: int = 900, server: str = "SIMATIC-HMI-WebServer/16.0", date: str = "Tue, 01 Dec 2026 10:00:00 GMT",
             title: str = "Line 3 HMI") -> bytes:
    body = f"<html><head><title>{title}</title></head><body>".encode() + b"x" * n + b"</body></html>"
    return (f"HTTP/1.1 200 OK\r\nDate: {date}\r\nServer: {server}\r\nContent-Type: text/html\r\n"
            f"Content-Length: {len(body)}\r\nSet-Cookie: s={n}\r\n\r\n").encode() + body[:1200]


def _http_outputs(events: list[tuple[int, bytes]]) -> tuple:
    from otscope.dissectors.http.dissector import HttpDissector
    d = HttpDissector()
    status = []
    for i, (side, data) in enumerate(events):
        status.append(d.feed(data, side, 1.0 + i, i + 1))
        if status[-1] in (DONE, FATAL):
            break
    return (status, [(f.who, f.field, f.value, f.message, f.frame) for f in d.out],
            [a.kind for a in d.anomalies], d.confirmed, d.memo_unused() is not None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=st.binary(max_size=40), resp=st.binary(max_size=40), at0=st.integers(0, 10_000),
       at1=st.integers(0, 10_000), n=st.integers(0, 1500))
def test_equal_http_normal_forms_give_equal_outputs(req: bytes, resp: bytes, at0: int, at1: int, n: int) -> None:
    """Splice random bytes anywhere into a request and an answer: whenever C's normal forms of the two events
    equal the originals', the dissector's statuses, facts, anomalies and confirmation are the originals'."""
    t = _text_table()
    a0, a1 = request(), response(n)
    b0 = a0[:at0 % (len(a0) + 1)] + req + a0[at0 % (len(a0) + 1) + len(req):]
    b1 = a1[:at1 % (len(a1) + 1)] + resp + a1[at1 % (len(a1) + 1) + len(resp):]
    base = _http_outputs([(0, a0), (1, a1)])
    assert base[0][-1] == DONE and base[4]
    same = t.text_norm(0, 0, b0) == t.text_norm(0, 0, a0) and t.text_norm(0, 1, b1) == t.text_norm(0, 1, a1)
    if same:
        assert _http_outputs([(0, b0), (1, b1)])[:4] == base[:4]


def test_http_normal_form_blanks_only_what_no_fact_reads() -> None:
    t = _text_table()
    assert t.text_norm(0, 0, request("/a")) == t.text_norm(0, 0, request("/other/path?x=1", extra="Cookie: z\r\n"))
    assert t.text_norm(0, 0, request(ua="curl/8.0")) != t.text_norm(0, 0, request())
    assert t.text_norm(0, 0, request("")) is None                      # "GET  HTTP/1.1": no target, no form
    assert t.text_norm(0, 1, response(900, date="Wed, 02 Dec 2026 11:11:11 GMT")) == t.text_norm(0, 1, response(901))
    assert t.text_norm(0, 1, response(900, server="nginx")) != t.text_norm(0, 1, response(900))
    assert t.text_norm(0, 1, response(900, title="Line 4 HMI")) != t.text_norm(0, 1, response(900))
    assert t.text_norm(0, 1, b"HTTP/1.1 200 OK\r\nServer: x") is None   # no end of the head


@pytest.fixture(scope="module")
def http_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(3)
    frames: list = []
    t = [1_700_000_000.0]
    paths = ["/", "/index.html", "/trends/data?tag=FT101&range=1h", "/api/v1/status"]
    for i in range(12):
        s = TcpSession(CLIENT, SERVER, 41000 + i, 80).handshake()
        s.to_server(request(rng.choice(paths)))
        title = "Line 3 HMI" if i != 7 else "Line 3 HMI (maintenance)"       # one answer differs: a new memo
        s.to_client(response(rng.randint(50, 1400), date=f"Tue, 01 Dec 2026 10:00:{i:02d} GMT", title=title))
        for fr in s.frames:
            t[0] += 0.01
            frames.append((t[0], fr))
        t[0] += 1.0
    return write_pcap(tmp_path_factory.mktemp("memo") / "http_memo.pcap", frames)


def test_http_same_inventory_with_and_without_the_memo(http_capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from otscope.dissectors.http.dissector import HttpDissector
    fast, memo = run_pipeline(http_capture)
    if fast.fast is None:
        pytest.skip("the C fast path is not built")
    assert fast.fast.memo_counts()[0] >= 5
    _, py = run_pipeline(http_capture, fast=False)
    monkeypatch.setattr(HttpDissector, "memo", False)
    _, plain = run_pipeline(http_capture)
    assert _key(memo) == _key(plain) == _key(py)
    titles = {f.value for f in memo.facts if f.field == "http_title"}
    assert titles == {"Line 3 HMI", "Line 3 HMI (maintenance)"}


_VALUE = st.binary(min_size=1, max_size=30).filter(lambda b: b"\r" not in b and b"\n" not in b)


@settings(max_examples=150, deadline=None)
@given(path=_VALUE.filter(lambda b: b" " not in b), cookie=_VALUE, date=_VALUE, tail=st.binary(max_size=200),
       n=st.integers(0, 1000))
def test_blanked_values_change_nothing(path: bytes, cookie: bytes, date: bytes, tail: bytes, n: int) -> None:
    """What the normal form blanks (the request target, other headers' values, the body after the title) may be
    anything: the same normal form and the same outputs."""
    t = _text_table()
    a0, a1 = request(), response(n)
    b0 = a0.replace(b"/trends/data?tag=FT101", path, 1).replace(b"sid=1234", cookie, 1)
    b1 = a1.replace(b"Tue, 01 Dec 2026 10:00:00 GMT", date, 1)
    cut = a1.index(b"</title") + len(b"</title")
    b1 = b1[:b1.index(b"</title") + len(b"</title")] + tail if len(b1) > cut else b1
    assert t.text_norm(0, 0, b0) == t.text_norm(0, 0, a0)
    assert t.text_norm(0, 1, b1) == t.text_norm(0, 1, a1)
    assert _http_outputs([(0, b0), (1, b1)])[:4] == _http_outputs([(0, a0), (1, a1)])[:4]
