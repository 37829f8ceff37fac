"""A pymodbus client doing what an HMI and an engineering tool do: polling, writes, an exception, Read
Device Identification with every read code, and Report Server ID.
Usage: modbus_client.py SOURCE_IP TARGET_IP PORT UNITS(comma) ROUNDS"""

import logging
import sys
import time

from pymodbus.client import ModbusTcpClient
from pymodbus.constants import DeviceInformation

logging.disable(logging.WARNING)


def main(src: str, target: str, port: int, units: list[int], rounds: int) -> None:
    c = ModbusTcpClient(target, port=port, timeout=3, retries=1, source_address=(src, 0))
    if not c.connect():
        sys.exit(f"cannot connect to {target}:{port}")
    try:
        for unit in units:
            c.read_device_information(read_code=DeviceInformation.BASIC, object_id=0, device_id=unit)
            c.read_device_information(read_code=DeviceInformation.REGULAR, object_id=0, device_id=unit)
            c.read_device_information(read_code=DeviceInformation.EXTENDED, object_id=0, device_id=unit)
            c.read_device_information(read_code=DeviceInformation.SPECIFIC, object_id=4, device_id=unit)
            c.report_device_id(device_id=unit)
        for r in range(rounds):
            for unit in units:
                c.read_holding_registers(0, count=10, device_id=unit)
                c.read_input_registers(0, count=4, device_id=unit)
                c.read_coils(0, count=16, device_id=unit)
                if r % 3 == 0:
                    c.write_register(5, 4242 + r, device_id=unit)
                    c.write_registers(10, [1, 2, 3], device_id=unit)
                    c.write_coil(3, bool(r & 1), device_id=unit)
                if r == 1:
                    c.read_holding_registers(5000, count=2, device_id=unit)    # illegal address: exception 2
            time.sleep(0.01)
    finally:
        c.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(u) for u in sys.argv[4].split(",")], int(sys.argv[5]))
