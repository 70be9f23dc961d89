"""The agent over real HTTP on loopback (reference section 1.1): status codes, headers, methods, decoding."""

from __future__ import annotations

import json

import pytest

from agent_sim.rest import READ_ONLY_MESSAGE

from .helpers import HttpResponse, doc, http, make_agent, one, put, run, serving


def get_all(*requests: tuple[str, str, dict[str, str]], version: str = "2.7") -> list[HttpResponse]:
    """Send ``(method, target, headers)`` requests, in turn, to one served agent."""

    async def body() -> list[HttpResponse]:
        agent = make_agent(version)
        put(agent, "Xact", "1.5")
        async with serving(agent) as server:
            return [await http(server.port, target, method, headers) for method, target, headers in requests]

    return run(body)


def get(target: str, method: str = "GET", version: str = "2.7", **headers: str) -> HttpResponse:
    (response,) = get_all((method, target, headers), version=version)
    return response


@pytest.mark.parametrize(
    "target", ["/probe", "/current", "/sample", "/assets", "/bad_path", "/sample?count=0"]
)
def test_every_response_has_server_date_expires_and_cache_control(target: str) -> None:
    headers = get(target).headers
    assert headers["server"] == "MTConnectAgent"
    assert headers["date"].endswith(" GMT")
    assert headers["expires"] == "-1"
    assert headers["cache-control"] == "no-store, max-age=0"


def test_xml_is_served_as_application_xml_with_its_length() -> None:
    response = get("/current")
    assert response.status == 200
    assert response.headers["content-type"] == "application/xml"
    assert int(response.headers["content-length"]) == len(response.body)
    assert doc(response.text).tag == "MTConnectStreams"


def test_json_is_served_as_application_mtconnect_json() -> None:
    by_accept, by_format = get_all(
        ("GET", "/current", {"Accept": "application/json"}), ("GET", "/current?format=json", {})
    )
    for response in (by_accept, by_format):
        assert response.headers["content-type"] == "application/mtconnect+json"
        assert "MTConnectStreams" in json.loads(response.body)


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("/bad_path", 404, "INVALID_URI"),
        ("/Lathe/probe", 404, "NO_DEVICE"),
        ("/assets/T9", 404, "ASSET_NOT_FOUND"),
        ("/sample?count=0", 400, "OUT_OF_RANGE"),
        ("/sample?count=NON_INTEGER", 400, "INVALID_PARAMETER_VALUE"),
        ("/current?path=//Axes?//Linear", 400, "INVALID_XPATH"),
    ],
)
def test_error_documents_come_with_their_http_status(target: str, status: int, code: str) -> None:
    response = get(target)
    assert response.status == status
    assert doc(response.text).xpath("//Errors/*/@errorCode") == [code]


def test_invalid_uri_names_the_client_address() -> None:
    message = one(doc(get("/bad_path").text), "//InvalidURI/ErrorMessage").text
    assert message == "127.0.0.1: Cannot find handler for: GET /bad_path"


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE"])
def test_put_post_and_delete_are_refused_with_400_and_the_read_only_message(method: str) -> None:
    response = get("/Mill?line=5", method=method)
    assert response.status == 400
    error = one(doc(response.text), "//Errors/InternalError")
    assert (error.get("errorCode"), error.findtext("ErrorMessage")) == ("INTERNAL_ERROR", READ_ONLY_MESSAGE)


def test_head_is_refused_like_any_method_but_get_and_sends_no_body() -> None:
    response = get("/probe", method="HEAD")
    assert response.status == 400
    assert response.body == b""
    assert int(response.headers["content-length"]) > 0


def test_options_answers_204_with_allow() -> None:
    response = get("/current", method="OPTIONS")
    assert response.status == 204
    assert response.headers["allow"] == "GET, OPTIONS"


def test_query_and_path_are_url_decoded() -> None:
    response = get("/Mill/sample?path=%2F%2FDataItem%5B%40name%3D%27Xact%27%5D&count=5")
    assert response.status == 200, response.text
    assert [el.text for el in doc(response.text).xpath("//Position")] == ["UNAVAILABLE", "1.5"]


def test_typed_error_uri_holds_the_decoded_query() -> None:
    response = get("/current?path=%2F%2F%2F%2F%2F%2FLinear")
    assert one(doc(response.text), "//InvalidXPath/URI").text == "/current?path=//////Linear"


def test_legacy_error_document_over_http_below_2_6() -> None:
    response = get("/sample?count=500", version="1.3")
    assert response.status == 400
    error = one(doc(response.text), "//Errors/Error")
    assert (error.get("errorCode"), error.text) == ("OUT_OF_RANGE", "'count' must be less than 257")
