"""MTConnect JSON documents in the reference agent's version 2 form (cppagent ``json_printer.cpp``).

Envelope ``{"MTConnect<Doc>": {"jsonVersion": 2, "schemaVersion": ..., "Header": {...}, ...}}``; in Streams,
``Streams`` is an object ``{"DeviceStream": [...]}`` (``{}`` when empty), observations are grouped by element
name within Samples, Events and Condition, and each carries its text in ``value``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from lxml import etree

from agent_sim.buffer import UNAVAILABLE, ConditionState, DataSetState, Observation
from agent_sim.devices import Device, DeviceModel
from agent_sim.render_xml import AGENT_VERSION, ErrorInfo, HeaderInfo, typed_error_name

__all__ = ["JSON_TYPE", "assets_json", "devices_json", "error_json", "streams_json"]

JSON_TYPE = "application/mtconnect+json"
_CATEGORY = {"SAMPLE": "Samples", "EVENT": "Events", "CONDITION": "Condition"}
_ORDER = {"SAMPLE": 0, "EVENT": 1, "CONDITION": 2}


def _number(text: str) -> object:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _header(info: HeaderInfo, creation_time: str, **extra: object) -> dict[str, object]:
    header: dict[str, object] = {
        "creationTime": creation_time,
        "sender": info.sender,
        "instanceId": info.instance_id,
        "version": AGENT_VERSION,
        "deviceModelChangeTime": info.device_model_change_time,
        "testIndicator": False,
        "schemaVersion": info.schema_version,
    }
    header.update(extra)
    return header


def _envelope(doc: str, info: HeaderInfo, body: dict[str, object]) -> str:
    content = {"jsonVersion": 2, "schemaVersion": info.schema_version, **body}
    return json.dumps({f"MTConnect{doc}": content}, ensure_ascii=False, separators=(",", ":"))


def _element_json(el: etree._Element) -> dict[str, Any]:
    """An element as cppagent's v2 JSON: attributes as keys, children grouped by name in lists."""
    out: dict[str, Any] = {key: _number(value) if key != "id" else value for key, value in el.attrib.items()}
    text = (el.text or "").strip()
    children = [c for c in el if isinstance(c.tag, str)]
    if text and not children:
        out["value"] = text
    groups: dict[str, list[Any]] = {}
    for child in children:
        tag = str(child.tag)
        if tag in ("DataItems", "Components", "Compositions", "References"):
            out[tag] = {}
            for grand in child:
                if isinstance(grand.tag, str):
                    out[tag].setdefault(str(grand.tag), []).append(_element_json(grand))
            continue
        groups.setdefault(tag, []).append(_element_json(child))
    for tag, items in groups.items():
        out[tag] = items[0] if len(items) == 1 else items
    return out


def devices_json(
    model: DeviceModel, devices: Sequence[Device], info: HeaderInfo, creation_time: str, asset_count: int
) -> str:
    header = _header(info, creation_time, bufferSize=info.buffer_size, assetBufferSize=info.asset_buffer_size)
    header["assetCount"] = asset_count
    groups: dict[str, list[dict[str, Any]]] = {}
    for device in devices:
        groups.setdefault(device.element, []).append(_element_json(etree.fromstring(device.xml)))
    return _envelope("Devices", info, {"Header": header, "Devices": groups})


def _observation_json(obs: Observation) -> tuple[str, dict[str, object]]:
    item = obs.item
    entry: dict[str, object] = {"dataItemId": item.id, "timestamp": obs.timestamp, "sequence": obs.sequence}
    if item.name:
        entry["name"] = item.name
    if item.sub_type:
        entry["subType"] = item.sub_type
    if obs.reset_triggered:
        entry["resetTriggered"] = obs.reset_triggered
    value = obs.value
    if isinstance(value, ConditionState):
        level = "Unavailable" if value.level == UNAVAILABLE else value.level.capitalize()
        entry["type"] = item.type
        for key, field in (
            ("nativeCode", value.native_code),
            ("nativeSeverity", value.native_severity),
            ("conditionId", value.condition_id if value.active else None),
            ("qualifier", value.qualifier),
            ("value", value.text),
        ):
            if field:
                entry[key] = field
        return level, entry
    if isinstance(value, DataSetState):
        entry["value"] = {k: v for k, v in value.entries if v is not None}
        entry["count"] = sum(1 for _, v in value.entries if v is not None)
        return item.element, entry
    text = str(value)
    if item.category == "SAMPLE" and text != UNAVAILABLE:
        parts = text.split()
        entry["value"] = [_number(p) for p in parts] if len(parts) > 1 else _number(text)
        if obs.sample_count is not None:
            entry["sampleCount"] = obs.sample_count
    else:
        entry["value"] = text
    return item.element, entry


