"""TLS handshake: record/handshake framing and reassembly, ClientHello (SNI, ALPN, supported_versions, JA4 from
the FoxIO spec's example), ServerHello (TLS 1.2 / 1.3 with the hidden-certificate fact, HelloRetryRequest),
Certificate chains through x509.summarize, the vendor rule, malformed and truncated input, DONE conditions."""

from __future__ import annotations

import hashlib
import struct

import pytest

from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, OK, Malformed, Truncated, Who
from otscope.dissectors.tls.constants import BUDGET, MAX_CHAIN, MAX_HANDSHAKE, MAX_PROBES, TlsAnomaly, is_grease
from otscope.dissectors.tls.dissector import TlsDissector
from otscope.dissectors.tls.facts import vendor_of
from otscope.dissectors.tls.grammar import (parse_certificates, parse_client_hello, parse_record_header,
                                            parse_server_hello, record_ok)
from otscope.dissectors.tls.ja4 import ja4, ja4_raw
from otscope.dissectors.x509 import summarize
from tests.unit.test_x509 import CERT      # a self-signed O=Siemens AG, OU=SIMATIC certificate (openssl-checked)

# -- builders (RFC 5246 / 8446 layouts) ----------------------------------------------------------------------------


def u24(n: int) -> bytes:
    return n.to_bytes(3, "big")


def ext(etype: int, data: bytes) -> bytes:
    return struct.pack(">HH", etype, len(data)) + data


def sni_ext(name: bytes) -> bytes:
    entry = b"\x00" + struct.pack(">H", len(name)) + name
    return ext(0, struct.pack(">H", len(entry)) + entry)


def alpn_ext(*protos: bytes) -> bytes:
    lst = b"".join(bytes([len(p)]) + p for p in protos)
    return ext(16, struct.pack(">H", len(lst)) + lst)


def u16_list_ext(etype: int, values: list[int], one_byte_len: bool = False) -> bytes:
    body = b"".join(struct.pack(">H", v) for v in values)
    return ext(etype, (bytes([len(body)]) if one_byte_len else struct.pack(">H", len(body))) + body)


def client_hello(ciphers: list[int], exts: list[bytes], version: int = 0x0303) -> bytes:
    cs = b"".join(struct.pack(">H", c) for c in ciphers)
    e = b"".join(exts)
    body = struct.pack(">H", version) + bytes(32) + b"\x00" + struct.pack(">H", len(cs)) + cs + b"\x01\x00" \
        + struct.pack(">H", len(e)) + e
    return b"\x01" + u24(len(body)) + body


def server_hello(cipher: int = 0xC02F, version: int = 0x0303, exts: list[bytes] | None = None,
                 random: bytes = bytes(32)) -> bytes:
    body = struct.pack(">H", version) + random + b"\x00" + struct.pack(">H", cipher) + b"\x00"
    if exts is not None:
        e = b"".join(exts)
        body += struct.pack(">H", len(e)) + e
    return b"\x02" + u24(len(body)) + body


def certificate_msg(*ders: bytes) -> bytes:
    lst = b"".join(u24(len(d)) + d for d in ders)
    body = u24(len(lst)) + lst
    return b"\x0b" + u24(len(body)) + body


HELLO_DONE = b"\x0e\x00\x00\x00"


def record(body: bytes, ctype: int = 22, version: int = 0x0303) -> bytes:
    return struct.pack(">BHH", ctype, version, len(body)) + body


# The FoxIO JA4 technical details' worked example (technical_details/JA4.md): 15 ciphers, 16 extensions (with SNI
# and ALPN h2), these signature algorithms -> t13d1516h2_8daaf6152771_e5627efa2ab1. By hand: JA4_b = sha256 of
# "002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9"[:12] = 8daaf6152771; JA4_c =
# sha256 of "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,
# 0806,0601"[:12] = e5627efa2ab1 (the test recomputes both with hashlib).
SPEC_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C,
                0x009D, 0x002F, 0x0035]
