"""OPC UA messages -> facts about the two ends of a flow.

Shared identity fields come only from BuildInfo (Part 5 §12.4), which is the server's own statement of itself:
ManufacturerName -> ``vendor``, ProductName -> ``product``, SoftwareVersion -> ``firmware``. ApplicationDescription
values (applicationUri, productUri, applicationName, applicationType) stay ``opcua_*`` facts: an applicationName
("open62541-based OPC UA Application") names the software, not the device.

Certificates (OPN sender certificate, ServerCertificate / ClientCertificate of CreateSession and endpoint
descriptions) are summarised by dissectors.x509 into ``opcua_cert_subject``, ``opcua_cert_issuer``,
``opcua_cert_not_after``, ``opcua_cert_serial``, ``opcua_cert_san`` (one per subjectAltName entry) and
``opcua_cert_thumbprint`` (SHA-1 of the DER, as OPC UA names certificates). The certificate's O becomes
``vendor`` only where it is unambiguous: the server's self-signed application instance certificate (the
application made it for itself, no plant CA in between) whose subjectAltName URI is the applicationUri the server
announced, and whose O is not the name of an OPC UA SDK (an open62541 or asyncua example certificate names the
toolkit, not the maker of the device). A client's certificate names its software's maker, not the PC it runs on:
never a vendor.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from otscope.dissectors.base import Who
from otscope.dissectors.opcua.constants import APP_TYPE_NAMES, TEXT_LIMIT, ApplicationType
from otscope.dissectors.opcua.grammar import AppDescription, BuildInfo
from otscope.dissectors.x509 import CertSummary, summarize

if TYPE_CHECKING:
    from otscope.dissectors.opcua.dissector import OpcUaDissector

# the O of the example certificates OPC UA toolkits generate (lower case): never a device vendor
SDK_ORGANISATIONS = frozenset({"open62541", "freeopcua", "asyncua", "python-opcua", "node-opcua", "eclipse milo",
                               "opc foundation", "opcfoundation", "unified automation sdk"})

# an application type that proves a role of the server end (Part 4 §7.2): a discovery server (LDS/GDS) is a PC
# service, never a controller. Server and ClientAndServer say nothing beyond "answers OPC UA": PLCs with an OPC UA
# client (S7-1500, CODESYS) and SDK defaults (asyncua's server announces ClientAndServer) use both.
ROLE_BY_APP_TYPE = {ApplicationType.DISCOVERY_SERVER: "hmi-scada"}


def bounded(value: str) -> str:
    """A distinguished name of many attributes, cut to TEXT_LIMIT characters."""
    return value if len(value) <= TEXT_LIMIT else value[:TEXT_LIMIT - 1] + "\u2026"


def first_certificate(der: bytes) -> bytes:
    """The first certificate of a DER chain (OPC UA sends the chain as one ByteString, Part 6 §6.2.3): its
    SEQUENCE's own length; the thumbprint (SHA-1, Part 6 §6.7.2.3) is of that certificate alone."""
    if len(der) < 2 or der[0] != 0x30:
        return der
    n = der[1]
    if n < 0x80:
        return der[:2 + n]
    k = n & 0x7F
    if not 1 <= k <= 3 or len(der) < 2 + k:
        return der
    return der[:2 + k + int.from_bytes(der[2:2 + k], "big")]


def app_type_name(atype: int) -> str:
    return APP_TYPE_NAMES.get(atype, str(atype))      # type: ignore[call-overload]


def application(d: OpcUaDissector, who: int, app: AppDescription, msg: str, frame: int, ts: float) -> None:
    f = d.once
    f(who, "opcua_application_uri", app.application_uri, msg, frame, ts)
    f(who, "opcua_product_uri", app.product_uri, msg, frame, ts)
    f(who, "opcua_application_name", app.application_name, msg, frame, ts)
    f(who, "opcua_application_type", app_type_name(app.application_type), msg, frame, ts)
    if not d.app_uris[who] and app.application_uri:
        d.app_uris[who] = app.application_uri
        cert_vendor(d, who, msg, frame, ts)             # a certificate seen before the description
    role = ROLE_BY_APP_TYPE.get(app.application_type)   # type: ignore[call-overload]
    if role and who == d.server_who:
        f(who, "role_hint", role, f"{msg}: applicationType {app_type_name(app.application_type)}", frame, ts)


def certificate(d: OpcUaDissector, who: int, der: bytes, msg: str, frame: int, ts: float) -> CertSummary | None:
    """Facts of a DER certificate (the first of a chain) about ``who``; None when it is not one."""
    if not der:
        return None
    cert = summarize(der)
    if cert is None:
        d.malformed("certificate", frame, ts)
        return None
    f = d.once
    f(who, "opcua_cert_subject", bounded(cert.subject_text()), msg, frame, ts)
    f(who, "opcua_cert_issuer", bounded(cert.issuer_text()), msg, frame, ts)
    f(who, "opcua_cert_not_after", cert.not_after, msg, frame, ts)
    f(who, "opcua_cert_serial", cert.serial, msg, frame, ts)
    f(who, "opcua_cert_thumbprint", hashlib.sha1(first_certificate(der)).hexdigest(), msg, frame, ts)
    for san in cert.san:
        f(who, "opcua_cert_san", san, msg, frame, ts)
    d.certs[who] = d.certs[who] or cert
    cert_vendor(d, who, msg, frame, ts)
    return cert


def cert_vendor(d: OpcUaDissector, who: int, msg: str, frame: int, ts: float) -> None:
    """``vendor`` from the certificate's O where unambiguous (module docstring)."""
    cert, uri = d.certs[who], d.app_uris[who]
    if who != d.server_who or cert is None or not uri or d.cert_vendor_done[who]:
        return
    org = cert.subject.get("O", "")
    if not org or not cert.self_signed or f"URI:{uri}" not in cert.san or org.lower() in SDK_ORGANISATIONS:
        return
    d.cert_vendor_done[who] = True
    d.fact(who, "vendor", org, f"{msg}: O of the self-signed application instance certificate of {uri}", frame, ts)


def build_info(d: OpcUaDissector, b: BuildInfo, msg: str, frame: int, ts: float) -> None:
    who, f = d.server_who, d.once
    f(who, "vendor", b.manufacturer_name, msg, frame, ts)
    f(who, "product", b.product_name, msg, frame, ts)
    f(who, "firmware", b.software_version, msg, frame, ts)
    f(who, "opcua_build_product_uri", b.product_uri, msg, frame, ts)
    f(who, "opcua_build_number", b.build_number, msg, frame, ts)
    f(who, "opcua_build_date", b.build_date, msg, frame, ts)


# a single BuildInfo child read -> the fact it gives
CHILD_FIELDS = {"manufacturer_name": "vendor", "product_name": "product", "software_version": "firmware",
                "product_uri": "opcua_build_product_uri", "build_number": "opcua_build_number",
                "build_date": "opcua_build_date"}


def build_child(d: OpcUaDissector, child: str, value: str, msg: str, frame: int, ts: float) -> None:
    d.once(d.server_who, CHILD_FIELDS[child], value, msg, frame, ts)


def client_who(d: OpcUaDissector) -> int:
    return Who.SERVER if d.server_who == Who.CLIENT else Who.CLIENT
