"""The MTConnect agent's state and request semantics (cppagent 2.7), independent of any HTTP server.

Wiring::

    sources (twin bridge, SHDR clients, replay) ──add()──> ObservationBuffer ──> probe/current/sample
                                                  └──────> assets store      ──> assets
    HTTP front (agent_sim.http) ── Request ──> Agent.handle() ── Response (status, type, body)

``Agent.handle`` routes and validates a request exactly as the reference agent does (route order, typed
query parameters, ranges, XPath, devices) and renders the answer; streaming requests are planned here and
driven by the HTTP front.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import socket
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from agent_sim.buffer import (
    UNAVAILABLE,
    ConditionState,
    DataSetState,
    Observation,
    ObservationBuffer,
    Snapshot,
)
from agent_sim.devices import DataItem, Device, DeviceModel, load_devices, verify_devices
from agent_sim.render_json import JSON_TYPE, assets_json, devices_json, error_json, streams_json
from agent_sim.render_xml import (
    SCHEMA_VERSIONS,
    ErrorInfo,
    HeaderInfo,
    assets_document,
    devices_document,
    error_document,
    streams_document,
    xml_escape,
)

__all__ = ["Agent", "AgentError", "Asset", "Request", "Response", "StreamPlan", "adapter_id", "iso_timestamp"]

XML_TYPE = "application/xml"
"""The XML media type of cppagent 2.6+ (agents up to 2.5 sent ``text/xml``)."""
_ASSET_EVENTS = frozenset({"ASSET_CHANGED", "ASSET_REMOVED"})
INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1
READ_ONLY_MESSAGE = (
    "PUT, POST, and DELETE are not allowed. MTConnect Agent is read only and only GET is allowed."
)
"""The reference agent's answer to any method but GET when ``AllowPut`` is off (``session_impl.cpp``)."""

_LEADING_INTEGER = re.compile(r"\s*([+-]?\d+)")
"""What ``strtoll``/``strtoull`` read: leading space, a sign, digits; anything after them is ignored."""

_STRING, _BOOL, _INTEGER, _UNSIGNED = "string", "bool", "integer", "unsigned_integer"
_ROUTE_PARAMETERS: dict[str, dict[str, str]] = {
    "probe": {"pretty": _BOOL, "deviceType": _STRING, "format": _STRING},
    "current": {
        "path": _STRING,
        "at": _UNSIGNED,
        "interval": _INTEGER,
        "pretty": _BOOL,
        "deviceType": _STRING,
        "format": _STRING,
    },
    "sample": {
        "path": _STRING,
        "from": _UNSIGNED,
        "interval": _INTEGER,
        "count": _INTEGER,
        "heartbeat": _INTEGER,
        "to": _UNSIGNED,
        "pretty": _BOOL,
        "deviceType": _STRING,
        "format": _STRING,
    },
    "assets": {
        "type": _STRING,
        "removed": _BOOL,
        "count": _INTEGER,
        "device": _STRING,
        "pretty": _BOOL,
        "format": _STRING,
    },
    "asset_ids": {},
}
"""The typed query parameters of each route (``rest_service.cpp`` routings); others are ignored."""
_DOCUMENT = {
    "probe": "MTConnectDevices",
    "current": "MTConnectStreams",
    "sample": "MTConnectStreams",
    "assets": "MTConnectAssets",
    "asset_ids": "MTConnectAssets",
}