SPEC_EXTS = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005, 0x0023, 0x0012, 0x002B,
             0xFF01, 0x000B, 0x000A, 0x0015]
SPEC_SIGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
SPEC_JA4 = "t13d1516h2_8daaf6152771_e5627efa2ab1"


def spec_hello(grease: bool = False, sni: bytes = b"example.com") -> bytes:
    exts = []
    for e in SPEC_EXTS:
        if e == 0x0000:
            exts.append(sni_ext(sni))
        elif e == 0x0010:
            exts.append(alpn_ext(b"h2", b"http/1.1"))
        elif e == 0x000D:
            exts.append(u16_list_ext(13, ([0x0A0A] if grease else []) + SPEC_SIGS))
        elif e == 0x002B:
            exts.append(u16_list_ext(43, ([0x3A3A] if grease else []) + [0x0304, 0x0303], one_byte_len=True))
        else:
            exts.append(ext(e, b""))
    if grease:
        exts = [ext(0x1A1A, b"")] + exts + [ext(0xFAFA, b"\x00")]
    return client_hello(([0x2A2A] if grease else []) + SPEC_CIPHERS, exts)


# -- grammar ------------------------------------------------------------------------------------------------------

def test_the_spec_example_gives_its_ja4() -> None:
    c_str = "002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9"
    e_str = "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501," \
            "0806,0601"
    assert hashlib.sha256(c_str.encode()).hexdigest()[:12] == "8daaf6152771"
    assert hashlib.sha256(e_str.encode()).hexdigest()[:12] == "e5627efa2ab1"
    h = parse_client_hello(spec_hello()[4:])
    assert ja4_raw(h) == ("t13d1516h2", c_str, e_str)
    assert ja4(h) == SPEC_JA4
    assert h.sni == "example.com" and h.alpn == ("h2", "http/1.1") and h.versions == (0x0304, 0x0303)


def test_grease_is_ignored_everywhere() -> None:
    assert is_grease(0x0A0A) and is_grease(0xFAFA) and not is_grease(0x0A1A) and not is_grease(0x1301)
    assert ja4(parse_client_hello(spec_hello(grease=True)[4:])) == SPEC_JA4


def test_ja4_without_sni_alpn_signatures_and_versions() -> None:
    h = parse_client_hello(client_hello([0x002F], [ext(0x000A, b"\x00\x02\x00\x17")], version=0x0301)[4:])
    a, c_str, e_str = ja4_raw(h)
    assert a == "t10i010100" and c_str == "002f" and e_str == "000a"       # no "_": no signature algorithms
    assert ja4(h).startswith("t10i010100_") and ja4(h).endswith(hashlib.sha256(b"000a").hexdigest()[:12])
    bare = parse_client_hello(client_hello([], [])[4:])
    assert ja4(bare) == "t12i000000_000000000000_000000000000"


@pytest.mark.parametrize("proto, chars", [(b"h2", "h2"), (b"http/1.1", "h1"), (b"h", "hh"), (b"\xab\xcd", "ad"),
                                          (b"x\x01", "71")])
def test_ja4_alpn_characters(proto: bytes, chars: str) -> None:
    h = parse_client_hello(client_hello([0x1301], [alpn_ext(proto)])[4:])
    assert ja4_raw(h)[0] == f"t12i0101{chars}"


def test_server_hello_versions_and_retry() -> None:
    s12 = parse_server_hello(server_hello()[4:])
    assert (s12.version, s12.tls13, s12.retry, s12.cipher) == (0x0303, False, False, 0xC02F)
    s13 = parse_server_hello(server_hello(0x1301, exts=[ext(43, b"\x03\x04")])[4:])
    assert s13.tls13 and s13.selected_version == 0x0304
    hrr = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
    assert parse_server_hello(server_hello(0x1301, exts=[ext(43, b"\x03\x04")], random=hrr)[4:]).retry


