"""Routes, method refusal and output format (reference section 1.1), through ``Agent.handle``."""

from __future__ import annotations

import pytest

from agent_sim.agent import Agent, Asset
from agent_sim.render_xml import SCHEMA_VERSIONS
from agent_sim.rest import READ_ONLY_MESSAGE

from .helpers import STAMP, error, fetch, make_agent, respond

# -- probe --------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/probe", "/", "/Mill", "/Mill/probe", "/mill-1", "/mill-1/probe"])
def test_probe_is_served_at_probe_root_and_device(target: str) -> None:
    root = fetch(make_agent(), target)
    assert root.tag == "MTConnectDevices"
    assert "Mill" in root.xpath("//Devices/Device/@name")


def test_device_probe_holds_only_that_device() -> None:
    assert fetch(make_agent(), "/Mill").xpath("//Devices/*/@name") == ["Mill"]


def test_unknown_device_alone_is_invalid_uri_not_no_device() -> None:
    assert error(respond(make_agent(), "/Lathe")) == (
        404,
        "INVALID_URI",
        "10.0.0.9: Cannot find handler for: GET /Lathe",
    )


def test_unknown_device_probe_is_no_device() -> None:
    assert error(respond(make_agent(), "/Lathe/probe"))[:2] == (404, "NO_DEVICE")


@pytest.mark.parametrize("target", ["/probe", "/", "/Mill", "/current", "/sample"])
def test_device_type_other_than_device_or_agent_is_invalid_uri(target: str) -> None:
    status, code, message = error(respond(make_agent(), target, deviceType="Lathe"))
    assert (status, code) == (404, "INVALID_URI")
    assert message == f"10.0.0.9: Cannot find handler for: GET {target}"


def test_device_type_selects_devices_or_the_agent() -> None:
    agent = make_agent()
    assert fetch(agent, "/probe", deviceType="Agent").xpath("//Devices/*/@name") == ["Agent"]
    assert fetch(agent, "/probe", deviceType="Device").xpath("//Devices/*/@name") == ["Mill"]
    assert fetch(agent, "/current", deviceType="Agent").xpath("//DeviceStream/@name") == ["Agent"]
    assert fetch(agent, "/sample", deviceType="Device").xpath("//DeviceStream/@name") == ["Mill"]


def test_device_type_is_ignored_when_a_device_is_named() -> None:
    assert fetch(make_agent(), "/Mill/probe", deviceType="Agent").xpath("//Devices/*/@name") == ["Mill"]


# -- current, sample ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["current", "sample"])
def test_current_and_sample_are_served_for_all_or_one_device(kind: str) -> None:
    agent = make_agent()
    assert fetch(agent, f"/{kind}").xpath("//DeviceStream/@name") == ["Agent", "Mill"]
    assert fetch(agent, f"/Mill/{kind}").xpath("//DeviceStream/@name") == ["Mill"]
    assert fetch(agent, f"/mill-1/{kind}").xpath("//DeviceStream/@name") == ["Mill"]


def test_a_trailing_slash_matches_the_route() -> None:
    assert fetch(make_agent(), "/current/").tag == "MTConnectStreams"


@pytest.mark.parametrize(
    "target", ["/bad_path", "/bad/path/", "/Mill/current/blah", "//current", "/cancel/id=1"]
)
def test_unknown_uri_is_invalid_uri_404(target: str) -> None:
    assert error(respond(make_agent(), target)) == (
        404,
        "INVALID_URI",
        f"10.0.0.9: Cannot find handler for: GET {target}",
    )


# -- assets -------------------------------------------------------------------------------------


@pytest.fixture
def agent_with_assets() -> Agent:
    agent = make_agent()
    for asset_id, asset_type, uuid in [
        ("T1", "CuttingTool", "mill-1"),
        ("F1", "Fixture", "mill-1"),
        ("T2", "CuttingTool", "other"),
    ]:
        xml = f'<{asset_type} assetId="{asset_id}" deviceUuid="{uuid}" timestamp="{STAMP}"/>'
        agent.add_asset(Asset(asset_id, asset_type, uuid, STAMP, xml))
    return agent


