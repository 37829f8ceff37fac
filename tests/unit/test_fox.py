"""Niagara Fox: the hello exchange as Nmap's fox-info.nse sends and documents it (its query, its example
output as a station's hello), a station hello with an o: object spanning lines, every split of the stream,
malformed cases, every anomaly kind, DONE after both hellos; Fox over TLS on 4911."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, OK, Malformed, Truncated, Who
from otscope.dissectors.fox.constants import MAX_FIELDS, MAX_LINE
from otscope.dissectors.fox.dissector import FoxDissector, FoxTlsDissector
from otscope.dissectors.fox.grammar import parse_header, parse_message

# fox-info.nse's query (a client hello)
CLIENT_HELLO = b"fox a 1 -1 fox hello\n{\nfox.version=s:1.0\nid=i:1\n};;\n"
# fox-info.nse's @output example, as the station hello it was read from
STATION_HELLO = (b"fox a 0 -1 fox hello\n{\nfox.version=s:1.0.1\nid=i:122\nhostName=s:xpvm-0omdc01xmy\n"
                 b"hostAddress=s:192.168.1.1\napp.name=s:Workbench\napp.version=s:3.7.44\n"
                 b"vm.name=s:Java HotSpot(TM) Server VM\nvm.version=s:20.4-b02\nos.name=s:Windows XP\n"
                 b"timeZone=s:America/Chicago;-21600000;3600000;02:00:00.000,wall,march,8,on or after,sunday,"
                 b"undefined;02:00:00.000,wall,november,1,on or after,sunday,undefined\n"
                 b"hostId=s:Win-99CB-D49D-5442-07BB\nvmUuid=s:8b530bc8-76c5-4139-a2ea-0fabd394d305\n"
                 b"brandId=s:vykon\n};;\n")
# a JACE station hello with a sysInfo object whose value spans lines (o:<class> <n>[<n bytes>])
BOG = b'<bog version="1.0">\n<p m="b=baja" t="b:Facets" v=""/>\n</bog>\n'
JACE_HELLO = (b"fox a 0 -1 fox hello\n{\nfox.version=s:1.0.1\nid=i:122\nhostName=s:10.17.40.40\n"
              b"hostAddress=s:10.17.40.40\napp.name=s:Station\napp.version=s:3.8.213\n"
              b"vm.name=s:Java HotSpot(TM) Client VM\nvm.version=s:1.5.0_81-b06\nos.name=s:QNX\nos.version=s:6.4.1\n"
              b"station.name=s:Honeywell\nlang=s:en\ntimeZone=s:EST5EDT;-18000000;3600000\n"
              b"hostId=s:Qnx-NPM6-0000-16A3-8210\nvmUuid=s:11e8e9a6-0b40-571a-0000-00000000a096\nbrandId=s:FacExp\n"
              b"sysInfo=o:bog " + str(len(BOG)).encode() + b"[" + BOG + b"]\n"
              b"authAgentTypeSpecs=s:fox:FoxUsernamePasswordAuthAgent\n};;\n")
# TLS 1.2 record headers (RFC 5246): handshake, ClientHello / ServerHello
TLS_CH = bytes.fromhex("160301002f010000 2b0303") + bytes(40)
TLS_SH = bytes.fromhex("160303003102000 02d0303".replace(" ", "")) + bytes(40)


def facts(d) -> dict[tuple[int, str], set[str]]:
    out: dict[tuple[int, str], set[str]] = {}
    for f in d.out:
        out.setdefault((f.who, f.field), set()).add(f.value)
    return out


def test_grammar_header_and_fields() -> None:
    h = parse_header(b"fox a 0 -1 fox hello")
    assert (h.kind, h.seq, h.reply, h.channel, h.command) == ("a", 0, -1, "fox", "hello")
    m = parse_message(JACE_HELLO)
    assert m.size == len(JACE_HELLO) and m.fields["sysInfo"] == ("o", b"")
    assert m.fields["station.name"] == ("s", b"Honeywell") and m.fields["authAgentTypeSpecs"][0] == "s"
    for bad in (b"fax a 0 -1 fox hello", b"fox a 0 -1 fox", b"fox aa 0 -1 fox hello", b"fox a x -1 fox hello"):
        with pytest.raises(Malformed):
            parse_header(bad)
    for cut in (5, 25, 200, len(JACE_HELLO) - 1):
        with pytest.raises(Truncated):
            parse_message(JACE_HELLO[:cut])


@pytest.mark.parametrize("bad", [
    b"fox a 0 -1 fox hello\nnot a brace\n",
    b"fox a 0 -1 fox hello\n{\nnoequals\n};;\n",
    b"fox a 0 -1 fox hello\n{\nk=o:bog 99999999[x]\n};;\n",
    b"fox a 0 -1 fox hello\n{\nk=o:bog 3[abcd]\n};;\n",
    b"fox a 0 -1 fox hello\n{\nk=o:bog\n};;\n",
    b"fox a 0 -1 fox hello\n{\n}\n",
])
def test_grammar_malformed_bodies(bad: bytes) -> None:
    with pytest.raises(Malformed):
        parse_message(bad)


def test_hello_exchange_facts_and_done() -> None:
    d = FoxDissector()
    assert d.feed(CLIENT_HELLO, 0, 0.0, 4) == OK and not d.confirmed
    assert d.feed(JACE_HELLO, 1, 0.1, 5) == DONE and d.confirmed
    f = facts(d)
    assert f[(Who.CLIENT, "protocol")] == {"fox-client"} and f[(Who.SERVER, "protocol")] == {"fox-server"}
    assert f[(Who.CLIENT, "fox_version")] == {"1.0"}
    s = {k[1]: v for k, v in f.items() if k[0] == Who.SERVER}
    assert s["name"] == {"Honeywell"} and s["product"] == {"Station"} and s["firmware"] == {"3.8.213"}
    assert s["os"] == {"QNX 6.4.1"} and s["vendor"] == {"FacExp"} and s["fox_time_zone"] == {"EST5EDT"}
    assert s["fox_host_id"] == {"Qnx-NPM6-0000-16A3-8210"} and s["fox_host_name"] == {"10.17.40.40"}
    assert "role_hint" not in s and (Who.CLIENT, "role_hint") not in f and not d.anomalies
    assert d.decoded == len(CLIENT_HELLO) + len(JACE_HELLO) and d.profile == {"hello": 2}


def test_nmap_documented_hello_workbench_and_host_name() -> None:
    """Nmap's example: a Workbench answering; its host name is the name (not an address), Windows XP."""
    d = FoxDissector()
    d.feed(STATION_HELLO, 0, 0.0, 1)              # a Workbench's hello, sent by the connection's initiator
    f = facts(d)
    assert f[(Who.CLIENT, "name")] == {"xpvm-0omdc01xmy"} and f[(Who.CLIENT, "os")] == {"Windows XP"}
    assert f[(Who.CLIENT, "product")] == {"Workbench"} and f[(Who.CLIENT, "vendor")] == {"vykon"}
    assert f[(Who.CLIENT, "role_hint")] == {"engineering-workstation"}
    assert f[(Who.CLIENT, "fox_vm_uuid")] == {"8b530bc8-76c5-4139-a2ea-0fabd394d305"}


