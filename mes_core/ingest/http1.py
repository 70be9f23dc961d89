"""A small HTTP/1.1 client for polling an agent: GET requests, one at a time, on one keep-alive connection.

Reading an agent needs only GET, a status, a body framed by ``Content-Length``, chunks or the end of the
connection, and keep-alive. aiohttp does all of HTTP and costs several times more CPU per request than that
(reference/performance.md 2c: 83 µs against 8 µs per response; more on the project's machine), which at
thousands of polls per second is most of the ingestion's core. No TLS, proxies, redirects or cookies: the
agent client uses this for plain ``http://`` agents without user info, and aiohttp for the rest and for
streams.

Wiring::

    HttpConnection.get(path, query)
      ── "GET <prefix><path>?<query> HTTP/1.1" ──> asyncio stream (opened on first use; opened again when
                                                   the agent closed the kept-alive one, and the request
                                                   sent once more if it closed it before answering)
      <── head: parse_head ── body: Content-Length | chunked | up to the end of the connection
                               (gzip or deflate undone), at most ``max_body_bytes``

Failures are ``HttpError`` with the kind ``ReadFailed`` reports (connect, disconnected, http, too_large);
timeouts are the caller's (``asyncio.timeout`` around ``get``). After any failure or cancellation the
connection is closed, so a half-read answer never leaks into the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urlencode, urlsplit

__all__ = ["HttpConnection", "HttpError", "ResponseHead", "parse_head"]

_MiB: Final = 1024 * 1024
_HEAD_END: Final = b"\r\n\r\n"
_CRLF: Final = b"\r\n"
_NO_BODY: Final = frozenset({204, 304})


class HttpError(Exception):
    """A request that failed; ``kind`` is connect, disconnected, http or too_large."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class _Stale(Exception):
    """A kept-alive connection the server had closed before it answered: send the request once more."""


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """A response's status line and headers (names in lower case; a repeated header's values joined with
    ``", "``)."""

    version: str
    status: int
    reason: str
    headers: dict[str, str]

    @property
    def keep_alive(self) -> bool:
        """Whether the connection may carry the next request (HTTP/1.1 unless ``close``; 1.0 if asked)."""
        tokens = {token.strip().lower() for token in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


def parse_head(raw: bytes) -> ResponseHead | str:
    """Parse a response head (the status line and headers, up to and with the blank line).

    Returns:
        The head, or why ``raw`` is not an HTTP/1.x response head (a ``str``).
    """
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if version not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not code.isdigit():
        return f"not an HTTP/1.x status line: {lines[0][:80]!r}"
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        if not colon or not name:
            return f"not a header line: {line[:80]!r}"
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return ResponseHead(version, int(code), reason.strip(), headers)


class HttpConnection:
    """GET requests to the server of ``base_url`` (``http://host[:port][/prefix]``), one at a time.

    Example::

        connection = HttpConnection("http://10.0.0.5:5000")
        status, body = await connection.get("/sample", {"from": "120", "count": "1000"})
        connection.close()
    """

    def __init__(
        self, base_url: str, *, max_body_bytes: int = 64 * _MiB, max_head_bytes: int = 16 * 1024
    ) -> None:
        """A connection (opened at the first ``get``) to the server of ``base_url``. ``max_head_bytes`` bounds
        a response head, and is the stream's read buffer: at most twice it is read ahead of the client (an
        agent's heads are a few hundred bytes; thousands of connections each hold that much).

        Raises:
            ValueError: a URL this client does not serve (see ``supports``), or a limit below 1.
        """
        if not self.supports(base_url):
            raise ValueError(f"{base_url!r} is not a plain http:// URL with a host and without user info")
        if max_body_bytes < 1 or max_head_bytes < 1:
            raise ValueError(f"limits ({max_body_bytes!r}, {max_head_bytes!r}) must be >= 1")
        parts = urlsplit(base_url)
        assert parts.hostname is not None  # checked by supports()
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = quote(parts.path.rstrip("/"), safe="/%:@!$&'()*+,;=~-._")
        self._fixed = f" HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: mestwin\r\nAccept: */*\r\n\r\n"
        self.max_body_bytes = max_body_bytes
        self._max_head = max_head_bytes
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.connections = 0
        """How many times a connection was opened."""

    @staticmethod
    def supports(base_url: str) -> bool:
        """Whether this client can read ``base_url``: ``http://``, a host, no user info, a valid port."""
        try:
            parts = urlsplit(base_url)
            port = parts.port
        except ValueError:
            return False
        return (
            parts.scheme == "http"
            and bool(parts.hostname)
            and parts.username is None
            and parts.password is None
            and (port is None or port > 0)
        )

    @property
    def open(self) -> bool:
        """Whether a connection is open (kept alive for the next request)."""
        return self._writer is not None

    def close(self) -> None:
        """Close the connection (the next ``get`` opens a new one)."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()

    async def aclose(self) -> None:
        """Close the connection and wait (at most a second) until its socket is closed."""
        writer = self._writer
        self.close()
        if writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def get(self, path: str, query: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """GET ``<prefix><path>?<query>``.

        Returns:
            The status and the whole body, whatever the status.

        Raises:
            HttpError: the server could not be reached, closed the connection before the answer was whole,
                answered with something that is not HTTP/1.x, or with a body over ``max_body_bytes``.
        """
        target = self._prefix + path
        if query:
            target += "?" + urlencode(query)
        request = ("GET " + target + self._fixed).encode("latin-1")
        try:
            try:
                return await self._exchange(request, reused=self._writer is not None)
            except _Stale:
                self.close()
                return await self._exchange(request, reused=False)
        except BaseException:
            self.close()
            raise

    async def _exchange(self, request: bytes, *, reused: bool) -> tuple[int, bytes]:
        reader, writer = self._reader, self._writer
        if reader is None or writer is None or writer.is_closing() or reader.at_eof():
            self.close()
            reader, writer = await self._connect()
            reused = False
        writer.write(request)
        head = await self._head(reader, reused)
        while 100 <= head.status < 200 and head.status != 101:  # 100 Continue and other interim answers
            head = await self._head(reader, False)
        body = await self._body(reader, head)
        encoding = head.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            body = self._decoded(body, encoding)
        elif encoding not in ("", "identity"):
            raise HttpError("http", f"HTTP {head.status} with Content-Encoding {encoding!r}")
        if not head.keep_alive:
            self.close()
        return head.status, body

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port, limit=self._max_head)
        except OSError as exc:
            raise HttpError("connect", f"{self._host}:{self._port}: {exc or type(exc).__name__}") from exc
        self._reader, self._writer = reader, writer
        self.connections += 1
        return reader, writer

    async def _head(self, reader: asyncio.StreamReader, reused: bool) -> ResponseHead:
        try:
            raw = await reader.readuntil(_HEAD_END)
        except asyncio.IncompleteReadError as exc:
            if reused and not exc.partial:
                raise _Stale from exc
            raise HttpError("disconnected", "the server closed the connection before answering") from exc
        except asyncio.LimitOverrunError as exc:
            raise HttpError("http", f"a response head over {self._max_head} bytes") from exc
        except ConnectionError as exc:
            if reused:
                raise _Stale from exc
            raise HttpError("disconnected", str(exc) or type(exc).__name__) from exc
        head = parse_head(raw)
        if isinstance(head, str):
            raise HttpError("http", head)
        return head

    async def _body(self, reader: asyncio.StreamReader, head: ResponseHead) -> bytes:
        headers = head.headers
        try:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                return await self._chunked(reader)
            length_text = headers.get("content-length")
            if length_text is not None:
                if not length_text.isdigit():
                    raise HttpError("http", f"Content-Length {length_text!r}")
                length = int(length_text)
                if length > self.max_body_bytes:
                    raise HttpError("too_large", f"{length} bytes (limit {self.max_body_bytes})")
                return await reader.readexactly(length)
            if head.status in _NO_BODY:
                return b""
            return await self._until_closed(reader)
        except asyncio.IncompleteReadError as exc:
            raise HttpError("disconnected", "the server closed the connection mid-body") from exc
        except asyncio.LimitOverrunError as exc:
            raise HttpError("http", "a chunk header line too long") from exc
        except ConnectionError as exc:
            raise HttpError("disconnected", str(exc) or type(exc).__name__) from exc

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = await reader.readuntil(_CRLF)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HttpError("http", f"chunk size {size_text[:20]!r}") from None
            if size == 0:
                while await reader.readuntil(_CRLF) != _CRLF:  # trailer fields, up to the blank line
                    pass
                return b"".join(parts)
            total += size
            if total > self.max_body_bytes:
                raise HttpError("too_large", f"over {self.max_body_bytes} bytes")
            parts.append(await reader.readexactly(size))
            if await reader.readexactly(2) != _CRLF:
                raise HttpError("http", "a chunk not followed by CRLF")

    async def _until_closed(self, reader: asyncio.StreamReader) -> bytes:
        """A body without a length: everything up to the end of the connection (which cannot be reused)."""
        body = bytearray()
        while chunk := await reader.read(256 * 1024):
            body += chunk
            if len(body) > self.max_body_bytes:
                raise HttpError("too_large", f"over {self.max_body_bytes} bytes")
        self.close()
        return bytes(body)

    def _decoded(self, body: bytes, encoding: str) -> bytes:
        # gzip: a gzip (or zlib) header; deflate: zlib-wrapped, or raw as some servers send it
        windows = (zlib.MAX_WBITS | 32,) if encoding != "deflate" else (zlib.MAX_WBITS, -zlib.MAX_WBITS)
        for window in windows:
            try:
                data = zlib.decompressobj(window).decompress(body, self.max_body_bytes + 1)
            except zlib.error:
                continue
            if len(data) > self.max_body_bytes:
                raise HttpError("too_large", f"over {self.max_body_bytes} bytes once decoded")
            return data
        raise HttpError("http", f"a body that is not valid {encoding}")
