"""mes_core's MTConnect parser against real agents' documents, this repo's agent, and hostile input."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from agent_sim.agent import Agent, Request, Response
from agent_sim.buffer import ConditionState, DataSetState
from mes_core.ingest.mtconnect_xml import (
    AgentErrorDocument,
    ProbeDocument,
    StreamObservation,
    StreamsDocument,
    Unparsable,
    parse_document,
    parse_probe,
    parse_streams,
)
from tests.mes_core.shared import shared_dir

NOW = 1_700_000_000.0
VERSIONS = ("1.3", "1.7", "2.7")


def epoch(year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC).timestamp()


def responses() -> Path:
    return shared_dir() / "mtconnect" / "responses"


def streams(body: bytes) -> StreamsDocument:
    result = parse_streams(body)
    assert isinstance(result, StreamsDocument), result
    return result


def probe(body: bytes) -> ProbeDocument:
    result = parse_probe(body)
    assert isinstance(result, ProbeDocument), result
    return result


def unparsable(result: object) -> str:
    assert isinstance(result, Unparsable), result
    return result.reason


def error_doc(result: object) -> AgentErrorDocument:
    assert isinstance(result, AgentErrorDocument), result
    return result


# -- real agents' responses ----------------------------------------------------------------------------


def test_mazak_probe_lists_the_agent_and_the_machine_with_every_data_item() -> None:
    body = (responses() / "mazak-smoothg_probe_agent-1.7.xml").read_bytes()
    doc = probe(body)
    assert doc.schema_version == "1.7"
    assert doc.header.instance_id == 1622761005
    assert doc.header.buffer_size == 4096
    assert doc.header.version == "1.7.0.3"
    assert doc.header.next_sequence is None
    agent, mill = doc.devices
    assert (agent.name, agent.is_agent) == ("Agent", True)
    assert (mill.name, mill.uuid, mill.id, mill.is_agent) == ("M12346", "M80104K162N", "d1", False)
    assert mill.manufacturer == "Mazak_Corporation"
    assert (len(agent.data_items), len(mill.data_items)) == (11, 107)
    assert len(agent.data_items) + len(mill.data_items) == body.count(b"<DataItem ")
    items = {item.id: item for device in doc.devices for item in device.data_items}
    servo = items["servo_cond"]
    assert (servo.category, servo.type, servo.component_type, servo.component_name) == (
        "CONDITION",
        "ACTUATOR",
        "Axes",
        "base",
    )
    assert (servo.device_name, servo.device_uuid) == ("M12346", "M80104K162N")
    assert items["_414ef97208_connection_status"].component_type == "Adapter"
    assert {"Linear", "Rotary", "Path", "Controller", "Door", "Device"} <= {
        item.component_type for item in mill.data_items
    }


def test_mazak_current_has_fault_and_warning_conditions_with_native_codes() -> None:
    body = (responses() / "mazak-smoothg_current_agent-1.7.xml").read_bytes()
    doc = streams(body)
    assert doc.schema_version == "1.7"
    header = doc.header
    assert (header.instance_id, header.first_sequence, header.last_sequence, header.next_sequence) == (
        1622761005,
        1877447,
        1881542,
        1881543,
    )
    assert header.creation_time == "2021-06-29T05:38:11Z"
    assert len(doc.observations) == body.count(b"dataItemId=") == 121
    assert Counter(o.category for o in doc.observations) == {"EVENT": 59, "SAMPLE": 39, "CONDITION": 23}
    assert Counter(o.level for o in doc.observations if o.level) == {
        "NORMAL": 16,
        "WARNING": 3,
        "UNAVAILABLE": 3,
        "FAULT": 1,
    }
    active = {o.native_code: o for o in doc.observations if o.level in ("WARNING", "FAULT")}
    assert set(active) == {"230", "307", "333", "351"}
    fault = active["230"]
    assert (fault.level, fault.element, fault.value, fault.native_severity) == (
        "FAULT",
        "Fault",
        "ILLEGAL MMS UNIT",
        "90",
    )
    assert (fault.data_item_id, fault.condition_type, fault.component_type) == (
        "logic_cond",
        "LOGIC_PROGRAM",
        "Controller",
    )
    assert fault.timestamp == pytest.approx(epoch(2021, 6, 29, 3, 52, 28, 709684), abs=1e-6)
    assert active["307"].value == "COVER COOLANT OFF --> ON"  # entities decoded
    sequences = [o.sequence for o in doc.observations]
    assert sequences == sorted(sequences)
    # /current shows each item's latest observation, which may have fallen out of the buffer (e.g. 118)
    assert sequences[0] < 1877447 <= sequences[-1] <= 1881542


def test_mazak_current_data_set_keeps_its_entries() -> None:
    doc = streams((responses() / "mazak-smoothg_current_agent-1.7.xml").read_bytes())
    (cvars,) = [o for o in doc.observations if o.data_item_id == "cvars"]
    assert cvars.element == "VariableDataSet"
    assert cvars.value is not None
    assert cvars.value.startswith("100=54.1 101=112 104=20 105=2220 ")
    assert len(cvars.value.split()) == 259


def test_nist_sample_sequences_ascend_and_timestamps_are_utc_epochs() -> None:
    body = (responses() / "nist-smstestbed_sample_agent-1.3_small.xml").read_bytes()
    doc = streams(body)
    assert doc.schema_version == "1.3"
    assert len(doc.observations) == body.count(b"dataItemId=") == 26
    sequences = [o.sequence for o in doc.observations]
    assert sequences == sorted(set(sequences))
    assert sequences[-1] == doc.header.last_sequence == 1371312
    assert {o.timestamp for o in doc.observations} == {epoch(2016, 5, 7, 5, 0, 0)}
    assert all(o.device_name == "GFAgie01" and o.device_uuid == "mtc_adapter001" for o in doc.observations)
    motion = doc.observations[-1]  # an extension element <x:Motion> in NIST's namespace
    assert (motion.element, motion.category, motion.name, motion.value) == ("Motion", "EVENT", "move", None)
    system = next(o for o in doc.observations if o.data_item_id == "GFAgie01-dtop_3")
    assert (system.level, system.condition_type, system.value) == ("UNAVAILABLE", "SYSTEM", None)
    angle = next(o for o in doc.observations if o.name == "Aposition")
    assert (angle.component_type, angle.component_name, angle.sub_type, angle.category) == (
        "Rotary",
        "A",
        "ACTUAL",
        "SAMPLE",
    )


DEVICE_FILES = (
    "cppagent-demo_mazak-vrx-c600_1.7.xml",
    "cppagent-demo_okuma-mazak_2.7.xml",
    "cppagent-simulator_vmc-3axis.xml",
    "cppagent-test_haas_1.1.xml",
    "dmg-mori-mapps_nhc5000_2.x.xml",
    "haas-vf2-rs232-adapter_1.3.xml",
    "nist-smstestbed_8-machines_1.3.xml",
)


def test_the_listed_device_files_are_all_there_are() -> None:
    found = {path.name for path in (shared_dir() / "mtconnect" / "devices").glob("*.xml")}
    assert found == set(DEVICE_FILES)


@pytest.mark.parametrize("name", DEVICE_FILES)
def test_every_device_file_parses_as_a_probe(name: str) -> None:
    body = (shared_dir() / "mtconnect" / "devices" / name).read_bytes()
    doc = parse_document(body)
    assert isinstance(doc, ProbeDocument), doc
    assert doc.devices
    items = [item for device in doc.devices for item in device.data_items]
    assert len(items) == len(re.findall(rb"<DataItem\s", body))
    assert all(item.category in ("SAMPLE", "EVENT", "CONDITION") for item in items)
    version = re.search(rb"MTConnectDevices:(\d\.\d)", body)
    assert version is not None
    assert doc.schema_version == version.group(1).decode()


def test_the_haas_probe_fragment_is_unparsable() -> None:
    body = (shared_dir() / "mtconnect" / "devices" / "haas-ngc-probe-fragment.xml.txt").read_bytes()
    assert "not well-formed" in unparsable(parse_probe(body))


# -- this repo's agent, round trip ------------------------------------------------------------------

TINY = b"""<?xml version="1.0" encoding="UTF-8"?>
<MTConnectDevices xmlns="urn:mtconnect.org:MTConnectDevices:2.7">
  <Devices>
    <Device id="d" name="Mill" uuid="mill-1">
      <Description manufacturer="Haas" model="VF-2"/>
      <DataItems><DataItem category="EVENT" id="avail" type="AVAILABILITY"/></DataItems>
      <Components>
        <Controller id="ct" name="ctl">
          <DataItems><DataItem category="CONDITION" id="sys" type="SYSTEM"/></DataItems>
          <Components>
            <Path id="p" name="path1">
              <DataItems>
                <DataItem category="EVENT" id="exec" type="EXECUTION"/>
                <DataItem category="EVENT" id="prog" name="program" type="PROGRAM" subType="MAIN"/>
                <DataItem category="EVENT" id="pc" type="PART_COUNT">
                  <ResetTrigger>DAY</ResetTrigger>
                </DataItem>
                <DataItem category="EVENT" id="vars" type="VARIABLE" representation="DATA_SET"/>
                <DataItem category="SAMPLE" id="load" type="LOAD" units="PERCENT"/>
              </DataItems>
            </Path>
          </Components>
        </Controller>
      </Components>
    </Device>
  </Devices>
