"""Observation contract schema 2: ActionObs (a control action with its client, counted per batch)."""

from __future__ import annotations

import json
import os

import pytest

from otscope.agent.accumulate import Accumulator
from otscope.agent.snapshot import Snapshot, build_batch, merge
from otscope.contract import (SCHEMA_VERSION, ActionObs, Batch, ContractError, Evidence, Subject, batch_from_dict,
                              batch_from_json)

PLC, EWS = Subject(0, "10.0.0.1"), Subject(0, "10.0.0.9")


def sample() -> Batch:
    ev = Evidence("a.pcap", 7, 10.0)
    return Batch(sensor="s1", batch_id="b1", actions=[
        ActionObs(PLC, EWS, "control_action", "PLC stop", "s7comm", "S7comm job 0x29", ev, 3, 10.0, 12.0)])


def test_schema_two_round_trip() -> None:
    b = sample()
    assert SCHEMA_VERSION == 2 and b.size() == 1
    again = batch_from_json(b.to_json())
    assert again.actions == b.actions and again.schema == 2


def test_schema_one_still_accepted_without_actions() -> None:
    d = json.loads(sample().to_json())
    d["schema"] = 1
    with pytest.raises(ContractError, match="schema 1 has no actions"):
        batch_from_dict(d)
    del d["actions"]
    assert batch_from_dict(d).actions == [] and batch_from_dict(d).schema == 1


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d["actions"][0].update(extra=1), "unknown field"),
    (lambda d: d["actions"][0].update(field="vendor"), "not an action field"),
    (lambda d: d["actions"][0].update(count=-1), "negative"),
    (lambda d: d["actions"][0].update(count=1 << 60), "larger"),
    (lambda d: d["actions"][0]["client"].update(ip="nope"), "not an IP"),
    (lambda d: d["actions"][0].pop("server"), "missing"),
    (lambda d: d.update(schema=True), "unsupported schema"),
    (lambda d: d.update(schema=2.0), "unsupported schema"),
])
def test_bad_actions_refused(mutate, match) -> None:  # type: ignore[no-untyped-def]
    d = json.loads(sample().to_json())
    mutate(d)
    with pytest.raises(ContractError, match=match):
        batch_from_dict(d)


def test_action_text_is_bounded() -> None:
    d = json.loads(sample().to_json())
    d["actions"][0]["action"] = "x" * 5000 + "\x00"
    a = batch_from_dict(d).actions[0]
    assert len(a.action) <= 256 and "\x00" not in a.action


def test_accumulator_counts_each_occurrence_keeps_first_evidence() -> None:
    acc = Accumulator("f.pcap")
    for frame, ts in ((5, 1.0), (9, 3.0), (7, 2.0)):
        acc.action(PLC, EWS, "control_action", "PLC stop", "s7comm", "job", frame, ts)
    acc.action(PLC, Subject(0, "10.0.0.8"), "control_action", "PLC stop", "s7comm", "job", 11, 4.0)
    snap = Snapshot("f.pcap", True, actions=acc.actions)
    b = build_batch(snap, "s", "b")
    by_client = {a.client.ip: a for a in b.actions}
    a = by_client["10.0.0.9"]
    assert (a.count, a.first_seen, a.last_seen, a.evidence.frame) == (3, 1.0, 3.0, 5)
    assert by_client["10.0.0.8"].count == 1


def test_worker_snapshots_merge_counts() -> None:
    key = (PLC, EWS, "control_action", "PLC stop", "s7comm")
    s1 = Snapshot("f", True, actions={key: [2.0, 2.0, Evidence("f", 9, 2.0), "m", 2]})
    s2 = Snapshot("f", True, actions={key: [1.0, 1.5, Evidence("f", 4, 1.0), "m", 1]})
    ent = merge([s1, s2]).actions[key]
    assert ent[0] == 1.0 and ent[1] == 2.0 and ent[2].frame == 4 and ent[4] == 3


S7_DOWNLOAD = "/work/shared/pcaps/captures/ITI-ICS-Security-Tools/s7/s7comm_downloading_block_db1.pcap"
CIP_TIME = "/work/shared/pcaps/captures/ITI-ICS-Security-Tools/openics/EIP-ChangeTimeAttempt.pcap"


def _actions(path: str) -> list[ActionObs]:
    from otscope.agent.replay import replay_file

    out: list[Batch] = []
    replay_file(path, out.append)
    return [a for b in out for a in b.actions]


@pytest.mark.skipif(not os.path.exists(S7_DOWNLOAD), reason="shared capture absent")
def test_s7_block_download_actions_with_client() -> None:
    acts = {a.action: a for a in _actions(S7_DOWNLOAD)}
    dl = acts["block download"]
    assert (dl.server.ip, dl.client.ip, dl.evidence.frame) == ("192.168.1.40", "192.168.1.10", 43)
    assert dl.count >= 3                      # request download, download block(s), download ended
    pi = acts["PLC control (PI service _INSE)"]   # tshark: s7comm PI service "_INSE" in frame 58
    assert pi.evidence.frame == 58 and pi.client.ip == "192.168.1.10"


@pytest.mark.skipif(not os.path.exists(CIP_TIME), reason="shared capture absent")
def test_cip_set_attribute_list_wall_clock_is_a_config_change() -> None:
    acts = _actions(CIP_TIME)
    (a,) = [a for a in acts if a.field == "config_change"]
    assert a.action == "wall clock time (class 0x8b)" and a.evidence.frame == 386    # tshark: cip.sc 0x04, class 0x8b
    assert (a.server.ip, a.client.ip) == ("192.168.10.120", "192.168.10.105") or a.client.ip != a.server.ip
