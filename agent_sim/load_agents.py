"""A small, fast fake MTConnect agent for load tests: N devices on one port, each its own agent.

Each device ``DEV-<i>`` answers at ``/DEV-<i>/probe``, ``/DEV-<i>/current`` and ``/DEV-<i>/sample``
(``from``/``count`` polls, and with ``interval`` the streamed ``multipart/mixed`` of the reference agent), so
a poller opens one keep-alive connection per device. Documents are valid MTConnectStreams 2.7 built from
precomputed string templates: 14 data items per device, about 3 KB for 14 observations. Data is produced at
``rate`` observations per second per device, lazily (materialised when the device is asked, stamped with
the time each would have been produced), into a bounded circular buffer per device with real sequences.

It must stay much cheaper than the reader it loads (``mestwin bench poll`` measures the reader, not this):
every device shares one epoch and rate, so the k-th observation of every device has the same timestamp, and
its text is formatted once for all of them (``_Stamps``); fragments are joined from per-item templates; the
HTTP layer is a bare ``asyncio.Protocol``.

Run: ``python -m agent_sim.load_agents --machines 2000 --port 5000 --rate 28 --seconds 60 [--cpu 0]``.
The process stops by itself after ``--seconds``; it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import time
from collections import deque
from datetime import UTC, datetime
from typing import Final
from urllib.parse import parse_qsl

__all__ = ["LoadAgents", "main", "serve"]

_NS: Final = "urn:mtconnect.org:MTConnectStreams:2.7"
_DNS: Final = "urn:mtconnect.org:MTConnectDevices:2.7"
_BOUNDARY: Final = "mestwinloadboundary"
_SENDER: Final = "load-agents"

# (component type, component id suffix, component name, category element, element, item suffix, type,
#  subType, extra attribute text for the probe)
_ITEMS: Final = (
    ("Device", "dev", None, "Events", "Availability", "avail", "AVAILABILITY", None, ""),
    ("Controller", "cont", "controller", "Events", "EmergencyStop", "estop", "EMERGENCY_STOP", None, ""),
    ("Controller", "cont", "controller", "Condition", "Normal", "system", "SYSTEM", None, ""),
    ("Path", "path", "path", "Events", "Execution", "exec", "EXECUTION", None, ""),
    ("Path", "path", "path", "Events", "ControllerMode", "mode", "CONTROLLER_MODE", None, ""),
    ("Path", "path", "path", "Events", "Program", "program", "PROGRAM", None, ""),
    ("Path", "path", "path", "Events", "PartCount", "pcount", "PART_COUNT", "ALL", ""),
    (
        "Path",
        "path",
        "path",
        "Samples",
        "PathFeedrate",
        "feed",
        "PATH_FEEDRATE",
        "ACTUAL",
        "MILLIMETER/SECOND",
    ),
    ("Linear", "x", "X", "Samples", "Position", "xpos", "POSITION", "ACTUAL", "MILLIMETER"),
    ("Linear", "y", "Y", "Samples", "Position", "ypos", "POSITION", "ACTUAL", "MILLIMETER"),
    ("Linear", "z", "Z", "Samples", "Position", "zpos", "POSITION", "ACTUAL", "MILLIMETER"),
    (
        "Rotary",
        "c",
        "C",
        "Samples",
        "RotaryVelocity",
        "sspeed",
        "ROTARY_VELOCITY",
        "ACTUAL",
        "REVOLUTION/MINUTE",
    ),
    ("Rotary", "c", "C", "Samples", "Load", "sload", "LOAD", None, "PERCENT"),
    ("Rotary", "c", "C", "Samples", "Temperature", "stemp", "TEMPERATURE", None, "CELSIUS"),
)
ITEMS_PER_DEVICE: Final = len(_ITEMS)
_COMPONENTS: Final = ("dev", "cont", "path", "x", "y", "z", "c")
_CATEGORY_ORDER: Final = ("Samples", "Events", "Condition")


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Stamps:
    """ISO 8601 texts of millisecond instants, formatted once for every device (bounded caches)."""

    __slots__ = ("_ms", "_seconds")

    _LIMIT: Final = 100_000

    def __init__(self) -> None:
        self._ms: dict[int, str] = {}
        self._seconds: dict[int, str] = {}

    def of_ms(self, ms: int) -> str:
        """The text of ``ms`` milliseconds since the epoch, as ``_stamp(ms / 1000)`` writes it."""
        text = self._ms.get(ms)
        if text is None:
            if len(self._ms) >= self._LIMIT:
                self._ms.clear()
            second, milli = divmod(ms, 1000)
            prefix = self._seconds.get(second)
            if prefix is None:
                if len(self._seconds) >= self._LIMIT:
                    self._seconds.clear()
                prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
                self._seconds[second] = prefix
            text = self._ms[ms] = f"{prefix}.{milli:03d}000Z"
        return text

    def now(self) -> str:
        return self.of_ms(int(time.time() * 1000))


def _value(index: int, k: int) -> str:
    kind = _ITEMS[index][5]
    if kind == "avail":
        return "AVAILABLE"
    if kind == "estop":
        return "ARMED"
    if kind == "exec":
        return "ACTIVE"
    if kind == "mode":
        return "AUTOMATIC"
    if kind == "program":
        return "O1000"
    if kind == "pcount":
        return str(k // ITEMS_PER_DEVICE)
    return f"{(k * 7.31) % 1000:.4f}"


_CONSTANTS: Final = tuple(
    _value(index, 0) if _ITEMS[index][5] in ("avail", "estop", "exec", "mode", "program") else None
    for index in range(ITEMS_PER_DEVICE)
)
"""The value of each item that never changes (None for the others)."""
_PCOUNT: Final = next(index for index, item in enumerate(_ITEMS) if item[5] == "pcount")


class _Device:
    """One device: its templates, its circular buffer of (sequence, timestamp, fragment, item index)."""

    __slots__ = (
        "buffer",
        "epoch",
        "generated",
        "index",
        "name",
        "openings",
        "probe",
        "stamps",
        "templates",
        "uuid",
    )

    def __init__(
        self, index: int, epoch: float, buffer_size: int, instance: int, stamps: _Stamps | None = None
    ) -> None:
        self.index = index
        self.name = f"DEV-{index}"
        self.uuid = f"dev-{index:05d}-load-agent-simulated-machine"
        self.epoch = epoch
        self.stamps = stamps if stamps is not None else _Stamps()
        self.generated = 0
        """Observations produced so far; the next sequence is ``generated + 1``."""
        self.buffer: deque[tuple[int, float, str, int]] = deque(maxlen=buffer_size)
        self.templates: list[tuple[str, str, str]] = []
        """Per item: (text before the timestamp, between timestamp and sequence, after the value)."""
        for _, comp, _, category, element, suffix, _, sub, _ in _ITEMS:
            item = f"{self.name.lower()}_{comp}_{suffix}"
            sub_attr = f' subType="{sub}"' if sub else ""
            if category == "Condition":
                head = f'<{element} dataItemId="{item}" type="SYSTEM" timestamp="'
                self.templates.append((head, '" sequence="', '"/>'))
            else:
                head = f'<{element} dataItemId="{item}" name="{suffix}"{sub_attr} timestamp="'
                self.templates.append((head, '" sequence="', f"</{element}>"))
        self.openings: dict[str, str] = {}
        """Per component: its ``<ComponentStream ...>`` tag."""
        for comp in _COMPONENTS:
            spec = next(i for i in _ITEMS if i[1] == comp)
            name_attr = f' name="{spec[2]}"' if spec[2] else ""
            self.openings[comp] = (
                f'<ComponentStream component="{spec[0]}"{name_attr} componentId="{self.name.lower()}_{comp}">'
            )
        self.probe = _probe_document(self, instance)

    def produce(self, now: float, rate: float) -> None:
        """Materialise what was produced up to ``now`` (at most a buffer's worth is kept)."""
        target = max(0, math.floor((now - self.epoch) * rate))
        first = max(self.generated, target - (self.buffer.maxlen or 0))
        if first >= target:
            return
        templates, append, of_ms, epoch = self.templates, self.buffer.append, self.stamps.of_ms, self.epoch
        for k in range(first, target):
            at = epoch + (k + 1) / rate
            index = k % ITEMS_PER_DEVICE
            head, middle, tail = templates[index]
            value = _CONSTANTS[index]
            if value is None:
                value = str(k // ITEMS_PER_DEVICE) if index == _PCOUNT else f"{(k * 7.31) % 1000:.4f}"
            if tail == '"/>':  # a condition: no value
                fragment = f"{head}{of_ms(int(at * 1000))}{middle}{k + 1}{tail}"
            else:
                fragment = f'{head}{of_ms(int(at * 1000))}{middle}{k + 1}">{value}{tail}'
            append((k + 1, at, fragment, index))
        self.generated = max(self.generated, target)

    @property
    def first_sequence(self) -> int:
        return self.buffer[0][0] if self.buffer else self.generated + 1

    def streams(
        self,
        instance: int,
        entries: list[tuple[int, float, str, int]],
        last: int | None,
        next_sequence: int | None = None,
    ) -> bytes:
        """An MTConnectStreams document of ``entries`` (in sequence order); ``next_sequence`` defaults to
        the one after the newest produced."""
        groups: dict[str, dict[str, list[str]]] = {}
        for _, _, fragment, index in entries:
            item = _ITEMS[index]
            by_category = groups.get(item[1])
            if by_category is None:
                by_category = groups[item[1]] = {}
            fragments = by_category.get(item[3])
            if fragments is None:
                by_category[item[3]] = [fragment]
            else:
                fragments.append(fragment)
        parts: list[str] = []
        for comp in _COMPONENTS:
            by_cat = groups.get(comp)
            if not by_cat:
                continue
            parts.append(self.openings[comp])
            for category in _CATEGORY_ORDER:
                fragments = by_cat.get(category)
                if fragments:
                    parts.append(f"<{category}>{''.join(fragments)}</{category}>")
            parts.append("</ComponentStream>")
        nxt = self.generated + 1 if next_sequence is None else next_sequence
        header = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<MTConnectStreams xmlns="{_NS}">'
            f'<Header creationTime="{self.stamps.now()}" sender="{_SENDER}" instanceId="{instance}" '
            f'version="2.7.0.0" bufferSize="{self.buffer.maxlen}" nextSequence="{nxt}" '
            f'firstSequence="{self.first_sequence}" '
            f'lastSequence="{self.generated if last is None else last}"/>'
        )
        body = "".join(parts)
        device = (
            f'<Streams><DeviceStream name="{self.name}" uuid="{self.uuid}">{body}</DeviceStream></Streams>'
        )
        return (header + device + "</MTConnectStreams>").encode()


def _probe_document(device: _Device, instance: int) -> bytes:
    items_by_comp: dict[str, list[str]] = {}
    for _, comp, _, category, _, suffix, kind, sub, units in _ITEMS:
        cat = {"Samples": "SAMPLE", "Events": "EVENT", "Condition": "CONDITION"}[category]
        sub_attr = f' subType="{sub}"' if sub else ""
        units_attr = f' units="{units}"' if units else ""
        items_by_comp.setdefault(comp, []).append(
            f'<DataItem id="{device.name.lower()}_{comp}_{suffix}" name="{suffix}" category="{cat}" '
            f'type="{kind}"{sub_attr}{units_attr}/>'
        )

    def component(comp: str, element: str, name: str) -> str:
        items = "".join(items_by_comp[comp])
        return f'<{element} id="{device.name.lower()}_{comp}" name="{name}"><DataItems>{items}</DataItems>'

    axes = "".join(
        component(c, e, n) + f"</{e}>"
        for c, e, n in (
            ("x", "Linear", "X"),
            ("y", "Linear", "Y"),
            ("z", "Linear", "Z"),
            ("c", "Rotary", "C"),
        )
    )
    controller = (
        component("cont", "Controller", "controller") + "<Components>" + component("path", "Path", "path")
    )
    controller += "</Path></Components></Controller>"
    dev_items = "".join(items_by_comp["dev"])
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<MTConnectDevices xmlns="{_DNS}">'
        f'<Header creationTime="{_stamp(time.time())}" sender="{_SENDER}" instanceId="{instance}" '
        f'version="2.7.0.0" '
        f'assetBufferSize="1" assetCount="0" bufferSize="{device.buffer.maxlen}"/>'
        f'<Devices><Device id="{device.name.lower()}_dev" name="{device.name}" uuid="{device.uuid}">'
        f'<Description manufacturer="mestwin" model="load"/><DataItems>{dev_items}</DataItems>'
        f'<Components><Axes id="{device.name.lower()}_axes"><Components>{axes}</Components></Axes>'
        f"{controller}</Components></Device></Devices></MTConnectDevices>"
    ).encode()


