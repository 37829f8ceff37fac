"""A pymodbus 3.x Modbus/TCP server with one device identity (one process per simulated device: pymodbus's
identity store is process-global). Usage: modbus_server.py IP PORT IDENTITY_JSON UNITS|all SECONDS"""

import asyncio
import json
import logging
import sys

from pymodbus import ModbusDeviceIdentification
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import ModbusTcpServer

logging.disable(logging.WARNING)


def device() -> ModbusDeviceContext:
    # address 1 maps Modbus address 0 (pymodbus 3.16 subtracts 1)
    return ModbusDeviceContext(co=ModbusSequentialDataBlock(1, [True, False] * 50),
                               di=ModbusSequentialDataBlock(1, [False, True] * 50),
                               hr=ModbusSequentialDataBlock(1, list(range(100, 200))),
                               ir=ModbusSequentialDataBlock(1, list(range(200, 300))))


async def serve(ip: str, port: int, ident: dict, units: str, seconds: float) -> None:
    idobj = ModbusDeviceIdentification(info_name={k: v for k, v in ident.items() if not k.startswith("0x")})
    for k, v in ident.items():
        if k.startswith("0x"):
            idobj[int(k, 16)] = v
    if units == "all":
        ctx = ModbusServerContext(devices=device(), single=True)
    else:
        ctx = ModbusServerContext(devices={int(u): device() for u in units.split(",")}, single=False)
    srv = ModbusTcpServer(ctx, identity=idobj, address=(ip, port))
    task = asyncio.create_task(srv.serve_forever())
    await asyncio.sleep(seconds)                 # bounded lifetime: the orchestrator also kills us
    await srv.shutdown()
    task.cancel()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4], float(sys.argv[5])))
