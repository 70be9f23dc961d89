"""The polling client's own HTTP/1.1 connection against scripted servers on loopback: framing by
Content-Length, chunks and the end of the connection, keep-alive and its loss, limits and broken answers.

Every wait is bounded; nothing is timed.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from mes_core.ingest.http1 import HttpConnection, HttpError, ResponseHead, parse_head

Reply = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]
"""Answers one request (its head) on ``writer``; returns whether to read the next request."""


class Script:
    """A server answering each request with the next reply (the last one repeats); it records the
    requests and counts the connections."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests.append(head)
                reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
                if not await reply(head, writer):
                    return
        finally:
            writer.close()


@asynccontextmanager
async def serving(script: Script) -> AsyncIterator[HttpConnection]:
    server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
    script.port = server.sockets[0].getsockname()[1]
    connection = HttpConnection(f"http://127.0.0.1:{script.port}/agent", max_body_bytes=1000)
    try:
        yield connection
    finally:
        await connection.aclose()
        server.close()
        await asyncio.wait_for(server.wait_closed(), 3.0)


def run(main: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(main(), 5.0)

    asyncio.run(bounded())


def fixed(raw: bytes, keep: bool = True) -> Reply:
    async def reply(_: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(raw)
        await writer.drain()
        return keep

    return reply


def ok(body: bytes, *headers: str) -> Reply:
    head = "".join(f"{header}\r\n" for header in headers)
    return fixed(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body)


async def hang_up(_: bytes, writer: asyncio.StreamWriter) -> bool:
    return False


def failure(kind: str) -> pytest.RaisesExc[HttpError]:
    return pytest.raises(HttpError, match=f"^{kind}: ")


# -- the head --------------------------------------------------------------------------------------------


def test_a_head_is_parsed_with_lower_case_names_and_repeated_headers_joined() -> None:
    head = parse_head(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/xml\r\nVia: a\r\nvia: b\r\n\r\n")
    assert head == ResponseHead("HTTP/1.1", 404, "Not Found", {"content-type": "text/xml", "via": "a, b"})
    assert head.keep_alive
    assert not parse_head(b"HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n").keep_alive  # type: ignore[union-attr]
    assert not parse_head(b"HTTP/1.0 200 OK\r\n\r\n").keep_alive  # type: ignore[union-attr]
    assert parse_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n").keep_alive  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 20x OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
    ],
)
def test_what_is_not_an_http_1_head_is_said_so(raw: bytes) -> None:
    assert isinstance(parse_head(raw), str)


def test_only_plain_http_urls_without_user_info_are_served() -> None:
    assert HttpConnection.supports("http://10.0.0.5:5000/prefix")
    assert HttpConnection.supports("http://[::1]:5000")
    for url in ("https://agent:5000", "http://user:pw@agent:5000", "http://:5000", "http://agent:99999"):
        assert not HttpConnection.supports(url)
        with pytest.raises(ValueError, match="plain http"):
            HttpConnection(url)


# -- framing and keep-alive -------------------------------------------------------------------------------


def test_requests_reuse_one_connection_and_carry_the_prefix_query_and_host() -> None:
    script = Script(ok(b"<a/>"), ok(b"<b/>", "Content-Type: text/xml"))

    async def main() -> None:
        async with serving(script) as connection:
            assert await connection.get("/sample", {"from": "12", "count": "1000"}) == (200, b"<a/>")
            assert await connection.get("/current") == (200, b"<b/>")
            assert await connection.get("/probe", {}) == (200, b"<b/>")
            assert connection.open
            assert connection.connections == script.connections == 1

    run(main)
    first = script.requests[0].decode()
    assert first.startswith("GET /agent/sample?from=12&count=1000 HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{script.port}\r\n" in first
    assert script.requests[1].startswith(b"GET /agent/current HTTP/1.1\r\n")


def test_a_chunked_body_with_extensions_and_trailers_is_joined() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n<doc\r\n2\r\n/>\r\n0\r\nT: 1\r\n\r\n"
    )
    script = Script(fixed(raw), ok(b"next"))

    async def main() -> None:
        async with serving(script) as connection:
            assert await connection.get("/current") == (200, b"<doc/>")
            assert await connection.get("/current") == (200, b"next")  # the same connection, read exactly
            assert connection.connections == 1

    run(main)


def test_a_body_without_a_length_ends_with_the_connection_which_is_not_reused() -> None:
    script = Script(
        fixed(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n<html>down</html>", keep=False)
    )

    async def main() -> None:
        async with serving(script) as connection:
            assert await connection.get("/current") == (502, b"<html>down</html>")
            assert not connection.open
            assert await connection.get("/current") == (502, b"<html>down</html>")
            assert connection.connections == 2

    run(main)


def test_an_http_1_0_answer_closes_the_connection_and_an_interim_answer_is_skipped() -> None:
    script = Script(
        fixed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
        fixed(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", keep=False),
    )

    async def main() -> None:
        async with serving(script) as connection:
            assert await connection.get("/a") == (204, b"")
            assert connection.open
            assert await connection.get("/b") == (200, b"ok")
            assert not connection.open

    run(main)


def test_a_kept_alive_connection_the_server_closed_is_replaced_without_a_failure() -> None:
    """Agents close idle connections; a request on one (answered with nothing) is sent once more on a
    new connection."""
    script = Script(ok(b"one"), hang_up, ok(b"two"))

    async def main() -> None:
        async with serving(script) as connection:
            assert await connection.get("/sample") == (200, b"one")
            assert await connection.get("/sample") == (200, b"two")
            assert connection.connections == 2
            assert len(script.requests) == 3

    run(main)


def test_gzip_and_deflate_bodies_are_decoded() -> None:
    document = b"<MTConnectStreams/>" * 20
    script = Script(ok(gzip.compress(document), "Content-Encoding: gzip"))

    async def main() -> None:
        async with serving(script) as connection:
            assert await connection.get("/current") == (200, document)

    run(main)


# -- failures ---------------------------------------------------------------------------------------------


def test_a_server_that_hangs_up_on_a_new_connection_is_disconnected() -> None:
    async def main() -> None:
        async with serving(Script(hang_up)) as connection:
            with failure("disconnected"):
                await connection.get("/sample")
            assert not connection.open

    run(main)


def test_a_body_cut_short_is_disconnected_and_the_connection_dropped() -> None:
    script = Script(fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<MTConnectStr", keep=False))

    async def main() -> None:
        async with serving(script) as connection:
            with failure("disconnected"):
                await connection.get("/sample")
            assert not connection.open

    run(main)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"<html>not http at all</html>\r\n\r\n", "http"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 4001\r\n\r\n", "too_large"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "http"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "http"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n" + b"x" * 1001 + b"\r\n0\r\n\r\n",
            "too_large",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 1\r\n\r\nx", "http"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nxyz", "http"),
    ],
)
def test_broken_or_oversize_answers_fail_with_their_kind(raw: bytes, kind: str) -> None:
    async def main() -> None:
        async with serving(Script(fixed(raw))) as connection:
            with failure(kind):
                await connection.get("/sample")
            assert not connection.open

    run(main)


def test_a_server_that_does_not_listen_is_a_connect_failure() -> None:
    async def main() -> None:
        script = Script(ok(b""))
        async with serving(script):
            pass  # the server is gone now
        with failure("connect"):
            await HttpConnection(f"http://127.0.0.1:{script.port}").get("/probe")

    run(main)


def test_a_request_cancelled_midway_drops_the_connection_and_the_next_one_works() -> None:
    async def slow(_: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await writer.drain()
        await asyncio.sleep(3.0)
        return False

    script = Script(slow, ok(b"fine"))

    async def main() -> None:
        async with serving(script) as connection:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await connection.get("/sample")
            assert not connection.open
            assert await connection.get("/sample") == (200, b"fine")

    run(main)
