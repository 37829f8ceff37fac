"""dissectors/http/upnp.py and the HTTP dissector on a UPnP device description answer (UDA 2.0 2.3): the
device's manufacturer, model and serial as vendor/product/serial facts, the rest raw; anything else in an XML
answer says nothing; hostile or cut documents give no exception."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from otscope.dissectors.base import DONE
from otscope.dissectors.http.dissector import HttpDissector
from otscope.dissectors.http.upnp import parse_description

DESC = b"""<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
  <specVersion><major>1</major><minor>0</minor></specVersion>
  <device>
    <deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>
    <friendlyName>SCALANCE XC208 &amp; Co</friendlyName>
    <manufacturer>Siemens AG</manufacturer>
    <modelName>SCALANCE XC208</modelName>
    <modelNumber>6GK5208-0BA00-2AC2</modelNumber>
    <modelDescription>Industrial Ethernet switch</modelDescription>
    <serialNumber>VPL2110987</serialNumber>
    <UDN>uuid:2f402f80-da50-11e1-9b23-001b1b0a1b2c</UDN>
    <deviceList><device><manufacturer>Other</manufacturer></device></deviceList>
  </device>
</root>
"""


def test_the_first_device_of_a_description() -> None:
    d = parse_description(DESC)
    assert d is not None
    assert (d.manufacturer, d.model_name, d.model_number, d.serial_number) == (
        "Siemens AG", "SCALANCE XC208", "6GK5208-0BA00-2AC2", "VPL2110987")
    assert d.friendly_name == "SCALANCE XC208 & Co"                 # the entity resolved
    assert d.udn == "uuid:2f402f80-da50-11e1-9b23-001b1b0a1b2c"


def test_not_a_description() -> None:
    assert parse_description(b"<?xml version='1.0'?><rss><channel><title>x</title></channel></rss>") is None
    assert parse_description(DESC.replace(b"<device>", b"<nodevice>", 1).replace(b"<device>", b"<x>")) is None


def _answer(body: bytes, ctype: bytes = b"text/xml; charset=utf-8") -> list[tuple[int, bytes]]:
    req = b"GET /description.xml HTTP/1.1\r\nHost: 10.0.0.7:80\r\nUser-Agent: Microsoft-Windows/10.0 UPnP/1.0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
    return [(0, req), (1, head + body)]


def _facts(events: list[tuple[int, bytes]]) -> tuple[int, dict[str, str]]:
    d = HttpDissector()
    r = 0
    for i, (side, data) in enumerate(events):
        r = d.feed(data, side, 1.0 + i, i + 1)
    return r, {f.field: f.value for f in d.out if f.who == 1}


def test_dissector_reads_a_description_answer() -> None:
    r, f = _facts(_answer(DESC))
    assert r == DONE
    assert (f["vendor"], f["product"], f["serial"]) == ("Siemens AG", "SCALANCE XC208 6GK5208-0BA00-2AC2",
                                                         "VPL2110987")
    assert f["upnp_device_type"] == "urn:schemas-upnp-org:device:Basic:1"
    assert f["upnp_friendly_name"] == "SCALANCE XC208 & Co"


def test_an_html_answer_naming_the_namespace_is_not_read_as_one() -> None:
    _, f = _facts(_answer(DESC, b"text/html"))
    assert "vendor" not in f and "upnp_udn" not in f


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(0, len(DESC)))
def test_hostile_and_cut_documents(noise: bytes, cut: int) -> None:
    for body in (DESC[:cut], DESC[:cut] + noise, noise + DESC[cut:], DESC.replace(b"Siemens AG", noise[:300])):
        d = parse_description(body)
        if d is not None:
            assert all(len(v) <= 128 for v in (d.manufacturer, d.model_name, d.friendly_name, d.serial_number))
        _facts(_answer(body))
