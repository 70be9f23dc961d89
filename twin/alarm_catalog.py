"""The alarms each simulated machine model can raise, with native codes and texts, classified for the MES."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "MODELS",
    "AlarmCategory",
    "AlarmDefinition",
    "Severity",
    "by_category",
    "catalog",
    "condition_components",
    "emergency_stop",
    "find",
]


class AlarmCategory(StrEnum):
    """The MES alarm category: which part of the machine an alarm is about."""

    EMERGENCY_STOP = "emergency_stop"
    AXIS = "axis"
    SPINDLE = "spindle"
    TOOL_CHANGE = "tool_change"
    HYDRAULIC = "hydraulic"
    """Hydraulic, pneumatic, coolant and lubrication supplies."""
    COMMUNICATION = "communication"


class Severity(StrEnum):
    """The MES severity of an alarm."""

    CRITICAL = "CRITICAL"
    """The machine is stopped: motion stops and an operator has to clear or repair the cause."""
    WARNING = "WARNING"
    """Degraded operation; the machine may continue."""
    INFO = "INFO"
    """Advisory only."""


@dataclass(frozen=True, slots=True)
class AlarmDefinition:
    """One alarm a machine model can raise.

    ``code`` is the control's native code as the control displays it (``"107"``, ``"SV0411"``, ``"710306"``),
    ``text`` the control's message, and ``component`` the condition signal that carries the alarm (one of
    ``condition_components(model)``).
    """

    code: str
    text: str
    category: AlarmCategory
    severity: Severity
    component: str


MODELS: Final[tuple[str, ...]] = ("haas_vf2", "dmg_nlx2500", "index_ix40")

_COMPONENTS: Final[dict[str, tuple[str, ...]]] = {
    "haas_vf2": (
        "system",
        "x",
        "y",
        "z",
        "spindle",
        "tool_changer",
        "coolant",
        "hydraulic",
        "communication",
    ),
    "dmg_nlx2500": (
        "system",
        "x",
        "z",
        "c",
        "spindle",
        "sub_spindle",
        "turret",
        "coolant",
        "hydraulic",
        "communication",
    ),
    "index_ix40": (
        "system",
        "x",
        "z",
        "c",
        "spindle",
        "turret",
        "coolant",
        "hydraulic",
        "communication",
    ),
}

_ES = AlarmCategory.EMERGENCY_STOP
_AXIS = AlarmCategory.AXIS
_SPINDLE = AlarmCategory.SPINDLE
_TOOL = AlarmCategory.TOOL_CHANGE
_HYD = AlarmCategory.HYDRAULIC
_COMM = AlarmCategory.COMMUNICATION
_CRIT = Severity.CRITICAL
_WARN = Severity.WARNING
_INFO = Severity.INFO

# Haas VF-2, Haas control: three-digit alarm numbers, the axis letter leading the text of per-axis alarms.
# The 10xx advisories stand for the control's tool-life and maintenance reminders.
_HAAS_VF2: Final[tuple[AlarmDefinition, ...]] = (
    AlarmDefinition("107", "EMERGENCY OFF", _ES, _CRIT, "system"),
    AlarmDefinition("103", "X SERVO ERROR TOO LARGE", _AXIS, _CRIT, "x"),
    AlarmDefinition("161", "X AXIS DRIVE FAULT", _AXIS, _CRIT, "x"),
    AlarmDefinition("104", "Y SERVO ERROR TOO LARGE", _AXIS, _CRIT, "y"),
    AlarmDefinition("109", "Y SERVO OVERLOAD", _AXIS, _CRIT, "y"),
    AlarmDefinition("105", "Z SERVO ERROR TOO LARGE", _AXIS, _CRIT, "z"),
    AlarmDefinition("147", "Z LIMIT SWITCH", _AXIS, _CRIT, "z"),
    AlarmDefinition("123", "SPINDLE DRIVE FAULT", _SPINDLE, _CRIT, "spindle"),
    AlarmDefinition("116", "SPINDLE ORIENTATION FAULT", _SPINDLE, _CRIT, "spindle"),
    AlarmDefinition("174", "TOOL LOAD EXCEEDED", _SPINDLE, _WARN, "spindle"),
    AlarmDefinition("113", "SHUTTLE IN FAULT", _TOOL, _CRIT, "tool_changer"),
    AlarmDefinition("115", "TURRET ROTATE FAULT", _TOOL, _CRIT, "tool_changer"),
    AlarmDefinition("362", "TOOL USAGE ALARM", _TOOL, _WARN, "tool_changer"),
    AlarmDefinition("1001", "TOOL LIFE WARNING - TOOL NEAR LIFE LIMIT", _TOOL, _INFO, "tool_changer"),
    AlarmDefinition("120", "LOW AIR PRESSURE", _HYD, _CRIT, "hydraulic"),
    AlarmDefinition("121", "LOW LUB OR LOW PRESSURE", _HYD, _WARN, "hydraulic"),
    AlarmDefinition("151", "LOW THRU SPINDLE COOLANT", _HYD, _CRIT, "coolant"),
    AlarmDefinition("1002", "MAINTENANCE REMINDER - CLEAN COOLANT FILTER", _HYD, _INFO, "coolant"),
    AlarmDefinition("101", "COMM. FAILURE WITH MOCON", _COMM, _CRIT, "communication"),
)

# DMG MORI NLX 2500, MAPPS on a FANUC 31i: CNC alarms carry the FANUC type prefix (SV servo, SP spindle,
# OT overtravel, EX machine/PMC external alarm 1000-1999); PMC operator messages 2000-2999 show the bare
# number. The axis name (X, Z) or spindle (S1 main, S2 sub) leads the message as on the alarm screen.
_DMG_NLX2500: Final[tuple[AlarmDefinition, ...]] = (
    AlarmDefinition("EX1000", "EMERGENCY STOP BUTTON PRESSED (OPERATION PANEL)", _ES, _CRIT, "system"),
    AlarmDefinition("SV0411", "X EXCESS ERROR (MOVING)", _AXIS, _CRIT, "x"),
    AlarmDefinition("OT0506", "X + OVERTRAVEL ( HARD )", _AXIS, _CRIT, "x"),
    AlarmDefinition("SV0410", "Z EXCESS ERROR (STOP)", _AXIS, _CRIT, "z"),
    AlarmDefinition("OT0500", "Z + OVERTRAVEL ( SOFT 1 )", _AXIS, _CRIT, "z"),
    AlarmDefinition("EX1210", "C-AXIS CLAMP/UNCLAMP CONFIRMATION ERROR", _AXIS, _CRIT, "c"),
    AlarmDefinition("SP9001", "S1 MOTOR OVERHEAT", _SPINDLE, _CRIT, "spindle"),
    AlarmDefinition("SP9031", "S2 MOTOR LOCK OR V SIG LOS", _SPINDLE, _CRIT, "sub_spindle"),
    AlarmDefinition("EX1300", "TURRET INDEXING TIME OVER", _TOOL, _CRIT, "turret"),
    AlarmDefinition("EX1301", "TURRET CLAMP CONFIRMATION ERROR", _TOOL, _CRIT, "turret"),
    AlarmDefinition("2300", "TOOL LIFE EXPIRED (TOOL LIFE MANAGEMENT)", _TOOL, _WARN, "turret"),
    AlarmDefinition("2301", "TOOL LIFE PRE-WARNING (TOOL LIFE MANAGEMENT)", _TOOL, _INFO, "turret"),
    AlarmDefinition("EX1050", "HYDRAULIC PRESSURE DOWN", _HYD, _CRIT, "hydraulic"),
    AlarmDefinition("EX1052", "AIR PRESSURE DOWN", _HYD, _CRIT, "hydraulic"),
    AlarmDefinition("2050", "LUBRICATION OIL LEVEL LOW", _HYD, _WARN, "hydraulic"),
    AlarmDefinition("EX1060", "COOLANT PUMP MOTOR OVERLOAD", _HYD, _CRIT, "coolant"),
    AlarmDefinition("2061", "COOLANT TANK LEVEL LOW", _HYD, _WARN, "coolant"),
    AlarmDefinition("2062", "COOLANT FILTER CLEANING REQUEST", _HYD, _INFO, "coolant"),
    AlarmDefinition("SV5134", "FSSB:OPEN READY TIME OUT", _COMM, _CRIT, "communication"),
    AlarmDefinition("2400", "CELOS: NC COMMUNICATION ERROR", _COMM, _WARN, "communication"),
)

# INDEX lathe, SINUMERIK 840D sl: NC alarms (2000 PLC sign of life, 6410 tool management, 10720 software
# limit, 25xxx axis monitoring, 27001 Safety Integrated), SINAMICS drive messages as 2xxxxx, and INDEX PLC
# user alarms 7xxxxx, texts in German as the control shows them.
_INDEX_IX40: Final[tuple[AlarmDefinition, ...]] = (
    AlarmDefinition("710306", "BEDIENTAFEL 1: NOT-HALT-Taster gedrückt", _ES, _CRIT, "system"),
    AlarmDefinition("710307", "HANDBEDIENGERÄT: NOT-HALT-Taster gedrückt", _ES, _CRIT, "system"),
    AlarmDefinition("25050", "Achse X1 Konturüberwachung", _AXIS, _CRIT, "x"),
    AlarmDefinition("25000", "Achse X1 Hardwarefehler aktiver Geber", _AXIS, _CRIT, "x"),
    AlarmDefinition("25040", "Achse Z1 Stillstandsüberwachung", _AXIS, _CRIT, "z"),
    AlarmDefinition("10720", "Kanal 1 Satz N120 Achse Z1 Software-Endschalter +", _AXIS, _CRIT, "z"),
    AlarmDefinition(
        "27001",
        "Achse C1 Fehler in einem Überwachungskanal, Code 1, Werte: NCK 0, Antrieb 0",
        _AXIS,
        _CRIT,
        "c",
    ),
    AlarmDefinition("207011", "Antrieb Spindel 1: Motorübertemperatur", _SPINDLE, _CRIT, "spindle"),
    AlarmDefinition(
        "207910", "Antrieb Spindel 1: Motor Übertemperatur (Warnschwelle)", _SPINDLE, _WARN, "spindle"
    ),
    AlarmDefinition("710620", "SPINDEL 1: Spannmittel nicht gespannt", _SPINDLE, _CRIT, "spindle"),
    AlarmDefinition("710520", "REVOLVER 1: Verriegelung nicht erreicht", _TOOL, _CRIT, "turret"),
    AlarmDefinition("710521", "REVOLVER 1: Schaltzeit überschritten", _TOOL, _CRIT, "turret"),
    AlarmDefinition(
        "6410",
        "TO-Einheit 1 Werkzeug T0101 Duplo-Nr. 1 hat Vorwarngrenze erreicht",
        _TOOL,
        _INFO,
        "turret",
    ),
    AlarmDefinition("710710", "HYDRAULIK: Druck zu niedrig", _HYD, _CRIT, "hydraulic"),
    AlarmDefinition("710720", "DRUCKLUFT: Druck zu niedrig", _HYD, _CRIT, "hydraulic"),
    AlarmDefinition("710730", "ZENTRALSCHMIERUNG: Füllstand Minimum", _HYD, _INFO, "hydraulic"),
    AlarmDefinition("710810", "KÜHLSCHMIERSTOFF: Füllstand Minimum", _HYD, _WARN, "coolant"),
    AlarmDefinition("710812", "KÜHLSCHMIERSTOFF: Filter verschmutzt", _HYD, _INFO, "coolant"),
    AlarmDefinition("2000", "PLC-Lebenszeichenüberwachung", _COMM, _CRIT, "communication"),
    AlarmDefinition("710910", "STANGENLADER: Kommunikation gestört", _COMM, _WARN, "communication"),
)

_CATALOGS: Final[dict[str, tuple[AlarmDefinition, ...]]] = {
    "haas_vf2": _HAAS_VF2,
    "dmg_nlx2500": _DMG_NLX2500,
    "index_ix40": _INDEX_IX40,
}

_BY_CODE: Final[dict[str, dict[str, AlarmDefinition]]] = {
    model: {alarm.code: alarm for alarm in alarms} for model, alarms in _CATALOGS.items()
}

_EMERGENCY_STOP_CODES: Final[dict[str, str]] = {
    "haas_vf2": "107",
    "dmg_nlx2500": "EX1000",
    "index_ix40": "710306",
}


def _check_model(model: str) -> None:
    if model not in _CATALOGS:
        raise ValueError(f"unknown machine model {model!r}; expected one of {', '.join(MODELS)}")


def condition_components(model: str) -> tuple[str, ...]:
    """The condition signals of ``model``, each of which may carry one of its alarms."""
    _check_model(model)
    return _COMPONENTS[model]


def catalog(model: str) -> tuple[AlarmDefinition, ...]:
    """Every alarm ``model`` can raise."""
    _check_model(model)
    return _CATALOGS[model]


def by_category(model: str, category: AlarmCategory) -> tuple[AlarmDefinition, ...]:
    """The alarms of ``model`` in ``category``, in catalogue order."""
    _check_model(model)
    try:
        wanted = AlarmCategory(category)
    except ValueError:
        expected = ", ".join(member.value for member in AlarmCategory)
        raise ValueError(f"unknown alarm category {category!r}; expected one of {expected}") from None
    return tuple(alarm for alarm in _CATALOGS[model] if alarm.category is wanted)


def find(model: str, code: str) -> AlarmDefinition:
    """The alarm of ``model`` with native code ``code``, exactly as the control shows it."""
    _check_model(model)
    try:
        return _BY_CODE[model][code]
    except KeyError:
        raise ValueError(f"unknown alarm code {code!r} for machine model {model!r}") from None


def emergency_stop(model: str) -> AlarmDefinition:
    """The alarm ``model`` raises when an operator presses the emergency stop on its main operator panel."""
    _check_model(model)
    return _BY_CODE[model][_EMERGENCY_STOP_CODES[model]]
