"""TLS and SMB/NTLMSSP over the real public captures in ../shared/pcaps-extra with their tshark-derived truth:
every TLS/SMB host and label is found, every truth identity value of the tls_server_certificate, smb_native_os,
ntlmssp_challenge and ntlmssp_client records is in the host's facts, nothing is reported that tshark does not
decode in the same capture (differential: x509 fields, SNI, a JA4 computed by hand from tshark's ClientHello
fields, ntlmssp.*, smb.native_os/native_lanman/primary_domain/server). Skips cleanly when the captures or tshark
are absent.

Not here: NTLM.pcap's NTLMSSP rides on HTTP (port 80), which the HTTP dissector reads (it can call
dissectors/smb/ntlmssp.from_http_auth); SMB labels that tshark gives to browser datagrams (udp/138 mailslots) are
the NetBIOS dissector's."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from otscope.dissectors.smb.constants import SMB_PORTS
from otscope.dissectors.tls.constants import TLS_PORTS
from tests.support.truth import values

EXTRA = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps-extra"
CAPTURES, TRUTH = EXTRA / "captures", EXTRA / "truth"
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="shared/pcaps-extra not present")
TSHARK = shutil.which("tshark")


def truths(label: str, ports: tuple[int, ...]) -> list[Path]:
    """Truth files with a TCP conversation of ``label`` on one of our ports."""
    if not TRUTH.is_dir():
        return []
    out = []
    for p in sorted(TRUTH.rglob("*.json")):
        t = json.loads(p.read_text())
        if any(c["protocol"] == label and c["server_port"] in ports for c in t.get("conversations", [])):
            out.append(p)
    return out


def capture(truth: Path) -> Path:
    return CAPTURES / truth.relative_to(TRUTH).with_suffix("")


TLS_TRUTHS = truths("tls", TLS_PORTS)
SMB_TRUTHS = truths("smb", SMB_PORTS)


def test_the_corpus_has_the_files() -> None:
    assert len(TLS_TRUTHS) == 3 and len(SMB_TRUTHS) == 3


def host_facts(inventory, ip: str) -> tuple[dict, list[dict]]:
    found = inventory.by_ip(ip)
    assert len(found) == 1, ip
    return found[0], found


def our_labels(truth: dict, ip: str, label: str, ports: tuple[int, ...]) -> set[str]:
    want = set()
    for c in truth["conversations"]:
        if c["protocol"] == label and c["server_port"] in ports:
            if c["client"] == ip:
                want.add(f"{label}-client")
            if c["server"] == ip:
                want.add(f"{label}-server")
    return want


@pytest.mark.parametrize("truth_path", TLS_TRUTHS, ids=lambda p: p.name)
def test_every_tls_host_label_and_certificate_value_is_found(truth_path: Path, inventory) -> None:
    truth = json.loads(truth_path.read_text())
    inventory.replay(capture(truth_path))
    for h in truth["hosts"]:
        labels = our_labels(truth, h["ip"], "tls", TLS_PORTS)
        if not labels:
            continue
        a, fam = host_facts(inventory, h["ip"])
        assert labels <= set(a["protocols"]), (h["ip"], labels, a["protocols"])
        for rec in h["identity"].get("tls_server_certificate", []):
            subject, issuer = values(fam, "tls_subject"), values(fam, "tls_issuer")
            assert any(f"CN={rec['subject_cn']}" in s and f"O={rec['subject_o']}" in s for s in subject), subject
            if "subject_ou" in rec:
                assert any(f"OU={rec['subject_ou']}" in s for s in subject)
            assert any(f"CN={rec['issuer_cn']}" in s and f"O={rec['issuer_o']}" in s for s in issuer), issuer
            assert {f"DNS:{n}" for n in rec.get("san_dns", [])} <= values(fam, "tls_san")
        assert not values(fam, "vendor") and not values(fam, "product")      # no vendor rule matches these


@pytest.mark.parametrize("truth_path", SMB_TRUTHS, ids=lambda p: p.name)
def test_every_smb_host_label_and_identity_value_is_found(truth_path: Path, inventory) -> None:
    truth = json.loads(truth_path.read_text())
    inventory.replay(capture(truth_path))
    for h in truth["hosts"]:
        labels = our_labels(truth, h["ip"], "smb", SMB_PORTS)
        if not labels:
            continue
        a, fam = host_facts(inventory, h["ip"])
        assert labels <= set(a["protocols"]), (h["ip"], labels, a["protocols"])
        ident = h["identity"]
        names, domains = values(fam, "name"), values(fam, "domain")
        for rec in ident.get("smb_native_os", []):
            assert rec["native_os"] in values(fam, "os") and rec["native_os"] in values(fam, "smb_native_os")
            assert rec["native_lanman"] in values(fam, "smb_native_lanman")
            if "primary_domain" in rec:
                assert rec["primary_domain"] in domains
        for rec in ident.get("ntlmssp_challenge", []):
            assert rec["nb_computer_name"] in names and "ntlmssp" in a["protocols"]
            assert rec["dns_computer_name"] in values(fam, "ntlmssp_dns_computer_name")
            assert {rec["nb_domain_name"], rec.get("dns_domain_name", rec["nb_domain_name"])} <= domains
            assert rec["os_version"] in values(fam, "ntlmssp_version")
        for rec in ident.get("ntlmssp_client", []):
            assert rec["os_version"] in values(fam, "ntlmssp_version")
            if "workstation" in rec:
                assert rec["workstation"] in names and rec["domain"] in domains
        # every truth name / os of these records, in our shared fields
        summary = h["identity_summary"]
        smb_os = {r["native_os"] for r in ident.get("smb_native_os", [])}
        ntlm_os = {r["os_version"] for k in ("ntlmssp_challenge", "ntlmssp_client") for r in ident.get(k, [])}
        assert (smb_os | ntlm_os) <= set(summary.get("os", []))
        assert stated(fam, "os_family") <= {"windows", "macos"}


WEAK = {"oshint", "dhcp-fingerprint"}        # TTL/SYN and DHCP fingerprint hints: weak evidence, kept beside


def stated(assets: list[dict], field: str) -> set[str]:
    """The values of a field that a message states (the weak TTL/SYN or DHCP-fingerprint hints left out)."""
    return {f["value"] for a in assets for f in a.get("facts", []) if f["field"] == field and f["protocol"] not in WEAK}


def smb_values(assets: list[dict], field: str) -> set[str]:
    """The values of a field that SMB or NTLMSSP gave (the browser, NetBIOS and TTL hints add their own)."""
    return {f["value"] for a in assets for f in a.get("facts", []) if f["field"] == field
            and f["protocol"] in ("smb", "ntlmssp")}


def test_the_mac_client_is_not_called_windows(inventory) -> None:
    """macOS SMBFS sends an NTLMSSP version 6.1.7600 beside its NativeOS 'Mac OS X 10.10': the os is the
    NativeOS, the version stays raw; the Windows XP server gets both its NativeOS and the version's release."""
    (truth_path,) = [p for p in SMB_TRUTHS if p.name == "raw_ntlm_in_smb.pcap.json"]
    inventory.replay(capture(truth_path))
    client = inventory.by_ip("192.168.56.1")
    assert stated(client, "os") == {"Mac OS X 10.10"} and stated(client, "os_family") == {"macos"}
    server = inventory.by_ip("192.168.56.101")
    assert smb_values(server, "os") == {"Windows 5.1", "Windows XP (5.1 build 2600)"}
    assert values(client, "smb_user") == {"TEST-F7DFBC3FE9\\test"}