def test_every_split_of_the_stream_gives_the_same_facts() -> None:
    want = None
    for cut in range(1, len(JACE_HELLO)):
        d = FoxDissector()
        d.feed(CLIENT_HELLO, 0, 0.0, 1)
        first = d.feed(JACE_HELLO[:cut], 1, 0.1, 2)
        assert first in (INCOMPLETE, OK)
        assert d.feed(JACE_HELLO[cut:], 1, 0.2, 3) == DONE
        got = sorted((f.who, f.field, f.value) for f in d.out)
        want = want or got
        assert got == want


def test_server_speaking_first_and_messages_after_the_hello() -> None:
    d = FoxDissector()
    assert d.feed(JACE_HELLO + b"fox a 1 -1 fox kerberos\n{\nuseKerberos=z:f\n};;\n", 1, 0.0, 1) == OK
    assert facts(d)[(Who.SERVER, "protocol")] == {"fox-server"}     # the station's end, whoever speaks first
    assert d.profile == {"hello": 1, "fox kerberos": 1}


def test_not_fox_is_fatal() -> None:
    assert FoxDissector().feed(b"GET / HTTP/1.1\r\n\r\n", 0, 0.0, 1) == FATAL
    assert FoxDissector().feed(b"\x16\x03\x01\x00", 0, 0.0, 1) == FATAL
    assert FoxDissector().feed(b"fox a 0 -1 fox hello\nxx\n", 0, 0.0, 1) == FATAL
    assert FoxDissector().feed(b"fo", 0, 0.0, 1) == INCOMPLETE


