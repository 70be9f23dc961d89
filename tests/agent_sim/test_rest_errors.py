"""Error documents (reference section 1.3): legacy ``<Error>`` below schema 2.6, typed errors from 2.6 on,
and their JSON form; HTTP status 400 except NO_DEVICE, ASSET_NOT_FOUND and INVALID_URI (404)."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from agent_sim.render_xml import SCHEMA_VERSIONS
from agent_sim.rest import READ_ONLY_MESSAGE

from .helpers import doc, header, make_agent, one, respond

LEGACY = [v for v in SCHEMA_VERSIONS if v < "2.6"]


def typed(response_body: str, tag: str) -> etree._Element:
    return one(doc(response_body), f"//Errors/{tag}")


def texts(element: etree._Element) -> dict[str, str]:
    return {str(child.tag): child.text or "" for child in element}


@pytest.mark.parametrize("version", LEGACY)
def test_legacy_error_document_below_2_6(version: str) -> None:
    response = respond(make_agent(version, exponent=8), "/sample", count="500")
    root = etree.fromstring(response.body.encode())
    urn = f"urn:mtconnect.org:MTConnectError:{version}"
    assert root.tag == f"{{{urn}}}MTConnectError"
    assert root.nsmap["m"] == urn
    stripped = doc(response)
    assert header(stripped)["bufferSize"] == "256"
    error = one(stripped, "/MTConnectError/Errors/Error")
    assert (error.get("errorCode"), error.text) == ("OUT_OF_RANGE", "'count' must be less than 257")
    assert list(error) == []


def test_2_6_out_of_range_error_names_the_query_parameter_and_its_limits() -> None:
    response = respond(make_agent("2.7", exponent=8), "/sample", count="500")
    error = typed(response.body, "OutOfRange")
    assert error.get("errorCode") == "OUT_OF_RANGE"
    assert texts(error) | {"QueryParameter": ""} == {
        "URI": "/sample?count=500",
        "Request": "MTConnectStreams",
        "ErrorMessage": "'count' must be less than 257",
        "QueryParameter": "",
    }
    parameter = one(error, "QueryParameter")
    assert parameter.get("name") == "count"
    assert texts(parameter) == {"Value": "500", "Minimum": "-256", "Maximum": "256"}


def test_2_6_out_of_range_for_at_reports_first_and_last_sequence() -> None:
    agent = make_agent("2.7")
    nxt = agent.buffer.next_sequence
    error = typed(respond(agent, "/current", at=str(nxt)).body, "OutOfRange")
    assert texts(error)["URI"] == f"/current?at={nxt}"
    assert texts(one(error, "QueryParameter")) == {"Value": str(nxt), "Minimum": "1", "Maximum": str(nxt - 1)}


def test_2_6_out_of_range_reports_the_wrapped_int32_value() -> None:
    error = typed(respond(make_agent("2.7"), "/sample", interval="999999999999999999").body, "OutOfRange")
    assert texts(error)["ErrorMessage"] == "'interval' must be greater than -1"
    assert texts(error)["URI"] == "/sample?interval=999999999999999999"
    assert texts(one(error, "QueryParameter")) == {
        "Value": "-1486618625",
        "Minimum": "0",
        "Maximum": "2147483646",
    }


def test_2_6_invalid_parameter_value_names_type_and_format() -> None:
    error = typed(respond(make_agent("2.7"), "/sample", count="NON_INTEGER").body, "InvalidParameterValue")
    assert error.get("errorCode") == "INVALID_PARAMETER_VALUE"
    assert texts(error)["URI"] == "/sample?count=NON_INTEGER"
    assert (
        texts(error)["ErrorMessage"]
        == "query parameter 'count': cannot convert string 'NON_INTEGER' to integer"
    )
    parameter = one(error, "QueryParameter")
    assert parameter.get("name") == "count"
    assert texts(parameter) == {"Value": "NON_INTEGER", "Type": "integer", "Format": "int32"}


def test_2_6_no_device_error() -> None:
    response = respond(make_agent("2.7"), "/LinuxCN/probe")
    assert response.status == 404
    error = typed(response.body, "NoDevice")
    assert error.get("errorCode") == "NO_DEVICE"
    assert texts(error) == {
        "URI": "/LinuxCN/probe",
        "Request": "MTConnectDevices",
        "ErrorMessage": "Could not find the device 'LinuxCN'",
    }


def test_2_6_invalid_xpath_error_keeps_the_decoded_path_in_the_uri() -> None:
    error = typed(respond(make_agent("2.7"), "/current", path="//////Linear").body, "InvalidXPath")
    assert error.get("errorCode") == "INVALID_XPATH"
    assert texts(error)["URI"] == "/current?path=//////Linear"
    assert texts(error)["ErrorMessage"] == "The path could not be parsed. Invalid syntax: //////Linear"


def test_2_6_invalid_uri_error() -> None:
    response = respond(make_agent("2.7"), "/bad_path")
    assert response.status == 404
    error = typed(response.body, "InvalidURI")
    assert error.get("errorCode") == "INVALID_URI"
    assert texts(error) == {
        "URI": "/bad_path",
        "ErrorMessage": "10.0.0.9: Cannot find handler for: GET /bad_path",
    }


def test_2_6_asset_not_found_has_one_error_with_asset_id_per_id() -> None:
    response = respond(make_agent("2.7"), "/assets/A;B")
    assert response.status == 404
    found = doc(response).xpath("//Errors/AssetNotFound")
    assert [texts(e) for e in found] == [
        {
            "URI": "/assets/A;B",
            "Request": "MTConnectAssets",
            "ErrorMessage": f"Cannot find asset: {asset_id}",
            "AssetId": asset_id,
        }
        for asset_id in ("A", "B")
    ]


def test_2_6_read_only_refusal_is_an_internal_error() -> None:
    response = respond(make_agent("2.7"), "/Mill", method="PUT")
    assert response.status == 400
    error = typed(response.body, "InternalError")
    assert texts(error)["ErrorMessage"] == READ_ONLY_MESSAGE


def test_error_uri_lists_the_query_by_parameter_name() -> None:
    error = typed(respond(make_agent("2.7"), "/sample", to="2", count="x", **{"from": "1"}).body, "*")
    assert texts(error)["URI"] == "/sample?count=x&from=1&to=2"


@pytest.mark.parametrize(
    ("target", "query", "status"),
    [
        ("/sample", {"count": "0"}, 400),
        ("/sample", {"count": "x"}, 400),
        ("/current", {"path": "//Nope"}, 400),
        ("/Mill", {"deviceType": "Nope"}, 404),
        ("/Lathe/current", {}, 404),
        ("/assets/X", {}, 404),
        ("/nope/nope", {}, 404),
    ],
)
def test_error_status_is_400_except_no_device_asset_not_found_and_invalid_uri(
    target: str, query: dict[str, str], status: int
) -> None:
    assert respond(make_agent(), target, **query).status == status


# -- JSON ---------------------------------------------------------------------------------------


def test_json_2_6_error_is_typed_with_numeric_limits() -> None:
    response = respond(make_agent("2.7", exponent=8), "/sample", format="json", count="500")
    assert response.content_type == "application/mtconnect+json"
    body = json.loads(response.body)["MTConnectError"]
    assert body["Header"]["testIndicator"] is False
    error = body["Errors"][0]["OutOfRange"]
    assert error["errorCode"] == "OUT_OF_RANGE"
    assert error["ErrorMessage"] == "'count' must be less than 257"
    assert error["QueryParameter"] == {"name": "count", "Value": 500, "Minimum": -256, "Maximum": 256}


@pytest.mark.parametrize("version", LEGACY)
def test_json_legacy_error_is_error_with_code_and_value(version: str) -> None:
    response = respond(make_agent(version), "/sample", format="json", count="0")
    body = json.loads(response.body)["MTConnectError"]
    assert body["Errors"] == [
        {"Error": {"errorCode": "OUT_OF_RANGE", "value": "'count' must not be zero(0)"}}
    ]
    assert body["Header"]["bufferSize"] == 256
