"""The agent's own ``Agent`` device (cppagent's ``agent_device.cpp``) with its adapters, and device hashes."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import replace

from lxml import etree

from agent_sim.devices import Device, DeviceModel, load_devices
from agent_sim.render_xml import xml_escape

__all__ = ["adapter_id", "with_agent_device", "with_hashes"]


def adapter_id(uri: str) -> str:
    """The id of an adapter's component, as cppagent forms it: ``shdr://host:7878`` -> ``_host_7878``."""
    address = uri.split("://", 1)[-1]
    return "_" + "".join(c if c.isalnum() else "_" for c in address)


def _adapters_xml(uris: Sequence[str]) -> str:
    if not uris:
        return ""
    parts = ['<Components><Adapters id="__adapters__"><Components>']
    for uri in uris:
        ident = adapter_id(uri)
        parts.append(
            f'<Adapter id="{ident}" name="{xml_escape(uri)}"><DataItems>'
            f'<DataItem category="EVENT" id="{ident}_adapter_uri" type="ADAPTER_URI">'
            f"<Constraints><Value>{xml_escape(uri)}</Value></Constraints></DataItem>"
            f'<DataItem category="EVENT" id="{ident}_connection_status" type="CONNECTION_STATUS"/>'
            f'<DataItem category="EVENT" id="{ident}_adapter_software_version" '
            'type="ADAPTER_SOFTWARE_VERSION"/>'
            f'<DataItem category="EVENT" id="{ident}_mtconnect_version" type="MTCONNECT_VERSION"/>'
            "</DataItems></Adapter>"
        )
    parts.append("</Components></Adapters></Components>")
    return "".join(parts)


def _agent_device_xml(
    uuid: str, ident: str, item_ids: Sequence[str], asset_count: bool, adapters: Sequence[str] = ()
) -> str:
    avail, added, removed, changed = item_ids
    count = (
        f'<DataItem category="EVENT" id="{ident}_asset_count" representation="DATA_SET" type="ASSET_COUNT"/>'
        if asset_count
        else ""
    )
    return (
        f'<Agent id="{ident}" name="Agent" uuid="{uuid}"><DataItems>'
        f'<DataItem category="EVENT" id="{avail}" type="AVAILABILITY"/>'
        f'<DataItem category="EVENT" id="{added}" type="DEVICE_ADDED"/>'
        f'<DataItem category="EVENT" id="{removed}" type="DEVICE_REMOVED"/>'
        f'<DataItem category="EVENT" id="{changed}" type="DEVICE_CHANGED"/>'
        f'<DataItem category="EVENT" discrete="true" id="{ident}_asset_chg" type="ASSET_CHANGED"/>'
        f'<DataItem category="EVENT" id="{ident}_asset_rem" type="ASSET_REMOVED"/>'
        f"{count}</DataItems>{_adapters_xml(adapters)}</Agent>"
    )


def with_agent_device(
    model: DeviceModel, version: tuple[int, int], instance_id: int, adapters: Sequence[str]
) -> DeviceModel:
    """The model with the agent's own Agent device first, as from schema 1.7 (unless it has one already).

    From schema 2.4 (the first here whose XSD has them) the Agent device has an ``Adapter`` component for
    each adapter URI, with its connection status and versions; from 2.0 it reports ASSET_COUNT.
    """
    if version < (1, 7) or any(d.element == "Agent" for d in model.devices):
        return model
    ident = f"agent_{instance_id:x}"
    ids = ["agent_avail", "device_added", "device_removed", "device_changed"]
    if set(ids) & model.items.keys():
        ids = [f"{ident}_{i}" for i in ids]
    listed = adapters if version >= (2, 4) else ()
    agent_xml = _agent_device_xml(f"mestwin-{ident}", ident, ids, version >= (2, 0), listed)
    agent_model = load_devices(f"<Devices>{agent_xml}</Devices>")
    return DeviceModel([*agent_model.devices, *model.devices], model.namespaces)


def _device_hash(device: Device) -> str:
    """A 28-character digest of a device's model (base64 of SHA-1), as 2.2+ agents publish it."""
    return base64.b64encode(hashlib.sha1(device.xml.encode("utf-8")).digest()).decode("ascii")


def _with_hash(device: Device) -> tuple[Device, str]:
    """The device with a ``hash`` attribute (kept when the file has one), and the hash."""
    element = etree.fromstring(device.xml)
    digest = element.get("hash")
    if digest is None:
        digest = _device_hash(device)
        element.set("hash", digest)
    return replace(device, xml=etree.tostring(element, encoding="unicode")), digest


def with_hashes(model: DeviceModel) -> tuple[DeviceModel, dict[str, str]]:
    """The model with a ``hash`` on every device, as 2.2+ agents publish them, and the hash of each id."""
    hashed = [_with_hash(d) for d in model.devices]
    hashes = {device.id: digest for device, digest in hashed}
    return DeviceModel([device for device, _ in hashed], model.namespaces), hashes
