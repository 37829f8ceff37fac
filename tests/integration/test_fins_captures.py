"""Omron FINS over the real public capture in ../shared/pcaps-extra (cisagov/icsnpp-omron-fins omron.pcap: one
host sends 93 FINS commands to 10.130.130.130:9600 and then, from the same port, 150 responses) with its
tshark-derived truth: every FINS host, label, role and identity value is found, nothing is reported that is not in
its frame; a tshark differential (``omron.*``) of the models, versions, unit model numbers and the command profile.
Skips cleanly when the capture or tshark is absent."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from otscope.dissectors.fins.constants import command_name
from tests.conftest import run_pipeline
from tests.support.truth import family, values

EXTRA = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps-extra"
CAPTURES, TRUTH = EXTRA / "captures", EXTRA / "truth"
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="shared/pcaps-extra not present")

LABELS = {"fins-client": "fins-client", "fins-server": "fins-server"}
ROLES = {"PLC/controller (also acts as client)": {"plc"}, "PLC/controller": {"plc"},
         "HMI/SCADA/EWS": {"hmi-scada", "engineering-workstation"}}


def fins_truths() -> list[Path]:
    if not TRUTH.is_dir():
        return []
    return sorted(p for p in TRUTH.rglob("*.json") if "fins" in json.loads(p.read_text()).get("protocol_frame_counts", {}))


def capture(truth: Path) -> Path:
    return CAPTURES / truth.relative_to(TRUTH).with_suffix("")


def test_the_corpus_has_the_fins_file() -> None:
    assert len(fins_truths()) == 1


def node(address: str) -> str:
    """tshark truth "fins:0x00.0x00" (network.node) -> our "0.0." prefix of network.node.unit."""
    net, nd = address.removeprefix("fins:").split(".")
    return f"{int(net, 16)}.{int(nd, 16)}."


@pytest.mark.parametrize("truth_path", fins_truths(), ids=lambda p: p.name)
def test_every_fins_host_label_role_and_value_is_found(truth_path: Path, inventory) -> None:
    truth = json.loads(truth_path.read_text())
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    for h in truth["hosts"]:
        labels = [LABELS[p] for p in h["protocols"] if p in LABELS]
        if not labels:
            continue
        (a,) = [a for a in assets if h["ip"] in a["ips"]]
        if h["mac_confidence"] in ("high", "medium"):
            assert h["mac"] in a["macs"]
        assert set(labels) == {p for p in a["protocols"] if p.startswith("fins")}, (labels, a["protocols"])
        assert a["role"] in ROLES[h["role_guess"]], a["role"]
        fam = family(a, assets)
        s = h["identity_summary"]
        assert set(s.get("model_names", [])) <= values(fam, "product")
        assert set(s.get("firmware_versions", [])) <= values(fam, "firmware")
        nodes = values(fam, "fins_node")
        assert all(any(n.startswith(node(x)) for n in nodes) for x in s.get("addresses", [])), nodes
        # nothing beyond the truth: the identity values reported are the ones tshark decoded
        assert values(fam, "product") <= set(s.get("model_names", []))
        assert values(fam, "firmware") <= set(s.get("firmware_versions", []))
        assert values(fam, "vendor") <= {"Omron"}          # the documented rule of a 0501 answer
    for ip in truth["destination_only_ips"]:                # asked, never answered: no FINS label
        for a in inventory.by_ip(ip):
            assert not [p for p in a["protocols"] if p.startswith("fins")], a["protocols"]


def test_identity_facts_carry_their_frames() -> None:
    (truth_path,) = fins_truths()
    truth = json.loads(truth_path.read_text())
    _p, batch = run_pipeline(capture(truth_path))
    firsts = {m["type"]: m["frame"] for m in truth["identity_messages"]}
    model = min(f.evidence.frame for f in batch.facts if f.field == "product" and "controller-data" in f.message)
    units = min(f.evidence.frame for f in batch.facts if f.field == "product" and "connection-data" in f.message)
    assert (model, units) == (firsts["fins_controller_data_read_response"], firsts["fins_connection_data_read_response"])
    assert not [a for a in batch.anomalies if a.protocol == "fins"]


TSHARK = shutil.which("tshark")


def tshark(path: Path, flt: str, *fields: str) -> list[list[str]]:
    out = subprocess.run([TSHARK, "-n", "-r", str(path), "-Y", flt, "-T", "fields", "-E", "separator=\t",
                          "-E", "occurrence=a", "-E", "aggregator=|", *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, timeout=60, check=True).stdout   # type: ignore[list-item]
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("truth_path", fins_truths(), ids=lambda p: p.name)
def test_tshark_differential(truth_path: Path, inventory) -> None:
    """Per sender: tshark's omron.controller.model/.version and omron.model_number == our facts; the requests
    tshark counts per command code == our profile."""
    path = capture(truth_path)
    want: dict[str, dict[str, set[str]]] = {}
    for ip, model, version in tshark(path, "omron.controller.model", "ip.src", "omron.controller.model",
                                     "omron.controller.version"):
        w = want.setdefault(ip, {"product": set(), "firmware": set()})
        w["product"].add(model.strip())
        w["firmware"].add(version.strip())
    for ip, models in tshark(path, "omron.model_number", "ip.src", "omron.model_number"):
        want.setdefault(ip, {"product": set(), "firmware": set()})["product"].update(m.strip() for m in models.split("|"))
    inventory.replay(path)
    assets = inventory.assets()
    assert want
    for ip, w in want.items():
        fam = [x for a in inventory.by_ip(ip) for x in family(a, assets)]
        assert values(fam, "product") == w["product"], ip
        assert values(fam, "firmware") == w["firmware"], ip
    theirs = Counter(command_name(int(cmd, 16)) for icf, cmd in tshark(path, "omron.command", "omron.icf", "omron.command")
                     if not int(icf, 16) & 0x40)
    _p, batch = run_pipeline(path)
    (comm,) = [c for c in batch.comms if c.protocol == "fins"]
    # the profile holds at most 48 keys (dissectors/base.py count): the capture's 55 commands do not all fit
    ours = {k: v for k, v in comm.profile.items() if k in theirs or k.startswith("0x")}
    assert len(ours) >= 40 and all(theirs[k] == v for k, v in ours.items()), (ours, theirs)
