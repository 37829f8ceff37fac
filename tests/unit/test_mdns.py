"""mDNS and LLMNR (dissectors/mdns) from real bytes: ethercrab soem-sdinfo-ek1100-only.pcapng frame 2 (the
responder NIELD-XPS13.local), suricata-verify llmnr-udp frame 2 (HS2011); proxies, queries, TXT keys,
malformed and truncated messages, pointer loops."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import FATAL, OK, Malformed, Truncated, Who
from otscope.dissectors.dnsmsg import parse
from otscope.dissectors.mdns.constants import MdnsAnomaly
from otscope.dissectors.mdns.dissector import LlmnrDissector, MdnsDissector
from otscope.dissectors.mdns.facts import txt_pairs

MDNS_RESPONSE = bytes.fromhex(
    "0000840000000004000000040237390130033136380331393207696e2d61646472046172706100000c80010000007800130b4e49"
    "454c442d5850533133056c6f63616c000144013201390146014601300130014601390145013501450135013001390144013001"
    "300130013001300130013001300130013001300130013001380145014603697036c021000c8001000000780002c031c031000180"
    "01000000780004c0a8004fc031001c8001000000780010fe80000000000000d905e5e9f00ff92dc00c002f8001000000780006c0"
    "0c00020008c044002f8001000000780006c04400020008c031002f8001000000780008c03100044000000800002905a000001194"
    "000c00040008000b34415d973713")
LLMNR_RESPONSE = bytes.fromhex("c341800000010001000000000668733230313100000100010648533230313100000100010000001e"
                               "0004c0a80a65")


def name(label: bytes) -> bytes:
    return b"".join(bytes([len(p)]) + p for p in label.split(b".")) + b"\x00"


def rr(owner: bytes, rtype: int, rdata: bytes) -> bytes:
    return name(owner) + rtype.to_bytes(2, "big") + b"\x80\x01\x00\x00\x00\x78" + len(rdata).to_bytes(2, "big") + rdata


def response(*records: bytes) -> bytes:
    return b"\x00\x00\x84\x00\x00\x00" + len(records).to_bytes(2, "big") + b"\x00\x00\x00\x00" + b"".join(records)


def run(cls, data: bytes, side: int = 0):  # type: ignore[no-untyped-def]
    d = cls()
    st = d.feed(data, side, 0.0, 1)
    return d, st, {(f.field, f.value) for f in d.out}


def test_mdns_response_names_the_responder() -> None:
    m = parse(MDNS_RESPONSE)
    assert m.response and m.counts == (0, 4, 0, 4)
    d, st, f = run(MdnsDissector, MDNS_RESPONSE)
    assert st == OK and f == {("protocol", "mdns"), ("name", "NIELD-XPS13.local")}
    assert {x.who for x in d.out} == {Who.CLIENT}


def test_a_response_naming_several_hosts_names_none() -> None:
    proxy = response(rr(b"a.local", 1, bytes([10, 0, 0, 1])), rr(b"b.local", 1, bytes([10, 0, 0, 2])))
    _d, _st, f = run(MdnsDissector, proxy)
    assert f == {("protocol", "mdns")}


def test_services_and_txt_model_keys() -> None:
    txt = b"".join(bytes([len(x)]) + x for x in (b"model=MacBookPro14,1", b"osxvers=19", b"noequals"))
    printer = b"".join(bytes([len(x)]) + x for x in (b"ty=HP LaserJet 400", b"usb_MFG=HP", b"usb_MDL=LaserJet 400"))
    msg = response(rr(b"_ipp._tcp.local", 12, name(b"Office._ipp._tcp.local")),
                   rr(b"Mac._device-info._tcp.local", 16, txt), rr(b"Office._ipp._tcp.local", 16, printer),
                   rr(b"office.local", 1, bytes([10, 0, 0, 9])))
    _d, _st, f = run(MdnsDissector, msg)
    assert {("name", "office.local"), ("mdns_service", "_ipp._tcp"), ("mdns_model", "MacBookPro14,1"),
            ("mdns_printer_type", "HP LaserJet 400"), ("vendor", "HP"), ("product", "LaserJet 400")} <= f
    assert txt_pairs(b"\x05a=b=c\x03xyz") == [(b"a", b"b=c")]


def test_a_query_is_no_name() -> None:
    query = b"\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00" + name(b"printer.local") + b"\x00\x01\x00\x01"
    _d, st, f = run(MdnsDissector, query)
    assert st == OK and f == {("protocol", "mdns")}


def test_llmnr_answer_is_the_responders_name() -> None:
    d, st, f = run(LlmnrDissector, LLMNR_RESPONSE, side=1)
    assert st == OK and f == {("protocol", "llmnr"), ("name", "HS2011")} and {x.who for x in d.out} == {Who.SERVER}
    truncated_flag = bytearray(LLMNR_RESPONSE)
    truncated_flag[2] |= 0x02
    _d, _st, f = run(LlmnrDissector, bytes(truncated_flag))
    assert f == {("protocol", "llmnr")}


@pytest.mark.parametrize("raw", [b"", MDNS_RESPONSE[:11], MDNS_RESPONSE[:60], LLMNR_RESPONSE[:-1],
                                 b"\x00" * 4 + b"\x01\x00" * 4])
def test_malformed_and_truncated(raw: bytes) -> None:
    with pytest.raises((Malformed, Truncated)):
        parse(raw)


def test_pointer_loop_and_bad_datagrams_are_anomalies_after_confirmation() -> None:
    d = MdnsDissector()
    assert d.feed(MDNS_RESPONSE, 0, 0.0, 1) == OK
    loop = response(b"\xc0\x0c" + b"\x00\x01\x80\x01\x00\x00\x00\x78\x00\x04\x0a\x00\x00\x01")
    assert d.feed(loop, 0, 0.0, 2) == OK
    assert d.feed(MDNS_RESPONSE[:30], 0, 0.0, 3) == OK
    assert [a.kind for a in d.anomalies] == [MdnsAnomaly.NAME_LOOP, f"{MdnsAnomaly.BAD_MESSAGE}-truncated"]
    ptr_loop = response(rr(b"1.0.0.10.in-addr.arpa", 12, b"\xc0\xff"))
    assert d.feed(ptr_loop, 0, 0.0, 4) == OK
    assert d.anomalies[-1].kind == MdnsAnomaly.NAME_LOOP
    assert MdnsDissector().feed(b"\x01\x02", 0, 0.0, 1) == FATAL
