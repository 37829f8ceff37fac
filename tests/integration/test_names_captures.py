"""SNMP, NetBIOS name service and browser, LLMNR, mDNS, SSDP and DHCP client options over the real public
captures in ../shared/pcaps-extra with their tshark-derived truth: every host of these protocols is found with
its labels, every identity value the truth lists for them is found, and the names reported are ones the truth
has (nothing made up); tshark differentials of the SNMP system group, NBNS/browser, mDNS and DHCP option fields.
Skips cleanly when the captures or tshark are absent."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.truth import values

EXTRA = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps-extra"
CAPTURES, TRUTH = EXTRA / "captures", EXTRA / "truth"
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="shared/pcaps-extra not present")

OURS = {"snmp", "nbns", "browser", "llmnr", "mdns", "ssdp", "dhcp"}
# DHCPv6 names (Client FQDN) are on the wire but in no truth file: test_tshark_dhcpv6_options shows them
LABELS = {"snmp-client", "snmp-server", "nbns", "nbns-server", "browser", "llmnr", "mdns", "ssdp", "dhcp-client",
          "dhcp-server"}
NAME_PROTOCOLS = {"snmp", "nbns", "browser", "llmnr", "mdns", "dhcp"}
# truth identity record key -> our fact field, per identity kind
KEYS = {
    "snmp_system": {"sysName": "name", "sysLocation": "snmp_location", "sysObjectID": "snmp_sys_object_id",
                    "sysDescr": "snmp_sys_descr"},
    "browser_announcement": {"server": "name", "os_version": "browser_os_version", "comment": "browser_comment"},
    "browser_domain_announcement": {"workgroup": "domain"},
    "llmnr_answer": {"name": "name"},
    "mdns_answer": {"name": "name"},
    "mdns_ptr": {"ptr": "name"},
    "ssdp_server_header": {"server": "ssdp_server"},
    "dhcp_client": {"hostname": "name", "vendor_class": "dhcp_vendor_class", "fqdn": "name",
                    "parameter_request_list": "dhcp_fingerprint", "requested_ip": "dhcp_requested_ip"},
}


def truths() -> list[Path]:
    if not TRUTH.is_dir():
        return []
    return sorted(p for p in TRUTH.rglob("*.json")
                  if OURS & set(json.loads(p.read_text()).get("protocol_frame_counts", {})))


def capture(truth: Path) -> Path:
    return CAPTURES / truth.relative_to(TRUTH).with_suffix("")


def test_the_corpus_has_the_files() -> None:
    found = {lab: 0 for lab in OURS}
    for p in truths():
        for lab in OURS & set(json.loads(p.read_text())["protocol_frame_counts"]):
            found[lab] += 1
    assert found == {"snmp": 2, "nbns": 6, "browser": 4, "llmnr": 5, "mdns": 5, "ssdp": 2, "dhcp": 7}


def _asset(assets: list[dict], h: dict) -> dict:
    if h["ip"] is None:
        found = [a for a in assets if h["mac"] in a["macs"]]
    else:
        found = [a for a in assets if h["ip"] in a["ips"]]
    assert len(found) == 1, (h["ip"], h["mac"], len(found))
    return found[0]


def _ours(a: dict, field: str) -> set[str]:
    return {f["value"] for f in a.get("facts", []) if f["field"] == field and f["protocol"] in NAME_PROTOCOLS}


@pytest.mark.parametrize("truth_path", truths(), ids=lambda p: p.name)
def test_every_host_label_and_identity_value_is_found(truth_path: Path, inventory) -> None:
    truth = json.loads(truth_path.read_text())
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    checked = 0
    for h in truth["hosts"]:
        labels = set(h["protocols"]) & LABELS
        if not labels:
            continue
        a = _asset(assets, h)
        assert labels <= set(a["protocols"]), (h["ip"], labels, a["protocols"])
        for kind, recs in h["identity"].items():
            for rec in recs:
                for key, field in KEYS.get(kind, {}).items():
                    if rec.get(key):
                        assert str(rec[key]) in values([a], field), (h["ip"], kind, key, rec[key])
                        checked += 1
        if "nbns-server" in labels:
            assert set(h["identity_summary"].get("names", [])) <= values([a], "name")
        # nothing made up: the names these protocols report are names the truth has for the host
        assert _ours(a, "name") <= set(h["identity_summary"].get("names", [])), (h["ip"], _ours(a, "name"))
    anomalies = [x for b in inventory.batches for x in b.anomalies if x.protocol in OURS | {"dhcp-fingerprint"}]
    assert not anomalies
    expected = sum(1 for h in truth["hosts"] if set(h["protocols"]) & LABELS for kind, recs in h["identity"].items()
                   for rec in recs for key in KEYS.get(kind, {}) if rec.get(key))
    assert checked == expected


def test_snmp_agent_identity_is_resolved(inventory) -> None:
    inventory.replay(CAPTURES / "zeek-zeek/testing/btest/Traces/snmp/snmpv1_get.pcap")
    (agent,) = inventory.by_ip("172.31.19.73")
    assert values([agent], "vendor") == {"Oki Data Corporation"} and values([agent], "snmp_enterprise") == {"2001"}
    assert agent["role"] not in ("plc", "hmi-scada", "engineering-workstation")
    (manager,) = inventory.by_ip("172.31.19.54")
    assert not values([manager], "name")


def test_dhcp_fingerprint_is_weak_os_family(inventory) -> None:
    inventory.replay(CAPTURES / "markofu-pcaps/HoneyNet/0210/suspicious-time.pcap")
    (host,) = inventory.by_ip("10.0.2.15")
    fp = [f for f in host["facts"] if f["field"] == "os_family"]
    # the DHCP fingerprint's weak word beside the others (the HTTP User-Agent's, the TTL/SYN hint's), all agreeing
    assert ("windows", "dhcp-fingerprint") in {(f["value"], f["protocol"]) for f in fp}
    assert {f["value"] for f in fp} == {"windows"}
    assert ("os", "Windows XP (5.1)") in {(f["field"], f["value"]) for f in host["facts"]}


# -- tshark differentials ---------------------------------------------------------------------------------------

TSHARK = shutil.which("tshark")


def tshark(path: Path, display: str, *fields: str) -> list[list[str]]:
    out = subprocess.run([TSHARK, "-n", "-r", str(path), "-Y", display, "-T", "fields", "-E", "separator=\t",
                          "-E", "occurrence=a", "-E", "aggregator=|", *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, timeout=60, check=True).stdout  # type: ignore[arg-type]
    return [(line.split("\t") + [""] * len(fields))[:len(fields)] for line in out.splitlines()]


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("name", ["snmpv1_get.pcap", "leak_test.pcapng"])
def test_tshark_snmp_system_group(name: str, inventory) -> None:
    path = CAPTURES / "zeek-zeek/testing/btest/Traces/snmp" / name
    want: dict[str, dict[str, set[str]]] = {}
    oids = {"1.3.6.1.2.1.1.5.0": "name", "1.3.6.1.2.1.1.6.0": "snmp_location", "1.3.6.1.2.1.1.1.0": "snmp_sys_descr"}
    for ip, names, strings, objs, pdu in tshark(path, "snmp.get_response_element or snmp.trap_element", "ip.src",
                                                 "snmp.name", "snmp.value.octets", "snmp.value.oid", "snmp.data"):
        w = want.setdefault(ip, {})
        names_l, strings_l, objs_l = names.split("|"), strings.split("|"), [o for o in objs.split("|") if o]
        if all(n in oids for n in names_l) and len(strings_l) == len(names_l):     # aligned: string varbinds only
            for oid, value in zip(names_l, strings_l):
                if value and all(c in "0123456789abcdef" for c in value):
                    w.setdefault(oids[oid], set()).add(bytes.fromhex(value).decode("latin-1"))
        if "1.3.6.1.2.1.1.2.0" in names_l and objs_l:
            w.setdefault("snmp_sys_object_id", set()).add(objs_l[0])
    inventory.replay(path)
    assert any(want.values())
    for ip, fields in want.items():
        (a,) = inventory.by_ip(ip)
        for field, vs in fields.items():
            assert values([a], field) == vs, (ip, field)


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_tshark_browser_and_nbns(inventory) -> None:
    path = CAPTURES / "ntop-nDPI/tests/cfgs/default/pcap/netbios.pcap"
    rows = tshark(path, "browser.command == 1", "ip.src", "browser.server", "browser.os_major", "browser.os_minor",
                  "browser.server_type")
    status = tshark(path, "nbns.flags.response == 1 and nbns.type == 33", "ip.src", "nbns.netbios_name")
    inventory.replay(path)
    assert rows and status
    for ip, server, major, minor, stype in rows:
        (a,) = inventory.by_ip(ip)
        assert server in values([a], "name")
        assert f"{major}.{minor}" in values([a], "browser_os_version")
        assert f"0x{int(stype, 16):08x}" in values([a], "browser_server_type_raw")
    for ip, names in status:
        (a,) = inventory.by_ip(ip)
        owned = set(names.split("|"))                      # the node's names (suffix and group bit not shown)
        assert values([a], "name") and values([a], "name") | values([a], "domain") <= owned


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_tshark_mdns_answers(inventory) -> None:
    path = CAPTURES / "zeek-zeek/testing/btest/Traces/dns/mdns.pcap"
    rows = tshark(path, "mdns and dns.flags.response == 1 and dns.a", "ip.src", "dns.resp.name", "dns.resp.type")
    inventory.replay(path)
    assert rows
    for ip, names, types in rows:
        a_names = {n for n, t in zip(names.split("|"), types.split("|")) if t in ("1", "28")}
        (a,) = inventory.by_ip(ip)
        assert a_names <= values([a], "name")


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("rel", ["ITI-ICS-Security-Tools/pcaps/beckoff/beckoffiplinktc2.pcapng",
                                 "OISF-suricata-verify/tests/output-eve-ftp-data/input.pcap",
                                 "ethercrab-rs-ethercrab/dumps/rs-example-sii-el2004.pcapng"])
def test_tshark_dhcpv6_options(rel: str) -> None:
    """DHCPv6 client fields (no truth file lists them: shown here against tshark, frame by frame)."""
    from tests.conftest import run_pipeline
    path = CAPTURES / rel
    rows = tshark(path, "dhcpv6.msgtype == 1", "ipv6.src", "dhcpv6.vendorclass.data", "dhcpv6.client_domain",
                  "dhcpv6.duidllt.link_layer_addr", "dhcpv6.requested_option_code")
    _p, batch = run_pipeline(path)
    got: dict[str, dict[str, set[str]]] = {}
    for f in batch.facts:
        if f.protocol in ("dhcpv6", "dhcp-fingerprint") and f.subject.ip:
            got.setdefault(f.subject.ip, {}).setdefault(f.field, set()).add(f.value)
    assert rows
    for ip, vendor, fqdn, mac, oro in rows:
        g = got[ip]
        assert vendor in g["dhcpv6_vendor_class"] and fqdn.split(".")[0] in g["name"]
        assert mac in g["dhcpv6_duid_mac"] and oro.replace("|", ",") in g["dhcpv6_fingerprint"]
        assert g["os_family"] == {"windows"}


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("rel", ["OISF-suricata-verify/tests/output-eve-ftp-data/input.pcap",
                                 "markofu-pcaps/HoneyNet/0210/suspicious-time.pcap",
                                 "ethercrab-rs-ethercrab/dumps/rs-example-sii-el2004.pcapng"])
def test_tshark_dhcp_options(rel: str) -> None:
    from tests.conftest import run_pipeline
    path = CAPTURES / rel
    rows = tshark(path, "dhcp.option.dhcp == 1 or dhcp.option.dhcp == 3 or dhcp.option.dhcp == 8", "dhcp.hw.mac_addr",
                  "dhcp.option.hostname", "dhcp.option.vendor_class_id", "dhcp.option.request_list_item")
    _p, batch = run_pipeline(path)
    got: dict[str, dict[str, set[str]]] = {}
    for f in batch.facts:
        if f.protocol == "dhcp" and f.subject.mac:
            got.setdefault(f.subject.mac, {}).setdefault(f.field, set()).add(f.value)
    assert rows
    for mac, host, vendor, prl in rows:
        g = got[mac.split("|")[0]]
        if host:
            assert host in g["name"]
        if vendor:
            assert vendor in g["dhcp_vendor_class"]
        if prl:
            assert prl.replace("|", ",") in g["dhcp_fingerprint"]
