"""twin: SimPy models of CNC machines that emit plain observations and keep a truth ledger."""

from twin.config import CycleModel, EventConfig, FailureMode, JobConfig, MachineConfig, PlantConfig
from twin.kpi import Kpis
from twin.ledger import TruthLedger
from twin.observations import Condition, Observation, Sink
from twin.plant import Plant
from twin.states import MachineState
from twin.truth import TruthResult

__all__ = [
    "Condition",
    "CycleModel",
    "EventConfig",
    "FailureMode",
    "JobConfig",
    "Kpis",
    "MachineConfig",
    "MachineState",
    "Observation",
    "Plant",
    "PlantConfig",
    "Sink",
    "TruthLedger",
    "TruthResult",
]
