"""The MTConnect agent's state and request semantics (cppagent 2.7), independent of any HTTP server.

Wiring::

    sources (twin bridge, SHDR clients, replay) ──add()──> ObservationBuffer ──> probe/current/sample
                                                  └──────> assets store      ──> assets
    HTTP front (agent_sim.http) ── Request ──> Agent.handle() ── Response (status, type, body)

``Agent.handle`` validates a request exactly as the reference agent does (ranges, typed parameters,
XPath, devices) and renders the answer; streaming requests are planned here and driven by the HTTP front.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from agent_sim.buffer import UNAVAILABLE, ConditionState, Observation, ObservationBuffer, Snapshot
from agent_sim.devices import DataItem, Device, DeviceModel, load_devices
from agent_sim.render_json import JSON_TYPE, assets_json, devices_json, error_json, streams_json
from agent_sim.render_xml import (
    SCHEMA_VERSIONS,
    ErrorInfo,
    HeaderInfo,
    assets_document,
    devices_document,
    error_document,
    streams_document,
)

__all__ = ["Agent", "AgentError", "Asset", "Request", "Response", "StreamPlan", "iso_timestamp"]

XML_TYPE = "application/xml"
_ASSET_EVENTS = frozenset({"ASSET_CHANGED", "ASSET_REMOVED"})
INT32_MAX = 2**31 - 1


class AgentError(Exception):
    """A request the agent refuses: the errors to report and the HTTP status to report them with."""

    def __init__(self, errors: list[ErrorInfo], status: int) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors
        self.status = status


def _error(code: str, message: str, status: int = 400, **details: Any) -> AgentError:
    return AgentError([ErrorInfo(code, message, **details)], status)


def iso_timestamp(epoch: float) -> str:
    """An observation timestamp: ISO 8601 UTC with microseconds."""
    micros = round(epoch * 1_000_000)
    seconds, micro = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{micro:06d}Z"


@dataclass(slots=True)
class Asset:
    """An asset (e.g. a CuttingTool) as an XML element, with its bookkeeping."""

    asset_id: str
    asset_type: str
    device_uuid: str
    timestamp: str
    xml: str
    removed: bool = False


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request as the agent sees it."""

    method: str
    path: str
    query: Mapping[str, str]
    accept: str = ""
    remote: str = "127.0.0.1"
    raw_uri: str = ""

    @property
    def wants_json(self) -> bool:
        """``format=json|xml`` wins; otherwise the first Accept entry ending in json or xml (default XML)."""
        fmt = self.query.get("format")
        if fmt is not None:
            return fmt.lower() == "json"
        for entry in self.accept.split(","):
            media = entry.split(";")[0].strip().lower()
            if media.endswith("json"):
                return True
            if media.endswith("xml"):
                return False
        return False


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: str


@dataclass(slots=True)
class StreamPlan:
    """A streaming request, validated: what to send and how often."""

    kind: str
    devices: list[Device]
    items: frozenset[str] | None
    interval_ms: int
    heartbeat_ms: int
    count: int
    next_sequence: int = 0
    json: bool = False


def _agent_device_xml(uuid: str, ident: str) -> str:
    return (
        f'<Agent id="{ident}" name="Agent" uuid="{uuid}"><DataItems>'
        f'<DataItem category="EVENT" id="{ident}_avail" type="AVAILABILITY"/>'
        f'<DataItem category="EVENT" id="{ident}_device_added" type="DEVICE_ADDED"/>'
        f'<DataItem category="EVENT" id="{ident}_device_removed" type="DEVICE_REMOVED"/>'
        f'<DataItem category="EVENT" id="{ident}_device_changed" type="DEVICE_CHANGED"/>'
        f'<DataItem category="EVENT" discrete="true" id="{ident}_asset_chg" type="ASSET_CHANGED"/>'
        f'<DataItem category="EVENT" id="{ident}_asset_rem" type="ASSET_REMOVED"/>'
        "</DataItems></Agent>"
    )


