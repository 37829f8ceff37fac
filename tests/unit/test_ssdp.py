"""SSDP (dissectors/ssdp) from real bytes: suricata-verify sip-ssdp-pm/ssdp.pcap frame 1 (a MiniUPnPd NOTIFY);
search answers, M-SEARCH, bounds, malformed input."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import DONE, FATAL, OK, Malformed
from otscope.dissectors.ssdp.dissector import SsdpDissector, device_uuid
from otscope.dissectors.ssdp.grammar import MAX_HEADERS, Kind, parse

NOTIFY = bytes.fromhex(
    "4e4f54494659202a20485454502f312e310d0a484f53543a203233392e3235352e3235352e3235303a313930300d0a43414348452d"
    "434f4e54524f4c3a206d61782d6167653d3132300d0a6c4f434154494f4e3a20687474703a2f2f3139322e3136382e312e313a37"
    "3430362f726f6f74446573632e786d6c0d0a5345525645523a2055506e502f546f6d61746f20312e32382e37353030204d495053"
    "5232546f6173746d616e2d5254204b323620555342204578742055506e502f312e30204d696e6955506e50642f312e360d0a4e54"
    "3a2075706e703a726f6f746465766963650d0a55534e3a20757569643a30343634356333642d653662342d346565612d62643335"
    "2d3563333230633132393639663a3a75706e703a726f6f746465766963650d0a4e54533a20737364703a616c6976650d0a4f5054"
    "3a2022687474703a2f2f736368656d61732e75706e702e6f72672f75706e702f312f302f223b0d0a30312d4e4c533a20310d0a42"
    "4f4f5449442e55504e502e4f52473a20310d0a434f4e46494749442e55504e502e4f52473a20313333370d0a0d0a")


def run(data: bytes):  # type: ignore[no-untyped-def]
    d = SsdpDissector()
    st = d.feed(data, 0, 0.0, 1)
    return d, st, {(f.field, f.value) for f in d.out}


def test_notify_from_real_bytes() -> None:
    m = parse(NOTIFY)
    assert m.kind is Kind.NOTIFY and m.headers["location"] == "http://192.168.1.1:7406/rootDesc.xml"
    _d, st, f = run(NOTIFY)
    assert st == OK and f == {
        ("protocol", "ssdp"), ("ssdp_location", "http://192.168.1.1:7406/rootDesc.xml"),
        ("ssdp_server", "UPnP/Tomato 1.28.7500 MIPSR2Toastman-RT K26 USB Ext UPnP/1.0 MiniUPnPd/1.6"),
        ("ssdp_uuid", "uuid:04645c3d-e6b4-4eea-bd35-5c320c12969f")}


def test_search_answer_and_msearch() -> None:
    answer = (b"HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
              b"SERVER: Linux/3.4 UPnP/1.0 miniupnpd/2.0\r\nUSN: uuid:abc::urn:x\r\n\r\n")
    _d, _st, f = run(answer)
    assert ("ssdp_device_type", "urn:schemas-upnp-org:device:InternetGatewayDevice:1") in f
    assert ("ssdp_uuid", "uuid:abc") in f and ("ssdp_server", "Linux/3.4 UPnP/1.0 miniupnpd/2.0") in f
    search = b"M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\nUSER-AGENT: Android/9 UPnP/1.1 app/1\r\n\r\n"
    _d, _st, f = run(search)
    assert f == {("protocol", "ssdp"), ("ssdp_user_agent", "Android/9 UPnP/1.1 app/1")}
    assert device_uuid("urn:x") == ""


def test_hostile_headers_are_bounded() -> None:
    many = b"NOTIFY * HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(500)) + b"SERVER: late\r\n\r\n"
    m = parse(many)
    assert len(m.headers) <= MAX_HEADERS and "server" not in m.headers
    long = b"NOTIFY * HTTP/1.1\r\nSERVER: " + b"A" * 5000 + b"\x01\r\n\r\n"
    assert len(parse(long).headers["server"]) <= 255


def test_not_ssdp_is_fatal_then_an_anomaly() -> None:
    _d, st, _f = run(b"HTTP/1.1 404 Not Found\r\n\r\n")
    assert st == FATAL
    with pytest.raises(Malformed):
        parse(b"GET / HTTP/1.1\r\n\r\n")
    d = SsdpDissector()
    assert d.feed(NOTIFY, 0, 0.0, 1) == OK and d.feed(b"junk", 0, 0.0, 2) == OK
    assert [a.kind for a in d.anomalies] == ["bad-message-malformed"]
    st = [d.feed(NOTIFY, 0, 0.0, 3 + i) for i in range(30)]
    assert st[-1] == DONE
