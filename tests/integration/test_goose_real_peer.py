"""A real GOOSE publisher (libiec61850 through pyiec61850-ng) in a network namespace, captured on the other end
of its veth pair (in a second namespace: nothing runs in the root one), replayed: the publishing MAC is one
rtu-ied asset with the control block the publisher was configured with. Needs root, iproute2, tcpdump and
pyiec61850-ng (skips cleanly otherwise); bounded (seconds), the namespaces are removed whatever happens."""

from __future__ import annotations

import importlib.util
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.support.netns import NsPair
from tests.support.truth import values

pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces"),
              pytest.mark.skipif(importlib.util.find_spec("pyiec61850") is None, reason="pyiec61850-ng not installed")]

MAC = "02:61:85:00:00:07"
PUBLISHER = textwrap.dedent("""
    import time
    from pyiec61850.goose import GoosePublisher
    pub = GoosePublisher({iface!r})
    pub.set_go_cb_ref("P3RELAY1/LLN0$GO$gcb01"); pub.set_data_set("P3RELAY1/LLN0$DS1")
    pub.set_go_id("P3RELAY1_GOOSE1"); pub.set_app_id(0x1007); pub.set_conf_rev(3)
    pub.set_dst_mac(bytes.fromhex("010ccd010007"))
    pub.start()
    for i in range(3):
        pub.publish([True, 42, 3.5]); pub.increase_st_num(); time.sleep(0.05)
    pub.stop()
""")


@pytest.fixture
def pair():
    ns = NsPair("p3g", None, None, client_mac=MAC)           # the publisher on the client's end, no IP
    try:
        yield ns.open()
    finally:
        ns.close()


def test_a_real_goose_publisher_is_an_ied(pair: NsPair, tmp_path: Path, inventory) -> None:
    pcap = tmp_path / "goose.pcap"
    dump = pair.capture(pcap, "ether proto 0x88b8")
    r = pair.client(PUBLISHER.format(iface=pair.vc), 30)
    assert r.returncode == 0, r.stderr[-2000:]
    dump.finish()
    inventory.replay(pcap)
    (a,) = [a for a in inventory.assets() if MAC in a["macs"]]
    assert a["role"] == "rtu-ied" and "goose" in a["protocols"]
    assert values([a], "goose_gocbref") == {"P3RELAY1/LLN0$GO$gcb01"}
    assert values([a], "goose_dataset") == {"P3RELAY1/LLN0$DS1"} and values([a], "goose_id") == {"P3RELAY1_GOOSE1"}
    assert values([a], "goose_appid") == {"0x1007"} and values([a], "goose_confrev") == {"3"}
    assert values([a], "iec61850_ld") == {"P3RELAY1"} and not values([a], "name")
