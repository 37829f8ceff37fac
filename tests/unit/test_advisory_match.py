"""The matcher against the real CISA CSAF advisories in ../shared/advisories: every must-match and must-not-match
pair of its README (read from there, never copied; skipped when the folder is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otscope.collector.advisories import csaf, match
from otscope.collector.advisories.match import Confidence, Identity, Status

ADVISORIES = Path(__file__).resolve().parents[2].parent / "shared" / "advisories"
CSAF_DIR = ADVISORIES / "csaf"

pytestmark = pytest.mark.skipif(not CSAF_DIR.is_dir(), reason="../shared/advisories is not beside the project")

S7_315 = Identity("Siemens", "CPU 315-2 PN/DP", "6ES7 315-2EH14-0AB0", "V3.2.7")
S7_1511 = Identity("Siemens", "CPU 1511-1 PN", "6ES7511-1AK00-0AB0", "V1.0")
S7_1214 = Identity("Siemens", "CPU 1214C DC/DC/Rly", "6ES7214-1HE30-0XB0", "V2.2")
IM151 = Identity("Siemens", "IM151-8 PN/DP CPU", "6ES7151-8AB01-0AB0", None)
ENBT_43 = Identity("Rockwell Automation/Allen-Bradley", "1756-ENBT/A", None, "4.3")
ENBT_47 = Identity("Rockwell Automation/Allen-Bradley", "1756-ENBT/A", None, "4.7")
L61 = Identity("Rockwell Automation/Allen-Bradley", "1756-L61/B LOGIX5561", None, "16.20")
X212 = Identity("Siemens", "SCALANCE X212-2", "6GK5212-2BB00-2AA3", "V4.02")
M340 = Identity("Schneider Electric", "Modicon M340", None, "v3.20")
PFC200 = Identity("WAGO", "PFC200", None, "03.10.08(22)")
MB3180 = Identity("Moxa", "MGate MB3180", None, "v2.2")

# README "Expected matches": device -> advisory ids, complete within the 78 files
EXPECTED = {
    "1-s7-315": (S7_315, {"ICSA-17-129-02", "ICSA-18-079-02", "ICSA-19-043-04", "ICSA-19-099-06", "ICSA-19-283-02",
                          "ICSA-20-042-05", "ICSA-20-105-08", "ICSA-20-252-02", "ICSA-22-104-06", "ICSA-22-314-02"}),
    "2-s7-1511": (S7_1511, {"ICSA-17-129-02", "ICSA-18-079-02", "ICSA-19-036-04", "ICSA-19-099-06", "ICSA-19-283-02",
                            "ICSA-19-344-06", "ICSA-20-105-08", "ICSA-21-152-01", "ICSA-22-041-01", "ICSA-22-104-06",
                            "ICSA-22-167-14", "ICSA-22-286-04", "ICSA-22-314-02", "ICSA-23-012-08"}),
    "3-s7-1214": (S7_1214, {"ICSA-17-129-02", "ICSA-19-283-02", "ICSA-19-318-02", "ICSA-19-344-06", "ICSA-20-042-05",
                            "ICSA-20-105-08", "ICSA-21-152-01", "ICSA-22-041-01", "ICSA-22-167-14", "ICSA-22-286-04",
                            "ICSA-22-314-02"}),
    "5-enbt-4.3": (ENBT_43, {"ICSA-18-310-02"}),
    "6-enbt-4.7": (ENBT_47, {"ICSA-18-310-02"}),
    "7-l61": (L61, {"ICSA-22-090-05"}),
    "8-x212-2": (X212, {"ICSA-17-129-02", "ICSA-19-085-01", "ICSA-19-162-04", "ICSA-21-194-12", "ICSA-22-167-14",
                        "ICSA-22-195-01", "ICSA-22-286-15"}),
    "9-m340": (M340, {"ICSA-18-086-01", "ICSA-19-136-01", "ICSA-21-005-01", "ICSA-21-194-02", "ICSA-23-201-01"}),
    "10-pfc200": (PFC200, {"ICSA-23-325-01"}),
    "11-mb3180": (MB3180, {"ICSA-21-357-01"}),
}
# README #10: ICSA-20-065-01 only if the matcher ignores its remediation text: it gives no version bound in the
# product_tree (the version slot holds "750-82xx/xxx-xxx"), so it may only be "possible", never "affected".
UNDECIDABLE = {"10-pfc200": {"ICSA-20-065-01"}}

OTHER_VENDORS = {"ICSA-23-269-04", "ICSA-24-270-02",                       # Advantech
                 "ICSA-22-179-02", "ICSA-22-314-07", "ICSA-23-262-05", "ICSA-19-346-03",   # Omron
                 "ICSA-20-303-01", "ICSA-24-074-14", "ICSA-22-356-03",    # Mitsubishi Electric
                 "ICSA-18-081-02",                                         # Beckhoff
                 "ICSA-19-330-02", "ICSA-19-178-02",                       # ABB
                 "ICSA-18-065-01", "ICSA-20-091-01"}                       # Hirschmann
PHOENIX_TRAPS = {"ICSMA-20-170-03", "ICSA-17-152-01"}

# README "Must NOT match": device -> advisory ids it must not produce (neither affected nor possible)
MUST_NOT = {
    "N1-s7-1511": (S7_1511, {"ICSA-18-282-05", "ICSA-20-042-11", "ICSA-21-257-23"}),
    "N2-s7-1511-any": (Identity("Siemens", "CPU 1511-1 PN", "6ES7511-1AK00-0AB0", None), {"ICSA-24-284-01"}),
    "N2-s7-1511-v3": (Identity("Siemens", "CPU 1511-1 PN", "6ES7511-1AK00-0AB0", "V3.1.4"), {"ICSA-24-284-01"}),
    "N3-s7-1214": (S7_1214, {"ICSA-18-282-04", "ICSA-21-222-09", "ICSA-21-257-23", "ICSA-24-284-01"}),
    "N4-m340": (M340, {"ICSA-17-054-03", "ICSA-19-183-01", "ICSA-20-016-01"}),
    "N5-mb3180": (MB3180, {"ICSA-20-056-01"}),
    "N6-pfc200": (PFC200, {"ICSA-18-044-01"}),
    "N6-pfc200-750-8202": (Identity("WAGO", "PFC200", "750-8202", "03.10.08(22)"), {"ICSA-18-044-01"}),
    "N7-l61": (L61, {"ICSA-21-061-02", "ICSA-22-144-01", "ICSA-24-030-05", "ICSA-21-056-03"}),
    "N8-enbt-4.3": (ENBT_43, {"ICSA-23-193-01", "ICSA-23-264-04", "ICSA-23-026-06"}),
    "N8-enbt-4.7": (ENBT_47, {"ICSA-23-193-01", "ICSA-23-264-04", "ICSA-23-026-06"}),
    "N9-x212-2": (X212, {"ICSA-23-103-05", "ICSA-22-349-02", "ICSA-22-349-12"}),
    "N10-s7-315-patched": (Identity("Siemens", "CPU 315-2 PN/DP", "6ES7315-2EH14-0AB0", "V3.2.19"),
                           {"ICSA-22-104-06", "ICSA-22-314-02", "ICSA-19-099-06", "ICSA-18-079-02", "ICSA-19-283-02",
                            "ICSA-20-042-05", "ICSA-19-043-04", "ICSA-17-129-02"}),
    "N11-phoenix-ilc": (Identity("Phoenix Contact", "ILC 151 ETH", "2700974", "4.42"), PHOENIX_TRAPS),
    "N11-phoenix-switch": (Identity("PHOENIX CONTACT", "FL SWITCH 3008", None, "1.20"), PHOENIX_TRAPS),
}
for _k, (_dev, _ids) in list(EXPECTED.items()):
    MUST_NOT[f"N12-{_k}"] = (_dev, OTHER_VENDORS)


@pytest.fixture(scope="module")
def catalog() -> match.Catalog:
    advs = []
    for src in csaf.sources([str(CSAF_DIR)]):
        assert src.data is not None, src.error
        advs.append(csaf.parse(src.data, src.name))
    assert len(advs) == 78
    return match.Catalog(advs)


def summary(catalog: match.Catalog, dev: Identity) -> dict[str, match.Summary]:
    return match.by_advisory(catalog.match(dev))


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_expected_matches(catalog: match.Catalog, case: str) -> None:
    dev, want = EXPECTED[case]
    got = summary(catalog, dev)
    affected = {k for k, v in got.items() if v.status is Status.AFFECTED}
    assert affected == want
    assert set(got) - affected <= UNDECIDABLE.get(case, set())       # nothing else, not even "possible"


def test_firmware_unknown_is_possible_never_affected(catalog: match.Catalog) -> None:
    """README #4: IM151-8 with firmware unknown: all-versions entries are certain, the rest possible."""
    got = summary(catalog, IM151)
    certain = {k for k, v in got.items() if v.status is Status.AFFECTED}
    possible = {k for k, v in got.items() if v.status is Status.POSSIBLE}
    assert certain == {"ICSA-20-105-08", "ICSA-20-252-02"}
    assert possible == {"ICSA-17-129-02", "ICSA-18-079-02", "ICSA-19-043-04", "ICSA-19-099-06", "ICSA-19-283-02",
                        "ICSA-20-042-05", "ICSA-22-104-06", "ICSA-22-314-02"}
    assert got["ICSA-20-252-02"].confidence is Confidence.FAMILY       # via "S7-300 CPU family (incl. related ET200"
    assert got["ICSA-20-105-08"].confidence is Confidence.EXACT
    reasons = {m.reason for m in catalog.match(IM151) if m.status is Status.POSSIBLE}
    assert reasons == {"possibly affected, firmware unknown"}


