"""Production runs: start, lifecycle (setup -> running -> paused -> running -> completed), rejects, cycles.

A run belongs to one machine; a machine has at most one open run. Every status change is kept as a phase,
so setup time stays apart from production time. The parts of a run are those the machine counted while it
was open (``mes_core.services.parts``); its cycle times come from their part-count increments.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine

from mes_core.domain.cycles import cycle_stats, cycle_times, running_average
from mes_core.domain.runs import (
    IllegalTransition,
    RunPhase,
    RunStatus,
    phase_durations,
    run_window_spans,
    transition,
)
from mes_core.services.machines import NotFound
from mes_core.services.parts import RunIndex, Tally, tally
from mes_core.services.shifts import iso_utc
from mes_core.store import production, repository
from mes_core.store.engine import transaction
from mes_core.store.errors import ConflictError
from mes_core.store.records import Run, RunPhaseRow

__all__ = [
    "IllegalTransition",
    "current_run",
    "get_run",
    "list_runs",
    "mark_rejected",
    "run_cycles",
    "start_run",
    "update_run",
]


def _us(t: float) -> int:
    return round(t * 1_000_000)


def _phases(rows: Sequence[RunPhaseRow]) -> list[RunPhase]:
    return [
        RunPhase(RunStatus(r.status), r.start_us / 1e6, None if r.end_us is None else r.end_us / 1e6)
        for r in rows
    ]


def _run_tally(conn: Connection, run: Run, now_us: int) -> Tally:
    end_us = run.ended_us if run.ended_us is not None else max(now_us, run.started_us)
    rows = production.part_rows(conn, run.tenant_id, run.machine_id, run.started_us, end_us)
    rejects = production.reject_rows(conn, run.tenant_id, run.machine_id, run.started_us, end_us)
    index = RunIndex([run])
    return tally(rows, rejects, index).get(0, Tally())


def _public(run: Run, phases: Sequence[RunPhaseRow], parts: Tally, now: float) -> dict[str, Any]:
    domain_phases = _phases(phases)
    durations = phase_durations(domain_phases, now)
    running_s = durations[RunStatus.RUNNING]
    return {
        "id": run.id,
        "machine_id": run.machine_id,
        "job_number": run.job_number,
        "part_number": run.part_number,
        "program_name": run.program_name,
        "planned_quantity": run.planned_quantity,
        "ideal_cycle_time_sec": run.ideal_cycle_time_s,
        "status": run.status,
        "started_at": iso_utc(run.started_us / 1e6),
        "ended_at": None if run.ended_us is None else iso_utc(run.ended_us / 1e6),
        "parts_completed": parts.total,
        "good_parts": parts.good,
        "rejected_quantity": parts.total - parts.good,
        "actual_quantity": run.actual_quantity,
        "operator_notes": run.operator_notes,
        "setup_time_sec": durations[RunStatus.SETUP],
        "production_time_sec": running_s,
        "paused_time_sec": durations[RunStatus.PAUSED],
        "avg_cycle_time_sec": running_s / parts.total if parts.total else None,
        "phases": [
            {
                "status": p.status.value,
                "start": iso_utc(p.start),
                "end": None if p.end is None else iso_utc(p.end),
            }
            for p in domain_phases
        ],
    }


def _load(conn: Connection, tenant_id: int, run_id: str) -> Run:
    run = production.get_run(conn, tenant_id, run_id)
    if run is None:
        raise NotFound(f"run {run_id!r} not found")
    return run


def start_run(engine: Engine, tenant_id: int, fields: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Start a run on a machine (the seed's ``POST /runs``), in setup unless ``status`` says running.

    ``fields``: machine_id, job_number, part_number, program_name, planned_quantity, ideal_cycle_time_sec,
    optional ``status`` (setup or running) and ``at`` (UTC epoch seconds; default ``now``).

    Raises:
        NotFound: the tenant has no such machine.
        ConflictError: the machine has an open run (the message names it).
    """
    status = RunStatus(fields.get("status") or RunStatus.SETUP)
    if status not in (RunStatus.SETUP, RunStatus.RUNNING):
        raise ValueError(f"status: a run starts in setup or running, not {status.value}")
    at_us = _us(fields["at"] if fields.get("at") is not None else now)
    run = Run(
        id=f"run_{secrets.token_hex(6)}",
        tenant_id=tenant_id,
        machine_id=fields["machine_id"],
        job_number=fields["job_number"],
        part_number=fields.get("part_number"),
        program_name=fields.get("program_name"),
        planned_quantity=fields.get("planned_quantity"),
        ideal_cycle_time_s=float(fields["ideal_cycle_time_sec"]),
        status=status.value,
        created_us=_us(now),
        started_us=at_us,
        ended_us=None,
        updated_us=_us(now),
        actual_quantity=None,
        rejected_quantity=0,
        operator_notes=fields.get("operator_notes"),
    )
    with transaction(engine) as conn:
        if repository.get_machine(conn, tenant_id, run.machine_id) is None:
            raise NotFound(f"machine {run.machine_id!r} not found")
        other = production.open_run(conn, tenant_id, run.machine_id)
        if other is not None:
            raise ConflictError(
                f"machine {run.machine_id!r} already has run {other.id!r} ({other.status}); "
                "complete or abort it first"
            )
        latest = production.list_runs(conn, tenant_id, machine_id=run.machine_id, limit=1)
        if latest and latest[0].ended_us is not None and at_us < latest[0].ended_us:
            raise ValueError(f"at: the machine's previous run {latest[0].id!r} ended after this start")
        production.insert_run(conn, run)
        production.insert_phase(conn, tenant_id, run.id, status.value, at_us)
        return _public(run, production.run_phases_of(conn, tenant_id, [run.id])[run.id], Tally(), now)