@pytest.mark.parametrize("target", ["/assets", "/asset"])
def test_assets_lists_the_newest_first(agent_with_assets: Agent, target: str) -> None:
    assert fetch(agent_with_assets, target).xpath("//Assets/*/@assetId") == ["T2", "F1", "T1"]


def test_assets_filter_by_type_device_and_count(agent_with_assets: Agent) -> None:
    agent = agent_with_assets
    assert fetch(agent, "/assets", type="CuttingTool").xpath("//Assets/*/@assetId") == ["T2", "T1"]
    assert fetch(agent, "/Mill/assets").xpath("//Assets/*/@assetId") == ["F1", "T1"]
    assert fetch(agent, "/assets", device="mill-1").xpath("//Assets/*/@assetId") == ["F1", "T1"]
    assert fetch(agent, "/assets", count="1").xpath("//Assets/*/@assetId") == ["T2"]


def test_assets_of_an_unknown_device_are_not_filtered(agent_with_assets: Agent) -> None:
    assert len(fetch(agent_with_assets, "/Lathe/assets").xpath("//Assets/*")) == 3


def test_removed_assets_are_listed_only_with_removed_true(agent_with_assets: Agent) -> None:
    agent = agent_with_assets
    agent.remove_asset("F1")
    assert fetch(agent, "/assets").xpath("//Assets/*/@assetId") == ["T2", "T1"]
    assert fetch(agent, "/assets", removed="true").xpath("//Assets/*/@assetId") == ["T2", "F1", "T1"]


@pytest.mark.parametrize("target", ["/assets/T1;F1", "/asset/T1;F1"])
def test_assets_by_ids_separated_by_semicolons(agent_with_assets: Agent, target: str) -> None:
    assert fetch(agent_with_assets, target).xpath("//Assets/*/@assetId") == ["T1", "F1"]


# -- methods ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "HEAD"])
def test_methods_other_than_get_are_refused_with_400_and_the_read_only_message(method: str) -> None:
    response = respond(make_agent(), "/Mill", method=method)
    assert error(response) == (400, "INTERNAL_ERROR", READ_ONLY_MESSAGE)
    assert READ_ONLY_MESSAGE == (
        "PUT, POST, and DELETE are not allowed. MTConnect Agent is read only and only GET is allowed."
    )


def test_options_on_a_route_answers_204_with_allow() -> None:
    response = respond(make_agent(), "/current", method="OPTIONS")
    assert (response.status, response.body) == (204, "")
    assert dict(response.headers)["Allow"] == "GET, OPTIONS"


def test_options_on_an_unknown_path_is_invalid_uri() -> None:
    assert error(respond(make_agent(), "/a/b/c", method="OPTIONS"))[:2] == (404, "INVALID_URI")


# -- format -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "fmt", "json"),
    [
        ("", None, False),
        ("application/json", None, True),
        ("text/html, application/json", None, True),
        ("application/xml, application/json", None, False),
        ("application/json;q=0.9", None, False),  # compared as sent: ends in neither
        ("application/xml", "json", True),
        ("application/json", "xml", False),
        ("application/json", "yaml", True),  # an unknown format falls back to Accept
    ],
)
def test_format_parameter_wins_then_first_accept_entry_ending_in_xml_or_json(
    accept: str, fmt: str | None, json: bool
) -> None:
    query = {"format": fmt} if fmt else {}
    response = respond(make_agent(), "/current", accept=accept, **query)
    assert response.content_type == ("application/mtconnect+json" if json else "application/xml")
    assert response.body.startswith("{") == json


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_xml_is_application_xml_as_from_agent_2_6_not_legacy_text_xml(version: str) -> None:
    agent = make_agent(version)
    for target in ("/probe", "/current", "/sample", "/assets", "/bad"):
        assert respond(agent, target).content_type == "application/xml"
