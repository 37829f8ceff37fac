"""TLS messages -> facts. Certificates go through otscope.dissectors.x509.summarize (no second parser here).

Vendor rule (hostid.md: vendor/product from a certificate only where a documented rule maps it unambiguously):
a certificate names its device's maker only when it is the device's own certificate, that is self-signed or
signed by a CA of the same organisation (subject O == issuer O): a public-CA certificate of a company web site
(O=Siemens AG, issued by DigiCert) names the company, not the host. Then the subject's O must be the vendor's
registered company name, and for Siemens also OU=SIMATIC (Siemens AG signs much that is no automation device).
The table gives vendor only, never a product: the CN of a device certificate is whatever the engineer typed in
the project (STEP 7 proposes one), so a model is not taken from it.

  subject must have                          vendor            basis
  O = "Siemens AG" and OU starting "SIMATIC"  Siemens          Siemens AG's registered name and its automation
                                                                line (STEP 7 makes the S7-1500 web server
                                                                certificate; protocol-libs-2.md 11 mimics it)
  O starting "WAGO Kontakttechnik"            WAGO             WAGO Kontakttechnik GmbH & Co. KG
  O starting "Phoenix Contact"                Phoenix Contact  Phoenix Contact GmbH & Co. KG

No real device certificate of these vendors was available to the author (the public captures hold none): the
entries are the vendors' legal names, not observed certificates; everything else stays raw (tls_subject...).
"""

from __future__ import annotations

from otscope.dissectors.base import Dissector, Who
from otscope.dissectors.tls.constants import MAX_ALPN_FACT, cipher_name, version_name
from otscope.dissectors.tls.grammar import ClientHello, ServerHello
from otscope.dissectors.tls.ja4 import ja4
from otscope.dissectors.x509 import CertSummary

# (O equals / starts with, OU prefix or None, vendor): "=" exact organisation, "^" a prefix of it
VENDOR_RULES: tuple[tuple[str, str, str | None, str], ...] = (
    ("=", "Siemens AG", "SIMATIC", "Siemens"),
    ("^", "WAGO Kontakttechnik", None, "WAGO"),
    ("^", "Phoenix Contact", None, "Phoenix Contact"),
)


def vendor_of(cert: CertSummary) -> str | None:
    """The vendor a device's own certificate names (the rule table above), else None."""
    org = cert.subject.get("O", "")
    if not org or cert.issuer.get("O", "") != org:
        return None
    ou = cert.subject.get("OU", "")
    for how, o, ou_prefix, vendor in VENDOR_RULES:
        if (org == o if how == "=" else org.startswith(o)) and (ou_prefix is None or ou.startswith(ou_prefix)):
            return vendor
    return None


MAX_VALUE = 512                 # characters of a fact built from several wire strings (a DN, a chain entry)


def _bounded(s: str) -> str:
    return s if len(s) <= MAX_VALUE else s[: MAX_VALUE - 1] + "\u2026"


def client_hello(d: Dissector, who: int, h: ClientHello, frame: int, ts: float) -> None:
    msg = "TLS ClientHello"
    # SNI (RFC 6066 3) is the server's host name as its client asked for it: a fact about the server
    d.fact(Who.SERVER if who == Who.CLIENT else Who.CLIENT, "tls_sni", h.sni, msg, frame, ts)
    if h.alpn:
        d.fact(who, "tls_alpn", _bounded(",".join(h.alpn[:MAX_ALPN_FACT])), msg, frame, ts)
    d.fact(who, "tls_client_version", version_name(h.highest_version), msg, frame, ts)
    d.fact(who, "tls_ja4", ja4(h), msg, frame, ts)


def server_hello(d: Dissector, who: int, h: ServerHello, frame: int, ts: float) -> None:
    msg = "TLS HelloRetryRequest" if h.retry else "TLS ServerHello"
    version = version_name(h.version)
    if h.tls13:
        version += " (certificate encrypted)"       # RFC 8446 2: everything after the ServerHello is encrypted
    d.fact(who, "tls_version", version, msg, frame, ts)
    d.fact(who, "tls_cipher", cipher_name(h.cipher), msg, frame, ts)


def certificate(d: Dissector, who: int, index: int, cert: CertSummary, frame: int, ts: float) -> None:
    """The leaf (index 0) as tls_subject/issuer/serial/not_after/san; the CA certificates above it as tls_chain."""
    msg = "TLS Certificate"
    if index == 0:
        d.fact(who, "tls_subject", _bounded(cert.subject_text()), msg, frame, ts)
        d.fact(who, "tls_issuer", _bounded(cert.issuer_text()), msg, frame, ts)
        d.fact(who, "tls_serial", cert.serial, msg, frame, ts)
        d.fact(who, "tls_not_after", cert.not_after, msg, frame, ts)
        for san in cert.san:
            d.fact(who, "tls_san", san, msg, frame, ts)
        if cert.self_signed:
            d.fact(who, "tls_self_signed", "yes", msg, frame, ts)
        vendor = vendor_of(cert)
        if vendor:
            d.fact(who, "vendor", vendor, _bounded(f"{msg} (subject {cert.subject_text()})"), frame, ts)
    else:
        d.fact(who, "tls_chain", _bounded(f"{index}: {cert.subject_text()} (issuer {cert.issuer_text()})"), msg,
               frame, ts)
