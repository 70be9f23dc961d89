"""Incremental reader of streamed MTConnect responses (``multipart/mixed``, and the
``multipart/x-mixed-replace`` of old agents): bytes in as they arrive, complete part bodies out.

What agents send (reference/mtconnect.md 1.6)::

    --<boundary>\\r\\n                     (cppagent 1.3 and some others: a leading \\r\\n first)
    Content-Type: application/xml\\r\\n   (1.3: "Content-type: text/xml", "Content-length")
    Content-Length: <n>\\r\\n
    \\r\\n
    <document>\\r\\n

The reader does no I/O and never raises on bad input: it honours ``Content-Length`` when a part has one and
otherwise reads up to the next boundary; parts may be split across feeds at any byte. It buffers at most
about ``max_part_bytes`` (plus one feed): an oversize part is dropped and counted, and reading resumes at
the next boundary.
"""

from __future__ import annotations

import re

__all__ = ["MultipartReader", "boundary_of"]

_MULTIPART_TYPES = frozenset({"multipart/mixed", "multipart/x-mixed-replace"})
_PARAMETER = re.compile(r'([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))')
_ESCAPE = re.compile(r"\\(.)")


def boundary_of(content_type: str) -> str | None:
    """The boundary of a ``multipart/mixed`` or ``multipart/x-mixed-replace`` content type.

    Media type and parameter names are case-insensitive; the boundary may be quoted or not.

    Returns:
        The boundary (without the leading ``--``), or ``None`` for another media type or when there is
        no usable boundary.
    """
    media_type, _, parameters = content_type.partition(";")
    if media_type.strip().lower() not in _MULTIPART_TYPES:
        return None
    for part in _PARAMETER.finditer(parameters):
        name, quoted, token = part.groups()
        if name.lower() != "boundary":
            continue
        boundary = _ESCAPE.sub(r"\1", quoted) if quoted is not None else token.strip()
        return boundary or None
    return None


_SEEK, _HEADERS, _BODY = "seek", "headers", "body"
_PADDING_LIMIT = 256
"""How many bytes may follow a boundary on its line (transport padding) before it counts as a false match."""


class MultipartReader:
    """Splits a multipart byte stream into part bodies.

    ``feed`` returns the bodies completed by each chunk; ``dropped`` counts the parts discarded because they
    were larger than ``max_part_bytes`` (or had a header block over ``max_header_bytes``); ``closed`` says
    the close delimiter ``--<boundary>--`` was seen (anything after it is ignored).
    """

    def __init__(
        self, boundary: str, *, max_part_bytes: int = 16 * 1024 * 1024, max_header_bytes: int = 16 * 1024
    ) -> None:
        """A reader for parts separated by ``--<boundary>``.

        Raises:
            ValueError: an empty or non-ASCII boundary, or a limit below 1.
        """
        if not boundary or not boundary.isascii():
            raise ValueError(f"boundary {boundary!r} must be non-empty ASCII")
        if max_part_bytes < 1 or max_header_bytes < 1:
            raise ValueError(
                f"max_part_bytes ({max_part_bytes}) and max_header_bytes ({max_header_bytes}) must be >= 1"
            )
        self._delimiter = b"--" + boundary.encode("ascii")
        self._max_part = max_part_bytes
        self._max_header = max_header_bytes
        self._buffer = bytearray()
        self._state = _SEEK
        self._scan = 0
        """Where the next search of the buffer starts (what is before it was already searched)."""
        self._length: int | None = None
        self._dropped = 0
        self._closed = False

    @property
    def dropped(self) -> int:
        """How many parts were dropped as oversize."""
        return self._dropped

    @property
    def closed(self) -> bool:
        """Whether the close delimiter ended the stream."""
        return self._closed

    @property
    def buffered(self) -> int:
        """How many bytes are held waiting for the rest of a part."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add the next bytes of the stream.

        Returns:
            The body of each part completed by ``data``, in order (possibly none).
        """
        if self._closed:
            return []
        self._buffer += data
        parts: list[bytes] = []
        while True:
            if self._state == _SEEK:
                progressed = self._seek()
            elif self._state == _HEADERS:
                progressed = self._headers()
            else:
                progressed = self._body(parts)
            if not progressed:
                return parts

    def _drop(self) -> None:
        """Discard the current part and resynchronise at the next boundary."""
        self._dropped += 1
        self._state = _SEEK
        self._scan = 0
        self._length = None

    def _seek(self) -> bool:
        """Find the next boundary line (with or without a CRLF before it) and step past it."""
        buffer, delimiter = self._buffer, self._delimiter
        start = buffer.find(delimiter, self._scan)
        if start < 0:
            keep = len(delimiter) - 1  # the tail may hold the start of a boundary
            if len(buffer) > keep:
                del buffer[: len(buffer) - keep]
            self._scan = 0
            return False
        after = start + len(delimiter)
        if len(buffer) < after + 2:
            del buffer[:start]
            self._scan = 0
            return False
        if buffer[after : after + 2] == b"--":
            self._closed = True
            buffer.clear()
            return False
        newline = buffer.find(b"\n", after)
        if newline < 0:
            if len(buffer) - after > _PADDING_LIMIT:
                self._scan = start + 1
                return True
            del buffer[:start]
            self._scan = 0
            return False
        if buffer[after:newline].strip():  # "--boundaryX...": not our boundary
            self._scan = start + 1
            return True
        del buffer[: newline + 1]
        self._state, self._scan, self._length = _HEADERS, 0, None
        return True

    def _headers(self) -> bool:
        """Read header lines up to the blank line; remember Content-Length (any case)."""
        buffer = self._buffer
        position = self._scan
        while True:
            if position == 0 and buffer[:1] == b"<":
                end = 0  # no headers at all: the document starts right after the boundary line
                break
            newline = buffer.find(b"\n", position)
            if newline < 0:
                if len(buffer) > self._max_header:
                    self._drop()
                    return True
                self._scan = position
                return False
            line = bytes(buffer[position:newline]).strip()
            if not line:
                end = newline + 1
                break
            name, colon, value = line.partition(b":")
            if colon and name.strip().lower() == b"content-length":
                text = value.strip()
                self._length = int(text) if text.isdigit() else None
            position = newline + 1
            if position > self._max_header:
                self._drop()
                return True
        del buffer[:end]
        self._scan = 0
        if self._length is not None and self._length > self._max_part:
            self._drop()
            return True
        self._state = _BODY
        return True

    def _body(self, parts: list[bytes]) -> bool:
        """Complete a body: ``Content-Length`` bytes, or everything up to the line of the next boundary."""
        buffer, delimiter = self._buffer, self._delimiter
        length = self._length
        if length is not None:
            if len(buffer) < length:
                return False
            parts.append(bytes(buffer[:length]))
            del buffer[:length]
        elif buffer.startswith(delimiter):
            parts.append(b"")
        else:
            found = buffer.find(b"\n" + delimiter, self._scan)
            if found < 0:
                if len(buffer) > self._max_part + len(delimiter) + 2:
                    self._drop()
                    return True
                self._scan = max(0, len(buffer) - len(delimiter))
                return False
            end = found - 1 if found > 0 and buffer[found - 1] == 0x0D else found
            if end > self._max_part:  # it all arrived at once, but it is still too big
                del buffer[: found + 1]
                self._drop()
                return True
            parts.append(bytes(buffer[:end]))
            del buffer[: found + 1]
        self._state, self._scan, self._length = _SEEK, 0, None
        return True
