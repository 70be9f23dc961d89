"""SHDR, the MTConnect adapter line protocol: text in, frozen values out, and back, with no I/O.

The codec's front: decoding lives here (line framing, tokens, timestamps, commands, assets); the values of
data items are read in ``agent_sim.shdr_values`` and lines are written in ``agent_sim.shdr_encode``, and
every public name of both is re-exported here.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final, TypeAlias

from agent_sim.shdr_encode import (
    MAX_PONG_MS,
    MULTILINE,
    PING,
    PreEncoded,
    encode_asset,
    encode_command,
    encode_condition,
    encode_data_set,
    encode_line,
    encode_lines,
    encode_message,
    encode_remove_all_assets,
    encode_remove_asset,
    encode_table,
    encode_time_series,
    escape,
    format_timestamp,
    pong,
)
from agent_sim.shdr_values import (
    KIND_ALARM,
    KIND_CONDITION,
    KIND_DATA_SET,
    KIND_EVENT,
    KIND_MESSAGE,
    KIND_SAMPLE,
    KIND_TABLE,
    KIND_TIME_SERIES,
    NUMBER,
    UNAVAILABLE,
    WHITESPACE,
    AlarmValue,
    ConditionValue,
    DataSetValue,
    Malformed,
    MessageValue,
    ResetValue,
    TableValue,
    TimeSeriesValue,
    Value,
    split_reset,
    take_value,
)

__all__ = [
    "KIND_ALARM",
    "KIND_CONDITION",
    "KIND_DATA_SET",
    "KIND_EVENT",
    "KIND_MESSAGE",
    "KIND_SAMPLE",
    "KIND_TABLE",
    "KIND_TIME_SERIES",
    "PING",
    "UNAVAILABLE",
    "AlarmValue",
    "AssetCommand",
    "Command",
    "ConditionValue",
    "DataLine",
    "DataSetValue",
    "Decoded",
    "Malformed",
    "MessageValue",
    "PreEncoded",
    "ResetValue",
    "ShdrDecoder",
    "ShdrTimestamp",
    "TableValue",
    "TimeSeriesValue",
    "Value",
    "decode_line",
    "encode_asset",
    "encode_command",
    "encode_condition",
    "encode_data_set",
    "encode_line",
    "encode_lines",
    "encode_message",
    "encode_remove_all_assets",
    "encode_remove_asset",
    "encode_table",
    "encode_time_series",
    "escape",
    "format_timestamp",
    "pong",
    "pong_interval_ms",
    "split_reset",
    "take_value",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:?\d\d)?")


@dataclass(frozen=True, slots=True)
class ShdrTimestamp:
    """The first field of a line: ``text`` as sent (None when empty, so the receiver uses its own
    clock), ``epoch`` in UTC seconds when it is ISO 8601, ``duration`` from ``timestamp@duration``."""

    text: str | None
    epoch: float | None
    duration: float | None


@dataclass(frozen=True, slots=True)
class DataLine:
    """``timestamp|key|value|...``; tokens are unescaped and trimmed; a trailing '|' gives a last ''."""

    timestamp: ShdrTimestamp
    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Command:
    """``* key: value`` (or ``* PING``, ``* PONG 10000``); the key is lower-cased."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class AssetCommand:
    """``@ASSET@`` (kind 'asset'), ``@REMOVE_ASSET@`` ('remove'), ``@REMOVE_ALL_ASSETS@`` ('remove_all'),
    ``@UPDATE_ASSET@`` ('update': the rest of the line after the id, which cppagent 2.7 rejects)."""

    timestamp: ShdrTimestamp
    kind: str
    asset_id: str | None
    asset_type: str | None
    body: str | None


Decoded: TypeAlias = DataLine | Command | AssetCommand | Malformed


