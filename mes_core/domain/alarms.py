"""Classifies a machine's condition observations into the seed's alarm categories and severities.

A condition observation says which component reported it, its condition type, level (Fault, Warning),
native code and severity, and the control's message. Real controls (Haas, FANUC, SINUMERIK, Mazak, Heidenhain)
put most alarms on one controller-level condition, so the component alone rarely decides; the message text
and FANUC's code prefixes do the rest. The rules are in ``classify_alarm``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

__all__ = ["AlarmCategory", "Severity", "classify_alarm"]


class AlarmCategory(StrEnum):
    """The seed's alarm categories, plus OTHER for alarms that fit none (program errors, door interlocks)."""

    EMERGENCY_STOP = "emergency_stop"
    AXIS = "axis"
    SPINDLE = "spindle"
    TOOL_CHANGE = "tool_change"
    HYDRAULIC = "hydraulic"
    """Hydraulic, pneumatic, coolant and lubrication supplies."""
    COMMUNICATION = "communication"
    OTHER = "other"


class Severity(StrEnum):
    """The seed's alarm severities."""

    CRITICAL = "CRITICAL"
    """Machine stopped, immediate attention required."""
    WARNING = "WARNING"
    """Degraded operation; the machine may continue."""
    INFO = "INFO"
    """Advisory only."""


_LEVELS: Final[dict[str, Severity]] = {
    "FAULT": Severity.CRITICAL,
    "WARNING": Severity.WARNING,
    "NORMAL": Severity.INFO,
    "UNAVAILABLE": Severity.INFO,
}

_COMPONENTS: Final[dict[str, AlarmCategory]] = {
    "LINEAR": AlarmCategory.AXIS,
    "SPINDLE": AlarmCategory.SPINDLE,
    "AUTOMATICTOOLCHANGER": AlarmCategory.TOOL_CHANGE,
    "TOOLMAGAZINE": AlarmCategory.TOOL_CHANGE,
    "TOOLRACK": AlarmCategory.TOOL_CHANGE,
    "TURRET": AlarmCategory.TOOL_CHANGE,
    "GANGTOOLBAR": AlarmCategory.TOOL_CHANGE,
    "TOOLINGDELIVERY": AlarmCategory.TOOL_CHANGE,
    "HYDRAULIC": AlarmCategory.HYDRAULIC,
    "PNEUMATIC": AlarmCategory.HYDRAULIC,
    "COOLANT": AlarmCategory.HYDRAULIC,
    "LUBRICATION": AlarmCategory.HYDRAULIC,
}

_CONDITION_TYPES: Final[dict[str, AlarmCategory]] = {
    "COMMUNICATIONS": AlarmCategory.COMMUNICATION,
    "PRESSURE": AlarmCategory.HYDRAULIC,
    "ROTARY_VELOCITY": AlarmCategory.SPINDLE,
    "SPINDLE_SPEED": AlarmCategory.SPINDLE,
}

# Condition types that, on a Rotary component, mean the rotary axis rather than a spindle.
_AXIS_CONDITION_TYPES: Final[frozenset[str]] = frozenset({"ACTUATOR", "ANGLE", "POSITION", "AXIS_FEEDRATE"})

_EMERGENCY: Final[re.Pattern[str]] = re.compile(r"EMERGENCY|\bE-?STOP\b|NOT-?HALT")

# Text keywords per category, tried in this order; English as the controls show it and the German of
# SINUMERIK and INDEX messages. Short words are anchored at word boundaries ("AIR" is not in "REPAIR").
_KEYWORDS: Final[tuple[tuple[AlarmCategory, re.Pattern[str]], ...]] = (
    (
        AlarmCategory.AXIS,
        re.compile(
            r"SERVO|\bAX[IE]S|ACHSE|OVERTRAVEL|LIMIT SWITCH|(?:SOFT|HARD|STROKE|TRAVEL) LIMIT|ENDSCHALTER"
            r"|EXCESS ERROR|FOLLOWING ERROR|ENCODER"
        ),
    ),
    (AlarmCategory.SPINDLE, re.compile(r"SPINDLE|SPINDEL|\bSPDL|\bSP\.")),
    (
        AlarmCategory.TOOL_CHANGE,
        re.compile(r"TOOL|\bATC\b|\bTC\b|MAGAZIN|\bT-MAG|TURRET|REVOLVER|WERKZEUG|CHANGER|\bPOCKET"),
    ),
    (
        AlarmCategory.HYDRAULIC,
        re.compile(
            r"HYDRAUL|PNEUM|\bAIR\b|DRUCKLUFT|COOLANT|KÜHL|KUEHL|\bLUB|LUBRICAT|SCHMIER|PRESSURE|DRUCK"
            r"|FILTER"
        ),
    ),
    (
        AlarmCategory.COMMUNICATION,
        re.compile(
            r"\bCOMMS?\b|COMMUNICAT|KOMMUNIKATION|NETWORK|ETHERNET|CONNECTION|MOCON|FSSB"
            r"|PLC-LEBEN|SIGN[- ]OF[- ]LIFE"
        ),
    ),
)

_FANUC_PREFIX: Final[re.Pattern[str]] = re.compile(r"(SV|SP|OT)\d{3,4}")
_FANUC_CATEGORY: Final[dict[str, AlarmCategory]] = {
    "SV": AlarmCategory.AXIS,
    "SP": AlarmCategory.SPINDLE,
    "OT": AlarmCategory.AXIS,
}

# A Rotary whose name says spindle: S, S1, S2, SP1, "spindle", "Spindel 1".
_SPINDLE_NAME: Final[re.Pattern[str]] = re.compile(r"S\d*|SP\d*|.*SPINDLE.*|.*SPINDEL.*")


