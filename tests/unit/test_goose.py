"""GOOSE / Sampled Values frame parsers (IEC 61850-8-1 Annex A, 9-2 5.3.3): hex frames built field by field,
malformed and truncated cases, and the facts about the publishing MAC."""

from __future__ import annotations

import struct

import pytest

from otscope.dissectors.base import L2Anomaly, L2Fact, Malformed, Truncated
from otscope.dissectors.goose import ETHERTYPE_GOOSE, ETHERTYPE_SV
from otscope.dissectors.goose.constants import GooseAnomaly
from otscope.dissectors.goose.facts import goose_facts, logical_device, sv_facts
from otscope.dissectors.goose.grammar import parse_goose, parse_sv
from tests.conftest import write_pcap

MAC = "00:a0:f4:08:2f:77"


def tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    length = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82]) + struct.pack(">H", n)
    return bytes([tag]) + length + value


def frame(appid: int, apdu: bytes, reserved1: int = 0, length: int | None = None) -> bytes:
    return struct.pack(">HHHH", appid, 8 + len(apdu) if length is None else length, reserved1, 0) + apdu


def goose_pdu(*, gocb=b"GEDeviceF650/LLN0$GO$gcb01", dataset=b"GEDeviceF650/LLN0$GOOSE1", goid=b"F650_GOOSE1",
              sim=b"\x00", confrev=b"\x01", ndscom=b"\x00", extra=b"") -> bytes:
    body = (tlv(0x80, gocb) + tlv(0x81, b"\x00\x9c\x40") + tlv(0x82, dataset) + tlv(0x83, goid)
            + tlv(0x84, bytes(8)) + tlv(0x85, b"\x01") + tlv(0x86, b"\x0a") + tlv(0x87, sim) + tlv(0x88, confrev)
            + tlv(0x89, ndscom) + tlv(0x8A, b"\x02") + extra
            + tlv(0xAB, tlv(0x83, b"\x00") + tlv(0x84, b"\x03\x00\x00")))
    return tlv(0x61, body)


def fields(out: list) -> dict[str, set[str]]:
    got: dict[str, set[str]] = {}
    for x in out:
        if isinstance(x, L2Fact):
            assert x.mac == MAC
            got.setdefault(x.field, set()).add(x.value)
    return got


def test_goose_fields_as_wireshark_decodes_them() -> None:
    g = parse_goose(frame(0x0001, goose_pdu()))
    assert (g.header.appid, g.gocb_ref, g.dat_set, g.go_id) == (
        1, "GEDeviceF650/LLN0$GO$gcb01", "GEDeviceF650/LLN0$GOOSE1", "F650_GOOSE1")
    assert (g.time_allowed_to_live, g.st_num, g.sq_num, g.conf_rev, g.num_dat_set_entries) == (40000, 1, 10, 1, 2)
    assert g.simulation is False and g.nds_com is False and g.anomalies == []


def test_goose_facts_are_about_the_publisher_and_the_ld_name_is_weak() -> None:
    got = fields(goose_facts(parse_goose(frame(0x3001, goose_pdu(sim=b"\x01", ndscom=b"\xff"))), MAC))
    assert got["protocol"] == {"goose"} and got["role_hint"] == {"rtu-ied"}
    assert got["goose_appid"] == {"0x3001"} and got["goose_confrev"] == {"1"}
    assert got["goose_gocbref"] == {"GEDeviceF650/LLN0$GO$gcb01"} and got["goose_id"] == {"F650_GOOSE1"}
    assert got["iec61850_ld"] == {"GEDeviceF650"} and "name" not in got
    assert got["goose_simulation"] == {"true"} and got["goose_ndscom"] == {"true"}


def test_flags_absent_when_clear_and_reserved1_simulation_bit_counts() -> None:
    got = fields(goose_facts(parse_goose(frame(1, goose_pdu())), MAC))
    assert "goose_simulation" not in got and "goose_ndscom" not in got
    got = fields(goose_facts(parse_goose(frame(1, goose_pdu(), reserved1=0x8000)), MAC))
    assert got["goose_simulation"] == {"true"}


