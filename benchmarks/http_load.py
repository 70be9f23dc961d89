"""A small keep-alive HTTP/1.1 load client on asyncio streams (far cheaper per request than aiohttp).

Each connection sends the next path from its generator, reads one whole response (Content-Length or
chunked is not needed: the agent answers with Content-Length), and goes on until the deadline. Bounded in
time; loopback only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["LoadResult", "load"]


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    bytes: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000.0 if data else 0.0


async def _connection(
    host: str, port: int, next_path: Callable[[], str], deadline: float, result: LoadResult
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            path = next_path()
            began = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            status = int(head[9:12])
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            result.latencies.append(time.perf_counter() - began)
            if status == 200:
                result.requests += 1
                result.bytes += len(body)
            else:
                result.errors += 1
    finally:
        writer.close()


async def load(
    host: str, port: int, next_path: Callable[[], str], *, connections: int = 32, seconds: float = 5.0
) -> LoadResult:
    """Drive ``connections`` keep-alive connections for ``seconds``; return what they achieved."""
    result = LoadResult()
    began = time.monotonic()
    deadline = began + seconds
    await asyncio.gather(*(_connection(host, port, next_path, deadline, result) for _ in range(connections)))
    result.seconds = time.monotonic() - began
    return result
