"""The MTConnect agent (cppagent 2.7): devices, observations and assets, and its answers to requests.

Wiring::

    sources (twin bridge, SHDR clients, replay) ──add()──> ObservationBuffer ──> probe/current/sample
                                                  └──────> assets store      ──> assets
    HTTP front (agent_sim.http) ── Request ──> Agent.handle() ── Response (status, type, body)
                                                  └──> RestService (agent_sim.rest_service)

``Agent.handle`` hands a request to the agent's ``RestService``, which routes and validates it exactly as
the reference agent does (route order and typed query parameters as in ``agent_sim.rest``, ranges, XPath,
devices) and renders the answer; streaming requests are planned there and driven by the HTTP front. The
agent's own Agent device and device hashes come from ``agent_sim.agent_device``. Independent of any HTTP
server.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from agent_sim.agent_device import adapter_id, with_agent_device, with_hashes
from agent_sim.buffer import (
    UNAVAILABLE,
    ConditionState,
    DataSetState,
    Observation,
    ObservationBuffer,
)
from agent_sim.devices import DataItem, DeviceModel, load_devices, verify_devices
from agent_sim.render_xml import SCHEMA_VERSIONS, HeaderInfo, xml_escape
from agent_sim.rest import AgentError, Request, Response, StreamPlan
from agent_sim.rest_service import RestService
from agent_sim.timestamps import utc_formatter

__all__ = ["Agent", "Asset", "Request", "Response", "iso_timestamp"]

_ASSET_EVENTS = frozenset({"ASSET_CHANGED", "ASSET_REMOVED"})


iso_timestamp = utc_formatter()
"""An observation timestamp: ISO 8601 UTC with microseconds, from epoch seconds."""


@dataclass(slots=True)
class Asset:
    """An asset (e.g. a CuttingTool) as an XML element, with its bookkeeping."""

    asset_id: str
    asset_type: str
    device_uuid: str
    timestamp: str
    xml: str
    removed: bool = False


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
        if agent_device:
            model = with_agent_device(model, version, self.instance_id, adapters)
        hashes: dict[str, str] = {}
        if version >= (2, 2):
            model, hashes = with_hashes(model)
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
        self._creation: tuple[int, str] = (0, "")
        self._waiters: list[asyncio.Future[None]] = []
        self._rest = RestService(self)
        stamp = iso_timestamp(self.now())
        for item in self.model.items.values():
            self._initial(item, stamp)
        for item in self._agent_items("AVAILABILITY"):
            self.add(item, "AVAILABLE", stamp)
        for uri in adapters:
            self.adapter_status(uri, "CONNECTION_STATUS", "LISTEN")
        for item in self._agent_items("DEVICE_ADDED"):
            for device in self.model.devices:
                digest = hashes.get(device.id)
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

    # -- requests (answered by the RestService) -------------------------------------------------

    def handle(self, request: Request) -> Response | StreamPlan:
        """Answer one request, or return the plan of a streaming one; errors become error documents."""
        return self._rest.handle(request)

    def error_response(self, exc: AgentError, request: Request) -> Response:
        """The error document for ``exc`` (JSON or XML as the request asks), with ``exc.status``."""
        return self._rest.error_response(exc, request)

    def current_document(
        self, items: frozenset[str] | None, at: int | None = None, *, js: bool = False
    ) -> str:
        """The /current document for ``items`` (see ``RestService.current_document``)."""
        return self._rest.current_document(items, at, js=js)

    def sample_chunk(
        self, items: frozenset[str] | None, start: int | None, count: int, *, js: bool = False
    ) -> tuple[str, int, int]:
        """One part of a sample stream from ``start`` (see ``RestService.sample_chunk``)."""
        return self._rest.sample_chunk(items, start, count, js=js)

    def sample_document(
        self, items: frozenset[str] | None, start: int | None, to: int | None, count: int, *, js: bool = False
    ) -> tuple[str, int, int]:
        """The /sample document, its nextSequence and how many observations it holds (see
        ``RestService.sample_document``)."""
        return self._rest.sample_document(items, start, to, count, js=js)