def test_long_form_lengths_and_a_missing_goid() -> None:
    long_ref = b"IED1LD0/LLN0$GO$" + b"x" * 100
    body = tlv(0x80, long_ref) + tlv(0x81, b"\x07\xd0") + tlv(0x82, b"IED1LD0/LLN0$DS1") + tlv(0x88, b"\x00\x00\x01\x00")
    g = parse_goose(frame(7, tlv(0x61, body)))
    assert g.gocb_ref == long_ref.decode() and g.go_id == "" and g.conf_rev == 256
    assert "goose_id" not in fields(goose_facts(g, MAC))


@pytest.mark.parametrize("raw, exc", [
    (b"\x00\x01\x00", Truncated),                                     # header cut
    (struct.pack(">HHHH", 1, 4, 0, 0), Malformed),                    # Length < 8
])
def test_bad_headers_raise(raw: bytes, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        parse_goose(raw)


def test_wrong_tag_stops_the_pdu_with_an_anomaly_and_keeps_the_appid() -> None:
    """GOOSE_malformed_asn1.pcap's defect: gocbRef encoded as [UNIVERSAL 26] (0x1F 0x1A): nothing after it is
    trusted (as tshark), the APPID still is."""
    body = b"\x1f\x1a\x03abc" + tlv(0x82, b"X/Y")
    g = parse_goose(frame(1, tlv(0x61, body)))
    assert g.anomalies == [GooseAnomaly.UNEXPECTED_TAG] and g.dat_set == ""
    out = goose_facts(g, MAC)
    assert L2Anomaly(str(GooseAnomaly.UNEXPECTED_TAG)) in out and fields(out)["goose_appid"] == {"0x0001"}


def test_a_cut_frame_keeps_its_complete_fields() -> None:
    """GOOSE_truncated.pcap's defect: the frame ends inside allData, before its header Length: the fields before
    the cut are on the wire and reported, the cut one is not."""
    pdu = goose_pdu()
    g = parse_goose(frame(1, pdu, length=8 + len(pdu))[:-3])
    assert g.anomalies == [GooseAnomaly.SHORT_FRAME, GooseAnomaly.TRUNCATED_FIELD, GooseAnomaly.TRUNCATED_FIELD]
    assert g.gocb_ref == "GEDeviceF650/LLN0$GO$gcb01" and g.num_dat_set_entries == 2
    cut_in_string = frame(1, pdu, length=8 + len(pdu))[:8 + 3 + 2 + 10]    # inside gocbRef
    g = parse_goose(cut_in_string)
    assert g.gocb_ref == "" and GooseAnomaly.TRUNCATED_FIELD in g.anomalies
    body = tlv(0x80, b"A/B") + bytes([0xAB, 0x10]) + b"\x83\x01"      # allData claims 16 bytes, has 3
    g = parse_goose(frame(1, tlv(0x61, body)))
    assert g.gocb_ref == "A/B" and g.anomalies == [GooseAnomaly.TRUNCATED_FIELD]


@pytest.mark.parametrize("body, kind", [
    (tlv(0x85, b""), GooseAnomaly.MALFORMED_FIELD),                   # INTEGER of 0 bytes
    (tlv(0x85, bytes(9)), GooseAnomaly.MALFORMED_FIELD),              # INTEGER of 9 bytes
    (tlv(0x87, b"\x00\x00"), GooseAnomaly.MALFORMED_FIELD),           # BOOLEAN of 2 bytes
    (b"\x80\x80", GooseAnomaly.MALFORMED_FIELD),                      # indefinite length
    (b"\x80\x85\x00\x00\x00\x00\x01", GooseAnomaly.MALFORMED_FIELD),  # 5 length bytes
    (b"\x1f\x81\x81\x81\x81\x01", GooseAnomaly.MALFORMED_FIELD),      # tag longer than 4 bytes
])
def test_malformed_fields_are_typed_anomalies(body: bytes, kind: GooseAnomaly) -> None:
    assert parse_goose(frame(1, tlv(0x61, body))).anomalies == [kind]


def test_not_a_goose_pdu() -> None:
    assert parse_goose(frame(1, tlv(0x60, b""))).anomalies == [GooseAnomaly.NOT_GOOSE_PDU]
    assert parse_sv(frame(1, tlv(0x61, b""))).anomalies == [GooseAnomaly.NOT_SAV_PDU]


def asdu(sv_id: bytes, smp_cnt: int, *, dataset: bytes = b"", synch: int = 2) -> bytes:
    body = tlv(0x80, sv_id) + (tlv(0x81, dataset) if dataset else b"") + tlv(0x82, struct.pack(">H", smp_cnt)) \
        + tlv(0x83, b"\x00\x00\x00\x01") + tlv(0x85, bytes([synch])) + tlv(0x87, bytes(64))
    return tlv(0x30, body)


def sv_frame(asdus: list[bytes], appid: int = 0x4000, reserved1: int = 0) -> bytes:
    return frame(appid, tlv(0x60, tlv(0x80, bytes([len(asdus)])) + tlv(0xA2, b"".join(asdus))), reserved1)


def test_sv_asdus() -> None:
    s = parse_sv(sv_frame([asdu(b"MU01LD1/LLN0$MSVCB01", 3999, dataset=b"MU01LD1/LLN0$PhsMeas1"),
                           asdu(b"MU01LD1/LLN0$MSVCB01", 0)]))
    assert s.no_asdu == 2 and [a.smp_cnt for a in s.asdus] == [3999, 0] and s.anomalies == []
    got = fields(sv_facts(s, MAC))
    assert got["protocol"] == {"sv"} and got["sv_id"] == {"MU01LD1/LLN0$MSVCB01"} and got["sv_appid"] == {"0x4000"}
    assert got["sv_dataset"] == {"MU01LD1/LLN0$PhsMeas1"} and got["sv_confrev"] == {"1"}
    assert got["sv_smpsynch"] == {"2"} and got["iec61850_ld"] == {"MU01LD1"} and got["role_hint"] == {"rtu-ied"}


def test_sv_id_without_a_slash_gives_no_ld() -> None:
    assert "iec61850_ld" not in fields(sv_facts(parse_sv(sv_frame([asdu(b"4000", 1)])), MAC))


def test_sv_asdu_count_is_bounded() -> None:
    s = parse_sv(sv_frame([asdu(b"a/b", i) for i in range(12)]))
    assert len(s.asdus) == 8 and s.anomalies == [GooseAnomaly.TOO_MANY_ASDU]


def test_sv_wrong_element_in_seq_asdu() -> None:
    s = parse_sv(frame(1, tlv(0x60, tlv(0x80, b"\x01") + tlv(0xA2, tlv(0x31, b"")))))
    assert s.asdus == [] and s.anomalies == [GooseAnomaly.UNEXPECTED_TAG]


def test_vlan_tagged_publications_reach_the_inventory(tmp_path, inventory) -> None:
    """Through the whole pipeline: 802.1Q-tagged GOOSE and SV frames (the decoder strips the tag) make one asset
    of the publishing MAC, with both labels and the rtu-ied role."""
    dst, src = bytes.fromhex("010ccd010001"), bytes.fromhex("00a0f4082f77")
    tag = struct.pack(">HH", 0x8100, 0x8000 | 10)
    goose = dst + src + tag + struct.pack(">H", ETHERTYPE_GOOSE) + frame(1, goose_pdu())
    sv = bytes.fromhex("010ccd040001") + src + tag + struct.pack(">H", ETHERTYPE_SV) + sv_frame([asdu(b"IED/LLN0$SV", 1)])
    inventory.replay(write_pcap(tmp_path / "g.pcap", [goose, sv, goose]))
    assets = [a for a in inventory.assets() if MAC in a["macs"]]
    assert len(assets) == 1
    a = assets[0]
    assert {"goose", "sv"} <= set(a["protocols"]) and a["role"] == "rtu-ied"
    vals = {(f["field"], f["value"]) for f in a["facts"]}
    assert ("goose_gocbref", "GEDeviceF650/LLN0$GO$gcb01") in vals and ("sv_id", "IED/LLN0$SV") in vals


def test_logical_device() -> None:
    assert logical_device("GEDeviceF650/LLN0$GO$gcb01") == "GEDeviceF650"
    assert logical_device("noslash") == "" and logical_device("/x") == ""
