"""The agent's answers to probe, current, sample and asset requests, as cppagent's ``RestService``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lxml import etree

from agent_sim.buffer import Observation, Snapshot
from agent_sim.devices import Device
from agent_sim.render_json import JSON_TYPE, assets_json, devices_json, error_json, streams_json
from agent_sim.render_xml import (
    ErrorInfo,
    assets_document,
    devices_document,
    error_document,
    streams_document,
)
from agent_sim.rest import (
    INT32_MAX,
    XML_TYPE,
    AgentError,
    Request,
    Response,
    StreamPlan,
    agent_error,
    check_range,
    dispatch,
)

if TYPE_CHECKING:
    from agent_sim.agent import Agent

__all__ = ["RestService"]


class RestService:
    """The REST requests of one agent: routes them, checks their parameters, selects devices, data items
    (XPath) and observations, and renders the documents; streaming requests become ``StreamPlan``s.

    It reads the agent's model, buffer, assets and header as they are at each request, and caches XPath
    selections and /current documents (until new data).
    """

    def __init__(self, agent: Agent) -> None:
        self._agent = agent
        self._tree = etree.fromstring(f"<Devices>{''.join(d.xml for d in agent.model.devices)}</Devices>")
        self._paths: dict[tuple[str, str], frozenset[str]] = {}
        self._current_cache: dict[tuple[object, ...], tuple[int, str]] = {}

    def handle(self, request: Request) -> Response | StreamPlan:
        """Answer one request, or return the plan of a streaming one; errors become error documents."""
        try:
            return dispatch(request, self._dispatch)
        except AgentError as exc:
            return self.error_response(exc, request)

    def error_response(self, exc: AgentError, request: Request) -> Response:
        """The error document for ``exc`` (JSON or XML as the request asks), with ``exc.status``."""
        document = exc.document or ""
        if request.wants_json:
            body = error_json(
                exc.errors, self._agent.info, self._agent.creation_time(), uri=request.uri, request=document
            )
            return Response(exc.status, JSON_TYPE, body)
        body = error_document(
            exc.errors, self._agent.info, self._agent.creation_time(), uri=request.uri, request=document
        )
        return Response(exc.status, XML_TYPE, body)

    def _dispatch(
        self, kind: str, argument: str | None, values: dict[str, Any], request: Request
    ) -> Response | StreamPlan | None:
        js = request.wants_json
        if kind == "probe":
            return self._probe(argument, values, request.path, js)
        if kind == "current":
            return self._current(argument, values, js)
        if kind == "sample":
            return self._sample(argument, values, js)
        if kind == "assets":
            return self._assets(argument, values, js)
        return self._asset_ids(argument or "", js)

    # devices and paths

    def _device(self, name: str) -> Device:
        device = self._agent.model.device(name)
        if device is None:
            raise agent_error("NO_DEVICE", f"Could not find the device '{name}'", 404)
        return device

    def _devices(self, name: str | None, device_type: str | None) -> list[Device]:
        """The device named (regardless of ``deviceType``), else every device of ``deviceType``."""
        if name is not None:
            return [self._device(name)]
        if device_type == "Agent":
            return [d for d in self._agent.model.devices if d.element == "Agent"]
        if device_type == "Device":
            return [d for d in self._agent.model.devices if d.element != "Agent"]
        return list(self._agent.model.devices)

    def _items(self, devices: list[Device], path: str | None) -> frozenset[str] | None:
        """The data item ids selected by ``devices`` and ``path`` (None: every item of every device).

        Raises:
            AgentError: INVALID_XPATH when ``path`` does not parse or selects no data item.
        """
        if path is None and len(devices) == len(self._agent.model.devices):
            return None
        key = (",".join(d.id for d in devices), path or "")
        cached = self._paths.get(key)
        if cached is not None:
            return cached
        allowed = {item.id for d in devices for item in d.data_items}
        if path is not None:
            try:
                found = self._tree.xpath(path)
            except (etree.XPathError, TypeError, ValueError):
                raise agent_error(
                    "INVALID_XPATH", f"The path could not be parsed. Invalid syntax: {path}"
                ) from None
            selected: set[str] = set()
            if isinstance(found, list):
                for el in found:
                    if isinstance(el, etree._Element):
                        if el.tag == "DataItem":
                            selected.add(el.get("id") or "")
                        else:
                            selected.update(d.get("id") or "" for d in el.iter("DataItem"))
            allowed &= selected
        if not allowed:
            raise agent_error("INVALID_XPATH", f"The path could not be parsed. Invalid syntax: {path or ''}")
        result = frozenset(allowed)
        self._paths[key] = result
        return result

    # probe

    def _probe(self, name: str | None, values: Mapping[str, Any], path: str, js: bool) -> Response | None:
        """The probe; declines (``None``) an unknown ``/{device}`` and a ``deviceType`` other than Device or
        Agent, which then end as INVALID_URI, as in ``createProbeRoutings``."""
        device_type = values.get("deviceType")
        if name is not None and not path.endswith("probe") and self._agent.model.device(name) is None:
            return None
        if device_type is not None and device_type not in ("Device", "Agent"):
            return None
        devices = self._devices(name, device_type)
        asset_count = sum(1 for a in self._agent.assets.values() if not a.removed)
        if js:
            return Response(
                200,
                JSON_TYPE,
                devices_json(
                    self._agent.model, devices, self._agent.info, self._agent.creation_time(), asset_count
                ),
            )
        body = devices_document(
            self._agent.model,
            devices,
            self._agent.info,
            self._agent.creation_time(),
            asset_count,
            self._agent.asset_counts(),
        )
        return Response(200, XML_TYPE, body)

    # current

    def _current(self, name: str | None, values: Mapping[str, Any], js: bool) -> Response | StreamPlan | None:
        if values.get("deviceType") not in (None, "Device", "Agent"):
            return None  # as for the probe: INVALID_URI
        interval = values.get("interval")
        if interval is not None:
            # A current stream re-sends /current every interval; ``at`` plays no part in it.
            check_range("interval", interval, 0, INT32_MAX)
        devices = self._devices(name, values.get("deviceType"))
        items = self._items(devices, values.get("path"))
        if interval is not None:
            return StreamPlan("current", devices, items, interval, 10_000, 0, json=js)
        document = self.current_document(items, values.get("at"), js=js)
        return Response(200, JSON_TYPE if js else XML_TYPE, document)

    def current_document(
        self, items: frozenset[str] | None, at: int | None = None, *, js: bool = False
    ) -> str:
        """The /current document for ``items`` (None: all), as of ``at`` or now; cached until new data.

        The header's sequences are the buffer's (``nextSequence`` is the buffer's next even with ``at``).

        Raises:
            AgentError: ``at`` outside ``[firstSequence, lastSequence]``.
        """
        buffer = self._agent.buffer
        if at is not None:
            check_range("at", at, buffer.first_sequence - 1, buffer.next_sequence)
            state: Snapshot = buffer.snapshot_at(at)
        else:
            key = (items, self._agent.creation_time(), js)
            cached = self._current_cache.get(key)
            if cached is not None and cached[0] == buffer.next_sequence:
                return cached[1]
            state = buffer.latest
        observations: list[Observation] = []
        for item_id, entry in state.items():
            if items is not None and item_id not in items:
                continue
            if isinstance(entry, tuple):
                observations.extend(entry)
            else:
                observations.append(entry)
        render = streams_json if js else streams_document
        doc = render(
            self._agent.model,
            observations,
            self._agent.info,
            self._agent.creation_time(),
            (buffer.next_sequence, buffer.first_sequence, buffer.last_sequence),
        )
        if at is None:
            if len(self._current_cache) > 256:
                self._current_cache.clear()
            self._current_cache[(items, self._agent.creation_time(), js)] = (buffer.next_sequence, doc)
        return doc

    # sample

    def _sample(self, name: str | None, values: Mapping[str, Any], js: bool) -> Response | StreamPlan | None:
        if values.get("deviceType") not in (None, "Device", "Agent"):
            return None  # as for the probe: INVALID_URI
        start: int | None = values.get("from")
        count: int = values.get("count", 100)
        interval = values.get("interval")
        if interval is not None:
            # streamSampleRequest's order: interval, heartbeat, from, device, path; count is checked with
            # the first part, so a bad count ends the stream with an error part.
            heartbeat: int = values.get("heartbeat", 10_000)
            check_range("interval", interval, -1, INT32_MAX)
            check_range("heartbeat", heartbeat, 1, INT32_MAX)
            if start is not None:
                check_range(
                    "from", start, self._agent.buffer.first_sequence - 1, self._agent.buffer.next_sequence + 1
                )
            devices = self._devices(name, values.get("deviceType"))
            items = self._items(devices, values.get("path"))
            return StreamPlan("sample", devices, items, interval, heartbeat, count, start, json=js)
        devices = self._devices(name, values.get("deviceType"))
        items = self._items(devices, values.get("path"))
        doc, _, _ = self.sample_document(items, start, values.get("to"), count, js=js)
        return Response(200, JSON_TYPE if js else XML_TYPE, doc)

    def sample_chunk(
        self, items: frozenset[str] | None, start: int | None, count: int, *, js: bool = False
    ) -> tuple[str, int, int]:
        """One part of a sample stream from ``start`` (``None``: the first sequence): (document, its
        nextSequence, observations in it). The stream is at the end of the buffer when nextSequence is the
        buffer's.

        Raises:
            AgentError: ``count`` out of range (the document type is MTConnectStreams).
        """
        if start is not None:
            start = min(start, self._agent.buffer.next_sequence)
        try:
            return self.sample_document(items, start, None, count, js=js)
        except AgentError as exc:
            exc.document = exc.document or "MTConnectStreams"
            raise

    def sample_document(
        self, items: frozenset[str] | None, start: int | None, to: int | None, count: int, *, js: bool = False
    ) -> tuple[str, int, int]:
        """The /sample document, its nextSequence and how many observations it holds.

        As ``CircularBuffer::getObservations``: forward from ``from`` (default firstSequence) to ``count``
        matches; a negative count takes the last matches at or below ``from`` (default lastSequence) and
        reports the sequence below the oldest one taken; ``to`` takes the last matches in ``[from, to]``
        and reports ``to+1`` (nothing is at ``to == nextSequence``, so that finds nothing). Results are
        printed in ascending order.

        Raises:
            AgentError: ``from``, ``to`` or ``count`` out of range (checked in that order).
        """
        buffer = self._agent.buffer
        first, nxt = buffer.first_sequence, buffer.next_sequence
        if start is not None:
            check_range("from", start, first - 1, nxt + 1)
        if to is not None:
            check_range("to", to, start if start is not None else first, nxt + 1)
        check_range("count", count, -buffer.size - 1 if to is None else 0, buffer.size + 1, not_zero=True)
        selected: list[Observation] = []
        matches = items.__contains__ if items is not None else None
        if to is not None:
            lower = start if start is not None and start > first else first
            if to < nxt:
                for obs in buffer.backward(to, lower):
                    if matches is None or matches(obs.item.id):
                        selected.append(obs)
                        if len(selected) >= count:
                            break
            selected.reverse()
            next_sequence = min(to + 1, nxt)
        elif count < 0:
            top = start if start is not None and start < nxt else nxt - 1
            next_sequence = first - 1
            for obs in buffer.backward(top, first):
                if matches is None or matches(obs.item.id):
                    selected.append(obs)
                    if len(selected) >= -count:
                        next_sequence = obs.sequence - 1
                        break
            selected.reverse()
        else:
            begin = start if start is not None and start > first else first
            next_sequence = nxt
            for obs in buffer.forward(begin, nxt):
                if matches is None or matches(obs.item.id):
                    selected.append(obs)
                    if len(selected) >= count:
                        next_sequence = obs.sequence + 1
                        break
        render = streams_json if js else streams_document
        doc = render(
            self._agent.model,
            selected,
            self._agent.info,
            self._agent.creation_time(),
            (next_sequence, first, buffer.last_sequence),
        )
        return doc, next_sequence, len(selected)

    # assets

    def _assets(self, device_name: str | None, values: Mapping[str, Any], js: bool) -> Response:
        """Up to ``count`` assets, newest first. An unknown device filters nothing (``assetRequest`` does
        not check the device)."""
        count: int = values.get("count", 100)
        asset_type = values.get("type")
        removed = values.get("removed", False)
        device_filter = device_name or values.get("device")
        device = self._agent.model.device(device_filter) if device_filter is not None else None
        uuid = device.uuid if device is not None else None
        chosen = []
        for asset in reversed(self._agent.assets.values()):
            if asset.removed and not removed:
                continue
            if asset_type is not None and asset.asset_type != asset_type:
                continue
            if uuid is not None and asset.device_uuid != uuid:
                continue
            chosen.append(asset.xml)
            if len(chosen) >= count:
                break
        return self._assets_response(chosen, js)

    def _assets_response(self, xml: list[str], js: bool) -> Response:
        live = sum(1 for a in self._agent.assets.values() if not a.removed)
        if js:
            return Response(
                200, JSON_TYPE, assets_json(xml, self._agent.info, self._agent.creation_time(), live)
            )
        return Response(
            200, XML_TYPE, assets_document(xml, self._agent.info, self._agent.creation_time(), live)
        )

    def _asset_ids(self, argument: str, js: bool) -> Response:
        """The assets named in ``a;b;c``; ASSET_NOT_FOUND (one error per id) only when none is known."""
        ids = argument.split(";")
        if ids and not ids[-1]:
            ids.pop()  # as getline: a trailing separator adds no empty id
        found = [self._agent.assets[i].xml for i in ids if i in self._agent.assets]
        if not found:
            errors = [ErrorInfo("ASSET_NOT_FOUND", f"Cannot find asset: {i}", asset_id=i) for i in ids]
            raise AgentError(errors, 404)
        return self._assets_response(found, js)