</MTConnectDevices>
"""
STAMP = "2023-11-14T22:13:21.123456Z"


def agent(version: str, devices: bytes = TINY) -> Agent:
    return Agent(devices, schema_version=version, sender="test", clock=lambda: NOW)


def get(target: Agent, path: str, /, **query: str) -> Response:
    result = target.handle(Request("GET", path, query))
    assert isinstance(result, Response), result
    return result


def body(target: Agent, path: str, /, **query: str) -> bytes:
    return get(target, path, **query).body.encode("utf-8")


def fill(target: Agent) -> None:
    items = target.model.items
    target.add(items["avail"], "AVAILABLE", STAMP)
    target.add(items["exec"], "ACTIVE", STAMP)
    target.add(items["prog"], "O1234 <main> & co", STAMP)
    target.add(items["pc"], "0", "2023-11-14T22:13:22Z", reset_triggered="DAY")
    target.add(items["load"], "42.5", STAMP)
    target.add(items["sys"], ConditionState("FAULT", "E-101", "9", "HIGH", "Spindle overload"), STAMP)
    target.add(items["sys"], ConditionState("WARNING", "W-7", "2", None, "Low coolant"), STAMP)
    target.add(items["vars"], DataSetState((("a", "1"), ("b", "two words"))), STAMP)
    target.add(items["vars"], DataSetState((("a", None),)), STAMP)


@pytest.mark.parametrize("version", VERSIONS)
def test_agent_probe_round_trips(version: str) -> None:
    target = agent(version)
    doc = probe(body(target, "/probe"))
    assert doc.schema_version == version
    assert doc.header.instance_id == target.instance_id
    assert doc.header.buffer_size == target.buffer.size
    assert [d.is_agent for d in doc.devices] == ([False] if version == "1.3" else [True, False])
    mill = doc.devices[-1]
    assert (mill.name, mill.uuid, mill.id, mill.manufacturer, mill.model) == (
        "Mill",
        "mill-1",
        "d",
        "Haas",
        "VF-2",
    )
    items = {item.id: item for item in mill.data_items}
    assert {"avail", "sys", "exec", "prog", "pc", "vars", "load"} <= set(items)  # + the agent's asset items
    assert items["pc"].reset_triggers == ("DAY",)
    assert (items["prog"].name, items["prog"].sub_type, items["prog"].component_type) == (
        "program",
        "MAIN",
        "Path",
    )
    assert (items["load"].units, items["vars"].representation) == ("PERCENT", "DATA_SET")
    assert (items["sys"].component_type, items["sys"].component_name, items["sys"].component_id) == (
        "Controller",
        "ctl",
        "ct",
    )
    assert items["avail"].component_type == "Device"
    all_ids = {item.id for device in doc.devices for item in device.data_items}
    assert all_ids == set(target.model.items)


@pytest.mark.parametrize("version", VERSIONS)
def test_agent_sample_round_trips_values_sequences_levels_and_header(version: str) -> None:
    target = agent(version)
    fill(target)
    doc = streams(body(target, "/sample", count="1000"))
    assert doc.schema_version == version
    buffer = target.buffer
    assert doc.header.instance_id == target.instance_id
    assert doc.header.next_sequence == buffer.next_sequence
    assert doc.header.first_sequence == buffer.first_sequence
    assert doc.header.last_sequence == buffer.next_sequence - 1
    assert doc.header.version == "2.7.0.9"
    sequences = [o.sequence for o in doc.observations]
    assert sequences == list(range(buffer.first_sequence, buffer.next_sequence))

    mill = [o for o in doc.observations if o.device_uuid == "mill-1"]
    last = {o.data_item_id: o for o in mill}
    assert last["exec"].value == "ACTIVE"
    assert (last["exec"].component_type, last["exec"].component_name) == ("Path", "path1")
    assert last["exec"].timestamp == pytest.approx(epoch(2023, 11, 14, 22, 13, 21, 123456), abs=1e-6)
    assert (last["prog"].value, last["prog"].name, last["prog"].sub_type) == (
        "O1234 <main> & co",
        "program",
        "MAIN",
    )
    assert (last["pc"].value, last["pc"].reset_triggered) == ("0", "DAY")
    assert (last["load"].value, last["load"].category, last["load"].element) == ("42.5", "SAMPLE", "Load")
    assert [o.value for o in mill if o.data_item_id == "vars"] == [None, "a=1 b={two words}", "a="]
    unavailable = next(o for o in mill if o.data_item_id == "exec")
    assert unavailable.value is None

    conditions = [o for o in mill if o.data_item_id == "sys"]
    assert [(o.level, o.native_code, o.native_severity, o.qualifier, o.value) for o in conditions] == [
        ("UNAVAILABLE", None, None, None, None),
        ("FAULT", "E-101", "9", "HIGH", "Spindle overload"),
        ("WARNING", "W-7", "2", None, "Low coolant"),
    ]
    assert {o.condition_type for o in conditions} == {"SYSTEM"}
    assert all(o.level is None and o.condition_type is None for o in mill if o.category != "CONDITION")


@pytest.mark.parametrize("version", VERSIONS)
def test_agent_current_round_trips_and_keeps_every_active_condition(version: str) -> None:
    target = agent(version)
    fill(target)
    doc = streams(body(target, "/current"))
    mill = [o for o in doc.observations if o.device_uuid == "mill-1"]
    active = {o.native_code: o.level for o in mill if o.data_item_id == "sys"}
    assert active == {"E-101": "FAULT", "W-7": "WARNING"}
    assert {o.data_item_id for o in mill} == set(target.model.items) - {
        i for i, item in target.model.items.items() if item.device_id != "d"
    }
    assert doc.header.next_sequence == target.buffer.next_sequence


@pytest.mark.parametrize("version", VERSIONS)
def test_agent_devices_from_a_real_device_file_round_trip(version: str) -> None:
    devices = (shared_dir() / "mtconnect" / "devices" / "cppagent-demo_mazak-vrx-c600_1.7.xml").read_bytes()
    target = agent(version, devices)
    items = target.model.items
    target.add(items["execution"], "ACTIVE", STAMP)
    target.add(items["PartCountAct"], "17", STAMP)
    target.add(items["logic_cond"], ConditionState("FAULT", "230", "90", None, "ILLEGAL MMS UNIT"), STAMP)
    doc = probe(body(target, "/probe"))
    assert {item.id for device in doc.devices for item in device.data_items} == set(items)
    sample = streams(body(target, "/sample", count="1000"))
    assert len(sample.observations) == target.buffer.next_sequence - target.buffer.first_sequence
    current = streams(body(target, "/current"))
    by_id = {o.data_item_id: o for o in current.observations}
    assert by_id["execution"].value == "ACTIVE"
    assert by_id["PartCountAct"].value == "17"
    assert (by_id["logic_cond"].level, by_id["logic_cond"].native_code) == ("FAULT", "230")


# -- errors --------------------------------------------------------------------------------------------

ERROR_REQUESTS = [
    ("/sample", {"count": "0"}, "OUT_OF_RANGE", "'count' must not be zero(0)"),
    ("/nodev/sample", {}, "NO_DEVICE", "Could not find the device 'nodev'"),
    ("/current", {"path": "//bad["}, "INVALID_XPATH", "The path could not be parsed. Invalid syntax: //bad["),
    ("/sample", {"count": "abc"}, "INVALID_PARAMETER_VALUE", "query parameter 'count'"),
    ("/bad/path/x", {}, "INVALID_URI", "Cannot find handler"),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("path", "query", "code", "message"), ERROR_REQUESTS)
def test_agent_errors_parse_with_their_codes(
    version: str, path: str, query: dict[str, str], code: str, message: str
) -> None:
    target = agent(version)
    raw = get(target, path, **query).body.encode()
    assert (b"<Error " in raw) == (version != "2.7")  # legacy below 2.6, typed from 2.6
    for result in (parse_streams(raw), parse_probe(raw), parse_document(raw)):
        doc = error_doc(result)
        assert doc.has(code)
        ((found_code, found_message),) = doc.errors
        assert found_code == code
        assert message in found_message


def test_an_old_agents_error_served_with_200_parses_as_an_error() -> None:
    # cppagent 1.3 answered most errors with HTTP 200 and text/xml; the body is all the client can go by
    raw = b"""<?xml version="1.0" encoding="UTF-8"?>
