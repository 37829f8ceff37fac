"""python-snap7's S7 server answering SZL 0x0011 and 0x001C in the real record layout (the stock server's
answers are not: ../shared/docs/protocol-libs.md section 2). Usage: s7_server.py IP PORT IDENTITY_JSON SECONDS"""

import json
import logging
import struct
import sys
import time

from snap7.server import Server
from snap7.type import SrvArea

logging.disable(logging.WARNING)


class IdentityServer(Server):
    identity: dict = {}

    def _get_szl_data(self, szl_id: int, szl_index: int):  # noqa: ANN202 - snap7's private hook
        ident = self.identity
        if szl_id == 0x001C:         # LENTHDR 34, N_DR, records: index u16 + 32 bytes
            recs = [(1, ident["as_name"]), (2, ident["module_name"]), (3, ident.get("plant_id", "")),
                    (4, "Original Siemens Equipment"), (5, ident["serial"]), (7, ident["module_type"])]
            return struct.pack(">HH", 34, len(recs)) + b"".join(
                struct.pack(">H", i) + v.encode().ljust(32, b"\0") for i, v in recs)
        if szl_id == 0x0011:         # LENTHDR 28: index, MlfB[20], BGTyp, Ausbg1, Ausbg2
            major, minor, patch = ident["firmware"]

            def rec(i: int, mlfb: bytes, a1: int, a2: int) -> bytes:
                return struct.pack(">H20sHHH", i, mlfb.ljust(20, b" "), 0, a1, a2)
            order = ident["order_number"].encode()
            recs = [rec(1, order, 0, 0), rec(6, order, 0, 0), rec(7, b"", (ord("V") << 8) | major, (minor << 8) | patch)]
            return struct.pack(">HH", 28, len(recs)) + b"".join(recs)
        return super()._get_szl_data(szl_id, szl_index)


if __name__ == "__main__":
    ip, port, ident, seconds = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4])
    IdentityServer.identity = ident
    srv = IdentityServer(log=False)
    srv.register_area(SrvArea.DB, 1, bytearray(range(64)))
    srv.start_to(ip, port)
    time.sleep(seconds)
    srv.stop()
