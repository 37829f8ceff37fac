"""The CSAF 2.0 reader on small documents of our own (ranges, fixed, not affected, malformed, oversized, zip) and
the CPE 2.3 names (collector/advisories/csaf.py, cpe.py)."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from otscope.collector.advisories import cpe, csaf, match
from otscope.collector.advisories.match import Confidence, Identity, Status


def doc(products: list[tuple[str, str, str, str, list[str] | None]], vulns: list[dict[str, Any]],
        tid: str = "TEST-2026-0001", version: str = "1", vendor: str = "Siemens") -> dict[str, Any]:
    """A minimal, schema-valid CSAF 2.0 csaf_security_advisory: products are (id, name, category, version, models)."""
    branches = []
    for pid, name, cat, ver, models in products:
        prod: dict[str, Any] = {"product_id": pid, "name": f"{name} {ver}"}
        if models:
            prod["product_identification_helper"] = {"model_numbers": models}
        branches.append({"category": "product_name", "name": name,
                         "branches": [{"category": cat, "name": ver, "product": prod}]})
    return {
        "document": {
            "category": "csaf_security_advisory", "csaf_version": "2.0", "title": f"Test advisory {tid}",
            "publisher": {"category": "vendor", "name": "otscope tests", "namespace": "https://example.invalid"},
            "notes": [{"category": "summary", "text": "test", "title": "Summary"}],
            "references": [{"category": "self", "summary": "self", "url": "https://example.invalid/a.json"}],
            "tracking": {"id": tid, "status": "final", "version": version,
                         "initial_release_date": "2026-01-01T00:00:00.000Z",
                         "current_release_date": "2026-01-02T00:00:00.000Z",
                         "revision_history": [{"date": "2026-01-01T00:00:00.000Z", "number": version,
                                               "summary": "initial"}]},
        },
        "product_tree": {"branches": [{"category": "vendor", "name": vendor, "branches": branches}]},
        "vulnerabilities": vulns,
    }


def vuln(cve: str, affected: list[str], fixed: list[str] | None = None, not_affected: list[str] | None = None,
         score: float = 7.5) -> dict[str, Any]:
    status: dict[str, list[str]] = {"known_affected": affected}
    if fixed:
        status["fixed"] = fixed
    if not_affected:
        status["known_not_affected"] = not_affected
    ids = affected + (fixed or []) + (not_affected or [])
    return {"cve": cve, "product_status": status,
            "scores": [{"products": affected, "cvss_v3": {"version": "3.1", "baseScore": score,
                                                          "baseSeverity": "CRITICAL" if score >= 9 else "HIGH"
                                                          if score >= 7 else "MEDIUM",
                                                          "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}}],
            "remediations": [{"category": "vendor_fix", "details": "Update to V3.2.19", "product_ids": ids}]}


def raw(d: dict[str, Any]) -> bytes:
    return json.dumps(d).encode()


S7 = Identity("Siemens", "CPU 315-2 PN/DP", "6ES7 315-2EH14-0AB0", "V3.2.7")

BASE = doc([("P1", "SIMATIC S7-300 CPU 315-2 PN/DP", "product_version_range", "vers:all/<V3.2.19",
             ["6ES7315-2EH14-0AB0"]),
            ("P2", "SIMATIC S7-300 CPU 315-2 PN/DP", "product_version", "V3.2.19", ["6ES7315-2EH14-0AB0"]),
            ("P3", "SIMATIC S7-300 CPU family", "product_version_range", "vers:all/*", None),
            ("P4", "SIMATIC S7-1200 CPU family", "product_version_range", "< V4.5.0", None)],
           [vuln("CVE-2026-0001", ["P1", "P3"], fixed=["P2"]), vuln("CVE-2026-0002", ["P4"], score=5.0)])


def test_reads_tree_status_scores_remediations() -> None:
    a = csaf.parse(raw(BASE), "base.json")
    assert (a.tracking_id, a.revision, a.publisher) == ("TEST-2026-0001", "1", "otscope tests")
    assert a.schema_checked                       # the csaf package's CSAF 2.0 schema is installed (test extra)
    p1 = a.products["P1"]
    assert (p1.vendor, p1.product_name, p1.version, p1.version_is_range, p1.model_numbers) == \
        ("Siemens", "SIMATIC S7-300 CPU 315-2 PN/DP", "vers:all/<V3.2.19", True, ("6ES7315-2EH14-0AB0",))
    v = a.vulnerabilities[0]
    assert v.cve == "CVE-2026-0001" and v.status == {"known_affected": ("P1", "P3"), "fixed": ("P2",)}
    assert (v.score, v.severity) == (7.5, "HIGH") and v.remediations[0].category == "vendor_fix"


def test_exact_entry_decides_over_the_family_line() -> None:
    a = csaf.parse(raw(BASE))
    got = match.match(S7, [a])
    assert [(m.cve, m.status, m.confidence, m.product_id) for m in got] == \
        [("CVE-2026-0001", Status.AFFECTED, Confidence.EXACT, "P1")]
    assert got[0].remediation == "Update to V3.2.19" and got[0].severity == "high"
    patched = Identity("Siemens", "CPU 315-2 PN/DP", "6ES7315-2EH14-0AB0", "V3.2.19")
    assert match.match(patched, [a]) == []          # fixed (P2), and P1's bound is exclusive: the family line
                                                    # "all versions" does not override the specific entries
    other_cpu = Identity("Siemens", "CPU 317-2 PN/DP", "6ES7317-2EK14-0AB0", "V3.2.19")
    fam = match.match(other_cpu, [a])
    assert [(m.status, m.confidence, m.product_id) for m in fam] == [(Status.AFFECTED, Confidence.FAMILY, "P3")]


def test_known_not_affected_clears() -> None:
    d = doc([("A", "SCALANCE X-200 switch family", "product_version_range", "vers:all/*", None),
             ("B", "SCALANCE X212-2", "product_version", "V5.2.6", ["6GK5212-2BB00-2AA3"])],
            [vuln("CVE-2026-0003", ["A"], not_affected=["B"])])
    a = csaf.parse(raw(d))
    x212 = Identity("Siemens", "SCALANCE X212-2", "6GK5212-2BB00-2AA3", "V5.2.6")
    assert match.match(x212, [a]) == []
    old = Identity("Siemens", "SCALANCE X212-2", "6GK5212-2BB00-2AA3", "V4.02")
    # the exact entry says only that V5.2.6 is not affected: for V4.02 the family line decides
    assert [(m.status, m.confidence) for m in match.match(old, [a])] == [(Status.AFFECTED, Confidence.FAMILY)]
    unlisted = Identity("Siemens", "SCALANCE X208", "6GK5208-0BA00-2AA3", "V4.02")
    assert [m.confidence for m in match.match(unlisted, [a])] == [Confidence.FAMILY]


def test_firmware_unknown_and_unknown_ranges_are_possible() -> None:
    d = doc([("A", "SIMATIC S7-1200 CPU family", "product_version_range", "< V4.5.0", None),
             ("B", "SIMATIC S7-1500 CPU family", "product_version_range", "S7-1511", None)],
            [vuln("CVE-2026-0004", ["A"]), vuln("CVE-2026-0005", ["B"])])
    a = csaf.parse(raw(d))
    got = match.match(Identity("Siemens", "CPU 1214C", "6ES7214-1AG40-0XB0", None), [a])
    assert [(m.status, m.reason) for m in got] == [(Status.POSSIBLE, "possibly affected, firmware unknown")]
    got = match.match(Identity("Siemens", "CPU 1511-1 PN", "6ES7511-1AK00-0AB0", "V2.0"), [a])
    assert [m.status for m in got] == [Status.POSSIBLE] and "not understood" in got[0].reason


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["document"].update(csaf_version="2.1"), "csaf_version"),
    (lambda d: d["document"]["tracking"].pop("id"), "schema"),
    (lambda d: d["vulnerabilities"][0]["product_status"].update(known_affected=["NOPE"]), "NOPE"),
    (lambda d: d["vulnerabilities"][0]["scores"][0]["cvss_v3"].update(baseScore=11), "schema"),
    (lambda d: d.update(product_tree={"branches": "not a list"}), "schema"),
], ids=["version", "no-tracking-id", "unknown-product", "score", "branches-shape"])
def test_malformed_documents_are_refused_whole(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    d = copy.deepcopy(BASE)
    mutate(d)
    with pytest.raises(csaf.AdvisoryError, match=message):
        csaf.parse(raw(d))


def test_structural_checks_without_the_schema() -> None:
    d = copy.deepcopy(BASE)
    d["vulnerabilities"][0]["product_status"]["known_affected"] = ["NOPE"]
    with pytest.raises(csaf.AdvisoryError, match="not in the product_tree"):
        csaf.parse(raw(d), validate=False)
    d = copy.deepcopy(BASE)
    d["document"]["tracking"]["id"] = "  "
    with pytest.raises(csaf.AdvisoryError, match="tracking.id"):
        csaf.parse(raw(d), validate=False)
    nested: dict[str, Any] = {"category": "vendor", "name": "x"}
    cur = nested
    for _ in range(40):
        cur["branches"] = [{"category": "product_family", "name": "y"}]
        cur = cur["branches"][0]
    d = copy.deepcopy(BASE)
    d["product_tree"] = {"branches": [nested]}
    d["vulnerabilities"] = []
    with pytest.raises(csaf.AdvisoryError, match="deeper"):
        csaf.parse(raw(d), validate=False)
    with pytest.raises(csaf.AdvisoryError, match="not JSON"):
        csaf.parse(b"{not json", validate=False)
    with pytest.raises(csaf.AdvisoryError, match="not JSON|nested too deeply"):
        csaf.parse(b"[" * 100_000, validate=False)


def test_oversized_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(csaf, "MAX_BYTES", 1000)
    with pytest.raises(csaf.AdvisoryError, match="larger"):
        csaf.parse(raw(BASE))
    (tmp_path / "big.json").write_bytes(raw(BASE))
    assert [s.error for s in csaf.sources([str(tmp_path)])] == ["larger than 0 MiB"]


def test_sources_files_folders_zip(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.json").write_bytes(raw(BASE))
    (tmp_path / "d" / "notes.txt").write_text("ignored")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x/b.json", raw(doc([], [], tid="TEST-2")))
        z.writestr("readme.md", "ignored")
    (tmp_path / "d" / "c.zip").write_bytes(buf.getvalue())
    (tmp_path / "bad.zip").write_bytes(b"PK not a zip")
    got = [(Path(s.name.split("!")[0]).name + ("!" + s.name.split("!")[1] if "!" in s.name else ""),
            s.error is None) for s in csaf.sources([str(tmp_path / "d"), str(tmp_path / "bad.zip"),
                                                    str(tmp_path / "missing.json")])]
    assert got == [("a.json", True), ("c.zip!x/b.json", True), ("bad.zip", False), ("missing.json", False)]


def test_json_round_trip() -> None:
    a = csaf.parse(raw(BASE))
    b = csaf.from_json(a.tracking_id, a.revision, a.title, a.publisher, json.loads(json.dumps(csaf.to_json(a))))
    assert b.products == a.products and b.vulnerabilities == a.vulnerabilities


# --- CPE names ----------------------------------------------------------------------------------------------

def test_cpe_escaping_nistir_7695() -> None:
    assert cpe.escape("CPU 315-2 PN/DP") == "cpu_315-2_pn\\/dp"
    assert cpe.escape("a*b?c:d") == "a\\*b\\?c\\:d"
    assert cpe.escape("V3.2.7") == "v3.2.7"
    assert cpe.escape("") == "*" and cpe.escape(None, empty="-") == "-"
    assert cpe.escape("<script>") == "\\<script\\>"


@pytest.mark.parametrize("vendor, product, order, firmware, want", [
    ("Siemens", "CPU 315-2 PN/DP", "6ES7 315-2EH14-0AB0", "V3.2.7",
     [("h", "cpe:2.3:h:siemens:6es7315-2eh14-0ab0:-:*:*:*:*:*:*:*", "siemens-order"),
      ("o", "cpe:2.3:o:siemens:simatic_s7-300_firmware:3.2.7:*:*:*:*:*:*:*", "siemens-order"),
      ("h", "cpe:2.3:h:siemens:simatic_s7-300:-:*:*:*:*:*:*:*", "family:siemens:s7-300")]),
    ("Rockwell Automation/Allen-Bradley", "1756-L61/B LOGIX5561", None, "16.20",
     [("h", "cpe:2.3:h:rockwellautomation:1756-l61:-:b:*:*:*:*:*:*", "rockwell-catalog"),
      ("o", "cpe:2.3:o:rockwellautomation:controllogix_5560_firmware:16.20:*:*:*:*:*:*:*", "rockwell-catalog"),
      ("h", "cpe:2.3:h:rockwellautomation:controllogix_5560:-:*:*:*:*:*:*:*", "family:rockwell:controllogix-5560")]),
    ("Schneider Electric", "Modicon M340", None, "v3.20",
     [("h", "cpe:2.3:h:schneider-electric:modicon_m340:-:*:*:*:*:*:*:*", "family:schneider:modicon-m340"),
      ("o", "cpe:2.3:o:schneider-electric:modicon_m340_firmware:3.20:*:*:*:*:*:*:*", "family:schneider:modicon-m340")]),
    ("WAGO", "PFC200 G2", "750-8212", "03.10.08(22)",
     [("h", "cpe:2.3:h:wago:750-8212:-:*:*:*:*:*:*:*", "wago-order"),
      ("o", "cpe:2.3:o:wago:pfc200_firmware:03.10.08\\(22\\):*:*:*:*:*:*:*", "wago-order"),
      ("h", "cpe:2.3:h:wago:pfc200:-:*:*:*:*:*:*:*", "family:wago:pfc200")]),
    ("Moxa", "MGate MB3180", None, "v2.2",
     [("h", "cpe:2.3:h:moxa:mb3180:-:*:*:*:*:*:*:*", "vendor-model"),
      ("o", "cpe:2.3:o:moxa:mgate_mb3000_firmware:2.2:*:*:*:*:*:*:*", "vendor-model"),
      ("h", "cpe:2.3:h:moxa:mgate_mb3000:-:*:*:*:*:*:*:*", "family:moxa:mgate-mb3000")]),
    ("Acme Controls, Inc.", "Widget 9000", None, "1.0",
     [("h", "cpe:2.3:h:acme_controls:widget_9000:-:*:*:*:*:*:*:*", "generic"),
      ("o", "cpe:2.3:o:acme_controls:widget_9000_firmware:1.0:*:*:*:*:*:*:*", "generic")]),
])
def test_cpe_rules(vendor: str, product: str, order: str | None, firmware: str,
                   want: list[tuple[str, str, str]]) -> None:
    got = [(c.part.value, c.cpe, c.rule) for c in cpe.cpe_names(vendor, product, order, None, firmware)]
    assert got == want


def test_cpe_of_hostile_strings_is_escaped() -> None:
    names = cpe.cpe_names("<script>alert(1)</script>", '"><svg onload=alert(3)>', None, None, "v1<img src=x>")
    assert names and all(":" not in c.cpe.split(":", 13)[4].replace("\\:", "") for c in names)
    assert all("<" not in c.cpe.replace("\\<", "") for c in names)


def test_vendor_variants() -> None:
    assert cpe.vendor_keys("Schneider Electric ") == cpe.vendor_keys("Schneider Electric Software, LLC") == \
        frozenset({"schneider"})
    assert cpe.vendor_keys("Rockwell Automation ") == cpe.vendor_keys("Rockwell Automation/Allen-Bradley")
    assert cpe.vendor_keys("PHOENIX CONTACT, Innominate Security Technologies") == frozenset({"phoenixcontact"})
    assert cpe.vendor_keys("Phoenix Broadband Technologies LLC") == frozenset({"phoenix_broadband_technologies"})
    assert cpe.vendor_keys("Hirschmann Automation and Control GmbH, Belden Inc.") == frozenset({"hirschmann"})
    assert cpe.vendor_keys("ABB, Phoenix Contact, Schneider Electric, Siemens, and WAGO") == \
        frozenset({"abb", "phoenixcontact", "schneider", "siemens", "wago"})
