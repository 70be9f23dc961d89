"""Encoding SHDR, the MTConnect adapter line protocol: observations, assets and commands as lines, no I/O."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Final

from agent_sim.shdr_values import KEY_STOP, LEVELS, SIMPLE_STOP, WHITESPACE
from agent_sim.timestamps import utc_formatter

__all__ = [
    "MAX_PONG_MS",
    "MULTILINE",
    "PING",
    "PreEncoded",
    "encode_asset",
    "encode_command",
    "encode_condition",
    "encode_data_set",
    "encode_line",
    "encode_lines",
    "encode_message",
    "encode_pair",
    "encode_remove_all_assets",
    "encode_remove_asset",
    "encode_table",
    "encode_time_series",
    "escape",
    "format_timestamp",
    "pong",
]

PING: Final = "* PING\n"
MULTILINE: Final = "--multiline--"
MAX_PONG_MS: Final = 30 * 60 * 1000
_format_utc = utc_formatter()


class PreEncoded(str):
    """A value already in SHDR form (several '|'-separated fields); encode_line writes it as is."""

    __slots__ = ()


def format_timestamp(epoch: float) -> str:
    """Returns ``YYYY-MM-DDThh:mm:ss.ffffffZ`` (UTC, microseconds).

    Raises:
        ValueError: epoch is not finite or outside years 1..9999.
    """
    if not math.isfinite(epoch):
        raise ValueError(f"epoch ({epoch}) must be a finite number")
    return _format_utc(epoch)


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
    if "|" not in value and not value.lstrip(WHITESPACE).startswith('"'):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("|", "\\|") + '"'


def _field_key(key: str) -> str:
    _one_line(key, "key")
    if not key.strip(WHITESPACE) or "|" in key or key.lstrip(WHITESPACE).startswith("@"):
        raise ValueError(f"key ({key!r}) must be non-empty, without '|' and not start with '@'")
    return key


def encode_pair(key: str, value: str) -> str:
    """Returns ``key|value``, one key and its value as fields of a line; the value is escaped unless it is
    PreEncoded.

    Raises:
        ValueError: a bad key, or a line break in the value.
    """
    field = _one_line(value, "value") if isinstance(value, PreEncoded) else escape(value)
    return f"{_field_key(key)}|{field}"


def encode_line(epoch: float | None, pairs: Sequence[tuple[str, str]]) -> str:
    """Returns ``timestamp|key|value|...\n``; values are escaped unless they are PreEncoded.

    Raises:
        ValueError: no pairs, a bad key, or a line break in a value.
    """
    if not pairs:
        raise ValueError("pairs must not be empty")
    stamp = "" if epoch is None else format_timestamp(epoch)
    return "|".join([stamp, *(encode_pair(key, value) for key, value in pairs)]) + "\n"


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
    if not key or any(char in KEY_STOP for char in key):
        raise ValueError(
            f"data set key ({key!r}) must be non-empty without spaces, '=', '|', braces or quotes"
        )
    return key


def _entry(key: str, value: str | None) -> str:
    if value is None:
        return _entry_key(key)
    if value and not any(char in SIMPLE_STOP for char in value):
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
    body = xml.replace("\r\n", "\n").replace("|", "&#124;").strip(WHITESPACE)
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
    if not key.strip(WHITESPACE) or ":" in _one_line(key, "key"):
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
