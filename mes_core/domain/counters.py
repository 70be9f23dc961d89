"""Turns a machine's part counter readings into parts made, detecting resets (reference 2.5, counter resets).

Machines count parts in a register that operators, shift changes, power cycles or rollover reset; MTConnect
marks a deliberate reset with ``resetTriggered`` on the observation. The MES therefore never trusts the
absolute value: it adds the increase since the previous reading, and after a reset the new value, which is
the parts made since the reset. Duplicate observations (polled twice, replayed) are kept out by
``observation_key``, and a repeated value adds nothing anyway.
"""

from __future__ import annotations

import math

__all__ = ["PartCounter", "observation_key"]


def _check_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"part count {value!r} is not a non-negative integer")
    return value


class PartCounter:
    """The parts counted by one part counter data item of one machine.

    Example: readings 10 (baseline), 11, 12, 12, 0 (a reset), 3 add 0, 1, 1, 0, 0, 3 parts.
    """

    __slots__ = ("_last", "_last_reset", "_last_timestamp", "_total")

    def __init__(self) -> None:
        """A counter that has seen no reading yet."""
        self._last: int | None = None
        self._last_timestamp: float | None = None
        self._last_reset: float | None = None
        self._total = 0

    @property
    def value(self) -> int | None:
        """The last reading, or None before the first."""
        return self._last

    @property
    def last_timestamp(self) -> float | None:
        """The timestamp of the last reading, or None before the first."""
        return self._last_timestamp

    @property
    def last_reset(self) -> float | None:
        """The timestamp of the last reset seen, or None."""
        return self._last_reset

    @property
    def total(self) -> int:
        """The parts counted since this counter was created: the sum of every ``update``'s return."""
        return self._total

    def update(self, value: int, timestamp: float, reset_triggered: str | None = None) -> int:
        """Take a reading and return the parts it adds.

        The first reading is the baseline and adds 0: the parts it counts were made before the MES watched.
        After that, a value above the last adds the difference; an equal value (a duplicate, or the same
        reading after the machine was unavailable) adds 0; a value below the last, or any reading that
        carries ``reset_triggered`` (the MTConnect ``resetTriggered`` attribute: SHIFT, DAY, POWER_ON, ...),
        is a reset, and the new value counts as the parts made since the reset. A rollover is a reset too;
        the parts between the last reading and the rollover point are not known and not counted.

        Readings must come in the order the agent produced them (by sequence number); ``timestamp`` is
        recorded, not used to reorder.

        Returns:
            The parts to add, >= 0.

        Raises:
            ValueError: ``value`` is not a non-negative integer, or ``timestamp`` is not a finite number.
        """
        count = _check_count(value)
        if (
            isinstance(timestamp, bool)
            or not isinstance(timestamp, int | float)
            or not math.isfinite(timestamp)
        ):
            raise ValueError(f"timestamp {timestamp!r} is not a finite number of seconds")
        last = self._last
        self._last, self._last_timestamp = count, float(timestamp)
        if last is None:
            return 0
        if reset_triggered or count < last:
            self._last_reset = float(timestamp)
            added = count
        else:
            added = count - last
        self._total += added
        return added


def observation_key(
    device_uuid: str, data_item_id: str, sequence: int, instance_id: int
) -> tuple[str, str, int, int]:
    """The idempotency key of one observation: the same observation always gets the same key.

    An agent numbers its observations with ``sequence``, which restarts when the agent restarts with a new
    ``instanceId``; together with the device and data item they identify an observation across polls,
    retries and replays.

    Returns:
        ``(device_uuid, data_item_id, sequence, instance_id)``.

    Raises:
        ValueError: an empty uuid or item id, or a sequence or instance id that is not a non-negative integer.
    """
    for label, text in (("device uuid", device_uuid), ("data item id", data_item_id)):
        if not isinstance(text, str) or not text:
            raise ValueError(f"{label} {text!r} must be a non-empty string")
    for label, number in (("sequence", sequence), ("instance id", instance_id)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ValueError(f"{label} {number!r} is not a non-negative integer")
    return (device_uuid, data_item_id, sequence, instance_id)
