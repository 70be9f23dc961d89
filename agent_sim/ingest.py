"""SHDR records from one adapter onto an agent's data items, with the reference agent's rules.

Keys are looked up by id, then name, then source (``device:key`` picks another device); an unknown key is
logged once and skipped; a malformed value is counted and the rest of its line dropped, never the
connection. In legacy mode (``shdrVersion`` 1) a multi-field value (condition, message, time series...)
ends its line. Event values are upper-cased unless told otherwise. Assets go to the agent's asset store.
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass, field

from agent_sim.agent import Agent, Asset
from agent_sim.buffer import UNAVAILABLE, ConditionState, DataSetState
from agent_sim.devices import DataItem, Device
from agent_sim.render_xml import xml_escape
from agent_sim.shdr import (
    AlarmValue,
    AssetCommand,
    Command,
    ConditionValue,
    DataLine,
    DataSetValue,
    Decoded,
    Malformed,
    MessageValue,
    ResetValue,
    TableValue,
    TimeSeriesValue,
    take_value,
)
from agent_sim.timestamps import utc_formatter

__all__ = ["IngestStats", "ShdrIngest"]

log = logging.getLogger(__name__)

_SINGLE_TOKEN = frozenset({"SAMPLE", "EVENT", "DATA_SET", "TABLE"})
# The reference agent upcases with C toupper() byte by byte: ASCII letters only, UTF-8 text left as it is.
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def _upcase(text: str) -> str:
    return text.upper() if text.isascii() else text.translate(_ASCII_UPPER)


@dataclass(slots=True)
class IngestStats:
    """What an adapter sent: records handled, data lines, observations kept, malformed lines, unknown keys."""

    records: int = 0
    lines: int = 0
    observations: int = 0
    malformed: int = 0
    unknown_keys: set[str] = field(default_factory=set)


class ShdrIngest:
    """Applies one adapter's decoded SHDR records to ``agent`` for ``device``."""

    def __init__(
        self,
        agent: Agent,
        device: Device,
        *,
        upcase_values: bool = True,
        ignore_timestamps: bool = False,
        adapter_uri: str | None = None,
    ) -> None:
        self.agent = agent
        self.adapter_uri = adapter_uri
        """The adapter's URI, under which ``* adapterVersion:`` and ``* mtconnectVersion:`` are reported."""
        self.device = device
        self.upcase_values = upcase_values
        self.ignore_timestamps = ignore_timestamps
        self.shdr_version = 1
        self.synced = ""
        """The value of the last ``* sync:`` marker applied."""
        self.touched: set[DataItem] = set()
        """Data items this adapter has set: they go UNAVAILABLE when it disconnects."""
        self.stats = IngestStats()
        self._stamp = utc_formatter()

    def handle(self, record: Decoded) -> None:
        """Apply one record; never raises for bad input."""
        self.stats.records += 1
        if isinstance(record, DataLine):
            self._line(record)
        elif isinstance(record, Command):
            self._command(record)
        elif isinstance(record, AssetCommand):
            self._asset(record)
        else:
            self._malformed(record)

    def _malformed(self, record: Malformed) -> None:
        self.stats.malformed += 1
        if self.stats.malformed <= 10:
            log.warning("skipped a malformed SHDR line (%s): %.200s", record.reason, record.line)

    def _timestamp(self, line: DataLine | AssetCommand) -> str:
        epoch = line.timestamp.epoch
        if epoch is None or self.ignore_timestamps:
            epoch = self.agent.now()  # the agent's clock, which tests and scenarios inject
        return self._stamp(epoch)

    def _line(self, line: DataLine) -> None:
        self.stats.lines += 1
        tokens = line.tokens
        stamp = self._timestamp(line)
        duration = line.timestamp.duration
        index = 0
        while index < len(tokens):
            key = tokens[index]
            device = self.device
            if ":" in key:
                prefix, rest = key.split(":", 1)
                other = self.agent.model.device(prefix)
                if other is not None:
                    device, key = other, rest
            item = self.agent.model.lookup(device, key)
            if item is None:
                if key not in self.stats.unknown_keys:
                    self.stats.unknown_keys.add(key)
                    log.info("SHDR key %r matches no data item of %s; skipped", key, device.name)
                index += 2  # the reference agent skips the value that follows an unknown key
                continue
            if index + 1 >= len(tokens):
                self._malformed(Malformed("|".join(tokens), f"{key!r} has no value"))
                return
            result = take_value(
                item.kind, tokens, index + 1, resettable=bool(item.reset_triggers) or item.kind == "DATA_SET"
            )
            if isinstance(result, Malformed):
                self._malformed(result)
                return
            value, following = result
            self._observe(item, value, stamp, duration)
            if self.shdr_version < 2 and item.kind not in _SINGLE_TOKEN:
                return
            index = following

    def _observe(self, item: DataItem, value: object, stamp: str, duration: float | None) -> None:
        extra: dict[str, object] = {}
        if duration is not None:
            extra["duration"] = duration
        converted: object
        if isinstance(value, ConditionValue):
            converted = ConditionState(
                value.level,
                value.native_code or None,
                value.native_severity or None,
                value.qualifier or None,
                value.text or None,
                value.condition_id or None,
            )
        elif isinstance(value, ResetValue):
            scalar = self._scalar(item, value.value)
            if scalar is None:
                return
            converted = scalar
            extra["reset_triggered"] = value.reset_trigger
        elif isinstance(value, MessageValue):
            converted = value.text or ""
            if value.native_code:
                extra["attributes"] = f'nativeCode="{xml_escape(value.native_code)}"'
        elif isinstance(value, TimeSeriesValue):
            # 15 significant digits: what a double holds; ':g' would cut readings to 6.
            converted = " ".join(format(v, ".15g") for v in value.values)
            extra["sample_count"] = value.count
            extra["sample_rate"] = value.rate
        elif isinstance(value, DataSetValue | TableValue):
            entries = value.entries if isinstance(value, DataSetValue) else value.rows
            converted = DataSetState(entries, value.reset_trigger)
        elif isinstance(value, AlarmValue):
            converted = value.text or ""
        else:
            scalar = self._scalar(item, str(value))
            if scalar is None:
                return
            converted = scalar
        if self.agent.add(item, converted, stamp, **extra) is not None:
            self.stats.observations += 1
        self.touched.add(item)

    def _scalar(self, item: DataItem, text: str) -> str | None:
        """A sample or event value as the agent keeps it; None (counted as malformed) for a bad number."""
        if text.upper() == UNAVAILABLE:
            return UNAVAILABLE
        if item.category == "SAMPLE":
            try:
                float(text.split()[0]) if text.strip() else float("nan")
            except ValueError:
                self._malformed(Malformed(text, f"{item.id}: {text!r} is not a number"))
                return None
            return text
        return _upcase(text) if self.upcase_values else text

    def _command(self, command: Command) -> None:
        if command.key == "shdrversion":
            try:
                self.shdr_version = int(command.value.strip() or "1")
            except ValueError:
                self._malformed(Malformed(f"* shdrVersion: {command.value}", "not a number"))
        elif command.key in ("adapterversion", "mtconnectversion") and self.adapter_uri is not None:
            data_type = "ADAPTER_SOFTWARE_VERSION" if command.key == "adapterversion" else "MTCONNECT_VERSION"
            self.agent.adapter_status(self.adapter_uri, data_type, command.value.strip())
        elif command.key == "device":
            device = self.agent.model.device(command.value.strip())
            if device is None:
                log.warning("SHDR '* device: %s' names no device of this agent", command.value)
            else:
                self.device = device
        elif command.key == "sync":
            # Our adapters mark points in their stream so a sender can wait until all before them is applied
            # (the reference agent ignores commands it does not know, as this one does any other).
            self.synced = command.value.strip()

    def _asset(self, command: AssetCommand) -> None:
        stamp = self._timestamp(command)
        agent = self.agent
        if command.kind == "asset" and command.asset_id and command.asset_type and command.body:
            asset_id = command.asset_id
            if asset_id.startswith("@"):
                asset_id = self.device.uuid + asset_id[1:]
            agent.add_asset(Asset(asset_id, command.asset_type, self.device.uuid, stamp, command.body))
        elif command.kind == "remove" and command.asset_id:
            agent.remove_asset(command.asset_id, stamp)
        elif command.kind == "remove_all":
            # The reference agent scopes it to the adapter's device: other devices keep their assets.
            uuid = self.device.uuid
            for asset in list(agent.assets.values()):
                if asset.device_uuid == uuid and command.asset_type in (None, asset.asset_type):
                    agent.remove_asset(asset.asset_id, stamp)
        else:
            self._malformed(Malformed(f"@{command.kind}@ {command.asset_id}", "unsupported asset command"))