def test_certificate_list_and_record_headers() -> None:
    certs, total = parse_certificates(certificate_msg(CERT, CERT)[4:])
    assert certs == [CERT, CERT] and total == 2
    many, total = parse_certificates(certificate_msg(*([CERT] * (MAX_CHAIN + 2)))[4:])
    assert len(many) == MAX_CHAIN and total == MAX_CHAIN + 2
    h = parse_record_header(record(b"x"))
    assert record_ok(h) and (h.type, h.version, h.length) == (22, 0x0303, 1)
    for bad in (b"GET / HTTP/1.1", struct.pack(">BHH", 22, 0x0303, 0), struct.pack(">BHH", 22, 0x0203, 5),
                struct.pack(">BHH", 25, 0x0303, 5), struct.pack(">BHH", 23, 0x0303, 2 ** 14 + 2049)):
        assert not record_ok(parse_record_header(bad))


@pytest.mark.parametrize("cut", [5, 10, 38, 40, 43, 60])
def test_a_cut_client_hello_raises_truncated(cut: int) -> None:
    with pytest.raises(Truncated):
        parse_client_hello(spec_hello()[4:][:cut])


def test_malformed_lists() -> None:
    with pytest.raises(Malformed):                                  # odd cipher list length
        parse_client_hello(struct.pack(">H", 0x0303) + bytes(32) + b"\x00" + b"\x00\x03\x13\x01\x00\x01\x00")
    with pytest.raises(Malformed):                                  # an empty ALPN name
        parse_client_hello(client_hello([0x1301], [ext(16, b"\x00\x01\x00")])[4:])
    with pytest.raises(Truncated):                                  # a certificate longer than its list
        parse_certificates(u24(10) + u24(20) + b"x" * 7)


def test_vendor_rule() -> None:
    cert = summarize(CERT)
    assert cert is not None and cert.subject["O"] == "Siemens AG" and vendor_of(cert) == "Siemens"
    other = type(cert)({"O": "Siemens AG", "CN": "www.siemens.com"}, {"O": "DigiCert Inc", "CN": "CA"}, "01", "", "")
    assert vendor_of(other) is None                                 # a public-CA certificate names a company
    no_ou = type(cert)({"O": "Siemens AG", "CN": "x"}, {"O": "Siemens AG", "CN": "x"}, "01", "", "")
    assert vendor_of(no_ou) is None                                 # Siemens needs OU=SIMATIC
    wago = type(cert)({"O": "WAGO Kontakttechnik GmbH & Co. KG", "CN": "PFC200"},
                      {"O": "WAGO Kontakttechnik GmbH & Co. KG", "CN": "PFC200"}, "01", "", "")
    assert vendor_of(wago) == "WAGO"
    assert vendor_of(type(cert)({"O": "Stamus", "CN": "SELKS"}, {"O": "Stamus", "CN": "SELKS"}, "1", "", "")) is None


# -- dissector ------------------------------------------------------------------------------------------------------

def facts_of(d: TlsDissector) -> dict[tuple[int, str], list[str]]:
    out: dict[tuple[int, str], list[str]] = {}
    for f in d.out:
        out.setdefault((f.who, f.field), []).append(f.value)
    return out


def test_a_tls12_handshake_gives_client_and_server_facts_then_done() -> None:
    d = TlsDissector()
    assert d.feed(record(spec_hello(), version=0x0301), 0, 1.0, 1) == OK
    flight = record(server_hello() + certificate_msg(CERT, CERT) + HELLO_DONE)
    assert d.feed(flight[:100], 1, 2.0, 2) == INCOMPLETE
    assert d.feed(flight[100:], 1, 2.1, 3) == DONE
    f = facts_of(d)
    assert d.confirmed and f[(Who.CLIENT, "protocol")] == ["tls-client"]
    assert f[(Who.CLIENT, "tls_ja4")] == [SPEC_JA4] and f[(Who.SERVER, "tls_sni")] == ["example.com"]
    assert f[(Who.CLIENT, "tls_alpn")] == ["h2,http/1.1"] and f[(Who.CLIENT, "tls_client_version")] == ["TLS 1.3"]
    assert f[(Who.SERVER, "tls_version")] == ["TLS 1.2"]
    assert f[(Who.SERVER, "tls_cipher")] == ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (0xc02f)"]
    assert f[(Who.SERVER, "tls_subject")] == ["C=DE, O=Siemens AG, OU=SIMATIC, CN=S7-1500 CPU 1516-3 PN/DP"]
    assert f[(Who.SERVER, "tls_issuer")] == f[(Who.SERVER, "tls_subject")]
    assert f[(Who.SERVER, "tls_san")] == ["DNS:plc-line-3.local", "IP:10.0.0.5", "URI:urn:siemens:s71500"]
    assert f[(Who.SERVER, "tls_serial")] and f[(Who.SERVER, "tls_not_after")]
    assert f[(Who.SERVER, "vendor")] == ["Siemens"] and len(f[(Who.SERVER, "tls_chain")]) == 1
    assert not d.anomalies