<MTConnectError xmlns:m="urn:mtconnect.org:MTConnectError:1.2" xmlns="urn:mtconnect.org:MTConnectError:1.2">
  <Header creationTime="2023-01-05T10:00:00Z" sender="HAASSTORM" instanceId="1656563227" version="1.2.0.0.22"
          bufferSize="333"/>
  <Errors>
    <Error errorCode="UNSUPPORTED">The following path is invalid: /Machine/assets?count=1048576</Error>
  </Errors>
</MTConnectError>"""
    doc = error_doc(parse_streams(raw))
    assert doc.errors == (("UNSUPPORTED", "The following path is invalid: /Machine/assets?count=1048576"),)
    assert doc.has("UNSUPPORTED")
    assert not doc.has("OUT_OF_RANGE")


def test_typed_errors_without_an_error_code_take_it_from_the_element_name() -> None:
    raw = b"""<MTConnectError xmlns="urn:mtconnect.org:MTConnectError:2.7"><Header instanceId="1"/><Errors>
<OutOfRange><ErrorMessage>'from' must be greater than 9</ErrorMessage></OutOfRange>
<InvalidXPath><URI>/current?path=x</URI><ErrorMessage>bad path</ErrorMessage></InvalidXPath>
<InvalidURI><ErrorMessage>no handler</ErrorMessage></InvalidURI>
<BrandNewProblem><ErrorMessage>new</ErrorMessage></BrandNewProblem>
</Errors></MTConnectError>"""
    doc = error_doc(parse_document(raw))
    assert doc.errors == (
        ("OUT_OF_RANGE", "'from' must be greater than 9"),
        ("INVALID_XPATH", "bad path"),
        ("INVALID_URI", "no handler"),
        ("BRAND_NEW_PROBLEM", "new"),
    )


# -- namespaces, timestamps, heartbeats ------------------------------------------------------------------

STREAMS_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<{p}MTConnectStreams {ns} xmlns:x="urn:example.com:Ext:1.0">
  <{p}Header creationTime="2024-01-01T00:00:00Z" sender="s" instanceId="7" version="1.4.0.12" bufferSize="16"
     nextSequence="4" firstSequence="1" lastSequence="3"/>
  <{p}Streams>
    <{p}DeviceStream name="Lathe" uuid="l-1">
      <{p}ComponentStream component="Path" name="path" componentId="p1">
        <{p}Events>
          <{p}Execution dataItemId="exec" sequence="3" timestamp="2024-01-01T00:00:01.5">READY</{p}Execution>
          <x:Custom dataItemId="cust" sequence="2" timestamp="2024-01-01T01:00:01.25+01:00">yes</x:Custom>
        </{p}Events>
        <{p}Condition>
          <{p}Warning dataItemId="cond" sequence="1" type="SYSTEM" nativeCode="7"
            timestamp="2024-01-01T00:00:01.123456789Z">hot</{p}Warning>
        </{p}Condition>
      </{p}ComponentStream>
    </{p}DeviceStream>
  </{p}Streams>
</{p}MTConnectStreams>"""


