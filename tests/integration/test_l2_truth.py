"""The layer-2/3 identity in the truth files of ../shared/pcaps and ../shared/pcaps-extra (what tshark saw:
LLDP, CDP, PROFINET DCP, DHCP records per host) is in the inventory, on the asset holding the record's MAC,
with the frame the value first appeared in as its evidence; and what the truth marks as not describing the
sender (DCP Set targets and Identify filters, 0.0.0.0 management addresses) is not identity."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from otscope.dissectors.base import text, usable_ip
from tests.conftest import Inventory
from tests.support.truth import SHARED

ROOTS = [SHARED, SHARED.parent / "pcaps-extra"]
KINDS = ("lldp", "cdp", "pn_dcp", "dhcp", "dhcp_client")

Expected = dict[tuple[str, str, str], int]           # (mac, field, value) -> first frame


def l2_truths() -> list[Path]:
    out = []
    for root in ROOTS:
        for p in sorted((root / "truth").rglob("*.json")) if (root / "truth").is_dir() else []:
            body = p.read_text()
            if any(f'"{k}": [' in body for k in KINDS) and (root / "captures" / p.relative_to(root / "truth")
                                                             ).with_suffix("").exists():
                out.append(p)
    return out


def _add(exp: Expected, mac: str, fieldname: str, value: str | None, frame: int) -> None:
    if value:
        key = (mac, fieldname, text(value.encode("latin-1"), 255))
        exp[key] = min(frame, exp.get(key, frame))


def expected(truth: dict) -> tuple[Expected, set[tuple[str, str, int]]]:
    """Identity the records say the MAC has, and (mac, field, frame) that must NOT be identity."""
    exp: Expected = {}
    never: set[tuple[str, str, int]] = set()
    for h in truth["hosts"]:
        ident = h.get("identity") or {}
        for r in ident.get("lldp", []):
            mac, fr = r["src_mac"], r["frame"]
            _add(exp, mac, "name", r.get("system_name"), fr)
            _add(exp, mac, "description", r.get("system_desc"), fr)
            ip = r.get("mgmt_ipv4")
            if ip and usable_ip(ip):
                _add(exp, mac, "management_ip", ip, fr)
            elif ip:
                never.add((mac, "management_ip", fr))
        for r in ident.get("cdp", []):
            _add(exp, r["src_mac"], "name", r.get("device_id"), r["frame"])
            _add(exp, r["src_mac"], "product", r.get("platform"), r["frame"])
        for r in ident.get("pn_dcp", []):
            if r.get("describes") == "sender":
                mac, fr = r["src_mac"], r["frame"]
                _add(exp, mac, "name", r.get("name_of_station"), fr)
                _add(exp, mac, "product", r.get("device_vendor_value"), fr)
                if r.get("vendor_id") == "0x002a":
                    _add(exp, mac, "vendor", "Siemens", fr)
            else:                                     # Set target / Identify filter: not the device's identity
                for fieldname in ("product", "vendor", "name"):
                    never.add((r.get("dst_mac") or "", fieldname, r["frame"]))
                    never.add((r["src_mac"], fieldname, r["frame"]))
        for r in ident.get("dhcp", []) + ident.get("dhcp_client", []):
            mac, fr = r["client_mac"], r["frame"]
            _add(exp, mac, "name", r.get("hostname"), fr)
            _add(exp, mac, "name", r.get("fqdn"), fr)
            if r.get("vendor_class"):
                _add(exp, mac, "dhcp_vendor_class", r["vendor_class"], fr)
    return exp, never


def ours(path: Path, tmp_path: Path) -> dict[tuple[str, str, str], int]:
    inv = Inventory(f"sqlite:///{tmp_path}/t.db")
    inv.replay(path)
    got: dict[tuple[str, str, str], int] = defaultdict(int)
    for a in inv.assets():
        for f in a["facts"]:
            m = re.search(r"#frame (\d+)$", f["evidence"] or "")
            for mac in a["macs"]:
                got[(mac, f["field"], f["value"])] = int(m.group(1)) if m else -1
    return got


TRUTHS = l2_truths()


@pytest.mark.shared
@pytest.mark.skipif(not TRUTHS, reason="../shared/pcaps(-extra) is not beside the project")
@pytest.mark.parametrize("truth_path", TRUTHS, ids=lambda p: p.name.removesuffix(".json"))
def test_l2_identity_matches_truth(truth_path: Path, tmp_path: Path) -> None:
    root = next(r for r in ROOTS if truth_path.is_relative_to(r))
    capture = (root / "captures" / truth_path.relative_to(root / "truth")).with_suffix("")
    exp, never = expected(json.loads(truth_path.read_text()))
    got = ours(capture, tmp_path)
    missing = [(k, fr) for k, fr in exp.items() if k not in got]
    wrong_frame = [(k, fr, got[k]) for k, fr in exp.items() if k in got and got[k] != fr]
    assert missing == [] and wrong_frame == []
    for mac, fieldname, frame in never:
        assert not any(k[0] == mac and k[1] == fieldname and fr == frame for k, fr in got.items()), \
            (mac, fieldname, frame)
