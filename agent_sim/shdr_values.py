"""The values of SHDR data items by kind, and how a key's value is read from a line's tokens, with no I/O."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

__all__ = [
    "KEY_STOP",
    "KIND_ALARM",
    "KIND_CONDITION",
    "KIND_DATA_SET",
    "KIND_EVENT",
    "KIND_MESSAGE",
    "KIND_SAMPLE",
    "KIND_TABLE",
    "KIND_TIME_SERIES",
    "LEVELS",
    "NUMBER",
    "SIMPLE_STOP",
    "UNAVAILABLE",
    "WHITESPACE",
    "AlarmValue",
    "ConditionValue",
    "DataSetValue",
    "Malformed",
    "MessageValue",
    "ResetValue",
    "TableValue",
    "TimeSeriesValue",
    "Value",
    "split_reset",
    "take_value",
]

UNAVAILABLE: Final = "UNAVAILABLE"
KIND_SAMPLE: Final = "SAMPLE"
KIND_EVENT: Final = "EVENT"
KIND_CONDITION: Final = "CONDITION"
KIND_MESSAGE: Final = "MESSAGE"
KIND_TIME_SERIES: Final = "TIME_SERIES"
KIND_DATA_SET: Final = "DATA_SET"
KIND_TABLE: Final = "TABLE"
KIND_ALARM: Final = "ALARM"

LEVELS: Final = frozenset({"NORMAL", "WARNING", "FAULT", "UNAVAILABLE"})
WHITESPACE: Final = " \t\n\r\x0b\x0c"  # C isspace(), which is what the reference agent trims
KEY_STOP: Final = frozenset(WHITESPACE + "=|{}'\"")
SIMPLE_STOP: Final = frozenset(WHITESPACE + "{}'\"")
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line (or token run) that cannot be read, and why."""

    line: str
    reason: str


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


def split_reset(value: str) -> tuple[str, str | None]:
    """Splits ``value:TRIGGER`` at the first ':'; returns (value, upper-cased trigger or None)."""
    head, colon, trigger = value.partition(":")
    if not colon:
        return value, None
    return head, trigger.strip(WHITESPACE).upper() or None


class _Bad(Exception):
    """Internal: a value cannot be read; always turned into Malformed before it leaves the module."""


def _unavailable(text: str) -> bool:
    return len(text) == 11 and text.upper() == UNAVAILABLE


def _number(text: str, what: str) -> float:
    if not NUMBER.fullmatch(text):
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
    stripped = text.lstrip(WHITESPACE)
    if not stripped.startswith(":"):
        return None, text
    end = 1
    while end < len(stripped) and stripped[end] not in WHITESPACE:
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
            elif pos < len(text) and text[pos] not in WHITESPACE:
                raise _Bad(f"row {key!r} must be {{...}}, \"...\" or '...' (column {pos + 1})")
        rows.append((key, cells))
        pos = _skip_ws(text, _separator(text, pos, ""))
    return TableValue(trigger, tuple(rows))


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in WHITESPACE:
        pos += 1
    return pos


def _key(text: str, pos: int) -> tuple[str, int]:
    start = pos
    while pos < len(text) and text[pos] not in KEY_STOP:
        pos += 1
    if pos == start:
        raise _Bad(f"expected a key at column {pos + 1}, found {text[pos]!r}")
    return text[start:pos], pos


def _separator(text: str, pos: int, close: str) -> int:
    if pos < len(text) and text[pos] not in WHITESPACE and text[pos] != close:
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
            if pos < len(text) and text[pos] not in WHITESPACE and text[pos] != close:
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
    while pos < len(text) and text[pos] not in SIMPLE_STOP:
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
