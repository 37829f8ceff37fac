"""Devices that misbehave, for the active identification test (one process, a thread per device, bounded):
``silent`` accepts and never answers, ``garbage`` answers every request with bytes that are no protocol,
``reset`` accepts and resets (SO_LINGER 0), ``exception`` answers every Modbus request with exception 1
(illegal function). Usage: identify_hostile.py SECONDS KIND=IP:PORT ..."""

import socket
import struct
import sys
import threading
import time


def serve(kind: str, ip: str, port: int) -> None:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ip, port))
    srv.listen(8)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(kind, conn), daemon=True).start()


def handle(kind: str, conn: socket.socket) -> None:
    conn.settimeout(30)
    if kind == "reset":
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.recv(256)
        conn.close()                                  # RST, not FIN
        return
    try:
        while True:
            data = conn.recv(4096)
            if not data:
                return
            if kind == "garbage":
                conn.sendall(b"\xde\xad\xbe\xef" * 5 + b"not a protocol\r\n")
            elif kind == "exception" and len(data) >= 8:
                tid, unit, fc = data[:2], data[6], data[7]
                conn.sendall(tid + b"\x00\x00\x00\x03" + bytes([unit, fc | 0x80, 0x01]))
    except OSError:
        return


if __name__ == "__main__":
    seconds = float(sys.argv[1])
    for spec in sys.argv[2:]:
        kind, _, addr = spec.partition("=")
        ip, _, port = addr.rpartition(":")
        threading.Thread(target=serve, args=(kind, ip, int(port)), daemon=True).start()
    time.sleep(seconds)
