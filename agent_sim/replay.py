"""Replaying a recorded SHDR log: paced by its timestamps at a speed factor, or as fast as possible.

Like the reference simulator, paced replay sleeps the timestamp deltas (divided by ``speed``) and rewrites
each line's timestamp to the current time (keeping any ``@duration``); lines without a timestamp (multiline
asset bodies, commands) pass through unchanged. As fast as possible (``speed=None``), lines keep their
recorded timestamps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from agent_sim.shdr import ShdrTimestamp, decode_line, format_timestamp

__all__ = ["ReplayError", "read_log", "replay"]


class ReplayError(ValueError):
    """A log file that cannot be replayed (missing, unreadable or empty)."""


def read_log(path: str | Path) -> list[str]:
    """Return the lines of an SHDR log (without line ends), refusing a missing or empty file.

    Raises:
        ReplayError: the file is missing, unreadable, not text or has no line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise ReplayError(f"{path}: no such SHDR log") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReplayError(f"{path}: cannot be read as an SHDR log: {exc}") from exc
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not lines:
        raise ReplayError(f"{path}: the SHDR log is empty")
    return lines


def _stamp(line: str) -> tuple[float | None, str]:
    """(epoch of the line's timestamp, what follows the time: ``@duration`` if any, then ``|rest``)."""
    field, sep, rest = line.partition("|")
    if not sep:
        return None, line
    decoded = decode_line(line)
    stamp = getattr(decoded, "timestamp", None)
    if isinstance(stamp, ShdrTimestamp) and stamp.epoch is not None:
        _, at, duration = field.partition("@")
        return stamp.epoch, f"{at}{duration.strip()}|{rest}"
    return None, line


def _schedule(lines: list[str]) -> Iterator[tuple[float, str | None, str]]:
    """(seconds since the first timestamp, the line after its time or None when it has none, raw line)."""
    first: float | None = None
    offset = 0.0
    for line in lines:
        epoch, rest = _stamp(line)
        if epoch is None:
            yield offset, None, line
            continue
        if first is None:
            first = epoch
        offset = max(offset, epoch - first)
        yield offset, rest, line


async def replay(
    lines: list[str],
    emit: Callable[[str], None],
    *,
    speed: float | None = 1.0,
    loop: bool = False,
    clock: Callable[[], float] = time.time,
) -> int:
    """Send ``lines`` to ``emit`` (one complete line with its newline at a time); return how many were sent.

    Args:
        lines: the log's lines.
        emit: receives each line, e.g. an adapter server's ``send`` or an ingest.
        speed: recorded seconds per replayed second; ``None`` replays as fast as possible.
        loop: start again at the end, forever.
        clock: the time written into paced lines (epoch seconds).

    Raises:
        ValueError: speed is not greater than 0.
    """
    if speed is not None and speed <= 0:
        raise ValueError(f"speed ({speed}) must be greater than 0")
    sent = 0
    while True:
        began = time.monotonic()
        for offset, rest, raw in _schedule(lines):
            if speed is None:
                emit(raw + "\n")
                sent += 1
                if sent % 2000 == 0:
                    await asyncio.sleep(0)
                continue
            delay = began + offset / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            emit(raw + "\n" if rest is None else f"{format_timestamp(clock())}{rest}\n")
            sent += 1
        if not loop:
            return sent
