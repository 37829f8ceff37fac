from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from otscope.agent.pcapio import CaptureError, read_chunks
from tests.conftest import needs_shared, write_pcap
from tests.support.truth import CAPTURES


def frames_of(path: Path) -> list[tuple[float, int, bytes]]:
    out = []
    for ch in read_chunks(str(path)):
        pos = ch.start
        while pos < ch.end:
            sec, frac, incl, _ = ch.rec(ch.buf, pos)
            out.append((sec + frac * ch.scale, ch.linktype, ch.buf[pos + 16:pos + 16 + incl]))
            pos += 16 + incl
    return out


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_classic_pcap_both_byte_orders_and_resolutions(tmp_path: Path, endian: str, nano: bool) -> None:
    frames = [(1_700_000_000.25, b"\x01" * 60), (1_700_000_001.5, b"\x02" * 1514)]
    p = write_pcap(tmp_path / "a.pcap", frames, endian=endian, nano=nano)
    got = frames_of(p)
    assert [g[2] for g in got] == [f[1] for f in frames]
    assert [round(g[0], 6) for g in got] == [1_700_000_000.25, 1_700_000_001.5]
    assert {g[1] for g in got} == {1}


def _block(btype: int, body: bytes) -> bytes:
    pad = body + b"\x00" * (-len(body) % 4)
    n = 12 + len(pad)
    return struct.pack("<II", btype, n) + pad + struct.pack("<I", n)


def test_pcapng_two_interfaces_linktype_and_tsresol(tmp_path: Path) -> None:
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb_eth = _block(1, struct.pack("<HHI", 1, 0, 65535))                                  # default: microseconds
    tsresol = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)                     # nanoseconds
    idb_raw = _block(1, struct.pack("<HHI", 101, 0, 65535) + tsresol)
    ts_us = 1_700_000_000_123456
    ts_ns = 1_700_000_000_987654321
    epb1 = _block(6, struct.pack("<IIIII", 0, ts_us >> 32, ts_us & 0xFFFFFFFF, 4, 4) + b"ETH!")
    epb2 = _block(6, struct.pack("<IIIII", 1, ts_ns >> 32, ts_ns & 0xFFFFFFFF, 3, 3) + b"\x45\x00\x00")
    spb = _block(3, struct.pack("<I", 2) + b"hi")
    p = tmp_path / "b.pcapng"
    p.write_bytes(shb + idb_eth + idb_raw + epb1 + epb2 + spb)
    got = frames_of(p)
    assert [(lt, data) for _, lt, data in got] == [(1, b"ETH!"), (101, b"\x45\x00\x00"), (1, b"hi")]
    assert got[0][0] == pytest.approx(1_700_000_000.123456, abs=1e-6)
    assert got[1][0] == pytest.approx(1_700_000_000.987654321, abs=1e-6)


def test_truncated_pcap_keeps_packets_before_the_fault(tmp_path: Path) -> None:
    p = write_pcap(tmp_path / "t.pcap", [b"A" * 100, b"B" * 100, b"C" * 100])
    data = p.read_bytes()
    p.write_bytes(data[:-50])
    got = []
    with pytest.raises(CaptureError) as err:
        for ch in read_chunks(str(p)):
            got.append(ch.count)
    assert sum(got) == 2
    assert "t.pcap" in str(err.value) and "offset" in str(err.value)
    assert err.value.offset == 24 + 2 * 116


def test_corrupt_record_length_is_an_error_with_offset(tmp_path: Path) -> None:
    p = write_pcap(tmp_path / "c.pcap", [b"A" * 60])
    raw = bytearray(p.read_bytes())
    raw += struct.pack("<IIII", 1, 2, 0x7FFFFFFF, 0x7FFFFFFF) + b"x" * 10
    p.write_bytes(raw)
    with pytest.raises(CaptureError, match="corrupt pcap record"):
        list(read_chunks(str(p)))


def test_not_a_capture(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello, this is not a pcap\n")
    with pytest.raises(CaptureError, match="not a pcap or pcapng file"):
        list(read_chunks(str(p)))


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.pcap"
    p.write_bytes(b"")
    with pytest.raises(CaptureError, match="too short"):
        list(read_chunks(str(p)))


def _tshark_count(path: Path) -> int:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, timeout=300)
    return len([x for x in out.stdout.splitlines() if x.strip()])


@pytest.mark.tshark
@needs_shared
def test_reader_counts_agree_with_tshark_on_real_captures() -> None:
    files = sorted(p for p in CAPTURES.rglob("*") if p.is_file())
    assert files
    for f in files:
        ours = sum(ch.count for ch in read_chunks(str(f)))
        assert ours == _tshark_count(f), f