def test_handshake_messages_split_across_records() -> None:
    """A Certificate message larger than a record (RFC 5246 6.2.1: fragments of any size) is reassembled."""
    d = TlsDissector()
    d.feed(record(spec_hello()), 0, 1.0, 1)
    msg = server_hello() + certificate_msg(CERT) + HELLO_DONE
    chunks = [record(msg[i:i + 50]) for i in range(0, len(msg), 50)]
    status = [d.feed(c, 1, 2.0, 2 + i) for i, c in enumerate(chunks)]
    assert status[-1] == DONE and set(status[:-1]) == {OK}
    assert facts_of(d)[(Who.SERVER, "tls_subject")]


def test_tls13_server_hello_says_the_certificate_is_hidden() -> None:
    d = TlsDissector()
    d.feed(record(spec_hello()), 0, 1.0, 1)
    assert d.feed(record(server_hello(0x1301, exts=[ext(43, b"\x03\x04")])), 1, 2.0, 2) == DONE
    f = facts_of(d)
    assert f[(Who.SERVER, "tls_version")] == ["TLS 1.3 (certificate encrypted)"]
    assert f[(Who.SERVER, "tls_cipher")] == ["TLS_AES_128_GCM_SHA256 (0x1301)"] and (Who.SERVER, "tls_subject") not in f


def test_hello_retry_request_waits_for_the_second_hello() -> None:
    d = TlsDissector()
    d.feed(record(spec_hello()), 0, 1.0, 1)
    hrr = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
    assert d.feed(record(server_hello(0x1301, exts=[ext(43, b"\x03\x04")], random=hrr)), 1, 2.0, 2) == OK
    assert d.feed(record(spec_hello()), 0, 3.0, 3) == OK
    assert d.feed(record(server_hello(0x1301, exts=[ext(43, b"\x03\x04")])), 1, 4.0, 4) == DONE


def test_resumed_session_ends_at_the_servers_change_cipher_spec() -> None:
    d = TlsDissector()
    d.feed(record(spec_hello()), 0, 1.0, 1)
    assert d.feed(record(server_hello()) + record(b"\x01", ctype=20), 1, 2.0, 2) == DONE


def junk_until_fatal(d, data: bytes) -> list[int]:
    return [d.feed(data, i % 2, float(i), i + 1) for i in range(MAX_PROBES + 1)]