def _error(code: str, text: str, instance: int) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<MTConnectError xmlns="urn:mtconnect.org:MTConnectError:2.7">'
        f'<Header creationTime="{_stamp(time.time())}" sender="{_SENDER}" instanceId="{instance}" '
        f'version="2.7.0.0" bufferSize="1"/><Errors><Error errorCode="{code}">{text}</Error></Errors>'
        f"</MTConnectError>"
    ).encode()


class LoadAgents:
    """The devices and their documents (no I/O)."""

    def __init__(
        self, machines: int, rate: float, buffer_size: int = 4096, instance: int | None = None
    ) -> None:
        if machines < 1 or rate <= 0 or buffer_size < 1:
            raise ValueError("machines >= 1, rate > 0 and buffer_size >= 1 are required")
        self.rate = rate
        self.instance = instance if instance is not None else int(time.time())
        epoch = time.time()
        stamps = _Stamps()
        self.devices = {
            f"DEV-{i}": _Device(i, epoch, buffer_size, self.instance, stamps) for i in range(machines)
        }
        self.requests = 0

    def answer(self, target: str) -> tuple[int, bytes]:
        """(HTTP status, body) for a GET of ``target`` (path and query), streams excluded."""
        self.requests += 1
        path, _, query = target.partition("?")
        _, name, what = [*path.split("/", 2), "", ""][:3]
        device = self.devices.get(name)
        if device is None:
            return 404, _error("NO_DEVICE", f"no device at {path}", self.instance)
        if what == "probe":
            return 200, device.probe
        device.produce(time.time(), self.rate)
        if what == "current":
            latest: dict[int, tuple[int, float, str, int]] = {}
            for entry in device.buffer:
                latest[entry[3]] = entry
            return 200, device.streams(self.instance, sorted(latest.values()), None)
        if what == "sample":
            return self.sample(device, _query(query))
        return 404, _error("UNSUPPORTED", f"no such request {path}", self.instance)

    def sample(self, device: _Device, params: dict[str, str]) -> tuple[int, bytes]:
        try:
            start = int(params.get("from", device.first_sequence))
            count = int(params.get("count", "100"))
        except ValueError:
            return 400, _error("INVALID_REQUEST", "from and count must be integers", self.instance)
        first, nxt = device.first_sequence, device.generated + 1
        if start < first or start > nxt:
            return 400, _error("OUT_OF_RANGE", f"'from' must be in {first}..{nxt}", self.instance)
        if count < 1:
            return 400, _error("OUT_OF_RANGE", "'count' must be >= 1", self.instance)
        skip = start - first
        buffer = device.buffer
        entries = [buffer[i] for i in range(skip, min(len(buffer), skip + count))]
        last_sent = entries[-1][0] if entries else start - 1
        # nextSequence is where the reader goes on: just past what this document holds.
        return 200, device.streams(self.instance, entries, None, last_sent + 1 if entries else None)


