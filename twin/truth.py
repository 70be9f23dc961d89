"""Truth results: the truth KPIs of every machine over its period, each shift instance and business day."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from twin.kpi import Kpis, Span, kpis_for_window
from twin.ledger import TruthLedger
from twin.shift_calendar import ShiftCalendar, ShiftInstance

__all__ = ["TruthResult", "truth_results"]


@dataclass(frozen=True, slots=True)
class TruthResult:
    """One row of a report: a machine, a scope (whole period, a shift instance or a business day), its KPIs.

    ``shift`` and ``business_date`` are both ``None`` for the whole period; a business-day row has a date and
    no shift.
    """

    machine_id: str
    shift: str | None
    business_date: date | None
    start: float
    end: float
    kpis: Kpis


def truth_results(
    ledger: TruthLedger,
    calendar: ShiftCalendar,
    shifts: Sequence[ShiftInstance],
    scheduled: Mapping[str, Sequence[Span]],
) -> list[TruthResult]:
    """Compute truth results, machine by machine in ledger order, then shifts and days in time order."""
    start, end = ledger.start, ledger.end
    results: list[TruthResult] = []
    days = calendar.business_days(start, end)
    for machine_id, machine in ledger.machines.items():
        spans = scheduled[machine_id]
        results.append(
            TruthResult(machine_id, None, None, start, end, kpis_for_window(machine, spans, start, end))
        )
        for shift in shifts:
            s, e = max(shift.start, start), min(shift.end, end)
            if e > s:
                kpis = kpis_for_window(machine, spans, s, e)
                results.append(TruthResult(machine_id, shift.name, shift.business_date, s, e, kpis))
        for day in days:
            window = calendar.business_day(day)
            s, e = max(window.start, start), min(window.end, end)
            if e > s:
                results.append(
                    TruthResult(machine_id, None, day, s, e, kpis_for_window(machine, spans, s, e))
                )
    return results
