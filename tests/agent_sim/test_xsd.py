"""Every document the agent serves validates against the official XSD (``MTConnect<Doc>_<v>_1.0.xsd``) of
each schema version, except where the reference agent deliberately departs from the XSD; those places are
named here, asserted to fail for exactly that reason, and the rest of the document is validated.
"""

from __future__ import annotations

import pytest
from lxml import etree

from agent_sim.agent import Agent, Asset
from agent_sim.assets import ASSET_TYPE, cutting_tool_xml
from agent_sim.buffer import ConditionState, DataSetState
from agent_sim.render_xml import SCHEMA_VERSIONS
from tests.shared_data import shared_dir

from .helpers import STAMP, make_agent, put, respond

_SCHEMAS: dict[tuple[str, str], etree.XMLSchema] = {}
"""Loaded schemas by (document, version): loading Streams 2.x takes a fraction of a second."""


def schema(kind: str, version: str) -> etree.XMLSchema:
    key = (kind, version)
    if key not in _SCHEMAS:
        path = shared_dir() / "mtconnect" / "schemas" / f"MTConnect{kind}_{version}_1.0.xsd"
        # etree.parse keeps the file's location, so the xs:import of xlink.xsd next to it resolves
        _SCHEMAS[key] = etree.XMLSchema(etree.parse(str(path)))
    return _SCHEMAS[key]


def violations(kind: str, version: str, root: etree._Element) -> list[str]:
    xsd = schema(kind, version)
    if xsd.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in xsd.error_log]


def assert_valid(kind: str, version: str, text: str | etree._Element) -> None:
    root = etree.fromstring(text.encode()) if isinstance(text, str) else text
    problems = violations(kind, version, root)
    assert not problems, f"MTConnect{kind} {version}:\n" + "\n".join(problems[:10])


def devices_xml(version: str) -> str:
    """A small device valid in ``version``: DATA_SET, VARIABLE and ResetTrigger exist from 1.4 on."""
    modern = version >= "1.7"
    part_count = (
        '<DataItem category="EVENT" id="pc" type="PART_COUNT"><ResetTrigger>DAY</ResetTrigger></DataItem>'
        if modern
        else '<DataItem category="EVENT" id="pc" type="PART_COUNT"/>'
    )
    variables = (
        '<DataItem category="EVENT" id="vars" type="VARIABLE" representation="DATA_SET"/>' if modern else ""
    )
    return f"""<MTConnectDevices xmlns="urn:mtconnect.org:MTConnectDevices:{version}"><Devices>
      <Device id="d" name="Mill" uuid="mill-1">
        <Description manufacturer="Haas" model="VF-2" serialNumber="1">A mill</Description>
        <DataItems><DataItem category="EVENT" id="avail" type="AVAILABILITY"/></DataItems>
        <Components>
          <Axes id="ax"><Components><Linear id="x" name="X"><DataItems>
            <DataItem category="SAMPLE" id="Xact" name="Xact" type="POSITION" subType="ACTUAL"
                      units="MILLIMETER"/>
          </DataItems></Linear></Components></Axes>
          <Controller id="ct">
            <DataItems><DataItem category="CONDITION" id="sys" type="SYSTEM"/></DataItems>
            <Components><Path id="p"><DataItems>
              <DataItem category="EVENT" id="exec" type="EXECUTION"/>
              <DataItem category="EVENT" id="msg" type="MESSAGE"/>
              {part_count}{variables}
            </DataItems></Path></Components>
          </Controller>
        </Components>
      </Device>
    </Devices></MTConnectDevices>"""


def busy_agent(version: str) -> Agent:
    """An agent with valid values for every item, a fault, and a CuttingTool asset."""
    agent = make_agent(version, devices=devices_xml(version))
    put(agent, "avail", "AVAILABLE")
    put(agent, "exec", "ACTIVE")
    put(agent, "Xact", "12.5")
    put(agent, "pc", "3")
    put(agent, "msg", "Tool change")
    put(agent, "sys", ConditionState("FAULT", "1001", "2", None, "Servo alarm"))
    if version >= "1.7":
        put(agent, "vars", DataSetState((("a", "1"), ("b", "2"))))
    xml = cutting_tool_xml("T1", "mill-1", STAMP, 1, 80.0, 500, version)
    agent.add_asset(Asset("T1", ASSET_TYPE, "mill-1", STAMP, xml))
    return agent


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_probe_validates(version: str) -> None:
    assert_valid("Devices", version, respond(busy_agent(version), "/probe").body)


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("target", ["/current", "/sample"])
def test_current_and_sample_validate(version: str, target: str) -> None:
    assert_valid("Streams", version, respond(busy_agent(version), target).body)


@pytest.mark.parametrize("version", [v for v in SCHEMA_VERSIONS if v != "1.3"])
def test_empty_streams_validates(version: str) -> None:
    agent = busy_agent(version)
    text = respond(agent, "/sample", **{"from": str(agent.buffer.next_sequence)}).body
    assert_valid("Streams", version, text)


