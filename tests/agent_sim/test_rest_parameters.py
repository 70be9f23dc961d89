"""Query-parameter validation and error codes (reference section 1.2), with cppagent's exact messages."""

from __future__ import annotations

import pytest

from agent_sim.agent import Asset

from .helpers import STAMP, error, errors, fetch, make_agent, plan, put, respond

# -- checkRange ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "message"),
    [
        ("-500", "'count' must be greater than -257"),
        ("0", "'count' must not be zero(0)"),
        ("500", "'count' must be less than 257"),
        ("9999999", "'count' must be less than 257"),
        ("-9999999", "'count' must be greater than -257"),
    ],
)
def test_count_out_of_range_reports_the_check_range_message(count: str, message: str) -> None:
    agent = make_agent(exponent=8)
    assert error(respond(agent, "/sample", count=count)) == (400, "OUT_OF_RANGE", message)


@pytest.mark.parametrize("count", ["-256", "-1", "1", "256"])
def test_count_within_minus_and_plus_buffer_size_is_accepted(count: str) -> None:
    assert respond(make_agent(exponent=8), "/sample", count=count).status == 200


def test_count_defaults_to_100() -> None:
    agent = make_agent(exponent=10)
    for i in range(150):
        put(agent, "line", str(i))
    assert len(fetch(agent, "/sample").xpath("//Streams//*[@sequence]")) == 100
    assert plan(agent, "/sample", interval="0").count == 100


def test_at_beyond_last_sequence_is_out_of_range() -> None:
    agent = make_agent()
    nxt = agent.buffer.next_sequence
    assert error(respond(agent, "/current", at=str(nxt))) == (
        400,
        "OUT_OF_RANGE",
        f"'at' must be less than {nxt}",
    )
    assert respond(agent, "/current", at=str(nxt - 1)).status == 200


def test_at_before_first_sequence_is_out_of_range() -> None:
    agent = make_agent(exponent=4)
    for i in range(40):
        put(agent, "line", str(i))
    first = agent.buffer.first_sequence
    assert error(respond(agent, "/current", at=str(first - 1))) == (
        400,
        "OUT_OF_RANGE",
        f"'at' must be greater than {first - 1}",
    )
    assert respond(agent, "/current", at=str(first)).status == 200


def test_sample_from_beyond_next_sequence_is_out_of_range() -> None:
    agent = make_agent()
    nxt = agent.buffer.next_sequence
    assert error(respond(agent, "/sample", **{"from": str(nxt + 1)})) == (
        400,
        "OUT_OF_RANGE",
        f"'from' must be less than {nxt + 1}",
    )


def test_sample_from_before_first_sequence_is_out_of_range_not_clamped() -> None:
    agent = make_agent(exponent=4)
    for i in range(40):
        put(agent, "line", str(i))
    first = agent.buffer.first_sequence
    assert error(respond(agent, "/sample", **{"from": str(first - 1)})) == (
        400,
        "OUT_OF_RANGE",
        f"'from' must be greater than {first - 1}",
    )


def test_sample_to_must_be_above_from_and_at_most_next() -> None:
    agent = make_agent()
    nxt = agent.buffer.next_sequence
    assert error(respond(agent, "/sample", to="5", **{"from": "5"})) == (
        400,
        "OUT_OF_RANGE",
        "'to' must be greater than 5",
    )
    assert error(respond(agent, "/sample", to=str(nxt + 1))) == (
        400,
        "OUT_OF_RANGE",
        f"'to' must be less than {nxt + 1}",
    )


def test_sample_to_requires_a_positive_count() -> None:
    agent = make_agent()
    assert error(respond(agent, "/sample", to="5", count="-3")) == (
        400,
        "OUT_OF_RANGE",
        "'count' must be greater than 0",
    )


def test_range_checks_run_from_then_to_then_count() -> None:
    agent = make_agent()
    nxt = agent.buffer.next_sequence
    response = respond(agent, "/sample", count="0", to=str(nxt + 5), **{"from": str(nxt + 5)})
    assert error(response)[2].startswith("'from'")
    assert error(respond(agent, "/sample", count="0", to=str(nxt + 5)))[2].startswith("'to'")


@pytest.mark.parametrize(
    ("interval", "message"),
    [
        ("-123", "'interval' must be greater than -1"),
        ("2147483647", "'interval' must be less than 2147483647"),
        ("999999999999999999", "'interval' must be greater than -1"),  # wraps as int32 to -1486618625
    ],
)
def test_sample_interval_must_be_a_non_negative_int32(interval: str, message: str) -> None:
    assert error(respond(make_agent(), "/sample", interval=interval)) == (400, "OUT_OF_RANGE", message)


def test_sample_interval_zero_streams() -> None:
    assert plan(make_agent(), "/sample", interval="0").interval_ms == 0


def test_current_interval_must_be_at_least_one() -> None:
    agent = make_agent()
    assert error(respond(agent, "/current", interval="0")) == (
        400,
        "OUT_OF_RANGE",
        "'interval' must be greater than 0",
    )
    assert plan(agent, "/current", interval="1").interval_ms == 1


def test_heartbeat_must_be_at_least_two_ms_and_defaults_to_10000() -> None:
    agent = make_agent()
    assert error(respond(agent, "/sample", interval="10", heartbeat="1")) == (
        400,
        "OUT_OF_RANGE",
        "'heartbeat' must be greater than 1",
    )
    assert plan(agent, "/sample", interval="10", heartbeat="2").heartbeat_ms == 2
    assert plan(agent, "/sample", interval="10").heartbeat_ms == 10_000


