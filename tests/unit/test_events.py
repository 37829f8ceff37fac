"""The events layer (issue 17): pure rules on hand-built inputs, then whole batches through the ingest service
(each kind, learning, acknowledgement, idempotence, two sensors reporting one action)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otscope.collector import events
from otscope.collector.events import EventView, Occurrence, classify_action, cpu_transitions, decide, merged
from otscope.collector.service import ingest
from otscope.collector.uow import unit_of_work
from otscope.contract import ActionObs, AnomalyObs, Batch, BindingObs, CommObs, Evidence, FactObs, HostObs, Subject
from tests.conftest import Inventory

PLC, EWS, HMI = Subject(0, "10.0.0.1"), Subject(0, "10.0.0.9"), Subject(0, "10.0.0.5")


# --- pure rules -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, protocol, action, kind, technique", [
    ("control_action", "s7comm", "block download", "program-download", "T0843"),
    ("control_action", "s7comm", "block upload", "program-upload", "T0845"),
    ("control_action", "s7comm", "PLC stop", "plc-stop", "T0858"),
    ("control_action", "s7comm", "PLC control (PI service P_PROGRAM)", "plc-start", "T0858"),
    ("control_action", "s7comm", "PLC control (PI service _INSE)", "program-download", "T0843"),
    ("control_action", "s7comm", "PLC control (PI service _DELE)", "program-delete", "T0809"),
    ("control_action", "s7comm", "PLC control (PI service _GARB)", "control-action", None),
    ("control_action", "s7comm", "PLC control (PI service)", "control-action", None),
    ("control_action", "s7comm", "set clock", "time-set", None),
    ("control_action", "enip", "stop (class 0x8e)", "plc-stop", "T0858"),
    ("control_action", "enip", "start (class 0x8e)", "plc-start", "T0858"),
    ("control_action", "enip", "reset (class 0x01)", "plc-start", "T0816"),
    ("config_change", "enip", "wall clock time (class 0x8b)", "time-set", None),
    ("config_change", "enip", "TCP/IP interface (class 0xf5)", "config-write", "T0836"),
    ("config_change", "enip", "identity (class 0x01)", "config-write", "T0836"),
    ("control_action", "mms", "domain download", "program-download", "T0843"),
    ("control_action", "mms", "domain delete", "program-delete", "T0809"),
    ("control_action", "mms", "program stop", "plc-stop", "T0858"),
    ("control_action", "ads", "stop (ADS state STOP, AMS port 851)", "plc-stop", "T0858"),
    ("control_action", "ads", "start (ADS state RUN, AMS port 851)", "plc-start", "T0858"),
    ("control_action", "ads", "shutdown (ADS state SHUTDOWN, AMS port 10000)", "plc-stop", "T0816"),
    ("config_change", "ads", "ADS route added (UDP add-route accepted)", "config-write", "T0836"),
    ("control_action", "modbus", "restart communications (FC8 sub-function 1)", "plc-start", "T0816"),
    ("control_action", "modbus", "force listen only mode (FC8 sub-function 4)", "control-action", None),
    ("control_action", "umas", "something new", "control-action", None),     # unknown: its text is the detail
    ("config_change", "other", "a new object", "config-write", "T0836"),
])
def test_action_table(field: str, protocol: str, action: str, kind: str, technique: str | None) -> None:
    rule = classify_action(field, protocol, action)
    assert rule is not None and (rule.kind, rule.technique) == (kind, technique)
    assert rule.kind in events.KINDS and (rule.technique is None or rule.technique in events.TECHNIQUES)


def test_unknown_action_keeps_its_text() -> None:
    rule = classify_action("control_action", "umas", "function 0x99")
    assert rule is not None and rule.detail == "function 0x99"
    assert classify_action("cpu_state", "s7comm", "STOP") is None


def test_every_kind_has_a_severity() -> None:
    assert set(events.SEVERITY) == set(events.KINDS)
    assert set(events.SEVERITY.values()) <= set(events.SEVERITIES)


def test_cpu_transitions() -> None:
    assert cpu_transitions(None, [(1.0, "RUN")]) == []                # a first report is not a change
    assert cpu_transitions("RUN", [(1.0, "RUN")]) == []               # steady polling
    assert cpu_transitions("RUN", [(2.0, "STOP"), (5.0, "RUN")]) == [(2.0, "plc-stop", "CPU state STOP"),
                                                                     (5.0, "plc-start", "CPU state RUN")]
    assert cpu_transitions("STOP", [(1.0, "0x0f")]) == []             # an unknown state keeps its number, no event


def test_writes_and_time_syncs_from_profiles() -> None:
    assert events.writes("modbus", {"read": 10, "write": 3, "diagnostic": 1}) == 3
    assert events.writes("s7comm", {"read_var": 4}) == 0
    assert events.writes("dnp3", {"direct-operate": 2, "select": 1, "operate": 1}) == 3
    assert events.time_syncs("iec104", {"clock-sync": 1}) == 1
    assert events.writes("unknown", {"write": 9}) == 0


def test_bursts() -> None:
    assert events.is_burst("modbus", "malformed-mbap", 20)
    assert not events.is_burst("modbus", "malformed-mbap", 19)
    assert not events.is_burst("s7comm", "tcp-gap", 500)             # capture loss, not hostile frames
    assert not events.is_burst("enip", "pending-requests-cap", 500)
    assert not events.is_burst("capture", "host-table-full", 500)


def _occ(kind: str = "plc-stop", first: float = 100.0, last: float = 100.0, sensor: str = "s1",
         evidence: str = "a.pcap#frame 5", count: int = 1) -> Occurrence:
    return Occurrence(kind, 1, 2, "s7comm", "PLC stop", "m", evidence, sensor, first, last, count)


def test_decide_window_and_once() -> None:
    ev = EventView(7, 100.0, 110.0, 1, ["a.pcap#frame 5"], ["s1"])
    assert decide(_occ(first=500.0, last=500.0), [ev], False) is ev                    # within the window
    assert decide(_occ(first=100 + events.WINDOW + 11, last=999.0), [ev], False) == "new"   # later: a new event
    assert decide(_occ(first=5000.0), [], True) is None                                  # baselined
    assert decide(_occ("new-asset", first=1e9), [ev], False) is ev                        # once: ever
    assert decide(_occ("new-asset"), [], True) is None


def test_merged_counts_sensors_and_idempotence() -> None:
    ev = EventView(7, 100.0, 110.0, 3, ["a.pcap#frame 5"], ["s1"])
    same = merged(ev, _occ(evidence="a.pcap#frame 5", count=3))
    assert (same.count, same.evidence, same.sensors) == (3, ["a.pcap#frame 5"], ["s1"])
    other = merged(ev, _occ(sensor="s2", evidence="sensor:s2@t", count=2))
    assert (other.count, other.sensors) == (3, ["s1", "s2"]) and "sensor:s2@t" in other.evidence
    more = merged(ev, _occ(evidence="a.pcap#frame 90", count=2, last=120.0))
    assert (more.count, more.last_seen) == (5, 120.0)


def test_learning_decision() -> None:
    state = {"origin": "file:1.0:abc", "start": "100.0"}
    assert events.is_learning(state, "file:1.0:abc", 5e9, 24, True)
    assert not events.is_learning(state, "file:2.0:def", 0, 24, True)
    assert not events.is_learning(state, "file:1.0:abc", 0, 24, False)
    assert not events.is_learning(state, None, 101.0, 24, True)        # a live sensor after a replayed baseline
    live = {"origin": "live", "start": "100.0"}
    assert events.is_learning(live, None, 100.0 + 3600, 2, True)
    assert not events.is_learning(live, None, 100.0 + 2 * 3600, 2, True)
    assert events.batch_source("file:1.0:abc.3") == events.batch_source("file:1.0:abc.b") == "file:1.0:abc"
    assert events.batch_source("sensor-7-123") is None


# --- through the ingest service ------------------------------------------------------------------------------

T0 = 1_700_000_000.0


def ev(frame: int, ts: float, source: str = "a.pcap") -> Evidence:
    return Evidence(source, frame, ts)


def batch(bid: str, sensor: str = "replay", **lists: list) -> Batch:  # type: ignore[type-arg]
    return Batch(sensor=sensor, batch_id=bid, **lists)


def _steady(bid: str, t: float, sensor: str = "replay") -> Batch:
    """An HMI polling the PLC (reads only), the PLC saying who it is."""
    return batch(bid, sensor, hosts=[HostObs(PLC, True, t, t + 9), HostObs(HMI, True, t, t + 9)],
                 facts=[FactObs(PLC, "vendor", "Acme", "modbus", "FC43", ev(3, t), t, t + 9),
                        FactObs(PLC, "firmware", "1.0", "modbus", "FC43", ev(3, t), t, t + 9)],
                 comms=[CommObs(HMI, PLC, "tcp", 502, "modbus", 100, 9000, t, t + 9, {"read": 50})])


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    return Inventory(f"sqlite:///{tmp_path}/ev.db")


def listed(inv: Inventory, **f: object) -> list[dict]:
    with inv.factory() as s:
        rows, n = events.list_events(s, events.EventFilter(**f))  # type: ignore[arg-type]
        assert n == len(rows)
        return [events.as_dict(r) for r in rows]


def kinds(inv: Inventory, learning: bool | None = None) -> list[str]:
    return sorted(e["kind"] for e in listed(inv, learning=learning))


def test_first_file_is_learning_then_new_things_are_raised(inv: Inventory) -> None:
    ingest(inv.factory, _steady("file:1:aaa", T0))
    assert kinds(inv, learning=True) == ["new-asset", "new-asset", "new-conversation"]
    assert kinds(inv, learning=False) == []
    ingest(inv.factory, _steady("file:2:bbb", T0 + 100))          # the same plant again: nothing new
    assert kinds(inv, learning=False) == []
    eng = Subject(0, "10.0.0.77")
    b = batch("file:3:ccc", hosts=[HostObs(eng, True, T0 + 200, T0 + 201)],
              comms=[CommObs(eng, PLC, "tcp", 502, "modbus", 4, 300, T0 + 200, T0 + 201, {"write": 2})])
    ingest(inv.factory, b)
    raised = {e["kind"]: e for e in listed(inv, learning=False)}
    assert sorted(raised) == ["new-asset", "new-conversation", "write-from-new-client"]
    w = raised["write-from-new-client"]
    assert w["technique"] == "T0855" and w["severity"] == "high" and w["count"] == 2
    assert w["evidence"][0].startswith("sensor:replay@") or "@" in w["evidence"][0]


def test_hmi_that_wrote_during_learning_is_not_a_new_writer(inv: Inventory) -> None:
    b = _steady("file:1:aaa", T0)
    b.comms[0].profile = {"read": 50, "write": 1}
    ingest(inv.factory, b)
    assert "write-from-new-client" in kinds(inv, learning=True)
    b2 = _steady("file:2:bbb", T0 + 100)
    b2.comms[0].profile = {"write": 7}
    ingest(inv.factory, b2)
    assert kinds(inv, learning=False) == []


def _stop(bid: str, sensor: str, frame: int, t: float, source: str = "a.pcap", count: int = 1) -> Batch:
    return batch(bid, sensor, hosts=[HostObs(PLC, True, t, t), HostObs(EWS, True, t, t)],
                 actions=[ActionObs(PLC, EWS, "control_action", "PLC stop", "s7comm", "S7comm job 0x29",
                                    ev(frame, t, source), count, t, t)])


def test_plc_stop_with_client_frame_and_technique(inv: Inventory) -> None:
    ingest(inv.factory, _steady("file:1:aaa", T0))
    ingest(inv.factory, _stop("file:2:bbb", "replay", 42, T0 + 50, "b.pcap"))
    (e,) = [e for e in listed(inv) if e["kind"] == "plc-stop"]
    assert (e["evidence"], e["technique"], e["technique_name"], e["severity"]) == \
        (["b.pcap#frame 42"], "T0858", "Change Operating Mode", "high")
    assert e["client_id"] != e["asset_id"] and not e["learning"]
    plc = inv.by_ip("10.0.0.1")[0]["id"]
    assert e["asset_id"] == plc


def test_replaying_twice_adds_nothing(inv: Inventory) -> None:
    ingest(inv.factory, _steady("file:1:aaa", T0))
    b = _stop("file:2:bbb", "replay", 42, T0 + 50)
    assert ingest(inv.factory, b).status == "applied"
    before = listed(inv)
    assert ingest(inv.factory, b).status == "duplicate"
    assert listed(inv) == before
    # the same occurrences under another batch id (a copy the replay did not refuse) join the same event
    again = _stop("file:9:zzz", "replay", 42, T0 + 50)
    ingest(inv.factory, again)
    after = listed(inv)
    assert len(after) == len(before) and [e["count"] for e in after] == [e["count"] for e in before]


def test_two_sensors_one_action_is_one_event(inv: Inventory) -> None:
    ingest(inv.factory, _steady("file:1:aaa", T0))
    ingest(inv.factory, _stop("live-a-1", "sensor-a", 0, T0 + 50.001, "sensor:sensor-a"))
    ingest(inv.factory, _stop("live-b-1", "sensor-b", 0, T0 + 50.020, "sensor:sensor-b"))
    stops = [e for e in listed(inv) if e["kind"] == "plc-stop"]
    assert len(stops) == 1
    assert stops[0]["sensors"] == ["sensor-a", "sensor-b"] and len(stops[0]["evidence"]) == 2
    assert stops[0]["count"] == 1


def test_a_later_stop_is_another_event(inv: Inventory) -> None:
    ingest(inv.factory, _stop("file:1:aaa", "replay", 10, T0))
    ingest(inv.factory, _stop("file:2:bbb", "replay", 20, T0 + 5, count=3))
    ingest(inv.factory, _stop("file:3:ccc", "replay", 30, T0 + events.WINDOW * 3))
    stops = [e for e in listed(inv) if e["kind"] == "plc-stop"]
    assert [s["count"] for s in stops] == [4, 1]
    assert stops[1]["evidence"] == ["a.pcap#frame 30"]


def test_acknowledged_event_is_not_raised_again(inv: Inventory) -> None:
    ingest(inv.factory, _stop("file:1:aaa", "replay", 10, T0))
    (e,) = [e for e in listed(inv) if e["kind"] == "plc-stop"]
    with inv.factory() as s, unit_of_work(s):
        assert events.acknowledge(s, e["id"], "operator") is not None
        assert events.acknowledge(s, e["id"], "operator") is not None     # twice: the same
        assert events.acknowledge(s, 99999, "operator") is None
    ingest(inv.factory, _stop("file:2:bbb", "replay", 20, T0 + events.WINDOW * 5))
    stops = [e for e in listed(inv) if e["kind"] == "plc-stop"]
    assert len(stops) == 1 and stops[0]["acknowledged"]


def test_cpu_state_change_and_steady_polling(inv: Inventory) -> None:
    def state(bid: str, value: str, frame: int, t: float) -> Batch:
        return batch(bid, hosts=[HostObs(PLC, True, t, t)],
                     facts=[FactObs(PLC, "cpu_state", value, "s7comm", "S7 Read SZL 0x0424", ev(frame, t), t, t)],
                     actions=[ActionObs(PLC, HMI, "cpu_state", value, "s7comm", "S7 Read SZL 0x0424",
                                        ev(frame, t), 5, t, t + 5)])
    ingest(inv.factory, state("file:1:a", "RUN", 3, T0))
    ingest(inv.factory, state("file:2:b", "RUN", 9, T0 + 10))
    assert [e for e in listed(inv) if e["kind"].startswith("plc-")] == []
    ingest(inv.factory, state("file:3:c", "STOP", 17, T0 + 20))
    ingest(inv.factory, state("file:4:d", "RUN", 25, T0 + 30))
    got = [(e["kind"], e["evidence"]) for e in listed(inv) if e["kind"].startswith("plc-")]
    assert got == [("plc-stop", ["a.pcap#frame 17"]), ("plc-start", ["a.pcap#frame 25"])]


def test_identity_and_firmware_change(inv: Inventory) -> None:
    ingest(inv.factory, _steady("file:1:a", T0))
    b = _steady("file:2:b", T0 + 100)
    b.facts = [FactObs(PLC, "vendor", "Acme", "modbus", "FC43", ev(3, T0 + 100), T0 + 100, T0 + 100),
               FactObs(PLC, "firmware", "2.0", "modbus", "FC43", ev(4, T0 + 100), T0 + 100, T0 + 100),
               FactObs(PLC, "serial", "S-1", "modbus", "FC43", ev(4, T0 + 100), T0 + 100, T0 + 100)]
    ingest(inv.factory, b)
    got = {e["kind"]: e for e in listed(inv, learning=False)}
    assert list(got) == ["firmware-change"]             # a first serial is not a change
    assert got["firmware-change"]["detail"] == "firmware: 1.0 -> 2.0"
    assert got["firmware-change"]["evidence"] == ["a.pcap#frame 4"] and got["firmware-change"]["technique"] == "T0857"
    b3 = _steady("file:3:c", T0 + 200)
    b3.facts = [FactObs(PLC, "vendor", "Other Corp", "modbus", "FC43", ev(8, T0 + 200), T0 + 200, T0 + 200)]
    ingest(inv.factory, b3)
    assert "identity-change" in kinds(inv, learning=False)


def test_ip_change_and_mac_change(inv: Inventory) -> None:
    mac, mac2 = "08:00:06:93:cf:32", "08:00:06:00:00:01"
    ingest(inv.factory, batch("file:1:a", bindings=[
        BindingObs(0, "192.168.0.6", mac, "high", "pn_dcp", ev(2, T0), T0, T0)]))
    ingest(inv.factory, batch("file:2:b", bindings=[
        BindingObs(0, "192.168.0.10", mac, "high", "pn_dcp", ev(3, T0 + 1), T0 + 1, T0 + 1)]))
    (ipc,) = [e for e in listed(inv) if e["kind"] == "ip-change"]
    assert ipc["detail"] == f"{mac}: 192.168.0.6 -> 192.168.0.10" and ipc["evidence"] == ["a.pcap#frame 3"]
    ingest(inv.factory, batch("file:3:c", bindings=[
        BindingObs(0, "192.168.0.10", mac2, "high", "arp", ev(9, T0 + 2), T0 + 2, T0 + 2)]))
    (mc,) = [e for e in listed(inv) if e["kind"] == "mac-change"]
    assert mc["detail"] == f"192.168.0.10: {mac} -> {mac2}"


def test_protocol_anomaly_burst(inv: Inventory) -> None:
    ingest(inv.factory, batch("file:1:a", anomalies=[AnomalyObs("modbus", "malformed-mbap", 50, ev(77, T0)),
                                                     AnomalyObs("modbus", "tcp-gap", 900, ev(5, T0)),
                                                     AnomalyObs("s7comm", "malformed-szl", 2, ev(6, T0))]))
    (a,) = listed(inv)
    assert (a["kind"], a["detail"], a["evidence"], a["count"], a["asset_id"]) == \
        ("protocol-anomaly", "modbus: malformed-mbap", ["a.pcap#frame 77"], 50, None)


def test_events_follow_merged_assets(inv: Inventory) -> None:
    """An IP asset whose events exist is later bound to a MAC asset: the events move with it."""
    ingest(inv.factory, _stop("file:1:a", "replay", 10, T0))
    mac = "00:1b:1b:00:00:01"
    ingest(inv.factory, batch("file:2:b", hosts=[HostObs(Subject(0, None, mac), True, T0 + 1, T0 + 1)]))
    ingest(inv.factory, batch("file:3:c", bindings=[BindingObs(0, "10.0.0.1", mac, "high", "arp", ev(1, T0 + 2),
                                                               T0 + 2, T0 + 2)]))
    plc = inv.by_ip("10.0.0.1")[0]["id"]
    (stop,) = [e for e in listed(inv) if e["kind"] == "plc-stop"]
    assert stop["asset_id"] == plc
    assert len([e for e in listed(inv) if e["kind"] == "new-asset" and e["asset_id"] == plc]) == 1


def test_every_package_event_table_is_valid() -> None:
    """The specs' event vocabularies (ProtocolSpec.event_actions) name known kinds and techniques."""
    from otscope.dissectors import registry

    actions, writes_, syncs = events._tables()
    assert actions and writes_ and syncs
    for sp in registry.specs():
        for a in sp.event_actions:
            rule = classify_action("control_action", a.protocol, a.prefix)
            assert rule is not None and rule.kind == a.kind and rule.kind in events.KINDS
            assert rule.technique is None or rule.technique in events.TECHNIQUES


def test_an_action_alone_names_known_assets(inv: Inventory) -> None:
    """A batch holding only an action (no host, no fact) finds its server and client, makes no new asset."""
    ingest(inv.factory, _stop("file:1:aaa", "replay", 10, T0))
    before = len(inv.assets())
    ingest(inv.factory, batch("file:2:bbb", actions=[ActionObs(PLC, EWS, "control_action", "PLC stop", "s7comm",
                                                               "m", ev(7, T0 + 9999), 1, T0 + 9999, T0 + 9999)]))
    assert len(inv.assets()) == before
    assert [e["kind"] for e in listed(inv) if e["first_seen"] > T0 + 9000] == ["plc-stop"]
