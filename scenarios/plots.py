"""The run's pictures: OEE per machine and shift (MES beside truth) and a state timeline per machine."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import matplotlib

matplotlib.use("Agg")  # files only, no screen

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Patch

if TYPE_CHECKING:
    from scenarios.harness import HarnessResult

__all__ = ["STATE_COLOURS", "write_plots"]

STATE_COLOURS: Final[dict[str, str]] = {
    "producing": "#2e7d32",
    "producing_reduced": "#9ccc65",
    "idle": "#fbc02d",
    "setup": "#1e88e5",
    "warmup": "#80deea",
    "interrupted": "#ff9800",
    "planned_stop": "#9e9e9e",
    "break": "#bdbdbd",
    "no_shift": "#eeeeee",
    "alarm": "#d32f2f",
    "off": "#424242",
    "no_data": "#7b1fa2",
}
"""One colour per canonical state, the same in every picture."""


def _oee_plot(result: HarnessResult, path: Path) -> None:
    rows = [c for c in result.comparisons if c.result.shift is not None]
    if not rows:
        rows = [c for c in result.comparisons if c.result.business_date is None]
    labels = [
        f"{c.result.machine_id}\n{c.result.shift or 'period'} {c.result.business_date or ''}".strip()
        for c in rows
    ]
    truth = [c.result.kpis.oee or 0.0 for c in rows]
    mes = [float(c.mes["oee"] or 0.0) for c in rows]
    width = max(6.0, 0.55 * len(rows) + 2)
    fig, ax = plt.subplots(figsize=(min(width, 60.0), 4.5))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], truth, width=0.4, label="truth", color="#607d8b")
    ax.bar([x + 0.2 for x in xs], mes, width=0.4, label="MES", color="#26a69a")
    ax.set_xlim(-0.8, len(rows) - 0.2)
    for x, c in zip(xs, rows, strict=True):
        if len(rows) <= 24:
            ax.annotate(f"{truth[x]:.1%}", (x - 0.2, truth[x]), ha="center", va="bottom", fontsize=6)
            ax.annotate(f"{mes[x]:.1%}", (x + 0.2, mes[x]), ha="center", va="bottom", fontsize=6)
        if not c.ok:
            ax.annotate(
                "x", (x, max(truth[x], mes[x]) + 0.02), ha="center", color="#d32f2f", fontweight="bold"
            )
    ax.set_xticks(list(xs), labels, rotation=90 if len(rows) > 8 else 0, fontsize=7)
    ax.set_ylabel("OEE")
    ax.set_ylim(0, max([1.0, *truth, *mes]) * 1.08)
    ax.set_title(f"OEE per machine and shift: {result.document['scenario']} (x: outside tolerance)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bars(ax: Axes, y: float, origin: float, intervals: Sequence[tuple[float, float, str]]) -> None:
    """One row of a timeline: a broken bar per state (one drawing call per state, not per interval)."""
    by_state: dict[str, list[tuple[float, float]]] = {}
    for start, end, state in intervals:
        if end > start:
            by_state.setdefault(state, []).append(((start - origin) / 3600, (end - start) / 3600))
    for state, spans in by_state.items():
        ax.broken_barh(spans, (y - 0.4, 0.8), facecolors=STATE_COLOURS.get(state, "#000000"), linewidth=0)


def _timeline_plot(result: HarnessResult, path: Path) -> None:
    machines = list(result.timelines)
    origin = min((s for tl in result.timelines.values() for s, _, _ in tl["truth"]), default=0.0)
    fig, ax = plt.subplots(figsize=(12, max(2.5, 0.6 * 2 * len(machines) + 1.5)))
    ticks, names = [], []
    for n, machine_id in enumerate(machines):
        base = 2 * (len(machines) - 1 - n)
        _bars(ax, base + 1, origin, result.timelines[machine_id]["truth"])
        _bars(ax, base, origin, result.timelines[machine_id]["mes"])
        ticks += [base + 1, base]
        names += [f"{machine_id} truth", f"{machine_id} MES"]
    ax.set_yticks(ticks, names, fontsize=7)
    ax.set_xlabel(f"hours from the scenario's start ({result.document['period']['from']})")
    ax.set_title(f"Machine states: {result.document['scenario']} (MES from signals; truth from the twin)")
    seen = sorted({s for tl in result.timelines.values() for side in tl.values() for _, _, s in side})
    ax.legend(
        handles=[Patch(color=STATE_COLOURS.get(s, "#000000"), label=s) for s in seen],
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        fontsize=7,
        frameon=False,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(result: HarnessResult, out: Path) -> list[Path]:
    """Write ``oee.png`` and ``timeline.png`` into ``out``; return their paths."""
    paths = [out / "oee.png", out / "timeline.png"]
    _oee_plot(result, paths[0])
    _timeline_plot(result, paths[1])
    return paths