class ShdrDecoder:
    """Stateful line decoder: feed() bytes or str chunks as they arrive, get complete records out.

    Lines end with LF or CRLF and are right-trimmed; blank lines are skipped. A line containing
    ``--multiline--XXXX`` opens a body that ends at a line reading exactly that marker; the lines
    between are kept verbatim (without line endings) and become the last field (an asset's body).
    A line or body longer than ``max_line_chars`` gives one Malformed and is skipped.
    """

    def __init__(self, *, max_line_chars: int = 1 << 20) -> None:
        if max_line_chars < 1:
            raise ValueError(f"max_line_chars ({max_line_chars}) must be positive")
        self.malformed = 0
        self._max = max_line_chars
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pieces: list[str] = []
        self._pending = 0
        self._skip_line = False
        self._header: str | None = None  # the line that opened a multiline body
        self._terminator = ""
        self._body: list[str] | None = None  # None while an overlong body is being skipped
        self._body_size = 0

    def feed(self, data: bytes | str) -> list[Decoded]:
        """Takes the next chunk; returns the records completed by it (possibly none)."""
        text = data if isinstance(data, str) else self._utf8.decode(data)
        out: list[Decoded] = []
        if "\n" not in text:
            self._hold(text, out)
            return out
        lines = text.split("\n")
        if self._pieces:
            lines[0] = "".join(self._pieces) + lines[0]
            self._pieces, self._pending = [], 0
        rest = lines.pop()
        for line in lines:
            if self._skip_line:
                self._skip_line = False
            else:
                self._line(line, out)
        self._hold(rest, out)
        return out

    def close(self) -> list[Decoded]:
        """Ends the stream: decodes a pending partial line; an unterminated multiline body is Malformed.

        The decoder is empty afterwards and can take a new stream.
        """
        out: list[Decoded] = []
        self._hold(self._utf8.decode(b"", final=True), out)
        if self._pieces and not self._skip_line:
            self._line("".join(self._pieces), out)
        if self._header is not None:
            self._emit(
                Malformed(self._header, f"stream ended before the terminator {self._terminator!r}"), out
            )
        self._pieces, self._pending, self._skip_line, self._header = [], 0, False, None
        self._utf8.reset()
        return out

    def _hold(self, text: str, out: list[Decoded]) -> None:
        if self._skip_line or not text:
            return
        self._pieces.append(text)
        self._pending += len(text)
        if self._pending > self._max:
            head = "".join(self._pieces)[:80]
            self._emit(Malformed(head, f"line longer than {self._max} characters"), out)
            self._pieces, self._pending, self._skip_line = [], 0, True

    def _line(self, line: str, out: list[Decoded]) -> None:
        if self._header is not None:
            self._body_line(self._header, line, out)
            return
        line = line.rstrip(WHITESPACE)
        if not line:
            return
        marker = line.find(MULTILINE)
        if marker >= 0:
            self._header, self._terminator = line, line[marker:]
            self._body, self._body_size = [], 0
            return
        self._emit(_decode(line, None), out)

    def _body_line(self, header: str, line: str, out: list[Decoded]) -> None:
        if line.rstrip(WHITESPACE) == self._terminator:
            self._header = None
            if self._body is not None:
                decoded = _decode(header[: header.find(MULTILINE)], "\n".join(self._body))
                if isinstance(decoded, Malformed):
                    decoded = replace(decoded, line=header)
                self._emit(decoded, out)
            return
        if self._body is None:
            return
        self._body.append(line[:-1] if line.endswith("\r") else line)
        self._body_size += len(line) + 1
        if self._body_size > self._max:
            self._body = None
            self._emit(Malformed(header, f"multiline body longer than {self._max} characters"), out)

    def _emit(self, decoded: Decoded, out: list[Decoded]) -> None:
        if isinstance(decoded, Malformed):
            self.malformed += 1
        out.append(decoded)


def decode_line(line: str) -> Decoded:
    """Decodes one complete line (trailing whitespace ignored, no multiline handling).

    Returns:
        A DataLine, Command or AssetCommand, or Malformed with the reason; never raises.
    """
    return _decode(line.rstrip(WHITESPACE), None)


def _decode(line: str, body: str | None) -> Decoded:
    if line.startswith("*"):
        return _command(line, body)
    tokens = _tokenize(line)
    if isinstance(tokens, str):
        return Malformed(line, tokens)
    if len(tokens) < 2:
        return Malformed(line, "no '|' separator, and not a '*' command")
    stamp = _timestamp(tokens[0])
    if tokens[1].startswith("@"):
        return _asset(line, stamp, tokens[1:], body)
    if body is not None:
        tokens[-1] = (tokens[-1] + "\n" + body if tokens[-1] else body).strip(WHITESPACE)
    return DataLine(stamp, tuple(tokens[1:]))


def _tokenize(line: str) -> list[str] | str:
    """Splits on '|' and trims; a token starting with '"' is quoted, where '\\' escapes the next char.

    Returns the tokens, or the reason the line cannot be split.
    """
    if '"' not in line:
        return [token.strip(WHITESPACE) for token in line.split("|")]
    tokens: list[str] = []
    pos, end = 0, len(line)
    while True:
        start = pos
        while start < end and line[start] in WHITESPACE:
            start += 1
        if start < end and line[start] == '"':
            chars: list[str] = []
            cur = start + 1
            while True:
                if cur >= end or line[cur] == "|":
                    return f"unterminated quote in field {len(tokens) + 1}"
                char = line[cur]
                if char == "\\" and cur + 1 < end:
                    chars.append(line[cur + 1])
                    cur += 2
                    continue
                if char == '"':
                    after = cur + 1
                    while after < end and line[after] in WHITESPACE:
                        after += 1
                    if after == end or line[after] == "|":
                        cur = after
                        break
                chars.append(char)
                cur += 1
            tokens.append("".join(chars).strip(WHITESPACE))
            if cur == end:
                return tokens
        else:
            cur = line.find("|", start)
            if cur < 0:
                tokens.append(line[start:].strip(WHITESPACE))
                return tokens
            tokens.append(line[start:cur].strip(WHITESPACE))
        pos = cur + 1


