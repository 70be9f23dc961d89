"""Observation timestamps as agents and adapters write them: ``YYYY-MM-DDThh:mm:ss.ffffffZ`` (UTC).

Every observation carries one, so formatting is on the hot path of the twin's wire: a formatter remembers
the last instant it wrote (a machine reports several values at once) and the dates it has seen, and writes
the time of day by arithmetic rather than through ``datetime``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Final

__all__ = ["utc_formatter"]

_DAY0: Final = date(1970, 1, 1)
_MAX_DATES: Final = 4096


def utc_formatter() -> Callable[[float], str]:
    """A function from UTC epoch seconds to the timestamp text, rounded to the microsecond.

    Each caller takes its own, so that its memory of the last instant is not spoiled by another's. The
    function raises ValueError for an instant outside years 1..9999 (or not finite).
    """
    dates: dict[int, str] = {}
    last = (float("nan"), "")  # one tuple, replaced whole: a reader never sees one instant's text for another

    def format_utc(epoch: float) -> str:
        nonlocal last
        remembered = last
        if epoch == remembered[0]:
            return remembered[1]
        try:
            seconds, micro = divmod(round(epoch * 1_000_000), 1_000_000)
        except (OverflowError, ValueError) as exc:
            raise ValueError(f"epoch ({epoch}) must be a finite number") from exc
        day, second = divmod(seconds, 86_400)
        day_text = dates.get(day)
        if day_text is None:
            try:
                day_text = (_DAY0 + timedelta(days=day)).isoformat()
            except OverflowError as exc:
                raise ValueError(f"epoch ({epoch}) is outside years 1..9999") from exc
            if len(dates) >= _MAX_DATES:
                dates.clear()
            dates[day] = day_text
        hour, rest = divmod(second, 3600)
        minute, second = divmod(rest, 60)
        text = f"{day_text}T{hour:02d}:{minute:02d}:{second:02d}.{micro:06d}Z"
        last = (epoch, text)
        return text

    return format_utc
