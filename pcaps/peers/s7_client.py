"""The python-snap7 client as an engineering station (PG) or an HMI (OP): identity reads and DB traffic.
Usage: s7_client.py TARGET_IP PORT RACK SLOT CONNECTION_TYPE(1=PG,2=OP,3=basic) ROUNDS"""

import logging
import sys

from snap7.client import Client

logging.disable(logging.WARNING)

if __name__ == "__main__":
    ip, port, rack, slot, ctype, rounds = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:7])
    c = Client()
    c.set_connection_type(ctype)
    c.connect(ip, rack, slot, tcp_port=port)
    try:
        if ctype == 1:               # an engineering tool reads the identity
            c.get_cpu_info()
            c.get_order_code()
            c.read_szl(0x0011, 0)
            c.read_szl(0x001C, 0)
        for r in range(rounds):
            c.db_read(1, 0, 8)
            if r % 4 == 0:
                c.db_write(1, 8, bytearray([r & 0xFF, 1, 2, 3]))
    finally:
        c.disconnect()
