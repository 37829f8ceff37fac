"""GOOSE over the real public captures in ../shared/pcaps-extra with their tshark-derived truth: every GOOSE
host, label, role and identity value the truth lists is found on the publishing MAC, nothing is reported that is
not in its frame; and a tshark differential over the same files (skips cleanly when absent)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.truth import family, values

EXTRA = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps-extra"
CAPTURES, TRUTH = EXTRA / "captures", EXTRA / "truth"
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="shared/pcaps-extra not present")

GOOSE_FIELDS = ("goose_gocbref", "goose_dataset", "goose_id")


def goose_truths() -> list[Path]:
    if not TRUTH.is_dir():
        return []
    return sorted(p for p in TRUTH.rglob("*.json") if "goose" in json.loads(p.read_text()).get("protocol_frame_counts", {}))


def capture(truth: Path) -> Path:
    return CAPTURES / truth.relative_to(TRUTH).with_suffix("")


def test_the_corpus_has_the_goose_files() -> None:
    assert len(goose_truths()) == 3


@pytest.mark.parametrize("truth_path", goose_truths(), ids=lambda p: p.name)
def test_every_goose_host_label_role_and_value_is_found(truth_path: Path, inventory) -> None:
    truth = json.loads(truth_path.read_text())
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    for h in truth["hosts"]:
        if "goose" not in h["protocols"]:
            continue
        found = [a for a in assets if h["mac"] in a["macs"]]
        assert len(found) == 1, h["mac"]
        a = found[0]
        fam = family(a, assets)
        assert "goose" in a["protocols"] and a["role"] == "rtu-ied", (a["protocols"], a["role"])
        ours = set().union(*(values(fam, f) for f in GOOSE_FIELDS))
        for name in h["identity_summary"].get("names", []):
            assert name in ours, name
        for addr in h["identity_summary"].get("addresses", []):
            assert addr.removeprefix("goose-appid:") in values(fam, "goose_appid"), addr
        for rec in h["identity"].get("goose", []):
            if "confRev" in rec:
                assert rec["confRev"] in values(fam, "goose_confrev")
        # nothing beyond the truth: every GOOSE identity value we report is one tshark saw
        truth_vals = {v for rec in h["identity"].get("goose", []) for k, v in rec.items() if k in
                      ("gocbRef", "datSet", "goID")}
        assert ours <= truth_vals, ours - truth_vals
        assert not values(fam, "name") and not values(fam, "firmware") and not values(fam, "serial")


def test_the_malformed_pdu_is_counted_and_names_nothing(inventory) -> None:
    inventory.replay(CAPTURES / "haolipeng-icsnpp-iec61850-goose/testing/Traces/GOOSE_malformed_asn1.pcap")
    kinds = {x.kind for b in inventory.batches for x in b.anomalies if x.protocol == "goose"}
    assert kinds == {"goose-unexpected-tag"}
    a = [a for a in inventory.assets() if "00:a0:f4:08:2f:77" in a["macs"]][0]
    assert values([a], "goose_appid") == {"0x0001"} and not values([a], "goose_gocbref")


TSHARK = shutil.which("tshark")


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("truth_path", goose_truths(), ids=lambda p: p.name)
def test_tshark_differential(truth_path: Path, inventory) -> None:
    """Per source MAC, tshark's goose.gocbRef / datSet / goID / appid / confRev == our facts."""
    out = subprocess.run([TSHARK, "-r", str(capture(truth_path)), "-Y", "goose", "-T", "fields", "-E", "separator=\t",
                          "-e", "eth.src", "-e", "goose.gocbRef", "-e", "goose.datSet", "-e", "goose.goID",
                          "-e", "goose.appid", "-e", "goose.confRev"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    want: dict[str, dict[str, set[str]]] = {}
    for line in out.splitlines():
        mac, gocb, ds, goid, appid, confrev = (line.split("\t") + [""] * 6)[:6]
        w = want.setdefault(mac, {f: set() for f in ("goose_gocbref", "goose_dataset", "goose_id", "goose_appid",
                                                       "goose_confrev")})
        for f, v in (("goose_gocbref", gocb), ("goose_dataset", ds), ("goose_id", goid), ("goose_confrev", confrev)):
            if v:
                w[f].add(v)
        w["goose_appid"].add(f"0x{int(appid, 16):04x}")
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    assert want
    for mac, w in want.items():
        a = [a for a in assets if mac in a["macs"]]
        assert a, mac
        for f, vs in w.items():
            assert values(a, f) == vs, (mac, f)
