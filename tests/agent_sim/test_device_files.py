"""Every well-formed real device file loads leniently and is served back; a broken one gets a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from agent_sim.agent import Agent, Request
from agent_sim.devices import DeviceFileError, load_devices
from tests.agent_sim.shdr_helpers import shared_dir


def _device_files() -> list[Path]:
    try:
        root = shared_dir()
    except pytest.skip.Exception:
        return []
    files = sorted((root / "mtconnect" / "devices").glob("*.xml"))
    files += sorted((root / "mtconnect" / "responses").glob("*probe*.xml"))
    return files


def _data_items(path: Path) -> dict[str, int]:
    """Device name -> data item count, read straight from the file with lxml (no agent code)."""
    root = etree.parse(str(path)).getroot()
    counts = {}
    for device in root.iter("{*}Device"):
        counts[device.get("name")] = sum(1 for _ in device.iter("{*}DataItem"))
    return counts


@pytest.mark.parametrize("path", _device_files(), ids=lambda p: p.name)
@pytest.mark.parametrize("version", ["1.3", "2.7"])
def test_every_real_device_file_loads_and_is_served_back(path: Path, version: str) -> None:
    agent = Agent(path.read_bytes(), schema_version=version)
    response = agent.handle(Request("GET", "/probe", {}))
    assert response.status == 200
    served = _data_items_from_probe(response.body)  # type: ignore[union-attr]
    expected = _data_items(path)
    assert expected
    for name, count in expected.items():
        assert served[name] == count, name
    current = agent.handle(Request("GET", "/current", {}))
    assert current.status == 200  # type: ignore[union-attr]


def _data_items_from_probe(body: str) -> dict[str, int]:
    root = etree.fromstring(body.encode())
    return {d.get("name"): sum(1 for _ in d.iter("{*}DataItem")) for d in root.iter("{*}Device")}


def test_the_device_files_are_there() -> None:
    assert len(_device_files()) >= 8 or not _device_files()


def test_a_fragment_that_is_not_well_formed_is_refused_naming_the_file() -> None:
    fragment = shared_dir() / "mtconnect" / "devices" / "haas-ngc-probe-fragment.xml.txt"
    with pytest.raises(DeviceFileError, match=r"haas-ngc-probe-fragment\.xml\.txt: not well-formed XML"):
        load_devices(fragment.read_bytes(), str(fragment))


def test_a_document_without_devices_is_refused() -> None:
    with pytest.raises(DeviceFileError, match="no Device element"):
        load_devices(b"<MTConnectDevices><Header/><Devices/></MTConnectDevices>", "empty.xml")
