"""SNMP (dissectors/snmp): BER grammar from real bytes (zeek's snmpv1_get.pcap and leak_test.pcapng frames),
system group facts, v3 engine id, the community as a secret, malformed and truncated input, every anomaly."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import DONE, FATAL, OK, Malformed, Truncated, Who
from otscope.dissectors.snmp import enterprises
from otscope.dissectors.snmp.constants import Pdu, SnmpAnomaly, Tag
from otscope.dissectors.snmp.dissector import SnmpDissector
from otscope.dissectors.snmp.facts import engine_id, label
from otscope.dissectors.snmp.grammar import Reader, oid_str, parse, tlv

# snmpv1_get.pcap frame 2 (172.31.19.73:161 GetResponse sysObjectID) and frame 4 (sysName, sysLocation)
RESP_OID = bytes.fromhex("303802010004067075626c6963a22b0201260201000201003020301e06082b0601020101020006122b0601"
                         "04018f5101010182295d011b020201")
RESP_NAME = bytes.fromhex("304702010004067075626c6963a23a020127020100020100302f301106082b0601020101050004054236"
                          "333030301a06082b06010201010600040e4368616e64726127732063756265")
# leak_test.pcapng frame 71 (v3 discovery GetRequest, reportable) and 72 (the agent's Report, net-snmp engine)
V3_DISCOVERY = bytes.fromhex("303d02010330100204207b2f72020240000401040201030410300e040002012a02012a040004000400301404"
                             "000400a00e0204207b2f720201000201003000")
V3_REPORT = bytes.fromhex("306a02010330100204207b2f7202024000040100020103041d301b040d80001f8880a9498e5e3a2c30430201"
                          "dd0201dd0400040004003034040d80001f8880a9498e5e3a2c30430400a8210204207b2f7202010002010030"
                          "13301106092b060106030f010100410400000003")


def T(tag: int, body: bytes) -> bytes:
    """One BER TLV with a definite length (short or long form)."""
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + body


def message(varbinds: list[bytes], pdu: int = 0xA2, version: int = 1, community: bytes = b"x") -> bytes:
    vbs = T(0x30, b"".join(varbinds))
    return T(0x30, T(2, bytes([version])) + T(4, community) + T(pdu, b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + vbs))


def varbind(oid: bytes, tag: int, value: bytes) -> bytes:
    return T(0x30, T(6, oid) + T(tag, value))


SYS = b"\x2b\x06\x01\x02\x01\x01"      # 1.3.6.1.2.1.1


def feed(*datagrams: bytes, side: int = 1) -> tuple[SnmpDissector, list[int]]:
    d = SnmpDissector()
    return d, [d.feed(x, side, 0.0, i + 1) for i, x in enumerate(datagrams)]


def facts(d: SnmpDissector) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in d.out:
        out.setdefault(f.field, set()).add(f.value)
    return out


def test_getresponse_grammar_from_real_bytes() -> None:
    m = parse(RESP_OID)
    assert (m.version, m.community, m.pdu, m.request_id, m.error_status) == (0, b"public", Pdu.RESPONSE, 38, 0)
    assert [(v.oid, v.tag) for v in m.varbinds] == [("1.3.6.1.2.1.1.2.0", Tag.OID)]
    assert oid_str(m.varbinds[0].value) == "1.3.6.1.4.1.2001.1.1.1.297.93.1.27.2.2.1"


def test_system_group_facts_are_the_agents() -> None:
    d, st = feed(RESP_OID, RESP_NAME)
    assert st == [OK, OK] and d.confirmed
    f = facts(d)
    assert f["name"] == {"B6300"} and f["snmp_location"] == {"Chandra's cube"}
    assert f["snmp_sys_object_id"] == {"1.3.6.1.4.1.2001.1.1.1.297.93.1.27.2.2.1"}
    assert f["snmp_enterprise"] == {"2001"} and f["vendor"] == {"Oki Data Corporation"}
    assert f["protocol"] == {"snmp-server"} and f["snmp_version"] == {"1"}
    assert {x.who for x in d.out} == {Who.SERVER}          # every fact about the sender (side 1 = server)
    assert f["snmp_default_community"] == {"public"}
    assert not any("public" == x.value for x in d.out if x.field not in ("snmp_default_community",))


def test_the_community_is_never_a_value() -> None:
    secret = RESP_NAME.replace(b"\x04\x06public", b"\x04\x06s3cr3t")
    d, _ = feed(secret)
    assert all("s3cr3t" not in x.value for x in d.out)
    assert "snmp_default_community" not in facts(d)


def test_sysdescr_family_and_os() -> None:
    descr = b"Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 12.2(55)SE7, RELEASE SOFTWARE (fc1)"
    d, _ = feed(message([varbind(SYS + b"\x01\x00", 4, descr), varbind(SYS + b"\x07\x00", 2, b"\x06"),
                         varbind(SYS + b"\x04\x00", 4, b"noc@example.com")]))
    f = facts(d)
    assert f["snmp_sys_descr"] == {descr.decode()} and f["vendor"] == {"Cisco"}
    assert f["firmware"] == {"12.2(55)SE7"} and f["os"] == {"Cisco IOS"} and f["os_family"] == {"network-os"}
    assert f["snmp_sys_services"] == {"6"} and not any("noc@" in x.value for x in d.out)   # sysContact not kept


def test_manager_request_labels_the_client_only() -> None:
    get = bytes.fromhex("302602010004067075626c6963a01902012602010002010030" "0e300c06082b060102010102000500")
    d, st = feed(get, side=0)
    assert st == [OK] and facts(d) == {"protocol": {"snmp-client"}, "snmp_version": {"1"}}
    assert {x.who for x in d.out} == {Who.CLIENT}


def test_v3_report_gives_the_agents_engine_id_and_discovery_does_not() -> None:
    d, _ = feed(V3_DISCOVERY, side=0)
    assert "snmp_engine_id" not in facts(d)
    d, _ = feed(V3_REPORT)
    f = facts(d)
    assert f["snmp_engine_id"] == {"80001f8880a9498e5e3a2c3043"}
    assert f["snmp_engine_enterprise"] == {"8072"} and f["snmp_engine_enterprise_org"] == {"net-snmp"}
    assert f["protocol"] == {"snmp-server"} and f["snmp_version"] == {"3"}


def test_engine_id_formats() -> None:
    got: dict[str, str] = {}
    assert engine_id(bytes.fromhex("8000000903") + bytes.fromhex("001122334455"), got.__setitem__)
    assert got["snmp_engine_mac"] == "00:11:22:33:44:55" and got["snmp_engine_enterprise_org"] == "ciscoSystems"
    got.clear()
    assert engine_id(bytes.fromhex("8000000901") + bytes([10, 0, 0, 1]), got.__setitem__)
    assert got["snmp_engine_ip"] == "10.0.0.1"
    got.clear()
    assert engine_id(bytes.fromhex("8000000904") + b"router-7", got.__setitem__)
    assert got["snmp_engine_text"] == "router-7"
    assert not engine_id(b"\x80\x00", got.__setitem__)


def test_net_snmp_sys_object_id_is_not_a_vendor() -> None:
    oid = bytes.fromhex("2b06010401bf0803020a")          # 1.3.6.1.4.1.8072.3.2.10 (net-snmp, Linux)
    d, _ = feed(message([varbind(SYS + b"\x02\x00", 6, oid)]))
    f = facts(d)
    assert f["snmp_sys_object_id"] == {"1.3.6.1.4.1.8072.3.2.10"} and f["snmp_enterprise_org"] == {"net-snmp"}
    assert "vendor" not in f


def test_enterprise_registry() -> None:
    assert enterprises.organisation(9) == "ciscoSystems"
    assert enterprises.organisation(4329) == "Siemens AG"
    assert enterprises.organisation(10**9) == "" and enterprises.organisation(-1) == ""
    assert enterprises.enterprise_of("1.3.6.1.4.1.311.1") == 311 and enterprises.enterprise_of("1.3.6.1.2.1") is None
    with enterprises.DATA.open("rb") as fh:
        import gzip
        head = gzip.decompress(fh.read())[:400].decode()
    assert "iana.org/assignments/enterprise-numbers" in head and "2024-08-23" in head


@pytest.mark.parametrize("raw, exc", [
    (b"", Truncated), (b"\x30", Truncated), (b"\x30\x80\x02\x01\x00", Malformed),        # indefinite length
    (b"\x30\x85\x00\x00\x00\x00\x01", Malformed),                                         # 5 length octets
    (b"\x1f\x01\x00", Malformed),                                                         # high tag number
    (b"\x30\x03\x02\x01\x07", Malformed),                                                 # version 7
    (RESP_OID[:-3], Truncated), (b"\x30\x03\x04\x01\x00", Malformed),
])
def test_malformed_and_truncated(raw: bytes, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        parse(raw)


def test_oid_bounds() -> None:
    with pytest.raises(Malformed):
        oid_str(b"")
    with pytest.raises(Malformed):
        oid_str(b"\x2b\x80\x01")                              # not minimal
    with pytest.raises(Truncated):
        oid_str(b"\x2b\x86")
    with pytest.raises(Malformed):
        oid_str(b"\x2b" + b"\x90\x80\x80\x80\x80\x00")        # > 32 bits
    with pytest.raises(Malformed):
        oid_str(b"\x01" * 200)
    assert oid_str(b"\x88\x37\x01") == "2.999.1"
    tag, body = tlv(Reader(b"\x04\x82\x00\x02ab"))
    assert (tag, body.rest()) == (4, b"ab")


def test_not_snmp_first_is_fatal_and_bad_after_confirmation_is_an_anomaly() -> None:
    d, st = feed(b"GET / HTTP/1.0\r\n\r\n")
    assert st == [FATAL] and "not snmp" in d.fatal_reason
    d, st = feed(RESP_OID, b"\x30\x05junk")
    assert st == [OK, OK] and [a.kind for a in d.anomalies] == ["bad-message-truncated"]


def test_every_anomaly_kind() -> None:
    unknown = b"\x30\x0b\x02\x01\x01\x04\x01x\xaf\x03\x02\x01\x00"              # PDU tag 0xaf
    d, _ = feed(unknown)
    assert [a.kind for a in d.anomalies] == [f"{SnmpAnomaly.UNKNOWN_PDU}-0xaf"]
    d, _ = feed(message([varbind(SYS + b"\x03\x00", 5, b"")] * 65))
    assert SnmpAnomaly.TOO_MANY_VARBINDS in [a.kind for a in d.anomalies]
    usm = T(0x30, T(4, bytes.fromhex("80001f")) + T(2, b"\x01") + T(2, b"\x01") + T(4, b"") + T(4, b"") + T(4, b""))
    head = T(0x30, T(2, b"\x01") + T(2, b"\x05\xdc") + T(4, b"\x00") + T(2, b"\x03"))
    scoped = T(0x30, T(4, b"") + T(4, b"") + T(0xA8, b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + T(0x30, b"")))
    d, st = feed(T(0x30, T(2, b"\x03") + head + T(4, usm) + scoped))
    assert st == [OK] and [a.kind for a in d.anomalies] == [SnmpAnomaly.BAD_ENGINE_ID]


def test_budget_then_done() -> None:
    d, st = feed(*([RESP_NAME] * 32))
    assert st[-1] == DONE and set(st[:-1]) == {OK}
    assert label(parse(RESP_NAME)) == "snmp-server"
