"""Events on real captures (issue 17): each kind fires with the frame tshark shows for the request, steady polling
raises nothing after learning, nothing fires twice. Captures are read in place in ../shared/pcaps and
../shared/pcaps-extra and skipped cleanly when absent; the tshark cross-checks skip when tshark is absent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from otscope.agent.replay import Overlap, checked_sink, replay_file
from otscope.collector import events
from tests.conftest import PCAPS, Inventory

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
ITI = SHARED / "pcaps" / "captures" / "ITI-ICS-Security-Tools"
MMS = SHARED / "pcaps-extra" / "captures" / "ITI-ICS-Security-Tools" / "pcaps" / "IEC61850" / "MMS - Specific Commands"

# (capture, kind, detail, tshark filter whose first frame is the request, server, client)
CASES = [
    (ITI / "s7" / "s7comm_downloading_block_db1.pcap", "program-download", "block download",
     "s7comm.param.func == 0x1a", "192.168.1.40", "192.168.1.10"),
    (ITI / "openics" / "EIP-RemoteModeChangeAttempt.pcap", "plc-stop", "stop", "cip.sc == 0x07",
     "192.168.10.121", "192.168.10.105"),
    (ITI / "openics" / "EIP-ChangeTimeAttempt.pcap", "time-set", "wall clock time",
     "cip.sc == 0x04 && cip.class == 0x8b", "192.168.10.120", None),
    (ITI / "openics" / "EIP-ChangeDateAttempt.pcap", "time-set", "wall clock time",
     "cip.sc == 0x04 && cip.class == 0x8b", "192.168.10.120", None),
    (ITI / "profinet" / "PROFINET-RT-DCP" / "ChangeIPUsingDCP.pcap", "ip-change",
     "08:00:06:93:cf:32: 192.168.0.6 -> 192.168.0.10", "pn_dcp.service_id == 4", None, None),
    (MMS / "mms-initiateDownloadSequence.pcap", "program-download", "domain download",
     "mms.confirmedServiceRequest == 26", "127.0.0.1", "127.0.0.1"),
]


def _replay(inv: Inventory, *paths: Path) -> None:
    for p in paths:
        replay_file(str(p), checked_sink(inv.factory))


def _events(inv: Inventory) -> list[dict]:
    with inv.factory() as s:
        rows, _n = events.list_events(s)
        names = events.labels(s, [i for r in rows for i in (r.asset_id, r.client_id)])
        return [events.as_dict(r, names) for r in rows]


def _tshark_first(path: Path, flt: str) -> int | None:
    if shutil.which("tshark") is None:
        return None
    out = subprocess.run(["tshark", "-n", "--disable-protocol", "idmp", "-r", str(path), "-Y", flt, "-T", "fields",
                          "-e", "frame.number"], capture_output=True, text=True, timeout=120)
    lines = out.stdout.split()
    return int(lines[0]) if lines else None


@pytest.mark.parametrize("path, kind, detail, flt, server, client", CASES, ids=[c[0].stem for c in CASES])
def test_kind_fires_once_with_the_request_frame(tmp_path: Path, path: Path, kind: str, detail: str, flt: str,
                                                server: str | None, client: str | None) -> None:
    if not path.exists():
        pytest.skip(f"{path.name} absent")
    inv = Inventory(f"sqlite:///{tmp_path}/e.db")
    _replay(inv, path)
    got = [e for e in _events(inv) if e["kind"] == kind]
    assert len(got) == 1, got
    e = got[0]
    assert e["detail"] == detail and not e["learning"]
    frame = int(e["evidence"][0].rsplit("#frame ", 1)[1])
    want = _tshark_first(path, flt)
    if want is not None:
        assert frame == want, (frame, want)
    if server is not None:
        assert e["asset"] == server
    if client is not None:
        assert e["client"] == client or e["client"].endswith(f"({client})")    # "NAME (ip)" once it has a name
    # no operational event the capture does not show (new assets/conversations of the learning file aside)
    others = {x["kind"] for x in _events(inv) if not x["learning"]} - {kind, "new-asset", "new-conversation",
                                                                       "segmentation-finding"}   # (issue 20)
    assert others == set()
    # the same capture again: refused or a duplicate, never a second event
    before = _events(inv)
    try:
        _replay(inv, path)
    except Overlap:
        pass
    assert _events(inv) == before


def test_steady_polling_raises_nothing_after_learning(tmp_path: Path) -> None:
    """pcaps/modbus_plant.pcap (an HMI polling a plant) is the learning file; the bundled plant captures after it
    raise only what they hold (new devices and conversations of other plants), never an operational event."""
    inv = Inventory(f"sqlite:///{tmp_path}/p.db")
    _replay(inv, PCAPS / "modbus_plant.pcap")
    first = _events(inv)
    assert first and all(e["learning"] for e in first if e["kind"] in events.LEARNED)
    assert {e["kind"] for e in first} <= events.LEARNED
    assert [e for e in first if not e["learning"]] == []


def test_plant_captures_raise_no_operational_event(tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/q.db")
    _replay(inv, PCAPS / "modbus_plant.pcap", PCAPS / "enip_plant.pcap", PCAPS / "s7_plant.pcap")
    operational = [e for e in _events(inv) if e["kind"] not in events.LEARNED]
    assert operational == []


FINS = SHARED / "pcaps-extra" / "captures" / "cisagov-icsnpp-omron-fins" / "testing" / "traces" / "omron.pcap"
# (kind, detail, tshark filter whose first frame is the request): the FINS commands of CISA ICSNPP's Omron trace
FINS_CASES = [
    ("config-write", "parameter area write", "omron.command == 0x0202"),
    ("config-write", "parameter area clear", "omron.command == 0x0203"),
    ("program-download", "program write", "omron.command == 0x0307"),
    ("program-delete", "program clear", "omron.command == 0x0308"),
    ("plc-start", "RUN", "omron.command == 0x0401"),
    ("plc-stop", "STOP", "omron.command == 0x0402"),
    ("time-set", "clock write", "omron.command == 0x0702"),
]


def test_fins_run_stop_program_and_clock_writes_fire_once_with_their_request_frame(tmp_path: Path) -> None:
    if not FINS.exists():
        pytest.skip(f"{FINS.name} absent")
    inv = Inventory(f"sqlite:///{tmp_path}/f.db")
    _replay(inv, FINS)
    got = _events(inv)
    for kind, detail, flt in FINS_CASES:
        mine = [e for e in got if (e["kind"], e["detail"]) == (kind, detail)]
        assert len(mine) == 1, (kind, detail, mine)
        e = mine[0]
        assert (e["asset"], e["client"]) == ("10.130.130.130", "10.4.14.102") and not e["learning"]
        want = _tshark_first(FINS, flt)
        if want is not None:
            assert e["evidence"][0] == f"{FINS.name}#frame {want}", (kind, e["evidence"], want)
    try:
        _replay(inv, FINS)
    except Overlap:
        pass
    assert _events(inv) == got
