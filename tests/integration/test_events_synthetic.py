"""The event kinds no shared capture holds (issue 17), end to end: hand-built captures of an S7 system data
download, UMAS stop / download / start (after steady UMAS polling, which raises nothing), a CIP File object download and a PROFINET DCP Set of the station name are
replayed through the product; each action is one event with the frame of its first request, the device acted on
and the client that asked; the many frames of one download are one event; a second replay adds nothing. The
layouts follow Wireshark's dissectors (see tests/unit/test_event_emitters.py, which checks each parser)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from otscope.agent.replay import Overlap, checked_sink, replay_file
from otscope.collector import events
from tests.conftest import Inventory, write_pcap
from tests.support.frames import TcpSession
from tests.unit.test_enip import encap, rr_data
from tests.unit.test_event_emitters import (DEVICE, END, START, TOOL, block_job, cip, dcp_block, dcp_set, mbap,
                                            pi_job, s7_job, umas)
from tests.unit.test_modbus import READ_REQ, READ_RSP
from tests.unit.test_s7 import CC, SETUP_JOB, cr, dt

EWS, PLC_S7, PLC_MB, PLC_CIP = "10.9.0.5", "10.9.0.10", "10.9.0.11", "10.9.0.12"


def _s7(frames: list[bytes], marks: dict[str, int]) -> None:
    s = TcpSession(EWS, PLC_S7, 40001, 102).handshake()
    s.to_server(cr(b"\x01\x02"))
    s.to_client(CC)
    s.to_server(dt(SETUP_JOB))
    s.to_client(dt(bytes.fromhex("320300000000000800000000f0000001000100f0")))
    s.to_server(dt(s7_job(block_job(0x1A, b"_0B00001P") + b"\x0d1000500000400")))
    marks["s7 sdb"] = len(frames) + len(s.frames)
    s.to_client(dt(bytes.fromhex("3203000001000001000000001a")))
    s.to_server(dt(s7_job(pi_job(b"_INSE", [b"0B00001P"]))))
    frames += s.frames


def _umas(frames: list[bytes], marks: dict[str, int]) -> None:
    s = TcpSession(EWS, PLC_MB, 40002, 502).handshake()
    s.to_server(READ_REQ)
    s.to_client(READ_RSP)
    for tid in range(20, 40):        # steady engineering polling: keep alive (0x12), read variables (0x22)
        s.to_server(umas(tid, 0x12 if tid % 2 else 0x22, b"" if tid % 2 else b"\x00\x01\x02\x00\x00\x00"))
        s.to_client(mbap(tid, b"\x5a\x12\xfe\x00"))
    for tid, fn, data in ((2, 0x41, b""), (3, 0x33, b"\x00\x01"), (4, 0x34, b"\x00" * 8), (5, 0x34, b"\x01" * 8),
                          (6, 0x35, b""), (7, 0x40, b"")):
        s.to_server(umas(tid, fn, data))
        marks.setdefault(f"umas 0x{fn:02x}", len(frames) + len(s.frames))
        s.to_client(mbap(tid, b"\x5a\x12\xfe"))
    frames += s.frames


def _cip(frames: list[bytes], marks: dict[str, int]) -> None:
    s = TcpSession(EWS, PLC_CIP, 40003, 44818).handshake()
    s.to_server(encap(0x65, b"\x01\x00\x00\x00"))
    s.to_client(encap(0x65, b"\x01\x00\x00\x00"))
    s.to_server(rr_data(cip(0x4C, 0x37, 200, struct.pack("<I", 4096))))      # Initiate Download
    marks["cip file"] = len(frames) + len(s.frames)
    s.to_client(rr_data(bytes([0xCC, 0, 0, 0])))
    s.to_server(rr_data(cip(0x50, 0x37, 200, b"\x00\x01" + b"\x00" * 16)))   # Download Transfer
    s.to_client(rr_data(bytes([0xD0, 0, 0, 0])))
    frames += s.frames


def _dcp(frames: list[bytes], marks: dict[str, int]) -> None:
    eth = bytes.fromhex(DEVICE.replace(":", "") + TOOL.replace(":", "") + "8892")
    frames.append(eth + dcp_set(START, dcp_block(2, 2, b"plc-line-3"), END))
    marks["dcp"] = len(frames)


def _capture(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    frames: list[bytes] = []
    marks: dict[str, int] = {}
    for build in (_s7, _umas, _cip, _dcp):
        build(frames, marks)
    return write_pcap(tmp_path / "engineering.pcap", frames), marks


def _events(inv: Inventory) -> list[dict]:
    with inv.factory() as s:
        rows, _n = events.list_events(s)
        names = events.labels(s, [i for r in rows for i in (r.asset_id, r.client_id)])
        return [events.as_dict(r, names) for r in rows]


def test_each_new_kind_once_with_its_request_frame_device_and_client(tmp_path: Path) -> None:
    path, marks = _capture(tmp_path)
    inv = Inventory(f"sqlite:///{tmp_path}/e.db")
    replay_file(str(path), checked_sink(inv.factory))
    got = {(e["kind"], e["detail"]): e for e in _events(inv) if e["kind"] not in ("new-asset", "new-conversation")}
    want = {
        ("config-write", "system data download"): ("s7 sdb", PLC_S7, EWS, 2),        # the request and the PI _INSE
        ("plc-stop", "stop PLC (UMAS)"): ("umas 0x41", PLC_MB, EWS, 1),
        ("program-download", "program download (UMAS)"): ("umas 0x33", PLC_MB, EWS, 4),   # 0x33, 0x34 x2, 0x35
        ("plc-start", "start PLC (UMAS)"): ("umas 0x40", PLC_MB, EWS, 1),
        ("program-download", "file download (CIP File object)"): ("cip file", PLC_CIP, EWS, 2),
        ("config-write", "DCP Set name of station"): ("dcp", DEVICE, TOOL, 1),
    }
    assert set(got) == set(want), sorted(got)
    for key, (mark, asset, client, count) in want.items():
        e = got[key]
        assert e["evidence"][0] == f"engineering.pcap#frame {marks[mark]}", (key, e["evidence"])
        assert (e["asset"], e["client"], e["count"]) == (asset, client, count), (key, e)
        assert e["technique"] == events.KIND_TECHNIQUE[e["kind"]] and not e["learning"]
    before = _events(inv)
    try:
        replay_file(str(path), checked_sink(inv.factory))
    except Overlap:
        pass
    assert _events(inv) == before


def test_tshark_reads_the_hand_built_frames_as_the_dissectors_do(tmp_path: Path) -> None:
    """Wireshark's own dissectors (packet-s7comm.c, packet-cip.c, packet-pn-dcp.c) see the same block, object
    and suboption in each frame the events name."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark absent")
    path, marks = _capture(tmp_path)
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e",
                          "_ws.col.Info"], capture_output=True, text=True, timeout=60).stdout
    info = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    assert "Request download] -> Block:[SDB1]" in info[str(marks["s7 sdb"])]
    assert "_INSE(SDB1)" in info[str(marks["s7 sdb"] + 2)]
    assert "Func:  90" in info[str(marks["umas 0x41"])]
    assert info[str(marks["cip file"])].startswith("File - Service (0x4c)")
    assert 'NameOfStation:"plc-line-3"' in info[str(marks["dcp"])]
