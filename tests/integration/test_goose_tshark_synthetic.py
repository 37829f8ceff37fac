"""A tshark differential of the GOOSE and SV layouts on frames built here (the public corpus has no Sampled
Values capture): tshark's goose / sv dissectors and ours read the same fields from the same bytes, VLAN-tagged
and not. Skips cleanly when tshark is absent."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from otscope.dissectors.goose import ETHERTYPE_GOOSE, ETHERTYPE_SV
from otscope.dissectors.goose.grammar import parse_goose, parse_sv
from tests.conftest import write_pcap
from tests.unit.test_goose import asdu, frame, goose_pdu, sv_frame

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
SRC = bytes.fromhex("0050c2123456")
VLAN = struct.pack(">HH", 0x8100, 0x8000 | 5)


def eth(dst: str, ethertype: int, body: bytes, tagged: bool) -> bytes:
    return bytes.fromhex(dst) + SRC + (VLAN if tagged else b"") + struct.pack(">H", ethertype) + body


def tshark(path: Path, *fields: str) -> list[list[str]]:
    out = subprocess.run([TSHARK, "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
                          "-E", "aggregator=|", *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_sv_fields_agree_with_tshark(tmp_path: Path) -> None:
    bodies = [sv_frame([asdu(b"MU01LD1/LLN0$MSVCB01", 3999, dataset=b"MU01LD1/LLN0$PhsMeas1", synch=2)], 0x4000),
              sv_frame([asdu(b"MU02/LLN0$SV", 7, synch=0), asdu(b"MU02/LLN0$SV", 8, synch=1)], 0x4001,
                       reserved1=0x8000)]
    path = write_pcap(tmp_path / "sv.pcap", [eth("010ccd040001", ETHERTYPE_SV, b, i == 1) for i, b in enumerate(bodies)])
    rows = tshark(path, "sv.appid", "sv.noASDU", "sv.svID", "sv.datSet", "sv.smpCnt", "sv.confRev", "sv.smpSynch",
                  "sv.reserve1.s_bit")
    assert len(rows) == 2
    for body, row in zip(bodies, rows):
        s = parse_sv(body)
        appid, no_asdu, sv_id, dat_set, smp_cnt, conf_rev, synch, s_bit = row
        assert int(appid, 16) == s.header.appid and int(no_asdu) == s.no_asdu
        assert sv_id.split("|") == [a.sv_id for a in s.asdus]
        assert [x for x in dat_set.split("|") if x] == [a.dat_set for a in s.asdus if a.dat_set]
        assert [int(x) for x in smp_cnt.split("|")] == [a.smp_cnt for a in s.asdus]
        assert [int(x) for x in conf_rev.split("|")] == [a.conf_rev for a in s.asdus]
        assert [int(x) for x in synch.split("|")] == [a.smp_synch for a in s.asdus]
        assert (s_bit in ("1", "True")) == s.header.simulation


def test_goose_fields_agree_with_tshark(tmp_path: Path) -> None:
    bodies = [frame(0x3001, goose_pdu(sim=b"\x01", confrev=b"\x00\x01\x00", ndscom=b"\x01")),
              frame(0x0002, goose_pdu(goid=b"IED2_GO", gocb=b"IED2CTRL/LLN0$GO$gcb2"))]
    path = write_pcap(tmp_path / "g.pcap", [eth("010ccd010001", ETHERTYPE_GOOSE, b, i == 0) for i, b in enumerate(bodies)])
    rows = tshark(path, "goose.appid", "goose.gocbRef", "goose.datSet", "goose.goID", "goose.confRev",
                  "goose.simulation", "goose.ndsCom", "goose.stNum", "goose.sqNum", "goose.timeAllowedtoLive")
    assert len(rows) == 2
    for body, row in zip(bodies, rows):
        g = parse_goose(body)
        appid, gocb, ds, goid, confrev, sim, nds, st, sq, tal = row
        assert (int(appid, 16), gocb, ds, goid) == (g.header.appid, g.gocb_ref, g.dat_set, g.go_id)
        assert (int(confrev), int(st), int(sq), int(tal)) == (g.conf_rev, g.st_num, g.sq_num, g.time_allowed_to_live)
        assert (sim in ("1", "True")) == g.simulation and (nds in ("1", "True")) == g.nds_com
