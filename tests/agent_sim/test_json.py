"""JSON output, version 2 (reference section 1.9): the envelope, the header, Streams as an object."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_sim.agent import Agent, Asset
from agent_sim.buffer import ConditionState

from .helpers import STAMP, make_agent, put, respond

PATH_DEVICE = """<MTConnectDevices><Devices><Device id="d" name="Lathe" uuid="lathe-1"><Components>
  <Controller id="ct"><Components><Path id="p"><DataItems>
    <DataItem category="SAMPLE" id="pp" type="PATH_POSITION" subType="ACTUAL" units="MILLIMETER_3D"/>
    <DataItem category="EVENT" id="mode" type="CONTROLLER_MODE"/>
  </DataItems></Path></Components></Controller></Components></Device></Devices></MTConnectDevices>"""


def body(target: str, agent: Agent | None = None, **query: str) -> dict[str, Any]:
    response = respond(agent or make_agent(), target, format="json", **query)
    assert response.status == 200, response.body
    assert response.content_type == "application/mtconnect+json"
    parsed: dict[str, Any] = json.loads(response.body)
    return parsed


@pytest.mark.parametrize(
    ("target", "document"),
    [("/probe", "MTConnectDevices"), ("/current", "MTConnectStreams"), ("/assets", "MTConnectAssets")],
)
def test_json_envelope_names_the_document_with_json_version_2_and_schema_version(
    target: str, document: str
) -> None:
    parsed = body(target, make_agent("2.4"))
    assert list(parsed) == [document]
    content = parsed[document]
    assert (content["jsonVersion"], content["schemaVersion"]) == (2, "2.4")


def test_json_header_always_has_test_indicator_false_and_the_schema_version() -> None:
    agent = make_agent()
    for target in ("/probe", "/current", "/sample", "/assets"):
        (content,) = body(target, agent).values()
        assert content["Header"]["testIndicator"] is False
        assert content["Header"]["schemaVersion"] == "2.7"
    header = body("/current", agent)["MTConnectStreams"]["Header"]
    assert header["nextSequence"] == agent.buffer.next_sequence
    assert header["version"] == "2.7.0.9"


def test_json_v2_streams_is_an_object_of_device_streams_grouped_by_element() -> None:
    agent = make_agent(devices=PATH_DEVICE, agent_device=False)
    put(agent, "mode", "AUTOMATIC")
    put(agent, "pp", "1.5 2 -3.25")
    streams = body("/current", agent)["MTConnectStreams"]["Streams"]
    (device,) = streams["DeviceStream"]
    assert (device["name"], device["uuid"]) == ("Lathe", "lathe-1")
    # The device's own stream holds the items the agent adds to every device (availability, asset events).
    (component,) = [c for c in device["ComponentStream"] if c["componentId"] == "p"]
    assert (component["component"], component["componentId"]) == ("Path", "p")
    assert list(component) == ["component", "componentId", "Samples", "Events"]
    (mode,) = component["Events"]["ControllerMode"]
    assert mode["value"] == "AUTOMATIC"
    assert mode["dataItemId"] == "mode"
    assert isinstance(mode["sequence"], int)
    (position,) = component["Samples"]["PathPosition"]
    assert position["value"] == [1.5, 2, -3.25]


def test_json_condition_is_grouped_by_level() -> None:
    agent = make_agent()
    put(agent, "sys", ConditionState("FAULT", "100", text="overtravel"))
    streams = body("/Mill/current", agent, path="//DataItem[@id='sys']")["MTConnectStreams"]["Streams"]
    (fault,) = streams["DeviceStream"][0]["ComponentStream"][0]["Condition"]["Fault"]
    assert (fault["nativeCode"], fault["value"], fault["type"]) == ("100", "overtravel", "SYSTEM")


def test_json_v2_empty_streams_is_an_empty_object() -> None:
    agent = make_agent()
    parsed = body("/sample", agent, **{"from": str(agent.buffer.next_sequence)})
    assert parsed["MTConnectStreams"]["Streams"] == {}


def test_json_probe_lists_devices_by_element_with_data_items() -> None:
    devices = body("/probe")["MTConnectDevices"]["Devices"]
    assert set(devices) == {"Agent", "Device"}
    (mill,) = devices["Device"]
    assert (mill["name"], mill["uuid"]) == ("Mill", "mill-1")
    # The file's own item first, then the asset events the agent adds to every device (cppagent verifyDevice).
    ids = [item["id"] for item in mill["DataItems"]["DataItem"]]
    assert ids == ["avail", "d_asset_chg", "d_asset_rem", "d_asset_count"]


def test_json_assets_are_grouped_by_asset_type() -> None:
    agent = make_agent()
    agent.add_asset(Asset("T1", "CuttingTool", "mill-1", STAMP, '<CuttingTool assetId="T1"/>'))
    assets = body("/assets", agent)["MTConnectAssets"]
    assert assets["Header"]["assetCount"] == 1
    assert assets["Assets"]["CuttingTool"][0]["assetId"] == "T1"