@pytest.mark.tshark
def test_reader_counts_agree_with_tshark_on_pcapng_conversion(tmp_path: Path) -> None:
    p = write_pcap(tmp_path / "x.pcap", [b"\x00" * 14 + bytes([i % 256]) * 50 for i in range(300)])
    ng = tmp_path / "x.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(p), str(ng)], check=True, capture_output=True)
    assert sum(ch.count for ch in read_chunks(str(ng))) == _tshark_count(ng) == 300
    assert [f[2] for f in frames_of(ng)] == [f[2] for f in frames_of(p)]


# --- pcapng blocks shorter than their type's fixed part (issue 22) -------------------------------------------

SHB = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
IDB = _block(1, struct.pack("<HHI", 1, 0, 65535))


def _epb(data: bytes, ts: int = 1_700_000_000_000_000) -> bytes:
    return _block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data)


def _short(btype: int) -> bytes:
    """A block of total length 12: type, length, trailing length, no body at all."""
    return struct.pack("<III", btype, 12, 12)


@pytest.mark.parametrize("btype,name", [(1, "interface description"), (2, "obsolete packet"), (3, "simple packet"),
                                        (6, "enhanced packet")])
@pytest.mark.parametrize("where", ["end", "middle"])
def test_pcapng_block_shorter_than_its_fixed_part(tmp_path: Path, btype: int, name: str, where: str) -> None:
    good = SHB + IDB + _epb(b"A" * 60) + _epb(b"B" * 60)
    tail = _short(btype) + (IDB + _epb(b"C" * 60) if where == "middle" else b"")
    p = tmp_path / "short.pcapng"
    p.write_bytes(good + tail)
    got: list[bytes] = []
    with pytest.raises(CaptureError) as err:
        for ch in read_chunks(str(p)):
            pos = ch.start
            while pos < ch.end:
                incl = ch.rec(ch.buf, pos)[2]
                got.append(ch.buf[pos + 16:pos + 16 + incl])
                pos += 16 + incl
    assert got == [b"A" * 60, b"B" * 60]                       # the packets before the bad block are kept
    assert err.value.offset == len(good)                      # the one-line error names the bad block's offset
    assert "short " in err.value.message and "\n" not in str(err.value)


def test_pcapng_section_header_shorter_than_its_fixed_part(tmp_path: Path) -> None:
    p = tmp_path / "shb.pcapng"
    p.write_bytes(SHB + IDB + _epb(b"A" * 60) + struct.pack("<III", 0x0A0D0D0A, 12, 12))
    with pytest.raises(CaptureError) as err:
        assert sum(ch.count for ch in read_chunks(str(p))) == 1
    assert err.value.offset == len(SHB + IDB + _epb(b"A" * 60))


def test_pcapng_option_overrunning_its_block_is_not_read_past_the_block(tmp_path: Path) -> None:
    # if_tsresol whose length runs past the block end: the option is not read, the default stays
    bad_opt = struct.pack("<HH", 9, 200)
    idb = _block(1, struct.pack("<HHI", 1, 0, 65535) + bad_opt)
    p = tmp_path / "opt.pcapng"
    p.write_bytes(SHB + idb + _epb(b"A" * 60, ts=1_700_000_000_250_000))
    got = frames_of(p)
    assert [g[2] for g in got] == [b"A" * 60]
    assert got[0][0] == pytest.approx(1_700_000_000.25, abs=1e-6)     # microseconds: the default resolution


_BLOCK_TYPES = [0x0A0D0D0A, 1, 2, 3, 4, 5, 6, 0xBAD]


def _any_block():  # type: ignore[no-untyped-def]
    from hypothesis import strategies as st

    return st.tuples(st.sampled_from(_BLOCK_TYPES), st.binary(max_size=64),
                     st.sampled_from([None, 0, 4, 8, 12, 16, 20, 24, 28, 32])).map(
        lambda t: (struct.pack("<II", t[0], 12 + len(t[1]) + (-len(t[1]) % 4) if t[2] is None else t[2])
                   + t[1] + b"\x00" * (-len(t[1]) % 4)
                   + struct.pack("<I", 12 + len(t[1]) + (-len(t[1]) % 4) if t[2] is None else t[2])))


def test_pcapng_reader_fuzz_never_raises_anything_but_capture_error(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(_any_block(), max_size=8), st.binary(max_size=12))
    def run(blocks: list[bytes], trailer: bytes) -> None:
        p = tmp_path / "fuzz.pcapng"
        p.write_bytes(SHB + IDB + _epb(b"Z" * 20) + b"".join(blocks) + trailer)
        n = 0
        try:
            for ch in read_chunks(str(p)):
                n += ch.count
                assert ch.end <= len(ch.buf)
        except CaptureError as exc:
            assert "\n" not in str(exc) and 0 <= exc.offset <= p.stat().st_size
        assert n >= 1                                           # the valid packet before the noise is kept

    run()
