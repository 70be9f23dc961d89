"""The agent's HTTP front: a bare ASGI application (no framework on these hot paths) and a uvicorn runner.

Wiring::

    uvicorn (httptools, uvloop) ── ASGI ──> AgentApp ── Request ──> Agent.handle ──> Response
                                                         └── StreamPlan ──> multipart/mixed chunks
    AgentServer: start/stop, restart (new instanceId, empty buffer), network drop, slow responses
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote_plus

from agent_sim.agent import Agent
from agent_sim.render_xml import ErrorInfo
from agent_sim.rest import AgentError, Request, Response, StreamPlan

__all__ = ["AgentApp", "AgentServer"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_COMMON = [(b"server", b"MTConnectAgent")]
_NO_CACHE = [(b"expires", b"-1"), (b"cache-control", b"no-store, max-age=0")]


def _date() -> bytes:
    return formatdate(usegmt=True).encode()


def parse_query(query_string: str) -> dict[str, str]:
    """Decode a query string as the reference agent does (``parseQueries``): ``+`` and ``%XX`` decoded,
    pairs without ``=`` ignored, the first of repeated keys kept."""
    query: dict[str, str] = {}
    for pair in query_string.split("&"):
        key, sep, value = pair.partition("=")
        if sep:
            query.setdefault(unquote_plus(key), unquote_plus(value))
    return query


class AgentApp:
    """An ASGI application serving one ``Agent`` (which can be swapped, for an agent restart)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.delay_s = 0.0
        """Added before every response, to simulate a slow agent."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        agent = self.agent
        query = parse_query(scope.get("query_string", b"").decode("latin-1"))
        accept = ""
        for key, value in scope.get("headers", ()):
            if key == b"accept":
                accept = value.decode("latin-1")
        client = scope.get("client") or ("127.0.0.1", 0)
        raw_path = scope.get("raw_path")
        path = unquote_plus(raw_path.decode("latin-1")) if raw_path else scope.get("path", "/")
        request = Request(scope.get("method", "GET"), path, query, accept, str(client[0]))
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        result = agent.handle(request)
        if isinstance(result, Response):
            await self._respond(send, result, head=request.method == "HEAD")
        else:
            await self._stream(agent, request, result, receive, send)

    @staticmethod
    async def _respond(send: Send, response: Response, head: bool = False) -> None:
        body = response.body.encode("utf-8")
        headers = [*_COMMON, (b"date", _date())]
        if response.status != 204:
            headers.append((b"content-type", response.content_type.encode()))
            headers.append((b"content-length", str(len(body)).encode()))
        headers.extend(_NO_CACHE)
        headers.extend((name.lower().encode(), value.encode()) for name, value in response.headers)
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head or response.status == 204 else body})

    async def _stream(
        self, agent: Agent, request: Request, plan: StreamPlan, receive: Receive, send: Send
    ) -> None:
        boundary = str(uuid.uuid4())
        part_type = "application/mtconnect+json" if plan.json else "application/xml"
        headers = [
            *_COMMON,
            (b"date", _date()),
            (b"connection", b"close"),
            (b"content-type", f"multipart/mixed;boundary={boundary}".encode()),
            (b"expires", b"-1"),
            (b"cache-control", b"no-cache, no-store, max-age=0"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def part(document: str) -> None:
            body = document.encode("utf-8")
            head = f"--{boundary}\r\nContent-Type: {part_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            await send(
                {"type": "http.response.body", "body": head.encode() + body + b"\r\n", "more_body": True}
            )

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        watcher = asyncio.ensure_future(disconnected())
        try:
            producer = asyncio.ensure_future(
                self._sample_parts(agent, plan, part)
                if plan.kind == "sample"
                else self._current_parts(agent, plan, part)
            )
            done, _ = await asyncio.wait({watcher, producer}, return_when=asyncio.FIRST_COMPLETED)
            if producer in done:
                error = producer.exception()
                if isinstance(error, AgentError):
                    await part(agent.error_response(error, request).body)
                elif error is not None:
                    raise error
            else:
                producer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await producer
        finally:
            watcher.cancel()
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _current_parts(agent: Agent, plan: StreamPlan, part: Callable[[str], Awaitable[None]]) -> None:
        while True:
            await part(agent.current_document(plan.items, js=plan.json))
            await asyncio.sleep(plan.interval_ms / 1000.0)

    @staticmethod
    async def _sample_parts(agent: Agent, plan: StreamPlan, part: Callable[[str], Awaitable[None]]) -> None:
        """A sample stream as ``AsyncObserver``: the first part at once; while a part ends before the end of
        the buffer (``count`` reached) the next follows at once; at the end, the next part waits for a
        matching observation but goes no sooner than ``interval`` after the previous part, and when none
        arrives within ``heartbeat`` an empty ``<Streams/>`` part is sent from the buffer's next sequence.

        Raises:
            AgentError: the client fell behind the buffer, or ``count`` is out of range.
        """
        interval = plan.interval_ms / 1000.0
        heartbeat = plan.heartbeat_ms / 1000.0
        doc, sequence, _ = agent.sample_chunk(plan.items, plan.next_sequence, plan.count, js=plan.json)
        await part(doc)
        last = time.monotonic()
        while True:
            if sequence >= agent.buffer.next_sequence:
                if await _wait_for_match(agent, plan.items, sequence, last + heartbeat):
                    remaining = last + interval - time.monotonic()
                    if remaining > 0:
                        await asyncio.sleep(remaining)
                else:
                    sequence = agent.buffer.next_sequence
            if sequence < agent.buffer.first_sequence:
                raise AgentError(
                    [ErrorInfo("INTERNAL_ERROR", "Client fell too far behind, disconnecting")],
                    404,
                    "MTConnectStreams",
                )
            doc, sequence, _ = agent.sample_chunk(plan.items, sequence, plan.count, js=plan.json)
            await part(doc)
            last = time.monotonic()


async def _wait_for_match(agent: Agent, items: frozenset[str] | None, sequence: int, deadline: float) -> bool:
    """Wait until an observation of ``items`` at or after ``sequence`` is in the buffer (True), or until
    ``deadline`` on the monotonic clock (False). Other items' observations do not wake a stream, as the
    reference agent observes only the data items of the request."""
    scanned = sequence
    while True:
        for obs in agent.buffer.forward(scanned, agent.buffer.next_sequence):
            if items is None or obs.item.id in items:
                return True
        scanned = max(scanned, agent.buffer.next_sequence)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            await asyncio.wait_for(agent.wait_for_data(), remaining)
        except TimeoutError:
            return False


class AgentServer:
    """Runs an ``AgentApp`` with uvicorn on ``host:port`` inside the current event loop.

    Faults for tests and scenarios: ``restart()`` replaces the agent (new instanceId, empty buffer);
    ``drop_network(seconds)`` closes the listening socket and every connection for a while; ``slow()`` adds
    a delay to every response.
    """

    def __init__(self, agent: Agent, host: str = "127.0.0.1", port: int = 5000) -> None:
        self.app = AgentApp(agent)
        self.host = host
        self.port = port
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def agent(self) -> Agent:
        return self.app.agent

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Start listening; returns once the socket is bound (the port is resolved when it was 0).

        Raises:
            OSError: the address cannot be bound (in use, or not an address of this machine).
        """
        import uvicorn

        # Bind here, so that a port in use is an OSError for the caller and not uvicorn's sys.exit(3).
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only for sockets whose
        # protocol says TCP, and without it a keep-alive client waits ~40 ms (Nagle + delayed ACK) per reply.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            server_header=False,
            date_header=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        # Signals belong to the command line that runs the agents, not to each server.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._task.done():
                self._task.result()
                raise OSError(f"agent server on {self.host}:{self.port} did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._server = self._task = None

    async def drop_network(self, seconds: float) -> None:
        """Refuse connections (and drop open ones) for ``seconds``, then listen again on the same port."""
        await self.stop()
        await asyncio.sleep(seconds)
        await self.start()

    def restart(self, agent: Agent) -> None:
        """Swap in a freshly started agent (as after a process restart)."""
        self.app.agent = agent

    def slow(self, delay_s: float) -> None:
        self.app.delay_s = delay_s