class AgentError(Exception):
    """A request the agent refuses: the errors to report, the HTTP status, and the document requested."""

    def __init__(self, errors: list[ErrorInfo], status: int, document: str | None = None) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors
        self.status = status
        self.document = document
        """The document type asked for (``MTConnectStreams``...), once a route matched; else ``None``."""


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
    """An HTTP request as the agent sees it: method, URL-decoded path and query, Accept header, client."""

    method: str
    path: str
    query: Mapping[str, str]
    accept: str = ""
    remote: str = "127.0.0.1"

    @property
    def wants_json(self) -> bool:
        """``format=json|xml`` wins; otherwise the first Accept entry ending in json or xml (default XML).

        As ``RestService::getPrinter``: an unknown ``format`` falls back to Accept, and Accept entries are
        compared as sent (``application/json;q=0.9`` ends in neither).
        """
        fmt = self.query.get("format")
        if fmt in ("json", "xml"):
            return fmt == "json"
        for entry in self.accept.split(","):
            if entry.endswith("json"):
                return True
            if entry.endswith("xml"):
                return False
        return False

    @property
    def uri(self) -> str:
        """The request as the 2.6+ error documents report it: the path, then the decoded query by key."""
        if not self.query:
            return self.path
        return self.path + "?" + "&".join(f"{key}={value}" for key, value in sorted(self.query.items()))


@dataclass(frozen=True, slots=True)
class Response:
    """A complete answer: status, media type, body, and any extra header fields (such as ``Allow``)."""

    status: int
    content_type: str
    body: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class StreamPlan:
    """A streaming request, validated: what to send and how often.

    ``next_sequence`` is where a sample stream starts (``None``: at the first sequence in the buffer).
    """

    kind: str
    devices: list[Device]
    items: frozenset[str] | None
    interval_ms: int
    heartbeat_ms: int
    count: int
    next_sequence: int | None = None
    json: bool = False


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


def _segments(path: str) -> list[str] | None:
    """The segments of a request path; ``None`` when it cannot match a route (empty segments)."""
    if not path.startswith("/"):
        return None
    body = path[1:-1] if path.endswith("/") and len(path) > 1 else path[1:]
    parts = body.split("/") if body else []
    return None if any(not part for part in parts) else parts


