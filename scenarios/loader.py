"""Reading scenario files: TOML in, a validated ``Scenario`` out, or one clear line saying what is wrong."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scenarios.model import Scenario

__all__ = ["ScenarioError", "format_location", "load_scenario", "scenario_from_dict"]


class ScenarioError(Exception):
    """A scenario file that cannot be used; the message is one line naming the file, field and reason."""


def format_location(loc: Sequence[int | str]) -> str:
    """Return a pydantic error location as a path: ``('machines', 2, 'model')`` -> ``machines[2].model``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("literal[", "function-")) or part in ("json-or-python[json=function-after]",):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _message(error: Any) -> str:
    kind = error.get("type")
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{value!r} is not one of {expected}"
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; scenarios/README.md lists every field)"
    if kind == "missing":
        return "is required"
    message = str(error.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if (
        kind
        and not kind.startswith("value_error")
        and value is not None
        and not isinstance(value, dict | list)
    ):
        return f"{value!r}: {message}"
    return message


def scenario_from_dict(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate already-parsed scenario data.

    Raises:
        ScenarioError: the data breaks the schema; the message names ``source``, the field and the reason.
    """
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = format_location(error["loc"])
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        place = f"{source}: {where}: " if where else f"{source}: "
        raise ScenarioError(f"{place}{_message(error)}{suffix}") from exc


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises:
        ScenarioError: the file is missing, unreadable, not TOML, or not a valid scenario.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a directory, not a scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot be read: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: invalid TOML: {exc}") from exc
    return scenario_from_dict(data, str(path))
