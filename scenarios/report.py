"""The report documents: truth.json (twin alone) and the report.json rows both build on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twin.kpi import Kpis
from twin.observations import format_utc
from twin.plant import Plant
from twin.truth import TruthResult

__all__ = ["KPI_KEYS", "kpi_dict", "truth_document", "write_json"]

KPI_KEYS: tuple[str, ...] = (
    "availability",
    "performance",
    "quality",
    "oee",
    "planned_s",
    "run_s",
    "downtime_s",
    "total_parts",
    "good_parts",
    "alarms",
)
"""The keys of ``K`` in report.json (DESIGN.md); more may follow them."""


def kpi_dict(kpis: Kpis) -> dict[str, float | int | None]:
    """Return the report's ``K`` object: the contract keys first, then the extra ones."""
    data = kpis.as_dict()
    ordered = {k: data[k] for k in KPI_KEYS}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    return ordered


def _result(result: TruthResult) -> dict[str, Any]:
    return {
        "machine_id": result.machine_id,
        "shift": result.shift,
        "business_date": result.business_date.isoformat() if result.business_date else None,
        "from": format_utc(result.start),
        "to": format_utc(result.end),
        "truth": kpi_dict(result.kpis),
    }


def truth_document(
    name: str, plant: Plant, results: Sequence[TruthResult], wall_seconds: float
) -> dict[str, Any]:
    """Return truth.json: report.json's shape with only ``truth`` per result, and no ``pass`` (nothing is
    compared), plus each machine's time per state."""
    config = plant.config
    machines = []
    for machine_id, ledger in plant.ledger.machines.items():
        per_state: dict[str, float] = {}
        for interval in ledger.intervals:
            per_state[interval.state.value] = per_state.get(interval.state.value, 0.0) + interval.duration
        machines.append(
            {
                "machine_id": machine_id,
                "model": ledger.model,
                "state_seconds": dict(sorted(per_state.items())),
                "runs": [
                    {
                        "run_id": r.run_id,
                        "job_number": r.job_number,
                        "status": r.status,
                        "good_parts": r.good_parts,
                        "scrap_parts": r.scrap_parts,
                    }
                    for r in ledger.runs
                ],
            }
        )
    return {
        "scenario": name,
        "seed": config.seed,
        "period": {"from": format_utc(config.start), "to": format_utc(config.end)},
        "wall_seconds": round(wall_seconds, 3),
        "results": [_result(r) for r in results],
        "machines": machines,
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` as indented UTF-8 JSON with a trailing newline."""
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