def test_current_at_plays_no_part_in_a_current_stream() -> None:
    agent = make_agent()
    stream = plan(agent, "/current", interval="100", at=str(agent.buffer.next_sequence + 99))
    assert stream.kind == "current"


def test_streaming_sample_from_out_of_range_is_a_plain_error() -> None:
    agent = make_agent()
    nxt = agent.buffer.next_sequence
    response = respond(agent, "/sample", interval="100", count="10", **{"from": str(nxt + 5)})
    assert error(response)[:2] == (400, "OUT_OF_RANGE")


# -- typed parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "name", "kind"),
    [
        ("/sample", "count", "integer"),
        ("/sample", "interval", "integer"),
        ("/sample", "heartbeat", "integer"),
        ("/sample", "from", "unsigned integer"),
        ("/sample", "to", "unsigned integer"),
        ("/current", "at", "unsigned integer"),
        ("/current", "interval", "integer"),
        ("/assets", "count", "integer"),
    ],
)
def test_non_integer_count_is_invalid_parameter_value(route: str, name: str, kind: str) -> None:
    response = respond(make_agent(), route, **{name: "NON_INTEGER"})
    assert error(response) == (
        400,
        "INVALID_PARAMETER_VALUE",
        f"query parameter '{name}': cannot convert string 'NON_INTEGER' to {kind}",
    )


def test_empty_integer_parameter_is_invalid_parameter_value() -> None:
    assert error(respond(make_agent(), "/sample", count=""))[:2] == (400, "INVALID_PARAMETER_VALUE")


def test_integer_parameter_reads_leading_digits_like_strtoll() -> None:
    agent = make_agent()
    root = fetch(agent, "/sample", count=" 3abc")
    assert len(root.xpath("//Streams//*[@sequence]")) == 3


def test_parameters_of_other_routes_are_ignored() -> None:
    assert respond(make_agent(), "/current", count="NON_INTEGER", heartbeat="x").status == 200


def test_parameter_conversion_fails_before_device_and_path_checks() -> None:
    response = respond(make_agent(), "/Nope/sample", path="//Nothing", count="x")
    assert error(response)[:2] == (400, "INVALID_PARAMETER_VALUE")


def test_parameters_are_converted_in_name_order() -> None:
    response = respond(make_agent(), "/sample", to="y", count="x", interval="z")
    assert "'count'" in error(response)[2]


# -- paths, devices, assets ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["//////Linear", "//Axes?//Linear"])
def test_unparsable_path_is_invalid_xpath(path: str) -> None:
    assert error(respond(make_agent(), "/current", path=path)) == (
        400,
        "INVALID_XPATH",
        f"The path could not be parsed. Invalid syntax: {path}",
    )


def test_path_selecting_no_data_item_is_invalid_xpath() -> None:
    path = '//Devices/Device[@name="I_DON\'T_EXIST"]'
    assert error(respond(make_agent(), "/sample", path=path)) == (
        400,
        "INVALID_XPATH",
        f"The path could not be parsed. Invalid syntax: {path}",
    )


def test_path_selects_the_data_items_below_the_matched_elements() -> None:
    root = fetch(make_agent(), "/current", path="//Controller")
    assert {el.get("dataItemId") for el in root.xpath("//Streams//*[@dataItemId]")} == {
        "sys",
        "estop",
        "exec",
        "line",
        "msg",
        "pc",
        "vars",
    }


@pytest.mark.parametrize("target", ["/Lathe/probe", "/Lathe/current", "/Lathe/sample"])
def test_unknown_device_is_no_device_404(target: str) -> None:
    assert error(respond(make_agent(), target)) == (404, "NO_DEVICE", "Could not find the device 'Lathe'")


def test_device_may_be_named_by_name_or_uuid() -> None:
    agent = make_agent()
    assert fetch(agent, "/Mill/current").xpath("//DeviceStream/@uuid") == ["mill-1"]
    assert fetch(agent, "/mill-1/current").xpath("//DeviceStream/@uuid") == ["mill-1"]


def test_unknown_asset_id_is_asset_not_found_404_one_error_per_id() -> None:
    response = respond(make_agent(), "/assets/T1;T2")
    assert response.status == 404
    assert errors(response) == [
        ("ASSET_NOT_FOUND", "Cannot find asset: T1"),
        ("ASSET_NOT_FOUND", "Cannot find asset: T2"),
    ]


def test_asset_ids_answer_the_known_ones_when_some_are_found() -> None:
    agent = make_agent()
    agent.add_asset(Asset("T1", "CuttingTool", "mill-1", STAMP, '<CuttingTool assetId="T1"/>'))
    root = fetch(agent, "/asset/T1;T2")
    assert root.xpath("//Assets/CuttingTool/@assetId") == ["T1"]


def test_v1_3_codes_too_many_query_error_unsupported_are_never_raised() -> None:
    agent = make_agent()
    assert error(respond(agent, "/sample", count="100000"))[1] == "OUT_OF_RANGE"  # not TOO_MANY
    assert error(respond(agent, "/sample", count=""))[1] == "INVALID_PARAMETER_VALUE"  # not QUERY_ERROR
    assert error(respond(agent, "/unknown/path"))[1] == "INVALID_URI"  # not UNSUPPORTED