def test_anomalies_after_a_valid_hello() -> None:
    d = FoxDissector()
    d.feed(CLIENT_HELLO, 0, 0.0, 1)
    assert d.feed(b"garbage line\n", 0, 0.1, 2) == OK            # that side is not parsed further
    assert d.feed(CLIENT_HELLO, 0, 0.2, 3) == OK and d.profile == {"hello": 1}
    assert d.feed(b"fox a 0 -1 fox hello\nnot a brace\n", 1, 0.3, 4) == DONE
    assert [a.kind for a in d.anomalies] == ["fox-bad-header", "fox-bad-body"]
    t = FoxDissector()
    t.feed(CLIENT_HELLO, 0, 0.0, 1)
    assert t.feed(b"fox a 0 -1 fox hello\n{\n" + b"x" * (MAX_LINE + 10), 1, 0.3, 4) == DONE
    assert [a.kind for a in t.anomalies] == ["fox-too-long"]
    many = b"fox a 0 -1 fox hello\n{\n" + b"".join(b"k%d=s:v\n" % i for i in range(MAX_FIELDS + 3)) + b"};;\n"
    e = FoxDissector()
    e.feed(CLIENT_HELLO, 0, 0.0, 1)
    assert e.feed(many, 1, 0.1, 2) == DONE and [a.kind for a in e.anomalies] == ["fox-fields-limit"]
    g = FoxDissector()
    g.feed(CLIENT_HELLO, 0, 0.0, 1)
    huge = b"fox a 0 -1 fox hello\n{\n" + b"k=s:v\n" * 7000
    assert g.feed(huge, 1, 0.1, 2) == DONE and [a.kind for a in g.anomalies] == ["fox-too-long"]


def test_foxs_tls_is_labelled_encrypted() -> None:
    d = FoxTlsDissector()
    assert d.feed(TLS_CH, 0, 0.0, 4) == OK
    assert d.feed(TLS_SH, 1, 0.1, 5) == DONE and d.confirmed
    f = facts(d)
    assert f[(Who.CLIENT, "protocol")] == {"fox-client"} and f[(Who.SERVER, "protocol")] == {"fox-server"}
    assert f[(Who.SERVER, "fox_encrypted")] == {"TLS (foxs): the Fox hello is not visible"}
    assert not any(k[1] in ("name", "product", "firmware") for k in f)


def test_foxs_port_plain_fox_garbage_and_short() -> None:
    d = FoxTlsDissector()
    assert d.feed(CLIENT_HELLO, 0, 0.0, 1) == OK and d.feed(JACE_HELLO, 1, 0.1, 2) == DONE
    assert facts(d)[(Who.SERVER, "name")] == {"Honeywell"}
    assert FoxTlsDissector().feed(b"SSH-2.0-OpenSSH_9\r\n", 0, 0.0, 1) == FATAL
    assert FoxTlsDissector().feed(b"\x16\x03", 0, 0.0, 1) == INCOMPLETE
    e = FoxTlsDissector()
    e.feed(TLS_CH, 0, 0.0, 1)
    assert e.feed(b"SSH-2.0-OpenSSH_9\r\n", 1, 0.1, 2) == DONE and [a.kind for a in e.anomalies] == ["fox-not-tls"]
