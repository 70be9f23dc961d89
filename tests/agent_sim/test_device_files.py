"""Every well-formed real device file loads leniently and is served back; a broken one gets a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from agent_sim.agent import Agent, Request
from agent_sim.devices import DeviceFileError, load_devices
from tests.shared_data import shared_dir


def _device_files() -> list[Path]:
    try:
        root = shared_dir()
    except pytest.skip.Exception:
        return []
    files = sorted((root / "mtconnect" / "devices").glob("*.xml"))
    files += sorted((root / "mtconnect" / "responses").glob("*probe*.xml"))
    return files


def _data_items(body: bytes) -> dict[str, dict[str, str]]:
    """Device name -> {data item id: type}, read straight from a document with lxml (no agent code)."""
    root = etree.fromstring(body)
    return {
        d.get("name"): {i.get("id"): i.get("type") for i in d.iter("{*}DataItem")}
        for d in root.iter("{*}Device")
    }


ADDED = {"AVAILABILITY": (1, 0), "ASSET_CHANGED": (1, 2), "ASSET_REMOVED": (1, 3), "ASSET_COUNT": (2, 0)}
"""What the reference agent adds to a device that lacks it (cppagent verifyDevice), from which version."""


@pytest.mark.parametrize("path", _device_files(), ids=lambda p: p.name)
@pytest.mark.parametrize("version", ["1.3", "2.7"])
def test_every_real_device_file_loads_and_is_served_back(path: Path, version: str) -> None:
    agent = Agent(path.read_bytes(), schema_version=version)
    response = agent.handle(Request("GET", "/probe", {}))
    assert response.status == 200
    served = _data_items(response.body.encode())  # type: ignore[union-attr]
    expected = _data_items(path.read_bytes())
    assert expected
    wanted = tuple(int(x) for x in version.split("."))
    for name, items in expected.items():
        assert served[name].items() >= items.items(), name
        added = {i: t for i, t in served[name].items() if i not in items}
        missing = {t for t, since in ADDED.items() if t not in items.values() and wanted >= since}
        assert sorted(added.values()) == sorted(missing), name
    current = agent.handle(Request("GET", "/current", {}))
    assert current.status == 200  # type: ignore[union-attr]


def test_the_device_files_are_there() -> None:
    assert len(_device_files()) >= 8 or not _device_files()


def test_a_fragment_that_is_not_well_formed_is_refused_naming_the_file() -> None:
    fragment = shared_dir() / "mtconnect" / "devices" / "haas-ngc-probe-fragment.xml.txt"
    with pytest.raises(DeviceFileError, match=r"haas-ngc-probe-fragment\.xml\.txt: not well-formed XML"):
        load_devices(fragment.read_bytes(), str(fragment))


def test_a_document_without_devices_is_refused() -> None:
    with pytest.raises(DeviceFileError, match="no Device element"):
        load_devices(b"<MTConnectDevices><Header/><Devices/></MTConnectDevices>", "empty.xml")


@pytest.mark.parametrize(
    ("data_type", "representation", "element"),
    [
        ("PATH_FEEDRATE", None, "PathFeedrate"),
        ("ADAPTER_URI", None, "AdapterURI"),
        ("MTCONNECT_VERSION", None, "MTConnectVersion"),
        ("VOLTAGE_AC", None, "VoltageAC"),
        ("PART_ID", None, "PartId"),
        ("POSITION", "TIME_SERIES", "PositionTimeSeries"),
        ("x:MOTION_STATE", None, "x:MotionState"),
    ],
)
def test_stream_element_names_follow_the_schemas_spelling(
    data_type: str, representation: str | None, element: str
) -> None:
    from agent_sim.devices import element_name

    assert element_name(data_type, representation) == element