def get_run(engine: Engine, tenant_id: int, run_id: str, now: float) -> dict[str, Any]:
    """Raises NotFound when the tenant has no such run."""
    with transaction(engine) as conn:
        run = _load(conn, tenant_id, run_id)
        phases = production.run_phases_of(conn, tenant_id, [run_id])[run_id]
        return _public(run, phases, _run_tally(conn, run, _us(now)), now)


def list_runs(
    engine: Engine,
    tenant_id: int,
    now: float,
    *,
    machine_id: str | None = None,
    status: str | None = None,
    from_s: float | None = None,
    to_s: float | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The tenant's runs, newest first, with their part figures."""
    with transaction(engine) as conn:
        found = production.list_runs(
            conn,
            tenant_id,
            machine_id=machine_id,
            status=status,
            from_us=None if from_s is None else _us(from_s),
            to_us=None if to_s is None else _us(to_s),
            limit=limit,
            offset=offset,
        )
        phases = production.run_phases_of(conn, tenant_id, [r.id for r in found])
        return [_public(r, phases[r.id], _run_tally(conn, r, _us(now)), now) for r in found]


def update_run(
    engine: Engine, tenant_id: int, run_id: str, changes: Mapping[str, Any], now: float
) -> dict[str, Any]:
    """Change a run (the seed's ``PATCH /runs/{id}``): status (pause, resume, complete, abort), the run's
    total rejected quantity, the actual quantity, the planned quantity, operator notes; ``at`` dates the
    status change (default ``now``).

    Raises:
        NotFound: the tenant has no such run.
        IllegalTransition: the status change is not allowed from the current status (409).
        ValueError: ``at`` before the current phase began, or fewer rejects than the machine reported bad.
    """
    at = changes["at"] if changes.get("at") is not None else now
    at_us = _us(at)
    with transaction(engine) as conn:
        run = _load(conn, tenant_id, run_id)
        updates: dict[str, Any] = {}
        requested = changes.get("status")
        if requested is not None:
            current = RunStatus(run.status)
            new = transition(current, RunStatus(requested))
            phases = production.run_phases_of(conn, tenant_id, [run_id])[run_id]
            if phases and at_us < phases[-1].start_us:
                raise ValueError(f"at: the run became {run.status} after {iso_utc(at)}")
            production.close_phase(conn, tenant_id, run_id, at_us)
            production.insert_phase(conn, tenant_id, run_id, new.value, at_us)
            if new in (RunStatus.COMPLETED, RunStatus.ABORTED):
                production.close_phase(conn, tenant_id, run_id, at_us)
                updates["ended_us"] = at_us
            updates["status"] = new.value
        for name in ("actual_quantity", "operator_notes", "planned_quantity"):
            if name in changes and changes[name] is not None:
                updates[name] = changes[name]
        if updates:
            run = production.update_run(conn, tenant_id, run_id, updates, updated_us=_us(now)) or run
        if changes.get("rejected_quantity") is not None:
            _set_rejected(conn, run, int(changes["rejected_quantity"]), now)
        phases = production.run_phases_of(conn, tenant_id, [run_id])[run_id]
        return _public(run, phases, _run_tally(conn, run, _us(now)), now)


def _set_rejected(conn: Connection, run: Run, wanted: int, now: float) -> None:
    """Make the run's rejected quantity ``wanted``: the machine's own bad parts plus the rejects recorded
    through the API; the difference is recorded as a reject at the run's end (or ``now`` while open)."""
    parts = _run_tally(conn, run, _us(now))
    if wanted < parts.bad:
        raise ValueError(
            f"rejected_quantity: the machine itself reported {parts.bad} bad parts in run {run.id!r}; "
            f"{wanted} is fewer"
        )
    if wanted > parts.total:
        raise ValueError(f"rejected_quantity: run {run.id!r} has made {parts.total} parts; {wanted} is more")
    difference = wanted - (parts.total - parts.good)
    if difference:
        at_us = run.ended_us if run.ended_us is not None else max(_us(now), run.started_us + 1)
        production.insert_reject(
            conn,
            run.tenant_id,
            run.machine_id,
            at_us,
            difference,
            run_id=run.id,
            reason="run rejected_quantity",
            created_us=_us(now),
        )
    production.update_run(conn, run.tenant_id, run.id, {"rejected_quantity": wanted}, updated_us=_us(now))


def mark_rejected(
    engine: Engine, tenant_id: int, machine_id: str, at: float, quantity: int, reason: str | None, now: float
) -> dict[str, Any]:
    """Mark ``quantity`` parts of a machine, made at or before ``at``, rejected (parts with or without a run).

    Raises:
        NotFound: the tenant has no such machine.
    """
    if quantity <= 0:
        raise ValueError("quantity: must be at least 1")
    with transaction(engine) as conn:
        if repository.get_machine(conn, tenant_id, machine_id) is None:
            raise NotFound(f"machine {machine_id!r} not found")
        at_us = _us(at)
        runs = production.runs_overlapping(conn, tenant_id, machine_id, at_us - 1, at_us)
        index = RunIndex(runs)
        run = index.run(index.find(at_us))
        reject = production.insert_reject(
            conn,
            tenant_id,
            machine_id,
            at_us,
            quantity,
            run_id=None if run is None else run.id,
            reason=reason,
            created_us=_us(now),
        )
    return {
        "id": reject.id,
        "machine_id": machine_id,
        "at": iso_utc(at),
        "quantity": quantity,
        "run_id": reject.run_id,
        "reason": reason,
    }


def run_cycles(engine: Engine, tenant_id: int, run_id: str, now: float, *, bins: int = 20) -> dict[str, Any]:
    """The run's cycle times (the seed's ``/runs/{id}/cycles``): each part's, the running average, and the
    distribution (histogram and percentiles). Pauses are left out of cycles; the first part is measured
    from when the run first ran."""
    with transaction(engine) as conn:
        run = _load(conn, tenant_id, run_id)
        phases = _phases(production.run_phases_of(conn, tenant_id, [run_id])[run_id])
        end_us = run.ended_us if run.ended_us is not None else max(_us(now), run.started_us)
        rows = production.part_rows(conn, tenant_id, run.machine_id, run.started_us, end_us)
    has_total = any(kind == "total" for _, kind, _ in rows)
    increments: dict[int, int] = {}
    for ts_us, kind, delta in rows:
        if delta > 0 and (kind == "total" if has_total else kind in ("good", "bad")):
            increments[ts_us] = increments.get(ts_us, 0) + delta
    running = run_window_spans(phases, now, RunStatus.RUNNING)
    paused = run_window_spans(phases, now, RunStatus.PAUSED)
    started = running[0][0] if running else None
    ordered = sorted(increments.items())
    points = [(ts / 1e6, n) for ts, n in ordered if started is not None and ts / 1e6 > started]
    times = cycle_times(points, started, paused)
    stats = cycle_stats(times, bins=bins, ideal_s=run.ideal_cycle_time_s)
    averages = running_average(times)
    part_times = [ts for ts, n in points for _ in range(n)]
    return {
        "run_id": run.id,
        "ideal_cycle_time_sec": run.ideal_cycle_time_s,
        "count": stats.count,
        "avg_cycle_time_sec": stats.mean_s,
        "min_sec": stats.min_s,
        "max_sec": stats.max_s,
        "stdev_sec": stats.stdev_s,
        "percentiles": {"p50": stats.p50_s, "p90": stats.p90_s, "p95": stats.p95_s, "p99": stats.p99_s},
        "slow_cycles": stats.slow_cycles,
        "histogram": [{"from_sec": lo, "to_sec": hi, "count": n} for lo, hi, n in stats.histogram],
        "cycles": [
            {"n": i + 1, "completed_at": iso_utc(t), "cycle_time_sec": c, "running_avg_sec": a}
            for i, (t, c, a) in enumerate(
                zip(part_times[-len(times) :] if times else [], times, averages, strict=True)
            )
        ],
    }


def current_run(engine: Engine, tenant_id: int, machine_id: str, now: float) -> dict[str, Any] | None:
    """The machine's open run in the machine-status shape (id, job number, parts, planned), or None."""
    with transaction(engine) as conn:
        run = production.open_run(conn, tenant_id, machine_id)
        if run is None:
            return None
        parts = _run_tally(conn, run, _us(now))
    return {
        "id": run.id,
        "job_number": run.job_number,
        "status": run.status,
        "parts_completed": parts.total,
        "planned_quantity": run.planned_quantity,
    }