class Agent:
    """One MTConnect agent: a device model, a buffer, assets, and the request semantics of cppagent 2.7."""

    def __init__(
        self,
        devices: DeviceModel | str | bytes,
        *,
        schema_version: str = "2.7",
        buffer_size_exponent: int = 17,
        checkpoint_frequency: int = 1000,
        max_assets: int = 1024,
        sender: str | None = None,
        agent_device: bool = True,
        clock: object = time.time,
    ) -> None:
        if schema_version not in SCHEMA_VERSIONS:
            raise ValueError(f"schema version {schema_version!r} is not one of {', '.join(SCHEMA_VERSIONS)}")
        self.schema_version = schema_version
        self._clock = clock
        self.instance_id = int(self.now())
        model = devices if isinstance(devices, DeviceModel) else load_devices(devices)
        major, minor = (int(x) for x in schema_version.split(".")[:2])
        if agent_device and (major, minor) >= (1, 7) and not any(d.element == "Agent" for d in model.devices):
            ident = f"agent_{self.instance_id:x}"
            agent_model = load_devices(f"<Devices>{_agent_device_xml(f'mestwin-{ident}', ident)}</Devices>")
            model = DeviceModel([*agent_model.devices, *model.devices], model.namespaces)
        self.model = model
        self.buffer = ObservationBuffer(buffer_size_exponent, checkpoint_frequency)
        self.max_assets = max_assets
        self.assets: OrderedDict[str, Asset] = OrderedDict()
        self.device_model_change_time = iso_timestamp(self.now())
        self.info = HeaderInfo(
            schema_version=schema_version,
            sender=sender or socket.gethostname(),
            instance_id=self.instance_id,
            buffer_size=self.buffer.size,
            device_model_change_time=self.device_model_change_time,
            asset_buffer_size=max_assets,
        )
        self._tree = etree.fromstring(f"<Devices>{''.join(d.xml for d in model.devices)}</Devices>")
        self._paths: dict[tuple[str, str], frozenset[str]] = {}
        self._creation: tuple[int, str] = (0, "")
        self._waiters: list[asyncio.Future[None]] = []
        self._current_cache: dict[tuple[object, ...], tuple[int, str]] = {}
        stamp = iso_timestamp(self.now())
        for item in self.model.items.values():
            self._initial(item, stamp)
        for device in self.model.devices:
            if device.element == "Agent":
                for item in device.data_items:
                    if item.type == "AVAILABILITY":
                        self.add(item, "AVAILABLE", stamp)

    # -- time ------------------------------------------------------------------------------------

    def now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def creation_time(self) -> str:
        second = int(self.now())
        if self._creation[0] != second:
            self._creation = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return self._creation[1]

    # -- observations ---------------------------------------------------------------------------

    def _initial(self, item: DataItem, stamp: str) -> None:
        if item.constant is not None:
            self.buffer.add(item, stamp, item.constant)
        elif item.is_condition:
            self.buffer.add(item, stamp, ConditionState(UNAVAILABLE))
        elif item.type in _ASSET_EVENTS:
            self.buffer.add(item, stamp, UNAVAILABLE, attributes='assetType="UNAVAILABLE"')
        else:
            self.buffer.add(item, stamp, UNAVAILABLE)

    def add(
        self, item: DataItem, value: object, timestamp: str | None = None, **extra: object
    ) -> Observation | None:
        """Record an observation of ``item`` (now, unless ``timestamp``); duplicates are dropped.

        Values: text for samples and events (``UNAVAILABLE`` for none), ``ConditionState`` for conditions,
        ``DataSetState`` for data sets and tables. Constant-valued items keep their constant.
        """
        if item.constant is not None and value != item.constant:
            return None
        obs = self.buffer.add(item, timestamp or iso_timestamp(self.now()), value, **extra)  # type: ignore[arg-type]
        if obs is not None and self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        return obs

    def make_unavailable(self, items: Iterable[DataItem], timestamp: str | None = None) -> None:
        """Set ``items`` UNAVAILABLE (once: items already unavailable get no new observation)."""
        stamp = timestamp or iso_timestamp(self.now())
        for item in items:
            if item.constant is not None:
                continue
            self.add(item, ConditionState(UNAVAILABLE) if item.is_condition else UNAVAILABLE, stamp)

    def wait_for_data(self) -> asyncio.Future[None]:
        """A future completed at the next new observation (for streaming)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        return future

    # -- assets -----------------------------------------------------------------------------------

    def add_asset(self, asset: Asset) -> None:
        """Add or replace an asset; the least recently added or updated one is evicted past ``max_assets``."""
        self.assets.pop(asset.asset_id, None)
        self.assets[asset.asset_id] = asset
        while len(self.assets) > self.max_assets:
            self.assets.popitem(last=False)
        self._asset_event("ASSET_CHANGED", asset.asset_id, asset.asset_type, asset.timestamp)

    def remove_asset(self, asset_id: str, timestamp: str | None = None) -> bool:
        asset = self.assets.get(asset_id)
        if asset is None or asset.removed:
            return False
        asset.removed = True
        self._asset_event("ASSET_REMOVED", asset_id, asset.asset_type, timestamp)
        return True

    def _asset_event(self, data_type: str, asset_id: str, asset_type: str, timestamp: str | None) -> None:
        for device in self.model.devices:
            if device.element == "Agent":
                for item in device.data_items:
                    if item.type == data_type:
                        self.add(item, asset_id, timestamp, attributes=f'assetType="{asset_type}"')

    # -- requests ---------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response | StreamPlan:
        """Answer one request, or return the plan of a streaming one; errors become error documents."""
        try:
            return self._route(request)
        except AgentError as exc:
            return self.error_response(exc, request)

    def error_response(self, exc: AgentError, request: Request) -> Response:
        doc = "MTConnectAssets" if "asset" in request.path else "MTConnectStreams"
        if request.path.rstrip("/").endswith("probe") or request.path == "/":
            doc = "MTConnectDevices"
        uri = request.raw_uri or request.path
        if request.wants_json:
            body = error_json(exc.errors, self.info, self.creation_time(), uri=uri, request=doc)
            return Response(exc.status, JSON_TYPE, body)
        body = error_document(exc.errors, self.info, self.creation_time(), uri=uri, request=doc)
        return Response(exc.status, XML_TYPE, body)

    def _route(self, request: Request) -> Response | StreamPlan:
        if request.method not in ("GET", "HEAD"):
            raise _error(
                "INTERNAL_ERROR",
                "PUT, POST, and DELETE are not allowed. "
                "MTConnect Agent is read only and only GET is allowed.",
            )
        parts = [p for p in request.path.split("/") if p]
        query = request.query
        js = request.wants_json
        device_type = query.get("deviceType")
        if device_type is not None and device_type not in ("Device", "Agent"):
            raise self._invalid_uri(request)
        if not parts:
            return self._probe(None, device_type, js)
        if len(parts) == 1:
            head = parts[0]
            if head == "probe":
                return self._probe(None, device_type, js)
            if head == "current":
                return self._current(None, query, device_type, js)
            if head == "sample":
                return self._sample(None, query, device_type, js)
            if head in ("assets", "asset"):
                return self._assets(None, query, js)
            return self._probe(head, device_type, js)
        if len(parts) == 2:
            head, tail = parts
            if head in ("assets", "asset"):
                return self._asset_ids(tail.split(";"), js)
            if tail == "probe":
                return self._probe(head, device_type, js)
            if tail == "current":
                return self._current(head, query, device_type, js)
            if tail == "sample":
                return self._sample(head, query, device_type, js)
            if tail in ("assets", "asset"):
                return self._assets(head, query, js)
        raise self._invalid_uri(request)

    def _invalid_uri(self, request: Request) -> AgentError:
        return _error(
            "INVALID_URI", f"{request.remote}: Cannot find handler for: {request.method} {request.path}", 404
        )

    # parameters

    @staticmethod
    def _int(
        query: Mapping[str, str], name: str, *, unsigned: bool, default: int | None = None
    ) -> int | None:
        raw = query.get(name)
        if raw is None:
            return default
        text = raw.strip()
        kind = "unsigned_integer" if unsigned else "integer"
        body = text[1:] if text[:1] in "+-" and not unsigned else text
        if not body.isdigit():
            raise _error(
                "INVALID_PARAMETER_VALUE",
                f"query parameter '{name}': cannot convert string '{raw}' to {kind}",
                parameter=name,
                value=raw,
                value_type=kind,
            )
        value = int(text)
        if unsigned:
            return value % 2**64
        return (value + 2**31) % 2**32 - 2**31  # wraps like the reference agent's int32

    @staticmethod
    def _check(name: str, value: int, low: int, high: int, *, not_zero: bool = False) -> None:
        """Raise OUT_OF_RANGE unless ``low < value < high`` (and non-zero), with cppagent's messages."""
        details: dict[str, Any] = {
            "parameter": name,
            "value": str(value),
            "minimum": low + 1,
            "maximum": high - 1,
        }
        if value <= low:
            raise _error("OUT_OF_RANGE", f"'{name}' must be greater than {low}", **details)
        if value >= high:
            raise _error("OUT_OF_RANGE", f"'{name}' must be less than {high}", **details)
        if not_zero and value == 0:
            raise _error("OUT_OF_RANGE", f"'{name}' must not be zero(0)", **details)

    # devices and paths

    def _devices(self, name: str | None, device_type: str | None) -> list[Device]:
        if name is not None:
            device = self.model.device(name)
            if device is None:
                raise _error("NO_DEVICE", f"Could not find the device '{name}'", 404)
            devices = [device]
        else:
            devices = list(self.model.devices)
        if device_type == "Agent":
            devices = [d for d in devices if d.element == "Agent"]
        elif device_type == "Device":
            devices = [d for d in devices if d.element != "Agent"]
        return devices

    def _items(self, devices: list[Device], path: str | None) -> frozenset[str] | None:
        """The data item ids selected by ``devices`` and ``path`` (None: every item of every device)."""
        if path is None and len(devices) == len(self.model.devices):
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
                raise _error(
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
                raise _error("INVALID_XPATH", f"The path could not be parsed. Invalid syntax: {path}")
        result = frozenset(allowed)
        self._paths[key] = result
        return result

    # probe

    def _probe(self, name: str | None, device_type: str | None, js: bool) -> Response:
        devices = self._devices(name, device_type)
        asset_count = sum(1 for a in self.assets.values() if not a.removed)
        if js:
            return Response(
                200,
                JSON_TYPE,
                devices_json(self.model, devices, self.info, self.creation_time(), asset_count),
            )
        body = devices_document(self.model, devices, self.info, self.creation_time(), asset_count)
        return Response(200, XML_TYPE, body)

    # current

    def _current(
        self, name: str | None, query: Mapping[str, str], device_type: str | None, js: bool
    ) -> Response | StreamPlan:
        devices = self._devices(name, device_type)
        items = self._items(devices, query.get("path"))
        at = self._int(query, "at", unsigned=True)
        interval = self._int(query, "interval", unsigned=False)
        if interval is not None:
            if at is not None:
                raise _error("INVALID_REQUEST", "'at' cannot be used with an interval (streaming)")
            self._check("interval", interval, 0, INT32_MAX)
            return StreamPlan("current", devices, items, interval, 10_000, 0, json=js)
        if js:
            return Response(200, JSON_TYPE, self.current_document(items, at, js=True))
        return Response(200, XML_TYPE, self.current_document(items, at))

    def current_document(
        self, items: frozenset[str] | None, at: int | None = None, *, js: bool = False
    ) -> str:
        """The /current document for ``items`` (None: all), as of ``at`` or now; cached until new data."""
        buffer = self.buffer
        if at is not None:
            self._check("at", at, buffer.first_sequence - 1, buffer.next_sequence)
            state: Snapshot = buffer.snapshot_at(at)
            nxt = at + 1
        else:
            key = (items, self.creation_time(), js)
            cached = self._current_cache.get(key)
            if cached is not None and cached[0] == buffer.next_sequence:
                return cached[1]
            state, nxt = buffer.latest, buffer.next_sequence
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
            self.model,
            observations,
            self.info,
            self.creation_time(),
            (nxt, buffer.first_sequence, buffer.last_sequence),
        )
        if at is None:
            if len(self._current_cache) > 256:
                self._current_cache.clear()
            self._current_cache[(items, self.creation_time(), js)] = (buffer.next_sequence, doc)
        return doc

    # sample

    def _sample(
        self, name: str | None, query: Mapping[str, str], device_type: str | None, js: bool
    ) -> Response | StreamPlan:
        devices = self._devices(name, device_type)
        items = self._items(devices, query.get("path"))
        start = self._int(query, "from", unsigned=True)
        to = self._int(query, "to", unsigned=True)
        count = self._int(query, "count", unsigned=False, default=100)
        assert count is not None
        interval = self._int(query, "interval", unsigned=False)
        heartbeat = self._int(query, "heartbeat", unsigned=False, default=10_000)
        assert heartbeat is not None
        size = self.buffer.size
        self._check("count", count, -size - 1, size + 1, not_zero=True)
        if interval is not None:
            self._check("interval", interval, -1, INT32_MAX)
            self._check("heartbeat", heartbeat, 1, INT32_MAX)
            if start is not None:
                self._check("from", start, self.buffer.first_sequence - 1, self.buffer.next_sequence + 1)
            begin = start if start is not None else self.buffer.next_sequence
            return StreamPlan("sample", devices, items, interval, heartbeat, count, begin, json=js)
        doc, _, _ = self.sample_document(items, start, to, count, js=js)
        return Response(200, JSON_TYPE if js else XML_TYPE, doc)

    def sample_chunk(
        self, items: frozenset[str] | None, start: int, count: int, *, js: bool = False
    ) -> tuple[str, int, int]:
        """One part of a sample stream from ``start``: (document, its nextSequence, observations in it)."""
        return self.sample_document(items, min(start, self.buffer.next_sequence), None, count, js=js)

    def sample_document(
        self, items: frozenset[str] | None, start: int | None, to: int | None, count: int, *, js: bool = False
    ) -> tuple[str, int, int]:
        """The /sample document, its nextSequence and how many observations it holds.

        Raises:
            AgentError: ``from``, ``to`` or ``count`` out of range.
        """
        buffer = self.buffer
        first, nxt = buffer.first_sequence, buffer.next_sequence
        if start is not None:
            self._check("from", start, first - 1, nxt + 1)
        if to is not None:
            self._check("to", to, start if start is not None else first, nxt + 1)
            if count < 0:
                raise _error("OUT_OF_RANGE", "'count' must be greater than 0 when 'to' is given")
        selected: list[Observation] = []
        matches = items.__contains__ if items is not None else None
        if to is not None:
            lower = start if start is not None else first
            for obs in buffer.backward(to, lower):
                if matches is None or matches(obs.item.id):
                    selected.append(obs)
                    if len(selected) >= count:
                        break
            selected.reverse()
            next_sequence = min(to + 1, nxt)
        elif count < 0:
            top = start if start is not None else nxt - 1
            next_sequence = first
            for obs in buffer.backward(top, first):
                if matches is None or matches(obs.item.id):
                    selected.append(obs)
                    if len(selected) >= -count:
                        next_sequence = obs.sequence - 1
                        break
            selected.reverse()
        else:
            begin = start if start is not None else first
            next_sequence = nxt
            for obs in buffer.forward(begin, nxt):
                if matches is None or matches(obs.item.id):
                    selected.append(obs)
                    if len(selected) >= count:
                        next_sequence = obs.sequence + 1
                        break
        render = streams_json if js else streams_document
        doc = render(
            self.model,
            selected,
            self.info,
            self.creation_time(),
            (next_sequence, first, buffer.last_sequence),
        )
        return doc, next_sequence, len(selected)

    # assets

    def _assets(self, device_name: str | None, query: Mapping[str, str], js: bool) -> Response:
        count = self._int(query, "count", unsigned=False, default=100)
        assert count is not None
        asset_type = query.get("type")
        removed = query.get("removed", "false").lower() == "true"
        device_filter = device_name or query.get("device")
        uuid = None
        if device_filter is not None:
            device = self.model.device(device_filter)
            if device is None:
                raise _error("NO_DEVICE", f"Could not find the device '{device_filter}'", 404)
            uuid = device.uuid
        chosen = []
        for asset in reversed(self.assets.values()):
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
        live = sum(1 for a in self.assets.values() if not a.removed)
        if js:
            return Response(200, JSON_TYPE, assets_json(xml, self.info, self.creation_time(), live))
        return Response(200, XML_TYPE, assets_document(xml, self.info, self.creation_time(), live))

    def _asset_ids(self, ids: list[str], js: bool) -> Response:
        missing = [i for i in ids if i not in self.assets]
        if missing:
            errors = [ErrorInfo("ASSET_NOT_FOUND", f"Cannot find asset: {i}", asset_id=i) for i in missing]
            raise AgentError(errors, 404)
        return self._assets_response([self.assets[i].xml for i in ids], js)
