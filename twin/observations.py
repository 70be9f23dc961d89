"""Plain observations the twin emits, and the sinks that receive them.

The twin knows no wire format: it hands ``Observation`` values to a ``Sink``. The agent bridge, a JSON-lines
writer or a benchmark counter are all sinks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, NamedTuple, Protocol

__all__ = [
    "Condition",
    "CountingSink",
    "JsonLinesSink",
    "ListSink",
    "Observation",
    "Sink",
    "Value",
    "format_utc",
]


@dataclass(frozen=True, slots=True)
class Condition:
    """The value of a condition signal: NORMAL, or an active WARNING/FAULT with its native code.

    ``severity`` is the MES severity (CRITICAL, WARNING, INFO) and ``category`` the alarm category; both are
    ``None`` for NORMAL.
    """

    level: str
    native_code: str | None = None
    severity: str | None = None
    text: str | None = None
    category: str | None = None


Value = str | int | float | bool | Condition | None


class Observation(NamedTuple):
    """One value of one signal of one machine at one instant (UTC epoch seconds).

    A named tuple rather than a dataclass: the twin makes millions of them, and a tuple is the cheapest
    immutable record Python has.
    """

    time: float
    machine: str
    signal: str
    value: Value


class Sink(Protocol):
    """Receives the twin's observations in time order."""

    def emit(self, observation: Observation) -> None: ...


def format_utc(epoch: float) -> str:
    """Return ``epoch`` as an ISO 8601 UTC string with microseconds and a ``Z``."""
    micros = round(epoch * 1_000_000)
    seconds, micro = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{micro:06d}Z"


def _jsonable(value: Value) -> object:
    if isinstance(value, Condition):
        return {
            "level": value.level,
            "native_code": value.native_code,
            "severity": value.severity,
            "text": value.text,
            "category": value.category,
        }
    return value


class ListSink:
    """Keeps every observation in memory (tests and small runs)."""

    def __init__(self) -> None:
        self.observations: list[Observation] = []

    def emit(self, observation: Observation) -> None:
        self.observations.append(observation)

    def of(self, machine: str, signal: str) -> list[Observation]:
        """Return the observations of one signal of one machine, in order."""
        return [o for o in self.observations if o.machine == machine and o.signal == signal]


class CountingSink:
    """Counts observations and keeps nothing: a sink for benchmarks and for runs that need only truth."""

    def __init__(self) -> None:
        self.count = 0

    def emit(self, observation: Observation) -> None:
        self.count += 1


class JsonLinesSink:
    """Writes one JSON object per observation: ``{"time", "machine", "signal", "value"}``.

    Times are ISO 8601 UTC with microseconds; the minute prefix is cached, since millions of observations
    share few minutes.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self._minute = -1
        self._prefix = ""
        self._keys: dict[tuple[str, str], str] = {}

    def _time(self, epoch: float) -> str:
        micros = round(epoch * 1_000_000)
        seconds, micro = divmod(micros, 1_000_000)
        minute, second = divmod(seconds, 60)
        if minute != self._minute:
            self._minute = minute
            self._prefix = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")
        return f"{self._prefix}{second:02d}.{micro:06d}Z"

    def emit(self, observation: Observation) -> None:
        time, machine, signal, value = observation
        key = self._keys.get((machine, signal))
        if key is None:
            key = f',"machine":{self._dumps(machine)},"signal":{self._dumps(signal)},"value":'
            self._keys[(machine, signal)] = key
        self._stream.write(f'{{"time":"{self._time(time)}"{key}{self._dumps(_jsonable(value))}}}\n')