def test_not_tls_is_fatal_before_the_label() -> None:
    # MAX_PROBES segments that start inside a record are skipped (a capture started mid-stream), then FATAL
    assert junk_until_fatal(TlsDissector(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == [OK] * MAX_PROBES + [FATAL]
    d1 = TlsDissector()                                             # mid-record junk, then a whole record
    assert d1.feed(b"\xce\xb5" * 30, 1, 1.0, 1) == OK and d1.feed(record(b"x" * 9, ctype=23), 1, 2.0, 2) == DONE
    assert d1.labelled and not d1.anomalies
    assert TlsDissector().feed(record(b"\x0b\x00\x00\x01\x00"), 0, 1.0, 1) == FATAL     # no hello first
    d = TlsDissector()
    assert d.feed(record(b"\x01\x00\x00\x05" + b"\x03\x03\x00\x00\x00"), 0, 1.0, 1) == FATAL
    assert "not tls" in d.fatal_reason


def test_midsession_records_label_and_leave() -> None:
    d = TlsDissector()
    assert d.feed(record(b"\x17" * 40, ctype=23) + record(b"x" * 10, ctype=23), 1, 1.0, 1) == DONE
    assert d.labelled and not d.confirmed
    d2 = TlsDissector()                                             # a record cut by the segment: wait for it
    assert d2.feed(record(b"\x17" * 40, ctype=23)[:-3], 1, 1.0, 1) == INCOMPLETE and not d2.labelled
    assert d2.feed(b"\x17" * 3, 1, 1.1, 2) == DONE and d2.labelled


def test_anomalies_after_the_label() -> None:
    d = TlsDissector()
    d.feed(record(spec_hello()), 0, 1.0, 1)
    assert d.feed(record(b"\x63\x00\x00\x00"), 0, 2.0, 2) == OK                   # unknown handshake type 99
    assert d.feed(record(b"\x02\x00\x00\x02\x03\x03"), 1, 3.0, 3) == OK           # a cut ServerHello
    assert d.feed(record(certificate_msg(b"\x30\x03\x02\x01\x01")), 1, 4.0, 4) == OK   # not a certificate
    assert d.feed(record(certificate_msg(*([CERT] * (MAX_CHAIN + 1)))), 1, 5.0, 5) == OK
    assert d.feed(record(b"\x0b" + u24(MAX_HANDSHAKE + 1)), 1, 6.0, 6) == DONE
    kinds = [a.kind for a in d.anomalies]
    assert kinds == [f"{TlsAnomaly.UNKNOWN_HANDSHAKE}-99", f"{TlsAnomaly.MALFORMED_HANDSHAKE}-server_hello",
                     f"{TlsAnomaly.BAD_CERTIFICATE}-0", f"{TlsAnomaly.CHAIN_TRUNCATED}-{MAX_CHAIN + 1}",
                     f"{TlsAnomaly.HANDSHAKE_TOO_LONG}-11"]
    d2 = TlsDissector()
    d2.feed(record(spec_hello()), 0, 1.0, 1)
    assert d2.feed(b"\x99\x00\x00\x00\x00", 1, 2.0, 2) == DONE
    assert [a.kind for a in d2.anomalies] == [f"{TlsAnomaly.BAD_RECORD}-153"]


def test_the_budget_ends_the_flow() -> None:
    d = TlsDissector()
    d.feed(record(spec_hello()), 0, 1.0, 1)
    alerts = record(b"\x01\x00", ctype=21) * 3000
    assert d.feed(alerts[: BUDGET + 10], 0, 2.0, 2) == DONE
    assert all(not p for p in d.buf.pending)


def test_a_flow_oriented_the_other_way_labels_the_hello_sender_as_client() -> None:
    d = TlsDissector()
    d.feed(record(spec_hello()), 1, 1.0, 1)                         # the ClientHello came from the flow's "server"
    d.feed(record(server_hello() + HELLO_DONE), 0, 2.0, 2)
    f = facts_of(d)
    assert f[(Who.SERVER, "protocol")] == ["tls-client"] and f[(Who.CLIENT, "protocol")] == ["tls-server"]
    assert f[(Who.SERVER, "tls_ja4")] == [SPEC_JA4] and d.confirmed


def test_long_names_are_bounded() -> None:
    from otscope.dissectors.tls import facts as tls_facts
    cert = summarize(CERT)
    big = type(cert)({f"X{i}": "v" * 128 for i in range(32)}, {"CN": "i" * 128}, "01", "", "")
    d = TlsDissector()
    tls_facts.certificate(d, Who.SERVER, 0, big, 1, 1.0)
    tls_facts.certificate(d, Who.SERVER, 1, big, 1, 1.0)
    assert d.out and all(len(f.value) <= tls_facts.MAX_VALUE for f in d.out)