# -- tshark differential -------------------------------------------------------------------------------------------

def tshark(path: Path, display: str, *fields: str) -> list[list[str]]:
    out = subprocess.run([TSHARK, "-n", "-r", str(path), "-Y", display, "-T", "fields", "-E", "separator=\t",
                          "-E", "occurrence=a", "-E", "aggregator=|", *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return [(line.split("\t") + [""] * len(fields))[:len(fields)] for line in out.splitlines()]


def hand_ja4(version: str, ciphers: str, exts: str, sigs: str, alpn: str, versions: str, sni: str) -> str:
    """JA4 from tshark's ClientHello fields, by the FoxIO rules (see tests/unit/test_tls.py for the spec example)."""
    def grease(v: int) -> bool:
        return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)
    cs = [int(c, 16) for c in ciphers.split("|") if c and not grease(int(c, 16))]
    es = [int(e) for e in exts.split("|") if e and not grease(int(e))]
    vs = [int(v, 16) for v in versions.split("|") if v and not grease(int(v, 16))]
    top = max(vs) if vs else int(version, 16)
    ver = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3"}.get(top, "00")
    first = alpn.split("|")[0] if alpn else ""
    al = (first[0] + first[-1]) if first else "00"
    a = f"t{ver}{'d' if 0 in es else 'i'}{min(len(cs), 99):02d}{min(len(es), 99):02d}{al}"
    c_str = ",".join(sorted(f"{c:04x}" for c in cs))
    e_str = ",".join(sorted(f"{e:04x}" for e in es if e not in (0, 16)))
    sig = ",".join(s[2:] for s in sigs.split("|") if s and not grease(int(s, 16)))
    e_str = f"{e_str}_{sig}" if sig and e_str else e_str
    h = lambda s: hashlib.sha256(s.encode()).hexdigest()[:12] if s else "000000000000"  # noqa: E731
    return f"{a}_{h(c_str)}_{h(e_str)}"


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("truth_path", TLS_TRUTHS, ids=lambda p: p.name)
def test_tls_tshark_differential(truth_path: Path, inventory) -> None:
    path = capture(truth_path)
    inventory.replay(path)
    hellos = tshark(path, "tls.handshake.type == 1", "ip.src", "ip.dst", "tls.handshake.version", "tls.handshake.ciphersuite",
                    "tls.handshake.extension.type", "tls.handshake.sig_hash_alg", "tls.handshake.extensions_alpn_str",
                    "tls.handshake.extensions.supported_version", "tls.handshake.extensions_server_name")
    want_ja4: dict[str, set[str]] = {}
    want_sni: dict[str, set[str]] = {}
    for ip, dst, *rest in hellos:
        want_ja4.setdefault(ip, set()).add(hand_ja4(*rest))
        want_sni.setdefault(dst, set()).update({rest[-1]} - {""})           # SNI: the server's name
    for dst, names in want_sni.items():
        assert values(inventory.by_ip(dst), "tls_sni") == names
    for ip, ja4s in want_ja4.items():
        assert values(inventory.by_ip(ip), "tls_ja4") == ja4s
    certs = tshark(path, "tls.handshake.type == 11", "ip.src", "x509af.serialNumber", "x509ce.dNSName",
                   "x509sat.printableString", "x509sat.uTF8String", "x509sat.CountryName", "x509sat.teletexString",
                   "x509sat.IA5String")
    for ip, serials, dns, *strings in certs:
        fam = inventory.by_ip(ip)
        theirs = set(filter(None, "|".join(strings).split("|")))
        ours = set()
        for dn in values(fam, "tls_subject") | values(fam, "tls_issuer"):
            ours.update(v for v in re.split(r"(?:^|, )(?:CN|O|OU|C|ST|L|serialNumber)=", dn) if v)
        # nothing beyond the wire; what we leave out is only attributes x509.summarize does not read
        # (the Taleo certificate's postalCode / street)
        assert ours and ours <= theirs, ours - theirs
        leaf = serials.split("|")[0]
        assert {int(s, 16) for s in values(fam, "tls_serial")} == {int(leaf, 16)}
        assert values(fam, "tls_san") <= {f"DNS:{d}" for d in dns.split("|") if d}
    assert hellos or certs or truth_path.name.startswith("soem")        # the mid-session file has no handshake


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("truth_path", SMB_TRUTHS, ids=lambda p: p.name)
def test_smb_ntlmssp_tshark_differential(truth_path: Path, inventory) -> None:
    path = capture(truth_path)
    inventory.replay(path)
    want: dict[str, dict[str, set[str]]] = {}

    def add(ip: str, field: str, *vs: str) -> None:
        want.setdefault(ip, {}).setdefault(field, set()).update(v for v in vs if v)

    for ip, major, minor, build in tshark(path, "ntlmssp.version.major", "ip.src", "ntlmssp.version.major",
                                          "ntlmssp.version.minor", "ntlmssp.version.build_number"):
        add(ip, "ntlmssp_version", f"{major}.{minor}.{build}")
    for ip, nb, dns, nbd, dnsd in tshark(path, "ntlmssp.messagetype == 2", "ip.src",
                                         "ntlmssp.challenge.target_info.nb_computer_name",
                                         "ntlmssp.challenge.target_info.dns_computer_name",
                                         "ntlmssp.challenge.target_info.nb_domain_name",
                                         "ntlmssp.challenge.target_info.dns_domain_name"):
        add(ip, "name", nb)
        add(ip, "ntlmssp_dns_computer_name", dns)
        add(ip, "domain", nbd, dnsd)
    for ip, host, dom, user in tshark(path, "ntlmssp.messagetype == 3", "ip.src", "ntlmssp.auth.hostname",
                                      "ntlmssp.auth.domain", "ntlmssp.auth.username"):
        add(ip, "name", host)
        add(ip, "domain", dom)
        add(ip, "smb_user", f"{dom}\\{user}" if dom and user else user)
    for ip, nos, lanman, dom, server in tshark(path, "smb.native_os || smb.server", "ip.src", "smb.native_os",
                                               "smb.native_lanman", "smb.primary_domain", "smb.server"):
        add(ip, "smb_native_os", nos)
        add(ip, "smb_native_lanman", lanman)
        add(ip, "domain", dom)
        add(ip, "name", server)
    assert want
    for ip, fields in want.items():
        fam = inventory.by_ip(ip)
        for field in ("ntlmssp_version", "name", "ntlmssp_dns_computer_name", "domain", "smb_user",
                      "smb_native_os", "smb_native_lanman"):
            assert smb_values(fam, field) == fields.get(field, set()), (ip, field)
