"""What each modelled machine is: its axes, spindles, controller and the signals it produces."""

from __future__ import annotations

from dataclasses import dataclass

from twin.alarm_catalog import MODELS, condition_components

__all__ = ["MODEL_SPECS", "Axis", "ModelSpec", "spec_for"]


@dataclass(frozen=True, slots=True)
class Axis:
    """A machine axis: ``name`` is the signal suffix (``x`` -> ``x_pos``); travel in mm, or degrees."""

    name: str
    low: float
    high: float
    rotary: bool = False


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """The static description of one machine model."""

    model: str
    kind: str
    manufacturer: str
    model_name: str
    controller: str
    axes: tuple[Axis, ...]
    spindles: tuple[str, ...]
    max_spindle_rpm: float
    tool_positions: int
    work_offsets: tuple[str, ...]
    conditions: tuple[str, ...]
    ix40: bool = False
    warmup_program: str = "O09000"

    @property
    def linear_axes(self) -> tuple[Axis, ...]:
        return tuple(a for a in self.axes if not a.rotary)

    def signals(self) -> tuple[str, ...]:
        """Every signal name the twin emits for a machine of this model."""
        names = [
            "availability",
            "emergency_stop",
            "controller_mode",
            "execution",
            "functional_mode",
            "program",
            "program_comment",
            "block",
            "line",
            "part_count",
            "part_count_bad",
            "part_count_target",
            "cycle_time_last",
            "spindle_speed",
            "spindle_load",
            "spindle_override",
            "path_feedrate",
            "feed_override",
            "rapid_override",
            "work_offset",
            "tool_number",
            "tool_life_pct",
            "job",
            "part_number",
        ]
        names += [f"{a.name}_pos" for a in self.axes]
        names += [f"{s}_speed" for s in self.spindles[1:]]
        names += [f"cond_{c}" for c in self.conditions]
        if self.ix40:
            names += list(IX40_EXTRA_SIGNALS)
        return tuple(names)


IX40_EXTRA_SIGNALS: tuple[str, ...] = (
    "cycle_time_avg",
    "temp_hydraulic_oil",
    "temp_coolant",
    "temp_cooling_water",
    "temp_cabinet",
    "temp_ambient",
    "spindle_motor_temp",
    "material_missing",
    "bde1",
    "bde2",
    "bde3",
    "bde4",
    "bde5",
    "bde6",
    "bde7",
    "bde8",
    "counter_power_on",
    "counter_door",
    "counter_estop",
    "counter_lubrication",
    "counter_turret",
    "counter_clamping",
    "counter_crash",
)
"""Signals behind the iX4.0 property sets that the MTConnect machines do not report.

The daily counters (``counter_*``) are reset by the machine at local midnight, as INDEX machines do."""

MODEL_SPECS: dict[str, ModelSpec] = {
    "haas_vf2": ModelSpec(
        model="haas_vf2",
        kind="milling",
        manufacturer="Haas Automation",
        model_name="VF-2",
        controller="Haas NGC",
        axes=(Axis("x", -762.0, 0.0), Axis("y", -406.0, 0.0), Axis("z", -508.0, 0.0)),
        spindles=("spindle",),
        max_spindle_rpm=8100.0,
        tool_positions=20,
        work_offsets=("G54", "G55", "G56"),
        conditions=condition_components("haas_vf2"),
    ),
    "dmg_nlx2500": ModelSpec(
        model="dmg_nlx2500",
        kind="turning",
        manufacturer="DMG MORI",
        model_name="NLX 2500",
        controller="CELOS / MAPPS (FANUC 31i)",
        axes=(Axis("x", 0.0, 260.0), Axis("z", 0.0, 795.0), Axis("c", 0.0, 360.0, rotary=True)),
        spindles=("spindle", "sub_spindle"),
        max_spindle_rpm=4000.0,
        tool_positions=12,
        work_offsets=("G54", "G55"),
        conditions=condition_components("dmg_nlx2500"),
    ),
    "index_ix40": ModelSpec(
        model="index_ix40",
        kind="turning",
        manufacturer="INDEX",
        model_name="G220 (iX4.0)",
        controller="INDEX C200 (SINUMERIK 840D sl)",
        axes=(Axis("x", 0.0, 220.0), Axis("z", 0.0, 600.0), Axis("c", 0.0, 360.0, rotary=True)),
        spindles=("spindle",),
        max_spindle_rpm=5000.0,
        tool_positions=18,
        work_offsets=("G54",),
        conditions=condition_components("index_ix40"),
        ix40=True,
        warmup_program="WARMLAUF",
    ),
}

assert tuple(MODEL_SPECS) == MODELS


def spec_for(model: str) -> ModelSpec:
    """Return the spec of ``model``.

    Raises:
        ValueError: the model is not one the twin knows.
    """
    try:
        return MODEL_SPECS[model]
    except KeyError:
        raise ValueError(f"unknown machine model {model!r}; expected one of {', '.join(MODELS)}") from None