@pytest.mark.parametrize("case", sorted(MUST_NOT))
def test_must_not_match(catalog: match.Catalog, case: str) -> None:
    dev, banned = MUST_NOT[case]
    got = summary(catalog, dev)
    assert not (set(got) & banned), {k: got[k] for k in set(got) & banned}


def test_patched_s7_315_keeps_all_versions_advisories(catalog: match.Catalog) -> None:
    got = summary(catalog, MUST_NOT["N10-s7-315-patched"][0])
    assert {k for k, v in got.items() if v.status is Status.AFFECTED} == {"ICSA-20-105-08", "ICSA-20-252-02"}


def test_evidence_names_each_step(catalog: match.Catalog) -> None:
    m = [x for x in catalog.match(S7_315) if x.tracking_id == "ICSA-20-042-05"]
    assert len(m) == 1 and m[0].confidence is Confidence.EXACT and m[0].cve == "CVE-2019-13940"
    ev = " | ".join(m[0].evidence)
    assert "model number 6ES7315-2EH14-0AB0 = asset 6ES7315-2EH14-0AB0" in ev
    assert "resolved <3.2.17" in ev                                   # < V3.X.17: the CPU's own minor
    assert m[0].severity == "medium" and m[0].score == 5.3
    fam = [x for x in catalog.match(S7_315) if x.tracking_id == "ICSA-20-252-02"][0]
    assert fam.confidence is Confidence.FAMILY and "rule order:siemens:s7-300" in " ".join(fam.evidence)


