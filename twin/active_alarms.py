"""The alarms a machine's control shows: recorded in the truth ledger, signalled until cleared."""

from __future__ import annotations

from twin.alarm_catalog import AlarmDefinition, Severity
from twin.ledger import AlarmRecord, MachineLedger
from twin.machine_signals import MachineSignals
from twin.observations import Condition

__all__ = ["ActiveAlarms"]


class ActiveAlarms:
    """The active alarms of one machine, by code: a control shows an active alarm once."""

    def __init__(self, ledger: MachineLedger, signals: MachineSignals) -> None:
        self._ledger = ledger
        self._signals = signals
        self._active: dict[str, AlarmRecord] = {}

    def raise_alarm(self, alarm: AlarmDefinition) -> AlarmRecord | None:
        """Record and signal an alarm; None when the same code is already active (a control shows an
        active alarm once, so a repeat is no new alarm)."""
        if alarm.code in self._active:
            return None
        record = AlarmRecord(
            onset=self._signals.now,
            code=alarm.code,
            text=alarm.text,
            category=alarm.category.value,
            severity=alarm.severity.value,
            component=alarm.component,
        )
        self._ledger.alarms.append(record)
        self._active[alarm.code] = record
        level = "FAULT" if alarm.severity is Severity.CRITICAL else "WARNING"
        self._signals.emit(
            f"cond_{alarm.component}",
            Condition(level, alarm.code, alarm.severity.value, alarm.text, alarm.category.value),
        )
        return record

    def clear(self, alarm: AlarmDefinition, record: AlarmRecord | None) -> None:
        """Clear the alarm that ``raise_alarm`` gave ``record`` for, unless it is no longer active."""
        if record is None or self._active.get(alarm.code) is not record:
            return  # never raised, or already cleared (by a power-off)
        del self._active[alarm.code]
        record.clear = self._signals.now
        self._signals.emit(f"cond_{alarm.component}", Condition("NORMAL", alarm.code))

    def clear_all(self) -> None:
        """Clear every alarm in the ledger, as switching a control off does (its conditions are not signalled:
        the control is off)."""
        for record in self._active.values():
            record.clear = self._signals.now
        self._active.clear()