def _upper(value: str | None) -> str:
    return (value or "").strip().upper()


def _by_text(text: str) -> AlarmCategory | None:
    for category, pattern in _KEYWORDS:
        if pattern.search(text):
            return category
    return None


def _severity(level: str, native_severity: str | None) -> Severity:
    normalized = _upper(level)
    if normalized not in _LEVELS:
        expected = ", ".join(_LEVELS)
        raise ValueError(f"condition level {level!r} is not one of {expected}")
    native = _upper(native_severity)
    if native in Severity.__members__:
        return Severity(native)
    return _LEVELS[normalized]


def _rotary(condition_type: str, name: str, text: str) -> AlarmCategory:
    if condition_type in _AXIS_CONDITION_TYPES:
        return AlarmCategory.AXIS
    if _SPINDLE_NAME.fullmatch(name):
        return AlarmCategory.SPINDLE
    by_text = _by_text(text)
    if by_text in (AlarmCategory.AXIS, AlarmCategory.SPINDLE):
        return by_text
    return AlarmCategory.SPINDLE


def _category(condition_type: str, component: str, name: str, code: str, text: str) -> AlarmCategory:
    if _EMERGENCY.search(text):
        return AlarmCategory.EMERGENCY_STOP
    if component == "ROTARY":
        return _rotary(condition_type, name, text)
    if component == "AXES":
        return AlarmCategory.SPINDLE if _by_text(text) is AlarmCategory.SPINDLE else AlarmCategory.AXIS
    if component in _COMPONENTS:
        return _COMPONENTS[component]
    # A device's own name is a user's label ("TOOL-GRINDER-2"), not a part of the machine.
    by_name = None if component in ("DEVICE", "AGENT") else _by_text(name)
    if by_name is not None:
        return by_name
    if condition_type in _CONDITION_TYPES:
        return _CONDITION_TYPES[condition_type]
    by_text = _by_text(text)
    if by_text is not None:
        return by_text
    prefix = _FANUC_PREFIX.match(code) or _FANUC_PREFIX.match(text)
    if prefix is not None:
        return _FANUC_CATEGORY[prefix.group(1)]
    return AlarmCategory.OTHER


def classify_alarm(
    level: str,
    condition_type: str | None,
    component_type: str | None,
    component_name: str | None,
    native_code: str | None,
    native_severity: str | None,
    text: str | None,
) -> tuple[AlarmCategory, Severity]:
    """The seed category and severity of one condition observation.

    Severity: ``native_severity`` when it is CRITICAL, WARNING or INFO (this project's agent sends the MES
    severity there); otherwise by ``level``: Fault -> CRITICAL, Warning -> WARNING, and Normal or
    Unavailable (no active alarm, e.g. the clearing of a code) -> INFO. Numeric native severities (Mazak's
    50, 90) are the control's own scale and are ignored.

    Category, the first rule that matches (all comparisons case-insensitive):

    1. The text names an emergency stop (EMERGENCY, E-STOP, NOT-HALT) -> emergency_stop, whichever
       component reports it: the one category that must never be missed.
    2. The component: Linear -> axis. Rotary -> axis for an ACTUATOR, ANGLE, POSITION or AXIS_FEEDRATE
       condition (a rotary axis), spindle when its name says so (S, S1, S2, "spindle"), else by the text
       (axis or spindle words) and spindle by default (a mill's spindle is often Rotary ``C``). Axes (the
       container) -> spindle when the text says spindle, else axis. Spindle (MTConnect 1.1) -> spindle;
       AutomaticToolChanger, ToolMagazine, ToolRack, Turret, GangToolBar, ToolingDelivery -> tool_change;
       Hydraulic, Pneumatic, Coolant, Lubrication -> hydraulic.
    3. The component's name, by the text keywords of rule 5 (a 1.3 ``Actuator`` named ``atc``); not the
       name of a Device, which is the user's label for the machine.
    4. The condition type: COMMUNICATIONS -> communication, PRESSURE -> hydraulic, ROTARY_VELOCITY and
       SPINDLE_SPEED -> spindle.
    5. The text, first match in this order: axis (SERVO, AXIS, ACHSE, OVERTRAVEL, LIMIT SWITCH, SOFT/HARD
       LIMIT, ENDSCHALTER, EXCESS/FOLLOWING ERROR, ENCODER; a bare LIMIT is no axis word: tool-life limits),
       spindle (SPINDLE, SPINDEL, SPDL, SP.), tool_change (TOOL, ATC, TC, MAGAZIN, T-MAG, TURRET,
       REVOLVER, WERKZEUG, CHANGER, POCKET), hydraulic (HYDRAUL, PNEUM, AIR, COOLANT, KÜHL, LUB, SCHMIER,
       PRESSURE, DRUCK, FILTER), communication (COMM, COMMUNICATION, KOMMUNIKATION, NETWORK, ETHERNET,
       CONNECTION, MOCON, FSSB, PLC-LEBEN, SIGN-OF-LIFE).
    6. A FANUC prefix on the native code or the text: SV (servo) and OT (overtravel) -> axis, SP -> spindle.
    7. Otherwise other.

    Returns:
        ``(category, severity)``.

    Raises:
        ValueError: ``level`` is not FAULT, WARNING, NORMAL or UNAVAILABLE.
    """
    severity = _severity(level, native_severity)
    category = _category(
        _upper(condition_type),
        _upper(component_type),
        _upper(component_name),
        _upper(native_code),
        _upper(text),
    )
    return category, severity
