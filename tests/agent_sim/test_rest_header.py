"""Header attributes, namespaces and the order of a Streams body (reference section 1.4)."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from agent_sim.agent import Asset
from agent_sim.buffer import ConditionState
from agent_sim.render_xml import AGENT_VERSION, SCHEMA_VERSIONS

from .helpers import NOW, STAMP, doc, fetch, header, make_agent, one, put, respond

COMMON = ["creationTime", "sender", "instanceId", "version"]


def order(version: str, *rest: str, model_change: bool = True) -> list[str]:
    changed = ["deviceModelChangeTime"] if model_change and version >= "1.7" else []
    return [*COMMON, *changed, *rest]


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_header_attributes_are_written_in_the_reference_order(version: str) -> None:
    agent = make_agent(version)
    assert list(header(fetch(agent, "/probe"))) == order(
        version, "assetBufferSize", "assetCount", "bufferSize"
    )
    streams = order(version, "bufferSize", "nextSequence", "firstSequence", "lastSequence")
    assert list(header(fetch(agent, "/current"))) == streams
    assert list(header(fetch(agent, "/sample"))) == streams
    assert list(header(fetch(agent, "/assets"))) == order(version, "assetBufferSize", "assetCount")
    # The Error XSDs below 2.6 have a header of their own without deviceModelChangeTime.
    error_header = header(doc(respond(agent, "/nope/nope")))
    assert list(error_header) == order(version, "bufferSize", model_change=version >= "2.6")


def test_assets_header_has_no_buffer_size_and_streams_header_no_asset_attributes() -> None:
    agent = make_agent()
    assert "bufferSize" not in header(fetch(agent, "/assets"))
    assert not {"assetBufferSize", "assetCount"} & header(fetch(agent, "/current")).keys()


def test_header_version_is_the_agent_software_version_not_the_schema_version() -> None:
    for version in SCHEMA_VERSIONS:
        assert header(fetch(make_agent(version), "/current"))["version"] == AGENT_VERSION == "2.7.0.9"


def test_creation_time_is_utc_to_the_second_and_instance_id_the_start_in_epoch_seconds() -> None:
    head = header(fetch(make_agent(), "/probe"))
    assert head["creationTime"] == "2023-11-14T22:13:20Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", head["creationTime"])
    assert head["instanceId"] == str(int(NOW))
    assert head["sender"] == "test"
    assert head["bufferSize"] == "256"


def test_xml_never_emits_test_indicator_or_schema_version() -> None:
    agent = make_agent()
    for target in ("/probe", "/current", "/sample", "/assets", "/nope/nope"):
        assert not {"testIndicator", "schemaVersion"} & header(doc(respond(agent, target))).keys()


@pytest.mark.parametrize("version", ["1.3", "1.7", "1.8"])
def test_devices_header_lists_asset_counts_below_2_0(version: str) -> None:
    agent = make_agent(version)
    agent.add_asset(Asset("T1", "CuttingTool", "mill-1", STAMP, '<CuttingTool assetId="T1"/>'))
    agent.add_asset(Asset("T2", "CuttingTool", "mill-1", STAMP, '<CuttingTool assetId="T2"/>'))
    count = one(fetch(agent, "/probe"), "/MTConnectDevices/Header/AssetCounts/AssetCount")
    assert (count.get("assetType"), count.text) == ("CuttingTool", "2")


@pytest.mark.parametrize("version", ["2.4", "2.7"])
def test_asset_count_is_not_in_the_header_from_2_0(version: str) -> None:
    agent = make_agent(version)
    agent.add_asset(Asset("T1", "CuttingTool", "mill-1", STAMP, '<CuttingTool assetId="T1"/>'))
    assert fetch(agent, "/probe").xpath("//Header/*") == []
    count = one(fetch(agent, "/current"), "//AssetCountDataSet/Entry[@key='CuttingTool']")
    assert count.text == "1"


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize(
    ("target", "kind"), [("/probe", "Devices"), ("/current", "Streams"), ("/assets", "Assets")]
)
def test_namespace_and_schema_location_follow_the_schema_version(
    version: str, target: str, kind: str
) -> None:
    root = etree.fromstring(respond(make_agent(version), target).body.encode())
    urn = f"urn:mtconnect.org:MTConnect{kind}:{version}"
    assert root.nsmap[None] == root.nsmap["m"] == urn
    assert root.nsmap["xsi"] == "http://www.w3.org/2001/XMLSchema-instance"
    location = root.get("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation")
    assert location == f"{urn} http://schemas.mtconnect.org/schemas/MTConnect{kind}_{version}.xsd"


# -- Streams body -------------------------------------------------------------------------------


def test_streams_are_ordered_by_device_id_component_id_category_item_id_and_sequence() -> None:
    agent = make_agent(agent_device=False)
    put(agent, "sys", ConditionState("FAULT", "1"))
    put(agent, "line", "5")
    put(agent, "Xact", "1.5")
    put(agent, "line", "6")
    root = fetch(agent, "/sample")
    # document order is d, ax, x, ct, p; the reference agent sorts component ids as strings
    assert root.xpath("//ComponentStream/@componentId") == ["ct", "d", "p", "x"]
    controller = one(root, "//ComponentStream[@componentId='ct']")
    assert [str(child.tag) for child in controller] == ["Events", "Condition"]
    path = one(root, "//ComponentStream[@componentId='p']/Events")
    items = [(el.get("dataItemId"), int(el.get("sequence") or 0)) for el in path]
    assert items == sorted(items)
    assert [el.text for el in path.xpath("Line")] == ["UNAVAILABLE", "5", "6"]


def test_device_streams_are_ordered_by_device_id() -> None:
    devices = """<MTConnectDevices><Devices>
      <Device id="zz" name="First" uuid="u1"><DataItems>
        <DataItem category="EVENT" id="a1" type="AVAILABILITY"/></DataItems></Device>
      <Device id="aa" name="Second" uuid="u2"><DataItems>
        <DataItem category="EVENT" id="a2" type="AVAILABILITY"/></DataItems></Device>
    </Devices></MTConnectDevices>"""
    root = fetch(make_agent(devices=devices, agent_device=False), "/current")
    assert root.xpath("//DeviceStream/@name") == ["Second", "First"]


def test_components_with_nothing_to_report_are_omitted() -> None:
    root = fetch(make_agent(agent_device=False), "/current", path="//DataItem[@id='Xact']")
    assert root.xpath("//ComponentStream/@componentId") == ["x"]


def test_an_empty_result_is_an_empty_streams_element() -> None:
    agent = make_agent()
    body = respond(agent, "/sample", **{"from": str(agent.buffer.next_sequence)}).body
    assert "<Streams/>" in body