def test_empty_streams_breaks_the_1_3_xsd_as_the_reference_agent_does() -> None:
    # The 1.3 Streams XSD wants at least one DeviceStream, but the reference agent answers an empty result
    # with <Streams/> in every version (reference section 1.4); the rest of the document is valid.
    agent = busy_agent("1.3")
    text = respond(agent, "/sample", **{"from": str(agent.buffer.next_sequence)}).body
    root = etree.fromstring(text.encode())
    problems = violations("Streams", "1.3", root)
    assert len(problems) == 1
    assert "DeviceStream" in problems[0]
    streams = root.find("{*}Streams")
    assert streams is not None
    assert len(streams) == 0
    filled = etree.fromstring(respond(agent, "/current").body.encode()).find("{*}Streams")
    assert filled is not None
    root.replace(streams, filled)
    assert_valid("Streams", "1.3", root)


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("target", ["/assets", "/assets/T1"])
def test_assets_validate(version: str, target: str) -> None:
    assert_valid("Assets", version, respond(busy_agent(version), target).body)


# -- errors -------------------------------------------------------------------------------------

LEGACY = [v for v in SCHEMA_VERSIONS if v < "2.6"]
TYPED = [v for v in SCHEMA_VERSIONS if v >= "2.6"]
XSD_CODES = [("/sample", {"count": "0"}), ("/Lathe/probe", {}), ("/bad_path", {}), ("/assets/X;Y", {})]
"""Requests whose legacy error codes (OUT_OF_RANGE, NO_DEVICE, INVALID_URI, ASSET_NOT_FOUND) the XSD lists."""
AGENT_CODES = [("/current", {"path": "//Nope"}), ("/sample", {"count": "x"})]
"""Requests answered with INVALID_XPATH and INVALID_PARAMETER_VALUE, which ``ErrorCodeType`` lacks."""


@pytest.mark.parametrize("version", LEGACY)
@pytest.mark.parametrize(("target", "query"), XSD_CODES)
def test_legacy_error_validates(version: str, target: str, query: dict[str, str]) -> None:
    assert_valid("Error", version, respond(busy_agent(version), target, **query).body)


@pytest.mark.parametrize("version", LEGACY)
@pytest.mark.parametrize(("target", "query"), AGENT_CODES)
def test_legacy_error_with_a_code_the_xsd_lacks_is_otherwise_valid(
    version: str, target: str, query: dict[str, str]
) -> None:
    # cppagent writes INVALID_XPATH / INVALID_PARAMETER_VALUE in <Error errorCode=...>; the XSD's
    # ErrorCodeType (1.3 ... 2.7) does not list them (it spells INVALID_PATH). Reference section 1.2.
    root = etree.fromstring(respond(busy_agent(version), target, **query).body.encode())
    problems = violations("Error", version, root)
    assert problems
    assert all("errorCode" in p for p in problems), problems
    for error in root.iter("{*}Error"):
        error.set("errorCode", "INVALID_REQUEST")
    assert_valid("Error", version, root)


def without_error_code(text: str) -> etree._Element:
    """A 2.6+ error document without the ``errorCode`` attribute of each typed error.

    cppagent 2.6+ writes ``<OutOfRange errorCode="OUT_OF_RANGE">`` (tests ``should_report_2_6_*``) but the
    2.6+ XSDs declare no attributes on the typed errors.
    """
    root = etree.fromstring(text.encode())
    for error in root.iterfind("{*}Errors/*"):
        error.attrib.pop("errorCode")
    return root


@pytest.mark.parametrize("version", TYPED)
@pytest.mark.parametrize(("target", "query"), [*XSD_CODES, *AGENT_CODES, ("/Mill", {"deviceType": "X"})])
def test_typed_error_is_valid_but_for_the_error_code_attribute(
    version: str, target: str, query: dict[str, str]
) -> None:
    text = respond(busy_agent(version), target, **query).body
    problems = violations("Error", version, etree.fromstring(text.encode()))
    assert problems
    assert all("errorCode" in p for p in problems), problems
    assert_valid("Error", version, without_error_code(text))


@pytest.mark.parametrize("version", TYPED)
def test_typed_out_of_range_for_at_names_a_parameter_the_xsd_does_not_list(version: str) -> None:
    # QueryParameterNameType lists device, deviceType, path, from, count, interval and heartbeat, but the
    # reference agent also reports 'at' and 'to' (test should_report_2_6_out_of_range_for_current_at).
    agent = busy_agent(version)
    root = without_error_code(respond(agent, "/current", at=str(agent.buffer.next_sequence)).body)
    problems = violations("Error", version, root)
    assert problems
    assert all("'name'" in p and "'at'" in p for p in problems), problems
    for parameter in root.iter("{*}QueryParameter"):
        parameter.set("name", "from")
    assert_valid("Error", version, root)


@pytest.mark.parametrize("version", ["2.4", "2.7"])
def test_probe_with_adapter_components_validates(version: str) -> None:
    agent = Agent(devices_xml(version), schema_version=version, adapters=["shdr://127.0.0.1:7878"])
    body = respond(agent, "/probe").body
    assert "<Adapter " in body
    assert_valid("Devices", version, body)
    assert_valid("Streams", version, respond(agent, "/current").body)
