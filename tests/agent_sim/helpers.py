"""Shared pieces of the agent REST tests: a tiny device model, requests, parsed documents, and a raw HTTP
client (bounded waits, chunked multipart parts) for a real ``AgentServer`` on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from lxml import etree

from agent_sim.agent import Agent, Request, Response
from agent_sim.buffer import DataSetState
from agent_sim.devices import DataItem
from agent_sim.http import AgentServer
from agent_sim.rest import StreamPlan

NOW = 1_700_000_000.0
"""The fixed clock of unit-test agents: 2023-11-14T22:13:20Z."""
STAMP = "2023-11-14T22:13:20.000000Z"

DEVICES = """<?xml version="1.0" encoding="UTF-8"?>
<MTConnectDevices xmlns="urn:mtconnect.org:MTConnectDevices:2.7">
  <Devices>
    <Device id="d" name="Mill" uuid="mill-1">
      <DataItems>
        <DataItem category="EVENT" id="avail" type="AVAILABILITY"/>
      </DataItems>
      <Components>
        <Axes id="ax">
          <Components>
            <Linear id="x" name="X">
              <DataItems>
                <DataItem category="SAMPLE" id="Xact" name="Xact" type="POSITION" subType="ACTUAL"
                          units="MILLIMETER"/>
              </DataItems>
            </Linear>
          </Components>
        </Axes>
        <Controller id="ct">
          <DataItems>
            <DataItem category="CONDITION" id="sys" type="SYSTEM"/>
            <DataItem category="EVENT" id="estop" type="EMERGENCY_STOP">
              <Constraints><Value>ARMED</Value></Constraints>
            </DataItem>
          </DataItems>
          <Components>
            <Path id="p">
              <DataItems>
                <DataItem category="EVENT" id="exec" type="EXECUTION"/>
                <DataItem category="EVENT" id="line" name="line" type="LINE"/>
                <DataItem category="EVENT" id="msg" type="MESSAGE" discrete="true"/>
                <DataItem category="EVENT" id="pc" type="PART_COUNT">
                  <ResetTrigger>DAY</ResetTrigger>
                  <InitialValue>0</InitialValue>
                </DataItem>
                <DataItem category="EVENT" id="vars" type="VARIABLE" representation="DATA_SET"/>
              </DataItems>
            </Path>
          </Components>
        </Controller>
      </Components>
    </Device>
  </Devices>
</MTConnectDevices>
"""
"""A mill with one of each kind of data item; document order (d, ax, x, ct, p) differs from id order."""


def make_agent(
    version: str = "2.7",
    *,
    exponent: int = 8,
    checkpoint: int = 1000,
    first_sequence: int = 1,
    devices: str = DEVICES,
    agent_device: bool = True,
    clock: Callable[[], float] | None = None,
) -> Agent:
    """An agent over ``devices`` with a ``2**exponent`` buffer and a fixed clock."""
    return Agent(
        devices,
        schema_version=version,
        buffer_size_exponent=exponent,
        checkpoint_frequency=checkpoint,
        first_sequence=first_sequence,
        agent_device=agent_device,
        sender="test",
        clock=clock or (lambda: NOW),
    )


def item(agent: Agent, item_id: str) -> DataItem:
    return agent.model.items[item_id]


def put(agent: Agent, item_id: str, value: object, **extra: object) -> int:
    """Add an observation; return its sequence (it must not be dropped)."""
    obs = agent.add(item(agent, item_id), value, STAMP, **extra)
    assert obs is not None, f"{item_id}={value!r} was dropped"
    return obs.sequence


def dataset(**entries: object) -> DataSetState:
    return DataSetState(tuple(entries.items()))


def request(target: str, /, *, accept: str = "", method: str = "GET", **query: str) -> Request:
    """A request from 10.0.0.9 for ``target`` with ``query`` (``from`` goes in as ``**{"from": ...}``)."""
    return Request(method, target, query, accept, "10.0.0.9")


def respond(agent: Agent, target: str, /, *, accept: str = "", method: str = "GET", **query: str) -> Response:
    result = agent.handle(request(target, accept=accept, method=method, **query))
    assert isinstance(result, Response), result
    return result


def plan(agent: Agent, target: str, /, **query: str) -> StreamPlan:
    result = agent.handle(request(target, **query))
    assert isinstance(result, StreamPlan), getattr(result, "body", result)
    return result


def strip(root: etree._Element) -> etree._Element:
    """Drop namespaces so tests can use plain XPath."""
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    etree.cleanup_namespaces(root)
    return root


def doc(response: Response | str) -> etree._Element:
    """A response body (or text) parsed, without namespaces."""
    text = response if isinstance(response, str) else response.body
    return strip(etree.fromstring(text.encode("utf-8")))


def fetch(agent: Agent, target: str, /, **query: str) -> etree._Element:
    """GET ``target`` and parse it; the request must succeed."""
    response = respond(agent, target, **query)
    assert response.status == 200, response.body
    return doc(response)


def one(root: etree._Element, xpath: str) -> etree._Element:
    found = root.xpath(xpath)
    assert isinstance(found, list)
    assert len(found) == 1, f"{xpath}: {len(found)} matches"
    element = found[0]
    assert isinstance(element, etree._Element)
    return element


def header(root: etree._Element) -> dict[str, str]:
    return dict(one(root, "/*/Header").attrib)


def sequences(root: etree._Element, xpath: str = "//Streams//*[@sequence]") -> list[int]:
    return [int(el.get("sequence")) for el in root.xpath(xpath)]


def errors(response: Response) -> list[tuple[str, str]]:
    """(errorCode, message) of each error of an error document, legacy (< 2.6) or typed (2.6+)."""
    found = []
    for error in doc(response).xpath("//Errors/*"):
        message = error.text if error.tag == "Error" else error.findtext("ErrorMessage")
        found.append((error.get("errorCode") or "", message or ""))
    return found


def error(response: Response) -> tuple[int, str, str]:
    """(HTTP status, errorCode, message) of a response holding exactly one error."""
    (found,) = errors(response)
    return response.status, found[0], found[1]


# -- a raw HTTP/1.1 client ------------------------------------------------------------------------

T = TypeVar("T")
TIMEOUT = 3.0
"""Every network wait is bounded by this (seconds)."""


def run(coroutine: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
    """Run an async test body in a fresh event loop, bounded by ``timeout`` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine(), timeout)

    return asyncio.run(bounded())


