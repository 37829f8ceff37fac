"""asyncua 2.1.0 peers for tests/integration/test_opcua_peer.py (../shared/docs/protocol-libs-2.md §5), run as
``python opcua_peer.py certs DIR | server DIR IP SECS | client DIR IP``: a server with BuildInfo and the security
policies None and Basic256Sha256 SignAndEncrypt; a client that reads BuildInfo on a None session, then reads
one BuildInfo child on a Basic256Sha256 SignAndEncrypt session (and, with ``sign``, another on a Basic256Sha256 Sign
session)."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

from asyncua import Client, Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography.x509.oid import ExtendedKeyUsageOID

SERVER_URI, CLIENT_URI = "urn:siemens:s71500:opcua", "urn:probe:client"
PRODUCT_URI = "urn:siemens:simatic:s71500"
BUILD = (PRODUCT_URI, "Siemens AG", "SIMATIC S7-1500", "V3.1.2", "3.1.2.0", datetime(2024, 5, 1, tzinfo=timezone.utc))
APP_NAME = "SIMATIC S7-1500 OPC UA Server"


async def certs(d: Path) -> None:
    await setup_self_signed_certificate(d / "server.pem", d / "server.der", SERVER_URI, socket.gethostname(),
                                        [ExtendedKeyUsageOID.SERVER_AUTH],
                                        {"organizationName": "Siemens AG", "commonName": "server"})
    await setup_self_signed_certificate(d / "client.pem", d / "client.der", CLIENT_URI, socket.gethostname(),
                                        [ExtendedKeyUsageOID.CLIENT_AUTH],
                                        {"organizationName": "Probe Ltd", "commonName": "client"})


async def server(d: Path, ip: str, secs: float) -> None:
    srv = Server()
    await srv.init()
    srv.set_endpoint(f"opc.tcp://{ip}:4840/")
    srv.set_server_name(APP_NAME)
    srv.product_uri = PRODUCT_URI
    await srv.set_application_uri(SERVER_URI)
    srv.set_security_policy([ua.SecurityPolicyType.NoSecurity, ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                             ua.SecurityPolicyType.Basic256Sha256_Sign])
    await srv.load_certificate(str(d / "server.der"))
    await srv.load_private_key(str(d / "server.pem"))
    await srv.set_build_info(*BUILD)
    async with srv:
        print("ready", flush=True)
        await asyncio.sleep(secs)


async def client(d: Path, ip: str) -> None:
    url = f"opc.tcp://{ip}:4840/"
    async with Client(url, timeout=5) as c:                                        # policy None
        bi = await c.get_node(ua.ObjectIds.Server_ServerStatus_BuildInfo).read_value()
        print("none", bi.ProductName, bi.ManufacturerName, bi.SoftwareVersion, flush=True)
    c = Client(url, timeout=5)
    c.application_uri = CLIENT_URI
    await c.set_security(SecurityPolicyBasic256Sha256, str(d / "client.der"), str(d / "client.pem"),
                         server_certificate=str(d / "server.der"), mode=ua.MessageSecurityMode.SignAndEncrypt)
    async with c:
        name = await c.get_node(ua.ObjectIds.Server_ServerStatus_BuildInfo_ProductName).read_value()
        print("encrypted", name, flush=True)
    if len(sys.argv) > 4 and sys.argv[4] == "sign":      # a third session, signed only: its bodies stay clear
        c = Client(url, timeout=5)
        c.application_uri = CLIENT_URI
        await c.set_security(SecurityPolicyBasic256Sha256, str(d / "client.der"), str(d / "client.pem"),
                             server_certificate=str(d / "server.der"), mode=ua.MessageSecurityMode.Sign)
        async with c:
            version = await c.get_node(ua.ObjectIds.Server_ServerStatus_BuildInfo_SoftwareVersion).read_value()
            print("signed", version, flush=True)


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    what, d = sys.argv[1], Path(sys.argv[2])
    if what == "certs":
        asyncio.run(certs(d))
    elif what == "server":
        asyncio.run(server(d, sys.argv[3], float(sys.argv[4])))
    else:
        asyncio.run(client(d, sys.argv[3]))


if __name__ == "__main__":
    main()
