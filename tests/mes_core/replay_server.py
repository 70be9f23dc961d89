"""A tiny HTTP server for the agent client's tests: fixed, scripted replies per path on loopback.

Each path has a list of replies; each GET takes the next one and the last one repeats. A reply is a whole
body (any status and content type: recorded agent documents, an error document with HTTP 200, a truncated
XML, an HTML 502 page) or a stream (a multipart content type and its raw chunks, sent one by one, the
connection then held open for a while, as a streaming agent holds it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web

__all__ = ["ReplayServer", "Reply", "StreamReply"]


@dataclass(frozen=True)
class Reply:
    """One whole response."""

    body: bytes
    status: int = 200
    content_type: str = "text/xml"


@dataclass(frozen=True)
class StreamReply:
    """One streamed response: ``content_type`` (with its boundary) and the raw chunks to send."""

    content_type: str
    chunks: tuple[bytes, ...]
    hold_s: float = 3.0
    """How long the connection stays open after the last chunk (then it is closed)."""


class ReplayServer:
    """Serves ``routes`` (path -> replies) on 127.0.0.1 and a free port; ``requests`` logs each request
    (path and query string) in order."""

    def __init__(self, routes: Mapping[str, Sequence[Reply | StreamReply]]) -> None:
        self._routes = {path: list(replies) for path, replies in routes.items()}
        self._served: dict[str, int] = dict.fromkeys(self._routes, 0)
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def served(self, path: str) -> int:
        """How many requests for ``path`` were answered."""
        return self._served.get(path, 0)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        replies = self._routes.get(request.path)
        if not replies:
            return web.Response(status=404, text="no such route", content_type="text/plain")
        index = min(self._served[request.path], len(replies) - 1)
        self._served[request.path] += 1
        reply = replies[index]
        if isinstance(reply, Reply):
            return web.Response(
                body=reply.body, status=reply.status, headers={"Content-Type": reply.content_type}
            )
        response = web.StreamResponse(status=200, headers={"Content-Type": reply.content_type})
        await response.prepare(request)
        for chunk in reply.chunks:
            await response.write(chunk)
            await asyncio.sleep(0.01)
        await asyncio.sleep(reply.hold_s)
        return response
