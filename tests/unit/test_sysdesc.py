"""System description / software version formats of the industrial switch and router families
(dissectors/sysdesc.py). Each sample says where the string comes from. LLDP's system description is,
on these devices, the same string as SNMP sysDescr (LLDP-MIB lldpLocSysDesc), so SNMP records of real
devices are used where no capture of the LLDP frame is public."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings, strategies as st

from otscope.dissectors.base import usable_ip
from otscope.dissectors.sysdesc import FAMILIES, MAX_TEXT, identify

# (family, text, expected fields, source)
SAMPLES = [
    ("siemens-simatic-net",
     "Siemens, SIMATIC NET, SCALANCE X204IRT, 6GK5 204-0BA00-2BA3, HW: Version 9, FW: Version V05.04.02, SVPL6147920",
     {"vendor": "Siemens", "product": "SCALANCE X204IRT", "order_number": "6GK5 204-0BA00-2BA3",
      "firmware": "V05.04.02"},
     "LLDP SysDescr of a SCALANCE X204IRT as shown by lldpcli, rtlabs-com/p-net doc/network_topology_detection.rst"),
    ("siemens-simatic-net",
     "Siemens, SIMATIC NET, Scalance S612, 6GK56120BA102AA3, HW: Version 2, FW: Version V03.00.00.01_01.00.00.01, "
     "VPCO544",
     {"vendor": "Siemens", "product": "Scalance S612", "order_number": "6GK56120BA102AA3", "firmware": "V03.00.00.01"},
     "SCALANCE S612 sysDescr quoted in Greenbone's SCALANCE SNMP detection (order number without blanks)"),
    ("siemens-ag", "Siemens AG SIMATIC S7 MULTIPORT SCALANCE X 200 FAM", {"vendor": "Siemens"},
     "real capture: QUT 2017 S7comm 20161215180642.ChangeUpperThreshold.hmi.pcap frame 27 (no model: vendor only)"),
    ("siemens-ruggedcom", "RS900-24-D-T2-T2-T2",
     {"vendor": "Siemens", "product": "RS900", "order_number": "RS900-24-D-T2-T2-T2"},
     "RUGGEDCOM ROS device sysDescr, librenms/librenms tests/snmpsim/ros.snmprec"),
    ("siemens-ruggedcom", "RUGGEDCOM RSG2100 ROS v4.1",
     {"vendor": "Siemens", "product": "RSG2100", "firmware": "4.1"},
     "naming of RUGGEDCOM ROS v4.1 User Guide for RSG2100 (RC1118-EN-01); not a captured string"),
    ("hirschmann", "Hirschmann Railswitch", {"vendor": "Hirschmann", "product": "Railswitch"},
     "librenms/librenms tests/snmpsim/hirschmann.snmprec"),
    ("hirschmann", "Hirschmann BAT-R 9.12.5750 / 20.10.2017 942070999000000110",
     {"vendor": "Hirschmann", "product": "BAT-R", "firmware": "9.12.5750"},
     "Greenbone gb_hirschmann_snmp_detect.nasl, sysDescr examples"),
    ("moxa", "IKS-6726A-2GTXSFP-T", {"vendor": "Moxa", "product": "IKS-6726A-2GTXSFP-T"},
     "librenms/librenms tests/snmpsim/moxa-etherdevice.snmprec"),
    ("moxa", "AWK-1161A", {"vendor": "Moxa", "product": "AWK-1161A"},
     "snmpwalk of a Moxa AP in a public telegraf set-up note (sysDescr.0 = STRING: AWK-1161A)"),
    ("phoenix-contact", "FL SWITCH MCS 16TX", {"vendor": "Phoenix Contact", "product": "FL SWITCH MCS 16TX"},
     "product name in Phoenix Contact user manual FL SWITCH MM HS UM E (6874_en_15); not a captured string"),
    ("rockwell-stratix",
     "Cisco IOS Software, IE2000 Software (IE2000-UNIVERSALK9-M), Version 15.2(4)EA9, RELEASE SOFTWARE (fc2) | "
     "Stratix 5700 1783-BMS10CGN",
     {"vendor": "Rockwell Automation", "product": "Stratix 5700", "order_number": "1783-BMS10CGN",
      "firmware": "15.2(4)EA9"},
     "Stratix runs Cisco IOS; catalog number 1783-BMS10CGN of Rockwell publication 1783-UM007; not a captured string"),
    ("cisco-ios",
     "Cisco IOS Software, IE2000 Software (IE2000-UNIVERSALK9-M), Version 15.2(7)E2, RELEASE SOFTWARE (fc3) | "
     "Technical Support: http://www.cisco.com/techsupport",
     {"vendor": "Cisco", "firmware": "15.2(7)E2"},
     "Cisco IE2000 sysDescr, librenms/librenms tests/snmpsim/ios_ie2000.snmprec"),
    ("cisco-ios",
     "Cisco IOS Software, CE500 Software (CE500-LANBASE-M), Version 12.2(25)SEG4, RELEASE SOFTWARE (fc1) | "
     "Copyright (c) 1986-2007 by Cisco Systems, Inc.",
     {"vendor": "Cisco", "firmware": "12.2(25)SEG4"},
     "real capture: CDP software version, ITI openics/EIP-ChangeTimeAttempt.pcap frame 40"),
    ("cisco-ios", "cisco WS-CE500-24TT", {"vendor": "Cisco"},
     "real capture: CDP platform, ITI openics/EIP-ChangeTimeAttempt.pcap frame 40"),
]


@pytest.mark.parametrize("family,text,fields,source", SAMPLES, ids=[f"{s[0]}-{i}" for i, s in enumerate(SAMPLES)])
def test_family_format(family: str, text: str, fields: dict[str, str], source: str) -> None:
    assert identify(text) == (family, fields), source


def test_every_family_has_a_sample() -> None:
    assert {f.name for f in FAMILIES} == {s[0] for s in SAMPLES}


@pytest.mark.parametrize("text", [
    "SMCGS8P-Smart - SMCGS8P-Smart v3.20",             # zeek/lldp.pcap: no industrial family
    "Dell Inc. Vostro 3800,,JSJR542",                   # ITI s7/S7Comm/wrapup.pcapng: a PC
    "innotek GmbH VirtualBox,1.2,0 + HMI",              # QUT attacker.pcap: a VM
    "RSG2100", "RS232 adapter", "Siemens", "", "Linux sw1 5.10.0 #1 SMP",
])
def test_other_texts_are_no_family(text: str) -> None:
    assert identify(text) is None


def test_detected_family_without_fields_gives_vendor_only() -> None:
    # a SIMATIC NET text whose order number is not an order number: product and order number are not guessed
    assert identify("Siemens, SIMATIC NET, SCALANCE X204IRT, unknown") == ("siemens-simatic-net", {"vendor": "Siemens"})


def test_first_family_in_table_order_wins() -> None:
    # a Stratix advertises a Cisco IOS banner: the Rockwell entry precedes the Cisco one
    fam, found = identify("Cisco IOS Software, IE2000 Software (X), Version 15.2(4)EA9, .. Stratix 5700")
    assert fam == "rockwell-stratix" and found["vendor"] == "Rockwell Automation"


def test_fields_are_looked_up_in_every_text() -> None:
    # CDP: the IOS version is in the software TLV, the catalog number in the platform TLV
    fam, found = identify("Cisco IOS Software, IE2000 Software (X), Version 15.2(4)EA9, RELEASE", "cisco 1783-BMS10CGN")
    assert (fam, found.get("order_number"), found.get("firmware")) == ("rockwell-stratix", "1783-BMS10CGN",
                                                                        "15.2(4)EA9")


def test_hostile_long_text_is_linear() -> None:
    for text in ("Siemens, SIMATIC NET, " + "a" * 5000, "RUGGEDCOM " + "R" * 5000, "Hirschmann " + "A " * 3000,
                 "FL SWITCH " + "A " * 3000, "RS900" + "-A" * 3000):
        t0 = time.perf_counter()
        identify(text)
        assert time.perf_counter() - t0 < 0.5        # a backtracking pattern takes seconds here


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=MAX_TEXT + 50), st.text(max_size=80))
def test_identify_never_raises_and_values_are_bounded(a: str, b: str) -> None:
    hit = identify(a, b)
    if hit is not None:
        fam, found = hit
        assert found["vendor"] and all(len(v) <= 80 for v in found.values())


@pytest.mark.parametrize("ip,ok", [("192.168.2.10", True), ("0.0.0.0", False), ("255.255.255.255", False),
                                   ("224.0.0.1", False), ("127.0.0.1", False), ("1.2.3", False), ("", False)])
def test_usable_management_ip(ip: str, ok: bool) -> None:
    assert usable_ip(ip) is ok