def test_per_cve_only_affected_by(catalog: match.Catalog) -> None:
    """ICSA-22-041-01: the S7-1500 family entry `vers:all/<V2.9.2` is listed for CVE-2021-37204 only."""
    cves = {m.cve for m in catalog.match(S7_1511) if m.tracking_id == "ICSA-22-041-01"}
    assert cves == {"CVE-2021-37204"}


def test_vendor_only_is_never_a_match(catalog: match.Catalog) -> None:
    """Same vendor, another product (Schneider M221 advisory for an M340): weighed as vendor-only, not reported."""
    seen = catalog.explain(M340, "ICSA-18-240-01")
    assert seen and {c.confidence for c in seen} == {Confidence.VENDOR_ONLY}
    assert "ICSA-18-240-01" not in summary(catalog, M340)


def test_vendor_variants_are_one_vendor(catalog: match.Catalog) -> None:
    """`Schneider Electric ` (trailing space) and `Schneider Electric Software, LLC` both reach an M340."""
    vendors = {catalog.advisories[k].products[m.product_id].vendor for m in catalog.match(M340)
               for k in [m.tracking_id]}
    assert {"Schneider Electric ", "Schneider Electric Software, LLC"} <= vendors


def test_sample_inventory_devices(catalog: match.Catalog) -> None:
    """The bundled captures' devices as the dissectors report them (otscope assets on pcaps/)."""
    wago = summary(catalog, Identity("WAGO", "PFC200 G2", None, "03.10.08"))        # no FW label on the wire
    assert {k for k, v in wago.items() if v.status is Status.AFFECTED} == {"ICSA-23-325-01"}
    l83 = summary(catalog, Identity("Rockwell Automation/Allen-Bradley", "1756-L83E/B ControlLogix5583E", None,
                                    "32.11"))
    assert {"ICSA-22-090-05", "ICSA-22-144-01", "ICSA-24-226-09"} <= {k for k, v in l83.items()
                                                                        if v.status is Status.AFFECTED}
    assert "ICSA-21-061-02" not in l83                                  # 5570 / 5370 only
    s7 = summary(catalog, Identity("Siemens", "CPU 315-2 PN/DP", "6ES7 315-2EH14-0AB0", "V3.2.6"))
    assert set(s7) == EXPECTED["1-s7-315"][1]


def test_family_given_without_order_number(catalog: match.Catalog) -> None:
    """An asset known only as "an S7-300" (family from elsewhere) gets the family entries, never the exact ones."""
    got = summary(catalog, Identity("Siemens", None, None, "V3.2.7", family="SIMATIC S7-300"))
    assert {k for k, v in got.items() if v.status is Status.AFFECTED} == {"ICSA-17-129-02", "ICSA-19-043-04",
                                                                          "ICSA-20-252-02"}
    assert {v.confidence for v in got.values()} == {Confidence.FAMILY}
    assert summary(catalog, Identity("Siemens", None, None, "V3.2.7")) == {}     # vendor alone: nothing