@pytest.mark.parametrize(
    ("prefix", "declaration", "version"),
    [
        ("", 'xmlns="urn:mtconnect.org:MTConnectStreams:1.4"', "1.4"),
        ("m:", 'xmlns:m="urn:mtconnect.org:MTConnectStreams:2.5"', "2.5"),
        ("", "", None),
    ],
)
def test_streams_are_namespace_agnostic(prefix: str, declaration: str, version: str | None) -> None:
    raw = STREAMS_TEMPLATE.format(p=prefix, ns=declaration).encode()
    doc = streams(raw)
    assert doc.schema_version == version
    assert [(o.sequence, o.element, o.category, o.value) for o in doc.observations] == [
        (1, "Warning", "CONDITION", "hot"),
        (2, "Custom", "EVENT", "yes"),
        (3, "Execution", "EVENT", "READY"),
    ]
    warning, custom, execution = doc.observations
    assert (warning.level, warning.native_code, warning.condition_type) == ("WARNING", "7", "SYSTEM")
    base = epoch(2024, 1, 1, 0, 0, 1)
    assert execution.timestamp == pytest.approx(base + 0.5, abs=1e-9)  # no zone: UTC
    assert custom.timestamp == pytest.approx(base + 0.25, abs=1e-9)  # +01:00 converted to UTC
    assert warning.timestamp == pytest.approx(base + 0.123456, abs=1e-7)  # nanoseconds cut at the microsecond
    assert (execution.device_name, execution.device_uuid, execution.component_name) == (
        "Lathe",
        "l-1",
        "path",
    )


