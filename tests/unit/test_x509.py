r"""dissectors/x509.py: the certificate summary of a real DER certificate (made by openssl 3 with
`openssl req -x509 -newkey ec ... -subj "/C=DE/O=Siemens AG/OU=SIMATIC/CN=S7-1500 CPU 1516-3 PN\/DP"
-addext subjectAltName=DNS:plc-line-3.local,IP:10.0.0.5,URI:urn:siemens:s71500`), cut and corrupted forms, fuzz."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from otscope.dissectors import x509

CERT = bytes.fromhex("3082023d308201e2a00302010202142548d844d756408ca691ff71874ac1dc271d9703300a06082a8648ce3d0403023057310b300906035504061302444531133011060355040a0c0a5369656d656e732041473110300e060355040b0c0753494d415449433121301f06035504030c1853372d313530302043505520313531362d3320504e2f4450301e170d3236313230323034313630395a170d3237303130313034313630395a3057310b300906035504061302444531133011060355040a0c0a5369656d656e732041473110300e060355040b0c0753494d415449433121301f06035504030c1853372d313530302043505520313531362d3320504e2f44503059301306072a8648ce3d020106082a8648ce3d03010703420004e8f2481a9e1fabe38f2cd38badf419cbebd7da11d9f22a3b1fb7009cd3f0e6177257d178069d4871fc3112004a515233e2719d6a878c8bc776eec2b40be13999a3818b308188301d0603551d0e04160414abcfea886708890d4d97aa4a04babb6e5c8345bc301f0603551d23041830168014abcfea886708890d4d97aa4a04babb6e5c8345bc300f0603551d130101ff040530030101ff30350603551d11042e302c8210706c632d6c696e652d332e6c6f63616c87040a000005861275726e3a7369656d656e733a733731353030300a06082a8648ce3d0403020349003046022100eeef0b42f9f4f4ce5fbae0986d69f132127b6d05484687ab1158b15b1e4a9ae302210088f369011e7e4ce1f2c81c2d12f82a24be2f9b7c194c1fa9faa3723cab378109")


def test_subject_issuer_serial_validity_and_san() -> None:
    s = x509.summarize(CERT)
    assert s is not None
    assert s.subject == {"C": "DE", "O": "Siemens AG", "OU": "SIMATIC", "CN": "S7-1500 CPU 1516-3 PN/DP"}
    assert s.self_signed and s.issuer == s.subject
    assert s.serial == "2548d844d756408ca691ff71874ac1dc271d9703"
    assert (s.not_before, s.not_after) == ("2026-12-02T04:16:09Z", "2027-01-01T04:16:09Z")
    assert s.san == ("DNS:plc-line-3.local", "IP:10.0.0.5", "URI:urn:siemens:s71500")
    assert s.subject_text() == "C=DE, O=Siemens AG, OU=SIMATIC, CN=S7-1500 CPU 1516-3 PN/DP"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
def test_agrees_with_openssl() -> None:
    out = subprocess.run(["openssl", "x509", "-inform", "der", "-noout", "-serial", "-subject"], input=CERT,
                         capture_output=True, timeout=30, check=True).stdout.decode()
    s = x509.summarize(CERT)
    assert s is not None
    assert f"serial={s.serial.upper()}" in out and "O = Siemens AG" in out and "CN = S7-1500 CPU 1516-3 PN/DP" in out


@pytest.mark.parametrize("cut", [0, 1, 4, 50, 200, len(CERT) - 1])
def test_a_cut_certificate_is_none(cut: int) -> None:
    assert x509.summarize(CERT[:cut]) is None


def test_not_a_certificate_and_oversized() -> None:
    assert x509.summarize(b"\x30\x84\xff\xff\xff\xff") is None          # 4-byte length: refused
    assert x509.summarize(b"\x04\x03abc") is None                        # an OCTET STRING, not a SEQUENCE
    assert x509.summarize(b"\x30" + b"\x82\xff\xff" + bytes(70000)) is None


def test_hostile_strings_are_bounded_and_printable() -> None:
    i = CERT.find(b"Siemens AG")
    assert i > 0
    # same length swap keeps the DER valid: a control character in the organisation name
    bad = CERT[:i] + b"Siemens\x1b[m" + CERT[i + 10:]
    s = x509.summarize(bad)
    assert s is not None and "\x1b" not in s.subject["O"] and s.subject["O"].startswith("Siemens")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.integers(0, len(CERT)))
def test_fuzz_never_raises(junk: bytes, at: int) -> None:
    x509.summarize(junk)
    x509.summarize(CERT[:at] + junk + CERT[at + len(junk):])