def streams_json(
    model: DeviceModel,
    observations: Iterable[Observation],
    info: HeaderInfo,
    creation_time: str,
    sequences: tuple[int, int, int],
) -> str:
    nxt, first, last = sequences
    header = _header(
        info,
        creation_time,
        bufferSize=info.buffer_size,
        nextSequence=nxt,
        firstSequence=first,
        lastSequence=last,
    )
    # Ordered as the reference agent orders observations: device id, component id, category, data item id,
    # sequence.
    devices: dict[str, dict[str, dict[str, dict[str, list[dict[str, object]]]]]] = {}
    ordered = sorted(
        observations,
        key=lambda o: (o.item.device_id, o.item.component_id, _ORDER[o.item.category], o.item.id, o.sequence),
    )
    for obs in ordered:
        item = obs.item
        element, entry = _observation_json(obs)
        category = devices.setdefault(item.device_id, {}).setdefault(item.component_id, {})
        category.setdefault(_CATEGORY[item.category], {}).setdefault(element, []).append(entry)
    streams: dict[str, object] = {}
    device_streams = []
    by_id = {device.id: device for device in model.devices}
    for device_id, components in devices.items():
        device = by_id[device_id]
        component_streams = []
        for component_id, categories in components.items():
            component = model.components[component_id]
            stream: dict[str, object] = {"component": component.element, "componentId": component.id}
            if component.name:
                stream["name"] = component.name
            stream.update(categories)
            component_streams.append(stream)
        device_streams.append(
            {"name": device.name, "uuid": device.uuid, "ComponentStream": component_streams}
        )
    if device_streams:
        streams["DeviceStream"] = device_streams
    return _envelope("Streams", info, {"Header": header, "Streams": streams})


def assets_json(assets: Iterable[str], info: HeaderInfo, creation_time: str, asset_count: int) -> str:
    header = _header(info, creation_time, assetBufferSize=info.asset_buffer_size, assetCount=asset_count)
    groups: dict[str, list[dict[str, Any]]] = {}
    for xml in assets:
        el = etree.fromstring(xml)
        groups.setdefault(str(el.tag), []).append(_element_json(el))
    return _envelope("Assets", info, {"Header": header, "Assets": groups})


def error_json(
    errors: Sequence[ErrorInfo], info: HeaderInfo, creation_time: str, *, uri: str, request: str
) -> str:
    """An MTConnectError document: ``{"Error": {errorCode, value}}`` entries below schema 2.6, typed entries
    (``{"OutOfRange": {errorCode, URI, Request, ErrorMessage, QueryParameter}}``) from 2.6 on."""
    header = _header(info, creation_time, bufferSize=info.buffer_size)
    major, minor = (int(x) for x in info.schema_version.split(".")[:2])
    entries: list[dict[str, object]] = []
    for error in errors:
        if (major, minor) < (2, 6):
            entries.append({"Error": {"errorCode": error.code, "value": error.message}})
            continue
        body: dict[str, object] = {"errorCode": error.code, "URI": uri}
        if request:
            body["Request"] = request
        body["ErrorMessage"] = error.message
        if error.parameter is not None:
            parameter: dict[str, object] = {"name": error.parameter}
            value: object = error.value
            if error.code == "OUT_OF_RANGE" and error.value is not None:
                value = int(error.value)  # the reference agent writes the checked number, not text
            fmt = None
            if error.value_type is not None:
                fmt = "uint64" if error.value_type == "unsigned_integer" else "int32"
            for key, field in (
                ("Value", value),
                ("Type", error.value_type),
                ("Format", fmt),
                ("Minimum", error.minimum),
                ("Maximum", error.maximum),
            ):
                if field is not None:
                    parameter[key] = field
            body["QueryParameter"] = parameter
        if error.asset_id is not None:
            body["AssetId"] = error.asset_id
        entries.append({typed_error_name(error.code): body})
    return _envelope("Error", info, {"Header": header, "Errors": entries})