@asynccontextmanager
async def serving(agent: Agent) -> AsyncIterator[AgentServer]:
    """A real ``AgentServer`` for ``agent`` on 127.0.0.1 and a free port, stopped afterwards."""
    server = AgentServer(agent, "127.0.0.1", 0)
    await asyncio.wait_for(server.start(), TIMEOUT)
    try:
        yield server
    finally:
        await asyncio.wait_for(server.stop(), TIMEOUT)


@dataclass
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


async def _head(reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str]]:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    lines = raw.decode("latin-1").split("\r\n")
    _, status, reason = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(status), reason, headers


async def http(
    port: int, target: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes = b""
) -> HttpResponse:
    """One request on its own connection to 127.0.0.1:``port``; the whole response, de-chunked."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    try:
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status, reason, response_headers = await _head(reader)
        if method == "HEAD" or status in (204, 304):
            return HttpResponse(status, reason, response_headers, b"")
        if "content-length" in response_headers:
            data = await asyncio.wait_for(
                reader.readexactly(int(response_headers["content-length"])), TIMEOUT
            )
        else:
            data = await asyncio.wait_for(reader.read(), TIMEOUT)
        return HttpResponse(status, reason, response_headers, data)
    finally:
        writer.close()


@dataclass
class Part:
    """One part of a multipart stream: its headers, its body, and the raw HTTP chunk that carried it."""

    headers: dict[str, str]
    body: bytes
    chunk: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class Stream:
    """A streaming response read chunk by chunk (each chunk must hold exactly one part)."""

    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    boundary: str = ""
    ended: bool = False
    parts: list[Part] = field(default_factory=list)

    async def chunk(self, timeout: float = TIMEOUT) -> bytes | None:
        """The next HTTP chunk's data; ``None`` at the last chunk (or when the server closed)."""
        size_line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not size_line:
            self.ended = True
            return None
        size = int(size_line.split(b";")[0].strip(), 16)
        data = await asyncio.wait_for(self.reader.readexactly(size + 2), timeout)
        if size == 0:
            self.ended = True
            return None
        return data[:-2]

    async def part(self, timeout: float = TIMEOUT) -> Part | None:
        """The next part, checked against the multipart framing; ``None`` when the stream ended."""
        data = await self.chunk(timeout)
        if data is None:
            return None
        opening = f"--{self.boundary}\r\n".encode()
        assert data.startswith(opening), data[:80]
        head, _, rest = data[len(opening) :].partition(b"\r\n\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers["content-length"])
        assert rest[length:] == b"\r\n", "a part ends with CRLF right after Content-Length bytes"
        part = Part(headers, rest[:length], data)
        self.parts.append(part)
        return part

    def close(self) -> None:
        self.writer.close()


async def open_stream(port: int, target: str, headers: dict[str, str] | None = None) -> Stream:
    """Start a streaming request; returns once the response head has arrived."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    status, _, response_headers = await _head(reader)
    stream = Stream(status, response_headers, reader, writer)
    content_type = response_headers.get("content-type", "")
    if "boundary=" in content_type:
        stream.boundary = content_type.split("boundary=", 1)[1]
    return stream