def test_an_empty_streams_heartbeat_has_a_header_and_no_observations() -> None:
    raw = b"""<MTConnectStreams xmlns="urn:mtconnect.org:MTConnectStreams:2.7"><Header instanceId="5"
      nextSequence="40" firstSequence="1" lastSequence="39" bufferSize="64"/><Streams/></MTConnectStreams>"""
    doc = streams(raw)
    assert doc.observations == ()
    assert (doc.header.instance_id, doc.header.next_sequence, doc.header.buffer_size) == (5, 40, 64)


def test_observation_is_frozen() -> None:
    doc = streams(STREAMS_TEMPLATE.format(p="", ns="").encode())
    observation: StreamObservation = doc.observations[0]
    with pytest.raises(AttributeError):
        observation.value = "changed"  # type: ignore[misc]


# -- broken and hostile input -------------------------------------------------------------------------


def test_truncated_xml_is_unparsable() -> None:
    raw = (responses() / "mazak-smoothg_current_agent-1.7.xml").read_bytes()
    assert "not well-formed" in unparsable(parse_streams(raw[: len(raw) // 2]))


@pytest.mark.parametrize(
    "page",
    [
        b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><hr><center>nginx",
        b"\r\n<html><body><h1>404 Not Found</h1></body></html>",
        b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
    ],
)
def test_an_html_page_is_unparsable(page: bytes) -> None:
    assert "HTML" in unparsable(parse_streams(page))
    assert "HTML" in unparsable(parse_document(page))


@pytest.mark.parametrize("raw", [b"", b"  \r\n\t"])
def test_an_empty_body_is_unparsable(raw: bytes) -> None:
    assert unparsable(parse_streams(raw)) == "empty body"
    assert unparsable(parse_probe(raw)) == "empty body"


def test_a_devices_document_is_not_a_streams_document_and_back() -> None:
    devices = (responses() / "mazak-smoothg_probe_agent-1.7.xml").read_bytes()
    current = (responses() / "mazak-smoothg_current_agent-1.7.xml").read_bytes()
    assert (
        unparsable(parse_streams(devices)) == "expected an MTConnectStreams document, got <MTConnectDevices>"
    )
    assert unparsable(parse_probe(current)) == "expected an MTConnectDevices document, got <MTConnectStreams>"


def test_an_assets_document_is_not_parsed() -> None:
    raw = b'<MTConnectAssets xmlns="urn:mtconnect.org:MTConnectAssets:2.7"><Header instanceId="1"/>'
    raw += b"</MTConnectAssets>"
    assert "MTConnectAssets" in unparsable(parse_document(raw))


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (' nextSequence="4"', "", "Header has no nextSequence"),
        (' instanceId="7"', "", "Header has no instanceId"),
        ('instanceId="7"', 'instanceId="seven"', "instanceId='seven' is not an integer"),
        (' sequence="3"', "", "observation exec has no integer sequence"),
        ('timestamp="2024-01-01T00:00:01.5"', 'timestamp="yesterday"', "observation exec (sequence 3)"),
        (' dataItemId="exec"', "", "observation <Execution> on line"),
    ],
)
def test_missing_or_bad_fields_make_a_streams_document_unparsable(old: str, new: str, reason: str) -> None:
    raw = STREAMS_TEMPLATE.format(p="", ns="")
    assert old in raw
    assert reason in unparsable(parse_streams(raw.replace(old, new, 1).encode()))


def test_a_streams_document_without_streams_or_header_is_unparsable() -> None:
    assert "no Header" in unparsable(parse_streams(b"<MTConnectStreams><Streams/></MTConnectStreams>"))
    raw = b'<MTConnectStreams><Header instanceId="1" nextSequence="1" firstSequence="1" lastSequence="0"/>'
    assert "no Streams" in unparsable(parse_streams(raw + b"</MTConnectStreams>"))


def test_a_data_item_without_an_id_makes_a_probe_unparsable() -> None:
    raw = TINY.replace(
        b'<DataItem category="EVENT" id="exec" type="EXECUTION"/>', b'<DataItem type="EXECUTION"/>'
    )
    raw = raw.replace(b"<Devices>", b'<Header instanceId="1"/><Devices>')
    assert "has no id, category" in unparsable(parse_probe(raw))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE MTConnectStreams [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<MTConnectStreams><Header instanceId="1" nextSequence="2" firstSequence="1" lastSequence="1"/><Streams>
<DeviceStream name="m" uuid="m"><ComponentStream component="Path"><Events>
<Program dataItemId="p" sequence="1" timestamp="2024-01-01T00:00:00Z">&lol9;</Program>
</Events></ComponentStream></DeviceStream></Streams></MTConnectStreams>"""


def test_a_billion_laughs_document_does_not_expand() -> None:
    started = time.perf_counter()
    for parse in (parse_streams, parse_document):
        reason = unparsable(parse(BILLION_LAUGHS))
        assert "DOCTYPE" in reason or "entity amplification" in reason, reason  # libxml2 may refuse first
    assert time.perf_counter() - started < 1.0


def test_a_small_entity_document_is_refused_rather_than_half_read() -> None:
    raw = BILLION_LAUGHS.replace(b"&lol9;", b"&lol1;")
    assert "DOCTYPE" in unparsable(parse_streams(raw))


def test_an_external_entity_is_never_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    raw = (
        f'<?xml version="1.0"?><!DOCTYPE MTConnectError [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
        '<MTConnectError><Errors><Error errorCode="INTERNAL_ERROR">&x;</Error></Errors></MTConnectError>'
    ).encode()
    result = parse_document(raw)
    assert "DOCTYPE" in unparsable(result)
    assert "TOP-SECRET" not in repr(result)


# -- the light observation and its fast walk ------------------------------------------------------------

_REFERENCE_CATEGORIES = {"Samples": "SAMPLE", "Events": "EVENT", "Condition": "CONDITION"}
_REFERENCE_LEVELS = {"Normal": "NORMAL", "Warning": "WARNING", "Fault": "FAULT", "Unavailable": "UNAVAILABLE"}


def _reference_entries(element: etree._Element) -> str:
    words = []
    for entry in element:
        key = entry.get("key") or ""
        if entry.get("removed") == "true":
            words.append(f"{key}=")
        elif len(entry):
            words.append(f"{key}={{{_reference_entries(entry)}}}")
        else:
            text = entry.text or ""
            plain = text and not any(c.isspace() or c in "{}'\"=" for c in text)
            words.append(f"{key}={text if plain else '{' + text + '}'}")
    return " ".join(words)


def reference_observations(body: bytes) -> list[tuple[object, ...]]:
    """The observations of a streams document read the slow, obvious way: Device, Component, category and
    observation elements by structure, every attribute through a dict, timestamps through datetime."""
    found: list[tuple[object, ...]] = []
    root = etree.fromstring(body)
    for device in root.iter("{*}DeviceStream"):
        for component in device.iter("{*}ComponentStream"):
            for group in component:
                category = _REFERENCE_CATEGORIES.get(etree.QName(group).localname)
                if category is None:
                    continue
                for element in group:
                    local = etree.QName(element).localname
                    attrs = dict(element.attrib)
                    moment = datetime.fromisoformat(attrs["timestamp"])
                    if moment.tzinfo is None:
                        moment = moment.replace(tzinfo=UTC)
                    text = element.text
                    if category == "CONDITION":
                        value = text or None
                        condition: tuple[object, ...] = (
                            _REFERENCE_LEVELS.get(local, local.upper()),
                            attrs.get("type"),
                        )
                        qualifier = attrs.get("qualifier")
                    else:
                        value = (
                            None
                            if text == "UNAVAILABLE"
                            else _reference_entries(element)
                            if len(element)
                            else text or ""
                        )
                        condition, qualifier = (None, None), None
                    found.append(
                        (
                            device.get("name") or "",
                            device.get("uuid") or "",
                            component.get("component") or "",
                            component.get("name"),
                            attrs["dataItemId"],
                            attrs.get("name"),
                            int(attrs["sequence"]),
                            moment.timestamp(),
                            category,
                            local,
                            value,
                            attrs.get("subType"),
                            attrs.get("resetTriggered"),
                            *condition,
                            attrs.get("nativeCode"),
                            attrs.get("nativeSeverity"),
                            qualifier,
                        )
                    )
    return sorted(found, key=lambda row: row[6])  # type: ignore[arg-type, return-value]


RARE_ATTRIBUTES = b"""<?xml version="1.0" encoding="UTF-8"?>
<MTConnectStreams xmlns="urn:mtconnect.org:MTConnectStreams:2.7" xmlns:x="urn:example.com:x">
<Header instanceId="3" nextSequence="9" firstSequence="1" lastSequence="8" bufferSize="16"/>
<Streams><DeviceStream name="m" uuid="m-1"><ComponentStream component="Path" name="p" componentId="p">
<Events>
<PartCount dataItemId="pc" timestamp="2024-01-01T00:00:00Z" sequence="1" resetTriggered="SHIFT">0</PartCount>
<PartCount dataItemId="pc" name="parts" subType="ALL" timestamp="2024-01-01T00:00:01Z"
 sequence="2">1</PartCount>
<Alarm dataItemId="al" timestamp="2024-01-01T00:00:02" sequence="3" nativeCode="17"
 nativeSeverity="2">Hot</Alarm>
<Program dataItemId="pr" timestamp="2024-01-01T00:00:03.5+02:00" sequence="4" x:origin="mdi">O1</Program>
<Program dataItemId="pr" name="program" timestamp="2024-01-01T00:00:04Z" sequence="5">UNAVAILABLE</Program>
</Events>
<Samples>
<Load dataItemId="ld" subType="ACTUAL" timestamp="2024-01-01T00:00:05Z" sequence="6" nativeCode="n">7.5</Load>
<Load dataItemId="ld" timestamp="2024-01-01T00:00:06Z" sequence="7" resetTriggered="DAY"></Load>
</Samples>
<Condition>
<Fault dataItemId="sys" type="SYSTEM" timestamp="2024-01-01T00:00:07Z" sequence="8" nativeCode="E1"
 nativeSeverity="9" qualifier="HIGH" resetTriggered="MANUAL">Overload</Fault>
</Condition>
</ComponentStream></DeviceStream></Streams></MTConnectStreams>"""
"""Rarely present attributes (resetTriggered, nativeCode, nativeSeverity, an extension attribute) with and
without the common ones, which the walk looks up only when an element has more attributes than those."""


def _load_agent_documents() -> list[bytes]:
    from agent_sim.load_agents import LoadAgents

    agents = LoadAgents(2, 28.0, 512, instance=5)
    for device in agents.devices.values():
        device.epoch -= 20.0  # 560 observations each, already produced
    found = [agents.answer("/DEV-0/current")[1], agents.answer("/DEV-1/sample?count=1000")[1]]
    found += [agents.answer(f"/DEV-0/sample?from={start}&count=14")[1] for start in range(60, 200, 14)]
    return found


def _generated_documents() -> list[bytes]:
    found = []
    for version in VERSIONS:
        target = agent(version)
        fill(target)
        found += [body(target, "/sample", count="1000"), body(target, "/current")]
        devices = (
            shared_dir() / "mtconnect" / "devices" / "cppagent-demo_mazak-vrx-c600_1.7.xml"
        ).read_bytes()
        target = agent(version, devices)
        for n, item in enumerate(target.model.items.values()):
            if item.category == "CONDITION":
                target.add(item, ConditionState("WARNING", f"W{n}", "1", None, f"warning {n}"), STAMP)
            elif item.representation != "DATA_SET" and not getattr(item, "table", False):
                target.add(item, str(n), STAMP)
        found += [body(target, "/sample", count="1000"), body(target, "/current")]
    return found


def test_the_parser_reads_every_document_as_a_structural_reference_reads_it() -> None:
    """The flat walk with its shortcuts (light tuples, shared timestamp cache, rare attributes looked up only
    when present) gives exactly what reading the document by structure gives: every shared agent response,
    this repo's agent at 1.3, 1.7 and 2.7 over a real device file, the load agents, and rare attributes."""
    documents = [
        path.read_bytes()
        for path in sorted(responses().glob("*.xml"))
        if b"MTConnectStreams" in path.read_bytes()[:400]
    ]
    documents += _generated_documents() + _load_agent_documents() + [RARE_ATTRIBUTES]
    total = 0
    for raw in documents:
        doc = streams(raw)
        assert [tuple(o) for o in doc.observations] == reference_observations(raw)
        total += len(doc.observations)
    assert total > 1000
    rare = {o.sequence: o for o in streams(RARE_ATTRIBUTES).observations}
    assert (rare[1].reset_triggered, rare[2].reset_triggered, rare[2].sub_type) == ("SHIFT", None, "ALL")
    assert (rare[3].native_code, rare[3].native_severity, rare[6].native_code) == ("17", "2", "n")
    assert (rare[4].value, rare[4].timestamp) == ("O1", epoch(2023, 12, 31, 22, 0, 3, 500000))
    assert (rare[5].value, rare[7].value, rare[7].reset_triggered) == (None, "", "DAY")


def test_an_observation_is_a_light_named_tuple() -> None:
    """No per-observation dataclass: a tuple made in C, read by name, copied with ``_replace``."""
    observation = streams(RARE_ATTRIBUTES).observations[0]
    assert isinstance(observation, tuple)
    assert not hasattr(observation, "__dict__")
    assert observation.data_item_id == observation[4] == "pc"
    assert observation._replace(value="2").value == "2"
    assert StreamObservation._fields[6:8] == ("sequence", "timestamp")
