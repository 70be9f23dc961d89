"""The Agent device (reference section 1.8): present from schema 1.7, its data items and their values.

The per-adapter ``<Adapter>`` components belong to the SHDR connector and are tested there.
"""

from __future__ import annotations

import pytest

from agent_sim.agent import Asset

from .helpers import STAMP, fetch, make_agent, one

AGENT_TYPES = [
    "AVAILABILITY",
    "DEVICE_ADDED",
    "DEVICE_REMOVED",
    "DEVICE_CHANGED",
    "ASSET_CHANGED",
    "ASSET_REMOVED",
]


@pytest.mark.parametrize("version", ["1.7", "1.8", "2.4", "2.7"])
def test_agent_device_is_probed_first_from_schema_1_7(version: str) -> None:
    root = fetch(make_agent(version), "/probe")
    agent = one(root, "//Devices/*[1]")
    assert (agent.tag, agent.get("name")) == ("Agent", "Agent")
    assert (agent.get("id") or "").startswith("agent_")
    assert agent.get("uuid")
    types = agent.xpath("DataItems/DataItem/@type")
    expected = AGENT_TYPES + (["ASSET_COUNT"] if version >= "2.0" else [])
    assert types == expected
    assert agent.xpath("DataItems/DataItem[@type='ASSET_COUNT']/@representation") == (
        ["DATA_SET"] if version >= "2.0" else []
    )


def test_agent_data_item_ids_follow_the_reference_agent() -> None:
    agent = one(fetch(make_agent(), "/probe"), "//Devices/Agent")
    assert agent.xpath("DataItems/DataItem/@id")[:4] == [
        "agent_avail",
        "device_added",
        "device_removed",
        "device_changed",
    ]


def test_no_agent_device_in_schema_1_3_or_when_disabled() -> None:
    assert fetch(make_agent("1.3"), "/probe").xpath("//Devices/Agent") == []
    assert fetch(make_agent("2.7", agent_device=False), "/probe").xpath("//Devices/Agent") == []


def test_agent_is_available() -> None:
    assert one(fetch(make_agent(), "/Agent/current"), "//Availability").text == "AVAILABLE"


def test_device_added_reports_the_uuid_of_each_device() -> None:
    agent = make_agent()
    agent_uuid = one(fetch(agent, "/probe"), "//Devices/Agent").get("uuid")
    root = fetch(agent, "/Agent/sample", path="//DataItem[@type='DEVICE_ADDED']")
    assert [el.text for el in root.xpath("//DeviceAdded")] == ["UNAVAILABLE", agent_uuid, "mill-1"]


@pytest.mark.parametrize("version", ["2.4", "2.7"])
def test_devices_carry_a_hash_from_2_2_and_device_added_repeats_it(version: str) -> None:
    agent = make_agent(version)
    hashes = fetch(agent, "/probe").xpath("//Devices/*/@hash")
    assert len(hashes) == 2
    assert all(len(h) == 28 for h in hashes)
    added = fetch(agent, "/Agent/sample", path="//DataItem[@type='DEVICE_ADDED']").xpath(
        "//DeviceAdded/@hash"
    )
    assert added == hashes


@pytest.mark.parametrize("version", ["1.7", "1.8"])
def test_no_hash_before_2_2(version: str) -> None:
    assert fetch(make_agent(version), "/probe").xpath("//@hash") == []


def test_asset_changes_and_counts_are_reported_by_the_agent_device() -> None:
    agent = make_agent()
    agent.add_asset(Asset("T1", "CuttingTool", "mill-1", STAMP, '<CuttingTool assetId="T1"/>'))
    root = fetch(agent, "/Agent/current")
    changed = one(root, "//AssetChanged")
    assert (changed.text, changed.get("assetType")) == ("T1", "CuttingTool")
    assert one(root, "//AssetCountDataSet/Entry[@key='CuttingTool']").text == "1"
    agent.remove_asset("T1")
    root = fetch(agent, "/Agent/current")
    assert one(root, "//AssetRemoved").text == "T1"
    assert root.xpath("//AssetCountDataSet/Entry") == []
