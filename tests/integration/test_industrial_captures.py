"""The industrial dissectors on real captures (../shared/pcaps and ../shared/pcaps-extra; skipped when absent):
facts credited to their own frame and unit, roles from CIP device types, S7comm-plus strings only of known
contexts, CPU state names, and tcp/102 labelled by what it carries (S7comm, S7comm-plus, MMS or only COTP),
its bytes decoded only when S7 or MMS was decoded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_pipeline
from tests.support.truth import CAPTURES, SHARED

EXTRA = SHARED.parent / "pcaps-extra" / "captures"
IEC61850 = EXTRA / "ITI-ICS-Security-Tools/pcaps/IEC61850"
MMS_CAPTURES = [CAPTURES / "ntop-nDPI/iso9506-1-mms.pcap", IEC61850 / "piccolo.pcap",
                IEC61850 / "MMS - Specific Commands/iec61850_get_name_list.pcap",
                IEC61850 / "MMS - Specific Commands/mms-initiateDownloadSequence.pcap"]


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not beside the project")
    return path


def batch_of(path: Path):
    return run_pipeline(need(path))[1]


def facts(batch) -> set[tuple]:
    return {(f.subject.ip, f.subject.component, f.field, f.value, f.protocol, f.evidence.frame) for f in batch.facts}


def traffic(batch) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for t in batch.traffic:
        seen, dec = out.get(t.protocol, (0, 0))
        out[t.protocol] = (seen + t.bytes_seen, dec + t.bytes_decoded)
    return out


@pytest.mark.parametrize("path", MMS_CAPTURES, ids=lambda p: p.name)
def test_mms_on_102_is_mms_not_s7comm(path: Path) -> None:
    from tests.support.truth import load

    b = batch_of(path)
    labels = {(f.subject.ip, f.value) for f in b.facts if f.field == "protocol"}
    truth = SHARED.parent / ("pcaps" if path.is_relative_to(CAPTURES) else "pcaps-extra") / "truth" / \
        path.relative_to(CAPTURES if path.is_relative_to(CAPTURES) else EXTRA).with_suffix(path.suffix + ".json")
    for h in load(truth)["hosts"]:
        for p in h["protocols"]:
            if p.startswith("mms-"):
                assert (h["ip"], p) in labels, (h["ip"], p)
    assert not any(v.startswith("s7comm") for _, v in labels)
    assert not any(f.field in ("s7_connection_type", "s7_rack_slot") for f in b.facts)
    t = traffic(b)
    assert "s7comm" not in t and t["mms"][0] >= t["mms"][1] > 0          # decoded (dissectors/s7/mms.py)


def test_s7comm_plus_hmi_session_strings_from_known_contexts_only() -> None:
    """ITI s7-1200-hmi.pcap: the PLC's order number and firmware (truth: frame 12), the HMI's session host,
    application and comment (frame 9); no other string becomes a fact."""
    b = batch_of(CAPTURES / "ITI-ICS-Security-Tools/s7/s7-1200-hmi.pcap")
    got = facts(b)
    plc, hmi = "192.168.25.131", "192.168.25.177"
    assert {(plc, None, "order_number", "6ES7 211-1BE31-0XB0", "s7comm-plus", 12),
            (plc, None, "firmware", "V3.0", "s7comm-plus", 12),
            (hmi, None, "s7plus_client_host", "HMI HOST", "s7comm-plus", 9),
            (hmi, None, "s7plus_client_application", "SM@RT", "s7comm-plus", 9),
            (hmi, None, "role_hint", "hmi-scada", "s7comm-plus", 9)} <= got
    plus_fields = {f[2] for f in got if f[4] == "s7comm-plus"}
    assert plus_fields <= {"protocol", "s7plus_protocol_version", "order_number", "firmware", "vendor", "role_hint",
                           "s7plus_client_host", "s7plus_client_application", "s7plus_client_comment"}
    assert traffic(b) == {"s7comm-plus": traffic(b)["s7comm-plus"]}


def test_s7comm_plus_v3_binary_gives_no_strings() -> None:
    """cisagov s7comm_plus.pcap: protocol V3 sessions with integrity parts full of printable bytes."""
    b = batch_of(CAPTURES / "cisagov-icsnpp-s7comm/s7comm_plus.pcap")
    assert not [f for f in b.facts if f.protocol == "s7comm-plus"
                and f.field not in ("protocol", "s7plus_protocol_version")]
    t = traffic(b)
    assert set(t) == {"s7comm", "s7comm-plus"}                                # each flow by what it carries


def test_cpu_state_and_module_name_from_szl() -> None:
    """ITI s7comm_reading_plc_status.pcap: SZL 0x0424 answer (frame 87, bzu-id 0x08 per tshark) -> RUN; SZL
    0x001C without a type name record: the module name is the product."""
    b = batch_of(CAPTURES / "ITI-ICS-Security-Tools/s7/s7comm_reading_plc_status.pcap")
    got = facts(b)
    assert ("192.168.1.40", None, "cpu_state", "RUN", "s7comm", 87) in got
    assert ("192.168.1.40", None, "product", "IM151-8 PN/DP CPU", "s7comm", 72) in got


def test_cip_communications_adapter_is_a_communications_module() -> None:
    """ITI enip_test.pcap: ListIdentity of a 1756-ENBT/A (device type 12) in frame 7."""
    b = batch_of(CAPTURES / "ITI-ICS-Security-Tools/EthernetIP/enip_test.pcap")
    roles = [(f.subject.ip, f.value, f.message, f.evidence.frame) for f in b.facts if f.field == "role_hint"
             and f.protocol == "enip"]
    assert roles == [("10.1.1.164", "communications-module",
                      "ListIdentity response: CIP device type 12 (Communications Adapter)", 7)]


def test_modbus_server_id_text_on_its_unit() -> None:
    """ITI modbus_test_data_part1.pcap: FC17 answer of unit 10 (frame 41)."""
    got = facts(batch_of(CAPTURES / "ITI-ICS-Security-Tools/ModbusTCP/modbus_test_data_part1.pcap"))
    assert ("10.0.0.3", "unit:10", "modbus_server_id_text", "Wingpath Limited", "modbus", 41) in got


def test_modbus_units_behind_one_address() -> None:
    """ITI modbus_test.pcap: units 1, 2, 3 and 7 answer 192.168.0.20; each is a server of its own."""
    got = facts(batch_of(CAPTURES / "ITI-ICS-Security-Tools/ModbusTCP/Modbus/modbus_test.pcap"))
    units = {f[1] for f in got if f[0] == "192.168.0.20" and f[2] == "protocol" and f[3] == "modbus-server"}
    assert units == {None, "unit:1", "unit:2", "unit:3", "unit:7"}


def test_modbus_units_0_and_255_are_the_device_itself() -> None:
    """zeek modbus-eit.pcap: FC43 to units 0 and 255: no unit component."""
    got = facts(batch_of(CAPTURES / "zeek/modbus/modbus-eit.pcap"))
    assert {f[1] for f in got if f[4] == "modbus"} == {None}
