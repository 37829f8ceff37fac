"""pycomm3 as RSLinx/Studio 5000 would be on the wire: ListIdentity over TCP, Get_Attributes_All on the
Identity object, the module in backplane slot 0 through Unconnected Send, and a UDP broadcast discovery.
Usage: enip_client.py TARGET_IP [BROADCAST_ADDR]"""

import logging
import sys

from pycomm3 import CIPDriver, ClassCode, Services

logging.disable(logging.WARNING)

if __name__ == "__main__":
    target = sys.argv[1]
    CIPDriver.list_identity(target)
    with CIPDriver(target) as d:
        d.generic_message(service=Services.get_attributes_all, class_code=ClassCode.identity_object, instance=1,
                          connected=False)
        d.get_module_info(0)
    if len(sys.argv) > 2:
        CIPDriver.discover(sys.argv[2])