def _routes(parts: list[str]) -> Iterator[tuple[str, str | None]]:
    """The routes a path matches, in the reference agent's routing order: (route, path parameter)."""
    count = len(parts)
    for kind in ("current", "sample"):
        if count == 1 and parts[0] == kind:
            yield kind, None
        if count == 2 and parts[1] == kind:
            yield kind, parts[0]
    if count == 1 and parts[0] in ("asset", "assets"):
        yield "assets", None
    if count == 2 and parts[1] in ("asset", "assets"):
        yield "assets", parts[0]
    if count == 2 and parts[0] in ("asset", "assets"):
        yield "asset_ids", parts[1]
    if count == 1 and parts[0] == "probe":
        yield "probe", None
    if count == 2 and parts[1] == "probe":
        yield "probe", parts[0]
    if count == 0:
        yield "probe", None
    if count == 1:
        yield "probe", parts[0]  # "Must be last": /{device} is a probe too


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
        first_sequence: int = 1,
        adapters: Sequence[str] = (),
    ) -> None:
        """Start an agent for ``devices`` (a model, or a devices document to read leniently).

        ``first_sequence`` is the first sequence number to assign (1, as the reference agent starts; a
        large value exercises 64-bit sequences). ``adapters`` are the URIs (``shdr://host:port``) of the
        SHDR adapters that feed it: from schema 2.4 (the first here whose XSD has them) the Agent device has
        an ``Adapter`` component for each, with its connection status and versions.

        Raises:
            ValueError: an unknown schema version or a bad buffer setting.
        """
        if schema_version not in SCHEMA_VERSIONS:
            raise ValueError(f"schema version {schema_version!r} is not one of {', '.join(SCHEMA_VERSIONS)}")
        self.schema_version = schema_version
        major, minor = schema_version.split(".")[:2]
        version = (int(major), int(minor))
        self._version = version
        self._clock = clock
        self.instance_id = int(self.now())
        model = devices if isinstance(devices, DeviceModel) else load_devices(devices)
        model = verify_devices(model, schema_version)
        if agent_device and version >= (1, 7) and not any(d.element == "Agent" for d in model.devices):
            ident = f"agent_{self.instance_id:x}"
            ids = ["agent_avail", "device_added", "device_removed", "device_changed"]
            if set(ids) & model.items.keys():
                ids = [f"{ident}_{i}" for i in ids]
            listed = adapters if version >= (2, 4) else ()
            agent_xml = _agent_device_xml(f"mestwin-{ident}", ident, ids, version >= (2, 0), listed)
            agent_model = load_devices(f"<Devices>{agent_xml}</Devices>")
            model = DeviceModel([*agent_model.devices, *model.devices], model.namespaces)
        self._hashes: dict[str, str] = {}
        if version >= (2, 2):
            hashed = [_with_hash(d) for d in model.devices]
            self._hashes = {device.id: digest for device, digest in hashed}
            model = DeviceModel([device for device, _ in hashed], model.namespaces)
        self.model = model
        self.buffer = ObservationBuffer(buffer_size_exponent, checkpoint_frequency, first_sequence)
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
        for item in self._agent_items("AVAILABILITY"):
            self.add(item, "AVAILABLE", stamp)
        for uri in adapters:
            self.adapter_status(uri, "CONNECTION_STATUS", "LISTEN")
        for item in self._agent_items("DEVICE_ADDED"):
            for device in self.model.devices:
                digest = self._hashes.get(device.id)
                self.add(item, device.uuid, stamp, attributes=f'hash="{digest}"' if digest else None)

    # -- time ------------------------------------------------------------------------------------

    def now(self) -> float:
        """The agent's clock, in epoch seconds."""
        return float(self._clock())  # type: ignore[operator]

    def creation_time(self) -> str:
        """The header's ``creationTime``: UTC to the second."""
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

    def adapter_item(self, uri: str, data_type: str) -> DataItem | None:
        """The Agent device's item of ``data_type`` for the adapter at ``uri`` (None when it has none)."""
        return self.model.items.get(f"{adapter_id(uri)}_{data_type.lower()}")

    def adapter_status(self, uri: str, data_type: str, value: str) -> None:
        """Report an adapter's CONNECTION_STATUS, ADAPTER_SOFTWARE_VERSION or MTCONNECT_VERSION."""
        item = self.adapter_item(uri, data_type)
        if item is not None:
            self.add(item, value)

    def _agent_items(self, data_type: str) -> Iterator[DataItem]:
        for device in self.model.devices:
            if device.element == "Agent":
                for item in device.data_items:
                    if item.type == data_type:
                        yield item

    def add(
        self, item: DataItem, value: object, timestamp: str | None = None, **extra: object
    ) -> Observation | None:
        """Record an observation of ``item`` (now, unless ``timestamp``); duplicates are dropped.

        Values: text for samples and events (``UNAVAILABLE`` for none), ``ConditionState`` for conditions,
        ``DataSetState`` for data sets and tables. Constant-valued items keep their constant. A device's
        AVAILABILITY going AVAILABLE sets its unavailable items that declare an ``<InitialValue>``. An
        active condition gets its native code as ``conditionId`` from schema 2.3 on.

        Returns:
            The observation, or ``None`` when it was dropped.
        """
        if item.constant is not None and value != item.constant:
            return None
        if isinstance(value, ConditionState) and value.active:
            value = self._condition_id(value)
        stamp = timestamp or iso_timestamp(self.now())
        obs = self.buffer.add(item, stamp, value, **extra)  # type: ignore[arg-type]
        if obs is None:
            return None
        if item.type == "AVAILABILITY" and value == "AVAILABLE":
            self._initial_values(item.device_id, stamp)
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        return obs

    def _condition_id(self, value: ConditionState) -> ConditionState:
        """From schema 2.3 an active condition has a ``conditionId`` (the native code unless given);
        before 2.3 there is none."""
        if self._version < (2, 3):
            return replace(value, condition_id=None) if value.condition_id is not None else value
        if value.condition_id is None and value.native_code is not None:
            return replace(value, condition_id=value.native_code)
        return value

    def _initial_values(self, device_id: str, stamp: str) -> None:
        for item in self.model.items.values():
            if item.device_id == device_id and item.initial_value is not None and self._unavailable(item):
                self.add(item, item.initial_value, stamp)

    def _unavailable(self, item: DataItem) -> bool:
        entry = self.buffer.latest.get(item.id)
        if entry is None:
            return True
        if isinstance(entry, tuple):
            return (
                len(entry) == 1
                and isinstance(entry[0].value, ConditionState)
                and (entry[0].value.level == UNAVAILABLE)
            )
        return entry.value == UNAVAILABLE

    def make_unavailable(self, items: Iterable[DataItem], timestamp: str | None = None) -> None:
        """Set ``items`` UNAVAILABLE once: items already unavailable (discrete ones too) and constant-valued
        items get no new observation."""
        stamp = timestamp or iso_timestamp(self.now())
        for item in items:
            if item.constant is not None or self._unavailable(item):
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
        evicted: set[str] = set()
        while len(self.assets) > self.max_assets:
            evicted.add(self.assets.popitem(last=False)[1].asset_type)
        self._asset_event("ASSET_CHANGED", asset, asset.timestamp)
        for asset_type in dict.fromkeys([asset.asset_type, *sorted(evicted)]):
            self._asset_count(asset_type, asset.timestamp)

    def remove_asset(self, asset_id: str, timestamp: str | None = None) -> bool:
        """Mark an asset removed (it stays listed with ``removed=true``).

        Returns:
            Whether there was a live asset with that id.
        """
        asset = self.assets.get(asset_id)
        if asset is None or asset.removed:
            return False
        asset.removed = True
        self._asset_event("ASSET_REMOVED", asset, timestamp)
        # An AssetChanged that still shows the removed asset goes UNAVAILABLE (cppagent notifyAssetRemoved).
        for item in self._asset_items("ASSET_CHANGED", asset):
            latest = self.buffer.latest.get(item.id)
            if isinstance(latest, Observation) and latest.value == asset_id:
                self.add(item, UNAVAILABLE, timestamp, attributes='assetType="UNAVAILABLE"')
        self._asset_count(asset.asset_type, timestamp)
        return True

    def asset_counts(self) -> dict[str, int]:
        """The number of live (not removed) assets of each type."""
        counts: dict[str, int] = {}
        for asset in self.assets.values():
            if not asset.removed:
                counts[asset.asset_type] = counts.get(asset.asset_type, 0) + 1
        return counts

    def _asset_items(self, data_type: str, asset: Asset) -> Iterator[DataItem]:
        """The items of ``data_type`` that report ``asset``: the Agent device's and its own device's."""
        yield from self._agent_items(data_type)
        owner = self.model.device(asset.device_uuid)
        if owner is not None and owner.element != "Agent":
            for item in owner.data_items:
                if item.type == data_type:
                    yield item

    def _asset_event(self, data_type: str, asset: Asset, timestamp: str | None) -> None:
        attributes = f'assetType="{xml_escape(asset.asset_type)}"'
        for item in self._asset_items(data_type, asset):
            self.add(item, asset.asset_id, timestamp, attributes=attributes)

    def _asset_count(self, asset_type: str, timestamp: str | None) -> None:
        count = self.asset_counts().get(asset_type, 0)
        for item in self._agent_items("ASSET_COUNT"):
            self.add(item, DataSetState(((asset_type, count or None),)), timestamp)

    # -- requests ---------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response | StreamPlan:
        """Answer one request, or return the plan of a streaming one; errors become error documents."""
        try:
            return self._route(request)
        except AgentError as exc:
            return self.error_response(exc, request)

    def error_response(self, exc: AgentError, request: Request) -> Response:
        """The error document for ``exc`` (JSON or XML as the request asks), with ``exc.status``."""
        document = exc.document or ""
        if request.wants_json:
            body = error_json(exc.errors, self.info, self.creation_time(), uri=request.uri, request=document)
            return Response(exc.status, JSON_TYPE, body)
        body = error_document(exc.errors, self.info, self.creation_time(), uri=request.uri, request=document)
        return Response(exc.status, XML_TYPE, body)

    def _route(self, request: Request) -> Response | StreamPlan:
        """Dispatch as ``Server::dispatch``: the first route whose path matches converts its typed query
        parameters (a bad one fails the request) and may still decline; nothing left is INVALID_URI."""
        parts = _segments(request.path)
        routes = list(_routes(parts)) if parts is not None else []
        if request.method == "GET":
            return self._dispatch_routes(routes, request)
        if request.method != "OPTIONS":
            raise _error("INTERNAL_ERROR", READ_ONLY_MESSAGE)
        if not routes:
            raise self._invalid_uri(request)
        return Response(204, "text/plain", "", (("Allow", "GET, OPTIONS"),))

    def _invalid_uri(self, request: Request) -> AgentError:
        return _error(
            "INVALID_URI", f"{request.remote}: Cannot find handler for: {request.method} {request.path}", 404
        )

    def _dispatch_routes(
        self, routes: list[tuple[str, str | None]], request: Request
    ) -> Response | StreamPlan:
        for kind, argument in routes:
            values = self._parameters(kind, request.query)
            try:
                result = self._dispatch(kind, argument, values, request)
            except AgentError as exc:
                exc.document = exc.document or _DOCUMENT[kind]
                raise
            if result is not None:
                return result
        raise self._invalid_uri(request)

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

    # parameters

    @staticmethod
    def _parameters(kind: str, query: Mapping[str, str]) -> dict[str, Any]:
        """The typed query parameters of a route, converted in name order as ``Routing::matches`` does.

        Raises:
            AgentError: INVALID_PARAMETER_VALUE for a value that does not start with a number.
        """
        values: dict[str, Any] = {}
        for name, kind_of in sorted(_ROUTE_PARAMETERS[kind].items()):
            raw = query.get(name)
            if raw is None:
                continue
            if kind_of == _STRING:
                values[name] = raw
            elif kind_of == _BOOL:
                values[name] = raw in ("true", "yes")
            else:
                values[name] = Agent._number(name, raw, unsigned=kind_of == _UNSIGNED)
        return values

    @staticmethod
    def _number(name: str, raw: str, *, unsigned: bool) -> int:
        """Read a number as ``strtoll``/``strtoull``: leading digits count, the rest is ignored; signed values
        saturate at 64 bits and wrap to int32 (so 999999999999999999 is -1486618625), unsigned ones wrap at
        64 bits (so -1 is 2**64-1)."""
        match = _LEADING_INTEGER.match(raw)
        if match is None:
            kind = "unsigned integer" if unsigned else "integer"
            raise _error(
                "INVALID_PARAMETER_VALUE",
                f"query parameter '{name}': cannot convert string '{raw}' to {kind}",
                parameter=name,
                value=raw,
                value_type=_UNSIGNED if unsigned else _INTEGER,
            )
        value = int(match.group(1))
        if unsigned:
            if abs(value) > _UINT64_MAX:
                return _UINT64_MAX
            return value % 2**64
        value = max(-_INT64_MAX - 1, min(_INT64_MAX, value))
        return (value + 2**31) % 2**32 - 2**31

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

    def _device(self, name: str) -> Device:
        device = self.model.device(name)
        if device is None:
            raise _error("NO_DEVICE", f"Could not find the device '{name}'", 404)
        return device

    def _devices(self, name: str | None, device_type: str | None) -> list[Device]:
        """The device named (regardless of ``deviceType``), else every device of ``deviceType``."""
        if name is not None:
            return [self._device(name)]
        if device_type == "Agent":
            return [d for d in self.model.devices if d.element == "Agent"]
        if device_type == "Device":
            return [d for d in self.model.devices if d.element != "Agent"]
        return list(self.model.devices)

    def _items(self, devices: list[Device], path: str | None) -> frozenset[str] | None:
        """The data item ids selected by ``devices`` and ``path`` (None: every item of every device).

        Raises:
            AgentError: INVALID_XPATH when ``path`` does not parse or selects no data item.
        """
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
            raise _error("INVALID_XPATH", f"The path could not be parsed. Invalid syntax: {path or ''}")
        result = frozenset(allowed)
        self._paths[key] = result
        return result

    # probe

    def _probe(self, name: str | None, values: Mapping[str, Any], path: str, js: bool) -> Response | None:
        """The probe; declines (``None``) an unknown ``/{device}`` and a ``deviceType`` other than Device or
        Agent, which then end as INVALID_URI, as in ``createProbeRoutings``."""
        device_type = values.get("deviceType")
        if name is not None and not path.endswith("probe") and self.model.device(name) is None:
            return None
        if device_type is not None and device_type not in ("Device", "Agent"):
            return None
        devices = self._devices(name, device_type)
        asset_count = sum(1 for a in self.assets.values() if not a.removed)
        if js:
            return Response(
                200,
                JSON_TYPE,
                devices_json(self.model, devices, self.info, self.creation_time(), asset_count),
            )
        body = devices_document(
            self.model, devices, self.info, self.creation_time(), asset_count, self.asset_counts()
        )
        return Response(200, XML_TYPE, body)

    # current

    def _current(self, name: str | None, values: Mapping[str, Any], js: bool) -> Response | StreamPlan | None:
        if values.get("deviceType") not in (None, "Device", "Agent"):
            return None  # as for the probe: INVALID_URI
        interval = values.get("interval")
        if interval is not None:
            # A current stream re-sends /current every interval; ``at`` plays no part in it.
            self._check("interval", interval, 0, INT32_MAX)
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
        buffer = self.buffer
        if at is not None:
            self._check("at", at, buffer.first_sequence - 1, buffer.next_sequence)
            state: Snapshot = buffer.snapshot_at(at)
        else:
            key = (items, self.creation_time(), js)
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
            self.model,
            observations,
            self.info,
            self.creation_time(),
            (buffer.next_sequence, buffer.first_sequence, buffer.last_sequence),
        )
        if at is None:
            if len(self._current_cache) > 256:
                self._current_cache.clear()
            self._current_cache[(items, self.creation_time(), js)] = (buffer.next_sequence, doc)
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
            self._check("interval", interval, -1, INT32_MAX)
            self._check("heartbeat", heartbeat, 1, INT32_MAX)
            if start is not None:
                self._check("from", start, self.buffer.first_sequence - 1, self.buffer.next_sequence + 1)
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
            start = min(start, self.buffer.next_sequence)
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
        buffer = self.buffer
        first, nxt = buffer.first_sequence, buffer.next_sequence
        if start is not None:
            self._check("from", start, first - 1, nxt + 1)
        if to is not None:
            self._check("to", to, start if start is not None else first, nxt + 1)
        self._check("count", count, -buffer.size - 1 if to is None else 0, buffer.size + 1, not_zero=True)
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
            self.model,
            selected,
            self.info,
            self.creation_time(),
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
        device = self.model.device(device_filter) if device_filter is not None else None
        uuid = device.uuid if device is not None else None
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

    def _asset_ids(self, argument: str, js: bool) -> Response:
        """The assets named in ``a;b;c``; ASSET_NOT_FOUND (one error per id) only when none is known."""
        ids = argument.split(";")
        if ids and not ids[-1]:
            ids.pop()  # as getline: a trailing separator adds no empty id
        found = [self.assets[i].xml for i in ids if i in self.assets]
        if not found:
            errors = [ErrorInfo("ASSET_NOT_FOUND", f"Cannot find asset: {i}", asset_id=i) for i in ids]
            raise AgentError(errors, 404)
        return self._assets_response(found, js)
