"""Issue 12 "done when", on every capture in ../shared/pcaps: no two assets share vendor + serial number, every
identity value has its own frame (``file#frame N``, and for wire strings the frame carries them), and roles match
the truth files' role rules where they apply."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from otscope.collector.merge import IDENTITY_FIELDS, meaningful_serial
from tests.conftest import PCAPS, Inventory
from tests.support.truth import CAPTURES, TRUTH, load, role_report

SHARED = sorted(p for p in CAPTURES.rglob("*") if p.is_file() and p.suffix in (".pcap", ".pcapng")) \
    if CAPTURES.is_dir() else []
# the bundled captures too: enip_plant.pcap holds the ControlLogix whose routed slot-0 identity is the controller
ALL = SHARED + sorted(PCAPS.glob("*.pcap"))


def _id(p: Path) -> str:
    return str(p.relative_to(CAPTURES)) if p.is_relative_to(CAPTURES) else f"bundled/{p.name}"
FRAME = re.compile(r"^(?P<file>.+)#frame (?P<n>\d+)$")
# values copied from the wire as text (vendor is often a name looked up from a numeric id; firmware and serial
# are formatted from binary fields): these must be found in their frame's bytes
WIRE_TEXT = ("product", "order_number", "name")


def frames(path: Path, wanted: set[int]) -> dict[int, bytes]:
    from scapy.utils import RawPcapNgReader, RawPcapReader

    out: dict[int, bytes] = {}
    reader = RawPcapNgReader if path.suffix == ".pcapng" else RawPcapReader
    try:
        rd = reader(str(path))
    except Exception:                    # a .pcap that is really pcapng (or the reverse)
        rd = (RawPcapReader if reader is RawPcapNgReader else RawPcapNgReader)(str(path))
    with rd:
        for n, (data, _meta) in enumerate(rd, start=1):
            if n in wanted:
                out[n] = bytes(data)
            if n >= max(wanted, default=0):
                break
    return out


def truth_frames(truth: dict) -> set[tuple[str, int]]:
    """(value, frame) of every string in the truth file's identity records: tshark's own attribution, which for a
    reassembled answer (S7 SZL fragments, TCP segments) is the last fragment's frame."""
    out: set[tuple[str, int]] = set()

    def walk(node: object, frame: int | None) -> None:
        if isinstance(node, dict):
            f = node.get("frame", frame)
            for v in node.values():
                walk(v, f if isinstance(f, int) else frame)
        elif isinstance(node, list):
            for v in node:
                walk(v, frame)
        elif isinstance(node, str) and frame is not None:
            out.add((node, frame))

    for h in truth.get("hosts", []):
        walk(h.get("identity") or {}, None)
    return out


def _in_frame(value: str, raw: bytes) -> bool:
    if "\ufffd" in value or value.endswith("\u2026"):
        return True                      # clipped or made printable by contract.clip: not comparable byte for byte
    return value.encode("utf-8") in raw or value.encode("latin-1", "replace") in raw or \
        _netbios_encoded(value) in raw or value.encode("utf-16-le") in raw or \
        _dns_labels(value) in raw                     # NTLMSSP/SMB2 names in UTF-16LE, mDNS/LLMNR names as labels


def _dns_labels(name: str) -> bytes:
    """RFC 1035 3.1 / 4.1.4: a domain name's first label, length-prefixed (the rest may be a compression pointer):
    how an mDNS or LLMNR answer carries a host name."""
    first = name.split(".", 1)[0].encode("utf-8", "replace")
    return bytes([len(first) & 0x3F]) + first


def _netbios_encoded(name: str) -> bytes:
    """RFC 1001 14.1 first-level encoding of a NetBIOS name (15 characters, space-padded), without its suffix:
    how an NBNS registration or answer carries a host name."""
    padded = name.upper().ljust(15)[:15].encode("latin-1", "replace")
    return bytes(c for b in padded for c in (0x41 + (b >> 4), 0x41 + (b & 0x0F)))


@pytest.mark.shared
@pytest.mark.parametrize("capture", ALL, ids=_id)
def test_one_asset_per_device_every_value_from_its_frame_roles_per_truth(capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/r.db")
    (res,) = inv.replay(capture)
    assert res.error is None
    assets = inv.assets()

    holders: dict[tuple[str, str], set[int]] = defaultdict(set)
    for a in assets:
        vendors = {f["value"] for f in a["facts"] if f["field"] == "vendor"}
        for f in a["facts"]:
            if f["field"] == "serial" and meaningful_serial(f["value"]):
                for v in vendors:
                    holders[(v, f["value"])].add(a["id"])
    assert {k: sorted(v) for k, v in holders.items() if len(v) > 1} == {}

    ident = [(a["id"], f) for a in assets for f in a["facts"] if f["field"] in IDENTITY_FIELDS]
    bad = []
    wanted: set[int] = set()
    for aid, f in ident:
        m = FRAME.match(f["evidence"])
        if not m or m["file"] != capture.name or int(m["n"]) > res.packets:
            bad.append((aid, f["field"], f["value"], f["evidence"]))
        else:
            wanted.add(int(m["n"]))
    assert bad == []
    raw = frames(capture, wanted)
    truth = TRUTH / (_id(capture) + ".json")
    t = load(truth) if truth.is_file() else {}
    tshark = truth_frames(t)
    missing = []
    for aid, f in ident:
        n = int(FRAME.match(f["evidence"])["n"])  # type: ignore[index]
        if f["field"] in WIRE_TEXT and not _in_frame(f["value"], raw[n]) and (f["value"], n) not in tshark:
            missing.append((aid, f["field"], f["value"], f["evidence"]))
    assert missing == []

    if t:
        report = role_report(t, assets)
        assert report.missing == []