def _timestamp(field: str) -> ShdrTimestamp:
    if not field:
        return ShdrTimestamp(None, None, None)
    stamp, at, after = field.partition("@")
    duration = float(after) if at and NUMBER.fullmatch(after) else None
    return ShdrTimestamp(field, _epoch(stamp), duration)


def _epoch(text: str) -> float | None:
    if len(text) == 27 and text[19] == "." and text[26] in "Zz":
        # The form adapters write (``YYYY-MM-DDThh:mm:ss.ffffffZ``): its whole second read once, as an
        # adapter sends many lines per second.
        whole = _CANONICAL.get(text[:19])
        fraction = text[20:26]
        if whole is not None and fraction.isdecimal():
            return whole + int(fraction) / 1_000_000
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    fraction, zone = match[7], match[8]
    epoch = _whole_seconds(match[1], match[2], match[3], match[4], match[5], match[6], zone or "")
    if epoch is None:
        return None
    if len(text) == 27 and fraction and len(fraction) == 6 and zone in ("Z", "z"):
        if len(_CANONICAL) >= 4096:
            _CANONICAL.clear()
        _CANONICAL[text[:19]] = epoch
    return epoch + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


_CANONICAL: dict[str, int] = {}
"""Whole seconds (UTC epoch) of the canonical timestamps' ``YYYY-MM-DDThh:mm:ss`` already read."""


def _whole_seconds(
    year: str, month: str, day: str, hour: str, minute: str, second: str, zone: str
) -> int | None:
    """UTC epoch seconds of a timestamp's whole second."""
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError:
        return None
    epoch = (moment - _EPOCH) // timedelta(seconds=1)
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "+" else 1  # local time + offset = UTC
        epoch += sign * (int(zone[1:3]) * 3600 + int(zone[-2:]) * 60)
    return epoch


def _command(line: str, body: str | None) -> Decoded:
    rest = line[1:].lstrip(WHITESPACE)
    key, colon, value = rest.partition(":")
    if not colon:  # '* PING', '* PONG 10000'
        key, value = ([*rest.split(None, 1), ""])[:2]
    key, value = key.strip(WHITESPACE).lower(), value.strip(WHITESPACE)
    if not key:
        return Malformed(line, "'*' command without a name")
    if body is not None:
        value = f"{value}\n{body}" if value else body
    return Command(key, value)


_ASSET_KINDS: Final = {
    "@ASSET@": "asset",
    "@REMOVE_ASSET@": "remove",
    "@REMOVE_ALL_ASSETS@": "remove_all",
    "@UPDATE_ASSET@": "update",
}


def _asset(line: str, stamp: ShdrTimestamp, tokens: list[str], body: str | None) -> Decoded:
    kind = _ASSET_KINDS.get(tokens[0])
    if kind is None:
        return Malformed(line, f"unknown asset command {tokens[0]!r}")
    if kind == "remove_all":
        asset_type = tokens[1] if len(tokens) > 1 else ""
        return AssetCommand(stamp, kind, None, asset_type or None, None)
    if len(tokens) < 2 or not tokens[1]:
        return Malformed(line, f"{tokens[0]} without an asset id")
    if kind == "remove":
        return AssetCommand(stamp, kind, tokens[1], None, None)
    if kind == "update":
        return AssetCommand(stamp, kind, tokens[1], None, "|".join(tokens[2:]) or None)
    if len(tokens) < (4 if body is None else 3):
        return Malformed(line, "@ASSET@ needs an asset id, a type and a body")
    # An unquoted '|' inside single-line XML split it into tokens; rejoin them.
    text = "|".join(tokens[3:])
    if body is not None:
        text = f"{text}\n{body}" if text else body
    if not text.strip(WHITESPACE):
        return Malformed(line, "@ASSET@ with an empty body")
    return AssetCommand(stamp, kind, tokens[1], tokens[2] or None, text)


def pong_interval_ms(command: Command) -> int | None:
    """Returns the heartbeat interval of a valid ``* PONG <ms>`` (0 < ms < 30 min), else None."""
    value = command.value
    if command.key != "pong" or not (value.isascii() and value.isdigit()):
        return None
    ms = int(value)
    return ms if 0 < ms < MAX_PONG_MS else None
