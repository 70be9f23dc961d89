"""SHDR, the MTConnect adapter line protocol: text in, frozen values out, and back, with no I/O."""

from __future__ import annotations

import codecs
import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final, TypeAlias

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

UNAVAILABLE: Final = "UNAVAILABLE"
PING: Final = "* PING\n"
KIND_SAMPLE: Final = "SAMPLE"
KIND_EVENT: Final = "EVENT"
KIND_CONDITION: Final = "CONDITION"
KIND_MESSAGE: Final = "MESSAGE"
KIND_TIME_SERIES: Final = "TIME_SERIES"
KIND_DATA_SET: Final = "DATA_SET"
KIND_TABLE: Final = "TABLE"
KIND_ALARM: Final = "ALARM"

MULTILINE: Final = "--multiline--"
LEVELS: Final = frozenset({"NORMAL", "WARNING", "FAULT", "UNAVAILABLE"})
MAX_PONG_MS: Final = 30 * 60 * 1000
_WS: Final = " \t\n\r\x0b\x0c"  # C isspace(), which is what the reference agent trims
_KEY_STOP: Final = frozenset(_WS + "=|{}'\"")
_SIMPLE_STOP: Final = frozenset(_WS + "{}'\"")
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:?\d\d)?")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


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


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line (or token run) that cannot be read, and why."""

    line: str
    reason: str


Decoded: TypeAlias = DataLine | Command | AssetCommand | Malformed


@dataclass(frozen=True, slots=True)
class ConditionValue:
    level: str
    native_code: str | None
    condition_id: str | None
    native_severity: str | None
    qualifier: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class MessageValue:
    native_code: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class TimeSeriesValue:
    count: int
    rate: float | None
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class DataSetValue:
    """Entries in the order sent; a value of None removes the key."""

    reset_trigger: str | None
    entries: tuple[tuple[str, str | None], ...]


Cells: TypeAlias = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class TableValue:
    """Rows in the order sent; cells of None remove the row."""

    reset_trigger: str | None
    rows: tuple[tuple[str, Cells | None], ...]


@dataclass(frozen=True, slots=True)
class ResetValue:
    value: str
    reset_trigger: str


@dataclass(frozen=True, slots=True)
class AlarmValue:
    """The deprecated (MTConnect 1.0) ALARM: ``code|nativeCode|severity|state|text``."""

    code: str
    native_code: str | None
    severity: str | None
    state: str | None
    text: str | None


Value: TypeAlias = (
    str
    | ResetValue
    | ConditionValue
    | MessageValue
    | TimeSeriesValue
    | DataSetValue
    | TableValue
    | AlarmValue
)


class PreEncoded(str):
    """A value already in SHDR form (several '|'-separated fields); encode_line writes it as is."""

    __slots__ = ()


# ---------------------------------------------------------------------------------------------- decoding


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
        line = line.rstrip(_WS)
        if not line:
            return
        marker = line.find(MULTILINE)
        if marker >= 0:
            self._header, self._terminator = line, line[marker:]
            self._body, self._body_size = [], 0
            return
        self._emit(_decode(line, None), out)

    def _body_line(self, header: str, line: str, out: list[Decoded]) -> None:
        if line.rstrip(_WS) == self._terminator:
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
    return _decode(line.rstrip(_WS), None)


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
        tokens[-1] = (tokens[-1] + "\n" + body if tokens[-1] else body).strip(_WS)
    return DataLine(stamp, tuple(tokens[1:]))


def _tokenize(line: str) -> list[str] | str:
    """Splits on '|' and trims; a token starting with '"' is quoted, where '\\' escapes the next char.

    Returns the tokens, or the reason the line cannot be split.
    """
    if '"' not in line:
        return [token.strip(_WS) for token in line.split("|")]
    tokens: list[str] = []
    pos, end = 0, len(line)
    while True:
        start = pos
        while start < end and line[start] in _WS:
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
                    while after < end and line[after] in _WS:
                        after += 1
                    if after == end or line[after] == "|":
                        cur = after
                        break
                chars.append(char)
                cur += 1
            tokens.append("".join(chars).strip(_WS))
            if cur == end:
                return tokens
        else:
            cur = line.find("|", start)
            if cur < 0:
                tokens.append(line[start:].strip(_WS))
                return tokens
            tokens.append(line[start:cur].strip(_WS))
        pos = cur + 1


def _timestamp(field: str) -> ShdrTimestamp:
    if not field:
        return ShdrTimestamp(None, None, None)
    stamp, at, after = field.partition("@")
    duration = float(after) if at and _NUMBER.fullmatch(after) else None
    return ShdrTimestamp(field, _epoch(stamp), duration)


def _epoch(text: str) -> float | None:
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, zone = match[7], match[8]
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    epoch = (moment - _EPOCH) // timedelta(seconds=1)
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "+" else 1  # local time + offset = UTC
        epoch += sign * (int(zone[1:3]) * 3600 + int(zone[-2:]) * 60)
    return epoch + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _command(line: str, body: str | None) -> Decoded:
    rest = line[1:].lstrip(_WS)
    key, colon, value = rest.partition(":")
    if not colon:  # '* PING', '* PONG 10000'
        key, value = ([*rest.split(None, 1), ""])[:2]
    key, value = key.strip(_WS).lower(), value.strip(_WS)
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
    if not text.strip(_WS):
        return Malformed(line, "@ASSET@ with an empty body")
    return AssetCommand(stamp, kind, tokens[1], tokens[2] or None, text)


def pong_interval_ms(command: Command) -> int | None:
    """Returns the heartbeat interval of a valid ``* PONG <ms>`` (0 < ms < 30 min), else None."""
    value = command.value
    if command.key != "pong" or not (value.isascii() and value.isdigit()):
        return None
    ms = int(value)
    return ms if 0 < ms < MAX_PONG_MS else None


def split_reset(value: str) -> tuple[str, str | None]:
    """Splits ``value:TRIGGER`` at the first ':'; returns (value, upper-cased trigger or None)."""
    head, colon, trigger = value.partition(":")
    if not colon:
        return value, None
    return head, trigger.strip(_WS).upper() or None


class _Bad(Exception):
    """Internal: a value cannot be read; always turned into Malformed before it leaves the module."""


def _unavailable(text: str) -> bool:
    return len(text) == 11 and text.upper() == UNAVAILABLE


def _number(text: str, what: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise _Bad(f"{what} {text!r} is not a number")
    return float(text)


def _scalar(fields: list[str], resettable: bool) -> Value:
    if _unavailable(fields[0]):
        return UNAVAILABLE
    if resettable:
        value, trigger = split_reset(fields[0])
        if trigger is not None:
            return ResetValue(value, trigger)
    return fields[0]


def _condition(fields: list[str], resettable: bool) -> Value:
    level = fields[0].upper()
    if level not in LEVELS:
        raise _Bad(f"level {fields[0]!r} is not NORMAL, WARNING, FAULT or UNAVAILABLE")
    code, colon, condition_id = fields[1].partition(":")
    native_code = code or None
    return ConditionValue(
        level,
        native_code,
        (condition_id or native_code) if colon else native_code,
        fields[2] or None,
        fields[3] or None,
        fields[4] or None,
    )


def _message(fields: list[str], resettable: bool) -> Value:
    code, text = fields
    if _unavailable(text) or (not text and _unavailable(code)):
        return UNAVAILABLE
    return MessageValue(code or None, text or None)


def _time_series(fields: list[str], resettable: bool) -> Value:
    count, rate, values = fields
    if _unavailable(count) or _unavailable(values):
        return UNAVAILABLE
    if not (count.isascii() and count.isdigit()):
        raise _Bad(f"sample count {count!r} is not an integer")
    return TimeSeriesValue(
        int(count),
        _number(rate, "sample rate") if rate else None,
        tuple(_number(value, "sample") for value in values.split()),
    )


def _alarm(fields: list[str], resettable: bool) -> Value:
    code, native_code, severity, state, text = fields
    if _unavailable(code) or _unavailable(text):
        return UNAVAILABLE
    if not code:
        raise _Bad("alarm without a code")
    return AlarmValue(code, native_code or None, severity or None, state or None, text or None)


def _leading_trigger(text: str) -> tuple[str | None, str]:
    stripped = text.lstrip(_WS)
    if not stripped.startswith(":"):
        return None, text
    end = 1
    while end < len(stripped) and stripped[end] not in _WS:
        end += 1
    return stripped[1:end].upper() or None, stripped[end:]


def _data_set(fields: list[str], resettable: bool) -> Value:
    if _unavailable(fields[0]):
        return UNAVAILABLE
    trigger, text = _leading_trigger(fields[0])
    return DataSetValue(trigger, _cells(text, 0, "")[0])


def _table(fields: list[str], resettable: bool) -> Value:
    if _unavailable(fields[0]):
        return UNAVAILABLE
    trigger, text = _leading_trigger(fields[0])
    rows: list[tuple[str, Cells | None]] = []
    pos = _skip_ws(text, 0)
    while pos < len(text):
        key, pos = _key(text, pos)
        cells: Cells | None = None
        if pos < len(text) and text[pos] == "=":
            pos += 1
            if pos < len(text) and text[pos] in "{\"'":
                cells, pos = _cells(text, pos + 1, "}" if text[pos] == "{" else text[pos])
            elif pos < len(text) and text[pos] not in _WS:
                raise _Bad(f"row {key!r} must be {{...}}, \"...\" or '...' (column {pos + 1})")
        rows.append((key, cells))
        pos = _skip_ws(text, _separator(text, pos, ""))
    return TableValue(trigger, tuple(rows))


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _key(text: str, pos: int) -> tuple[str, int]:
    start = pos
    while pos < len(text) and text[pos] not in _KEY_STOP:
        pos += 1
    if pos == start:
        raise _Bad(f"expected a key at column {pos + 1}, found {text[pos]!r}")
    return text[start:pos], pos


def _separator(text: str, pos: int, close: str) -> int:
    if pos < len(text) and text[pos] not in _WS and text[pos] != close:
        raise _Bad(f"unexpected {text[pos]!r} at column {pos + 1}")
    return pos


def _cells(text: str, pos: int, close: str) -> tuple[Cells, int]:
    """Reads ``key=value`` entries up to ``close`` (or the end when close is ''); returns them and the
    position after the close."""
    entries: list[tuple[str, str | None]] = []
    while True:
        pos = _skip_ws(text, pos)
        if pos >= len(text):
            if close:
                raise _Bad(f"missing closing {close!r}")
            return tuple(entries), pos
        if close and text[pos] == close:
            return tuple(entries), pos + 1
        key, pos = _key(text, pos)
        value: str | None = None
        if pos < len(text) and text[pos] == "=":
            pos += 1
            if pos < len(text) and text[pos] not in _WS and text[pos] != close:
                value, pos = _entry_value(text, pos)
        entries.append((key, value))
        pos = _separator(text, pos, close)


def _entry_value(text: str, pos: int) -> tuple[str, int]:
    opener = text[pos]
    if opener in "\"'{":
        closer = "}" if opener == "{" else opener
        chars: list[str] = []
        cur = pos + 1
        while cur < len(text) and text[cur] != closer:
            if text[cur] == "\\" and text[cur + 1 : cur + 2] == closer:
                cur += 1
            chars.append(text[cur])
            cur += 1
        if cur >= len(text):
            raise _Bad(f"unterminated {opener}...{closer} value at column {pos + 1}")
        return "".join(chars), cur + 1
    start = pos
    while pos < len(text) and text[pos] not in _SIMPLE_STOP:
        pos += 1
    if pos == start:
        raise _Bad(f"unexpected {text[pos]!r} at column {pos + 1}")
    return text[start:pos], pos


_Parser: TypeAlias = Callable[[list[str], bool], Value]
_KINDS: Final[dict[str, tuple[int, _Parser]]] = {
    KIND_SAMPLE: (1, _scalar),
    KIND_EVENT: (1, _scalar),
    KIND_CONDITION: (5, _condition),
    KIND_MESSAGE: (2, _message),
    KIND_TIME_SERIES: (3, _time_series),
    KIND_DATA_SET: (1, _data_set),
    KIND_TABLE: (1, _table),
    KIND_ALARM: (5, _alarm),
}


def take_value(
    kind: str, tokens: Sequence[str], index: int, *, resettable: bool = False
) -> tuple[Value, int] | Malformed:
    """Decodes the value of the key at ``tokens[index - 1]``, which starts at ``tokens[index]``.

    SAMPLE and EVENT take one token (``UNAVAILABLE`` in any case gives the UNAVAILABLE constant; with
    ``resettable`` a ``value:TRIGGER`` gives ResetValue), CONDITION five, MESSAGE two, TIME_SERIES three,
    ALARM five, DATA_SET and TABLE one. Fields missing at the end of the line read as empty; stopping
    after a multi-token value (legacy ShdrVersion 1) is the caller's choice.

    Returns:
        (value, index of the next key), or Malformed naming the key and the reason.

    Raises:
        ValueError: kind is not a KIND_* constant, or index is not in 1..len(tokens).
    """
    spec = _KINDS.get(kind)
    if spec is None:
        raise ValueError(f"kind ({kind!r}) must be one of {', '.join(_KINDS)}")
    if not 1 <= index <= len(tokens):
        raise ValueError(f"index ({index}) must be between 1 and len(tokens) ({len(tokens)})")
    width, parse = spec
    key = tokens[index - 1]
    fields = list(tokens[index : index + width])
    if not fields:
        return Malformed("|".join(tokens), f"{key!r} has no value")
    next_index = index + len(fields)
    fields += [""] * (width - len(fields))
    try:
        return parse(fields, resettable), next_index
    except _Bad as exc:
        return Malformed("|".join(tokens), f"{kind} {key!r}: {exc}")


# ---------------------------------------------------------------------------------------------- encoding


def format_timestamp(epoch: float) -> str:
    """Returns ``YYYY-MM-DDThh:mm:ss.ffffffZ`` (UTC, microseconds).

    Raises:
        ValueError: epoch is not finite or outside years 1..9999.
    """
    if not math.isfinite(epoch):
        raise ValueError(f"epoch ({epoch}) must be a finite number")
    try:
        moment = _EPOCH + timedelta(microseconds=round(epoch * 1_000_000))
    except OverflowError as exc:
        raise ValueError(f"epoch ({epoch}) is outside years 1..9999") from exc
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


def _one_line(text: str, what: str) -> str:
    if "\n" in text or "\r" in text:
        raise ValueError(f"{what} ({text!r}) must not contain a line break")
    return text


def escape(value: str) -> str:
    """Returns value as one SHDR field: quoted, with '\\', '"' and '|' escaped, when it contains '|' or
    starts with '"'; otherwise unchanged.

    Raises:
        ValueError: value contains a line break, which SHDR cannot carry.
    """
    _one_line(value, "value")
    if "|" not in value and not value.lstrip(_WS).startswith('"'):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("|", "\\|") + '"'


def _field_key(key: str) -> str:
    _one_line(key, "key")
    if not key.strip(_WS) or "|" in key or key.lstrip(_WS).startswith("@"):
        raise ValueError(f"key ({key!r}) must be non-empty, without '|' and not start with '@'")
    return key


def encode_line(epoch: float | None, pairs: Sequence[tuple[str, str]]) -> str:
    """Returns ``timestamp|key|value|...\\n``; values are escaped unless they are PreEncoded.

    Raises:
        ValueError: no pairs, a bad key, or a line break in a value.
    """
    if not pairs:
        raise ValueError("pairs must not be empty")
    parts = ["" if epoch is None else format_timestamp(epoch)]
    for key, value in pairs:
        parts.append(_field_key(key))
        parts.append(_one_line(value, "value") if isinstance(value, PreEncoded) else escape(value))
    return "|".join(parts) + "\n"


def encode_lines(epoch: float | None, pairs: Sequence[tuple[str, str]]) -> str:
    """Like encode_line, but every PreEncoded (multi-field) pair gets a line of its own, as agents in
    legacy mode (ShdrVersion 1) ignore whatever follows a multi-field value on a line."""
    lines: list[str] = []
    run: list[tuple[str, str]] = []
    for pair in pairs:
        if isinstance(pair[1], PreEncoded):
            if run:
                lines.append(encode_line(epoch, run))
                run = []
            lines.append(encode_line(epoch, [pair]))
        else:
            run.append(pair)
    if run or not lines:
        lines.append(encode_line(epoch, run))
    return "".join(lines)


def encode_condition(
    key: str,
    level: str,
    native_code: str = "",
    native_severity: str = "",
    qualifier: str = "",
    text: str = "",
) -> tuple[str, str]:
    """Returns (key, ``LEVEL|nativeCode|nativeSeverity|qualifier|text``) as a PreEncoded value.

    Raises:
        ValueError: level is not NORMAL, WARNING, FAULT or UNAVAILABLE (any case).
    """
    if level.upper() not in LEVELS:
        raise ValueError(f"level ({level!r}) must be NORMAL, WARNING, FAULT or UNAVAILABLE")
    fields = (level.upper(), native_code, native_severity, qualifier, text)
    return key, PreEncoded("|".join(escape(field) for field in fields))


def encode_message(key: str, text: str, native_code: str = "") -> tuple[str, str]:
    """Returns (key, ``nativeCode|text``) as a PreEncoded value."""
    return key, PreEncoded(f"{escape(native_code)}|{escape(text)}")


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"value ({value}) must be a finite number")
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def encode_time_series(key: str, values: Sequence[float], rate: float | None = None) -> tuple[str, str]:
    """Returns (key, ``count|rate|v1 v2 ...``) as a PreEncoded value (an empty rate when None)."""
    rate_text = "" if rate is None else _float(rate)
    return key, PreEncoded(f"{len(values)}|{rate_text}|{' '.join(_float(value) for value in values)}")


def _entry_key(key: str) -> str:
    if not key or any(char in _KEY_STOP for char in key):
        raise ValueError(
            f"data set key ({key!r}) must be non-empty without spaces, '=', '|', braces or quotes"
        )
    return key


def _entry(key: str, value: str | None) -> str:
    if value is None:
        return _entry_key(key)
    if value and not any(char in _SIMPLE_STOP for char in value):
        return f"{_entry_key(key)}={value}"
    for opener, closer in ('"', '"'), ("'", "'"), ("{", "}"):
        if closer not in value and not value.endswith("\\"):
            return f"{_entry_key(key)}={opener}{value}{closer}"
    raise ValueError(f"data set value ({value!r}) cannot be written in SHDR")


def _with_trigger(text: str, reset_trigger: str | None) -> str:
    if not reset_trigger:
        return text
    return f":{_entry_key(reset_trigger)} {text}".rstrip()


def encode_data_set(entries: Sequence[tuple[str, str | None]], reset_trigger: str | None = None) -> str:
    """Returns a DATA_SET value (``:TRIGGER a=1 b c="x y"``); a None value removes its key.

    Raises:
        ValueError: a key or value that the SHDR data set grammar cannot carry.
    """
    return _with_trigger(" ".join(_entry(key, value) for key, value in entries), reset_trigger)


def encode_table(
    rows: Sequence[tuple[str, Sequence[tuple[str, str | None]] | None]], reset_trigger: str | None = None
) -> str:
    """Returns a TABLE value (``G53.1={X=1.0 Y=2.0} G54``); None cells remove the row.

    Raises:
        ValueError: a key or value that the SHDR table grammar cannot carry.
    """
    parts = []
    for key, cells in rows:
        if cells is None:
            parts.append(_entry_key(key))
        else:
            inner = " ".join(_entry(cell, value) for cell, value in cells)
            parts.append(f"{_entry_key(key)}={{{inner}}}")
    return _with_trigger(" ".join(parts), reset_trigger)


def encode_asset(epoch: float, asset_id: str, asset_type: str, xml: str) -> str:
    """Returns an ``@ASSET@`` line, or the multiline form when the XML spans lines.

    A '|' in the XML becomes the character reference ``&#124;``: the agent splits asset bodies at
    '|', and XML parsers read the reference back as '|' (except inside CDATA and comments). The
    multiline terminator is derived from the XML, so the output is deterministic.

    Raises:
        ValueError: asset_id or asset_type contain '|' or a line break, or the XML is blank.
    """
    for name, value in (("asset_id", asset_id), ("asset_type", asset_type)):
        if "|" in _one_line(value, name):
            raise ValueError(f"{name} ({value!r}) must not contain '|'")
    body = xml.replace("\r\n", "\n").replace("|", "&#124;").strip(_WS)
    if not body:
        raise ValueError("xml must not be blank")
    head = f"{format_timestamp(epoch)}|@ASSET@|{asset_id}|{asset_type}|"
    if "\n" not in body and "\r" not in body and MULTILINE not in body:
        return f"{head}{escape(body)}\n"
    digest = hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest().upper()
    terminator = MULTILINE + digest[:8]
    while terminator in body:
        terminator += digest[len(terminator) % len(digest)]
    return f"{head}{terminator}\n{body}\n{terminator}\n"


def encode_remove_asset(epoch: float, asset_id: str) -> str:
    """Returns an ``@REMOVE_ASSET@`` line."""
    return f"{format_timestamp(epoch)}|@REMOVE_ASSET@|{escape(asset_id)}\n"


def encode_remove_all_assets(epoch: float, asset_type: str = "") -> str:
    """Returns an ``@REMOVE_ALL_ASSETS@`` line (an empty type removes every asset)."""
    return f"{format_timestamp(epoch)}|@REMOVE_ALL_ASSETS@|{escape(asset_type)}\n"


def encode_command(key: str, value: str) -> str:
    """Returns ``* key: value\\n``.

    Raises:
        ValueError: key is empty or contains ':', or either contains a line break.
    """
    if not key.strip(_WS) or ":" in _one_line(key, "key"):
        raise ValueError(f"command key ({key!r}) must be non-empty and without ':'")
    return f"* {key}: {_one_line(value, 'value')}\n"


def pong(ms: int) -> str:
    """Returns ``* PONG <ms>\\n``, the adapter's reply to PING.

    Raises:
        ValueError: ms is not in 0 < ms < 30 minutes (the agent would ignore it).
    """
    if not 0 < ms < MAX_PONG_MS:
        raise ValueError(f"ms ({ms}) must be between 1 and {MAX_PONG_MS - 1}")
    return f"* PONG {ms}\n"