def _query(query: str) -> dict[str, str]:
    """The parameters of a query string (plain digits need no unquoting, the rest goes to ``parse_qsl``)."""
    if "%" in query or "+" in query:
        return dict(parse_qsl(query))
    params: dict[str, str] = {}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name and value:  # as parse_qsl: a blank value is no value
            params[name] = value
    return params


_REASONS: Final = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}


class _Http(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive server for GET requests (what pollers send)."""

    def __init__(self, agents: LoadAgents) -> None:
        self.agents = agents
        self.transport: asyncio.Transport | None = None
        self.pending = b""
        self.stream: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stream is not None:
            self.stream.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.pending += data
        if len(self.pending) > 65536:
            self._close()
            return
        while self.transport is not None and self.stream is None:
            end = self.pending.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.pending = self.pending[:end], self.pending[end + 4 :]
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split(" ")
            if len(parts) != 3 or parts[0] != "GET":
                self._reply(400, _error("INVALID_REQUEST", "GET only", self.agents.instance))
                self._close()
                return
            target = parts[1]
            if "interval=" in target and "/sample" in target:
                self.stream = asyncio.get_running_loop().create_task(self._stream(target))
                return
            status, body = self.agents.answer(target)
            self._reply(status, body)

    def _reply(self, status: int, body: bytes) -> None:
        assert self.transport is not None
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, b'Error').decode()}\r\n"
            f"Content-Type: application/xml\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.transport.write(head.encode() + body)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def _stream(self, target: str) -> None:
        """The reference agent's streamed sample: a part every ``interval`` ms (heartbeats when idle)."""
        agents = self.agents
        path, _, query = target.partition("?")
        name = path.split("/")[1] if path.count("/") >= 2 else ""
        device = agents.devices.get(name)
        params = _query(query)
        try:
            interval = max(0.01, int(params.get("interval", "500")) / 1000)
            heartbeat = max(0.01, int(params.get("heartbeat", "10000")) / 1000)
            start = int(params.get("from", "0"))
            count = int(params.get("count", "100"))
        except ValueError:
            device = None
        if device is None:
            self._reply(404, _error("NO_DEVICE", f"no device at {path}", agents.instance))
            self.stream = None
            return
        device.produce(time.time(), agents.rate)
        status, body = agents.sample(device, {"from": str(start), "count": str(count)})
        if status != 200:
            self._reply(status, body)
            self.stream = None
            return
        transport = self.transport
        assert transport is not None
        transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed;boundary="
            + _BOUNDARY.encode()
            + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        nxt = start
        last_sent_at = 0.0
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while self.transport is not None:
            agents.requests += 1
            device.produce(time.time(), agents.rate)
            if nxt < device.first_sequence:
                body = _error("OUT_OF_RANGE", "the stream fell behind the buffer", agents.instance)
                transport.write(self._chunk(body))
                transport.write(b"0\r\n\r\n")
                self._close()
                return
            now = loop.time()
            if transport.get_write_buffer_size() < 1_000_000 and (
                nxt <= device.generated or now - last_sent_at >= heartbeat
            ):
                status, body = agents.sample(device, {"from": str(nxt), "count": str(count)})
                transport.write(self._chunk(body))
                last_sent_at = now
                nxt = min(device.generated + 1, nxt + count)
            next_tick += interval
            await asyncio.sleep(max(0.0, next_tick - loop.time()))

    @staticmethod
    def _chunk(document: bytes) -> bytes:
        part = (
            f"--{_BOUNDARY}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(document)}\r\n\r\n".encode()
            + document
            + b"\r\n"
        )
        return f"{len(part):x}\r\n".encode() + part + b"\r\n"


async def serve(agents: LoadAgents, port: int, seconds: float, host: str = "127.0.0.1") -> None:
    """Serve ``agents`` on ``host:port`` for ``seconds``."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(agents), host, port, backlog=4096, reuse_address=True)
    async with server:
        await asyncio.sleep(seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--machines", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=28.0, help="observations per second per device")
    parser.add_argument("--buffer", type=int, default=4096, help="buffer size per device (sequences)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args(argv)
    if args.cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {args.cpu})
    agents = LoadAgents(args.machines, args.rate, args.buffer)
    try:
        import uvloop

        uvloop.run(serve(agents, args.port, args.seconds))
    except ImportError:  # pragma: no cover - uvloop is a dependency
        asyncio.run(serve(agents, args.port, args.seconds))


if __name__ == "__main__":
    main()
