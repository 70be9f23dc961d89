"""Rules the alarm catalogue of the simulated machine models must keep."""

from __future__ import annotations

import dataclasses
import re

import pytest

from twin.alarm_catalog import (
    MODELS,
    AlarmCategory,
    AlarmDefinition,
    Severity,
    by_category,
    catalog,
    condition_components,
    emergency_stop,
    find,
)

AXIS_COMPONENTS = frozenset({"x", "y", "z", "c"})

CODE_PATTERNS = {
    "haas_vf2": re.compile(r"\d{3,4}"),
    "dmg_nlx2500": re.compile(r"(SV|SP|OT|EX|PS|SR|IO|OH)\d{4}|2\d{3}"),
    "index_ix40": re.compile(r"\d{4,6}"),
}

per_model = pytest.mark.parametrize("model", MODELS)


def test_models_are_the_three_simulated_machines() -> None:
    assert MODELS == ("haas_vf2", "dmg_nlx2500", "index_ix40")


def test_condition_components_are_the_signals_of_each_model() -> None:
    assert condition_components("haas_vf2") == (
        "system",
        "x",
        "y",
        "z",
        "spindle",
        "tool_changer",
        "coolant",
        "hydraulic",
        "communication",
    )
    assert condition_components("dmg_nlx2500") == (
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
    )
    assert condition_components("index_ix40") == (
        "system",
        "x",
        "z",
        "c",
        "spindle",
        "turret",
        "coolant",
        "hydraulic",
        "communication",
    )


@per_model
def test_every_model_has_between_12_and_20_alarms(model: str) -> None:
    assert 12 <= len(catalog(model)) <= 20


@per_model
@pytest.mark.parametrize("category", list(AlarmCategory))
def test_every_model_has_at_least_one_alarm_in_every_category(model: str, category: AlarmCategory) -> None:
    assert by_category(model, category)


@per_model
def test_emergency_stop_alarms_are_all_critical(model: str) -> None:
    stops = by_category(model, AlarmCategory.EMERGENCY_STOP)
    assert stops
    assert all(alarm.severity is Severity.CRITICAL for alarm in stops)


@per_model
@pytest.mark.parametrize("severity", list(Severity))
def test_every_model_has_critical_warning_and_info_alarms(model: str, severity: Severity) -> None:
    assert any(alarm.severity is severity for alarm in catalog(model))


@per_model
def test_codes_are_unique_per_model(model: str) -> None:
    codes = [alarm.code for alarm in catalog(model)]
    assert len(codes) == len(set(codes))


@per_model
def test_codes_follow_the_numbering_of_the_models_control(model: str) -> None:
    pattern = CODE_PATTERNS[model]
    bad = [alarm.code for alarm in catalog(model) if not pattern.fullmatch(alarm.code)]
    assert bad == []


@per_model
def test_every_alarm_component_is_one_of_the_models_condition_components(model: str) -> None:
    components = set(condition_components(model))
    assert {alarm.component for alarm in catalog(model)} <= components


@per_model
def test_axis_alarms_sit_on_axis_components(model: str) -> None:
    for alarm in by_category(model, AlarmCategory.AXIS):
        assert alarm.component in AXIS_COMPONENTS, alarm


@per_model
def test_axis_alarm_text_names_the_axis_of_its_component(model: str) -> None:
    for alarm in by_category(model, AlarmCategory.AXIS):
        letter = alarm.component.upper()
        assert re.search(rf"\b{letter}(\d|\b)", alarm.text), alarm


@per_model
def test_only_axis_alarms_sit_on_axis_components(model: str) -> None:
    for alarm in catalog(model):
        if alarm.component in AXIS_COMPONENTS:
            assert alarm.category is AlarmCategory.AXIS, alarm


@per_model
def test_alarm_fields_have_their_declared_types_and_texts_are_single_line(model: str) -> None:
    for alarm in catalog(model):
        assert isinstance(alarm.category, AlarmCategory)
        assert isinstance(alarm.severity, Severity)
        assert alarm.code
        assert alarm.code == alarm.code.strip()
        assert alarm.text
        assert alarm.text == alarm.text.strip()
        assert "\n" not in alarm.text


@per_model
def test_every_model_has_an_alarm_on_its_system_component(model: str) -> None:
    assert any(alarm.component == "system" for alarm in catalog(model))


@per_model
def test_emergency_stop_is_a_critical_emergency_stop_alarm_on_the_system_component(model: str) -> None:
    alarm = emergency_stop(model)
    assert alarm.category is AlarmCategory.EMERGENCY_STOP
    assert alarm.severity is Severity.CRITICAL
    assert alarm.component == "system"
    assert alarm in catalog(model)


def test_index_ix40_emergency_stop_is_710306_on_operator_panel_1() -> None:
    alarm = emergency_stop("index_ix40")
    assert alarm.code == "710306"
    assert alarm.text == "BEDIENTAFEL 1: NOT-HALT-Taster gedrückt"


def test_haas_vf2_emergency_stop_is_107_emergency_off() -> None:
    alarm = emergency_stop("haas_vf2")
    assert (alarm.code, alarm.text) == ("107", "EMERGENCY OFF")


def test_dmg_nlx2500_emergency_stop_is_an_ex_machine_alarm() -> None:
    assert emergency_stop("dmg_nlx2500").code.startswith("EX")


@per_model
def test_find_returns_the_alarm_with_that_code(model: str) -> None:
    for alarm in catalog(model):
        assert find(model, alarm.code) is alarm


def test_find_returns_the_real_native_code_and_text() -> None:
    assert find("haas_vf2", "103") == AlarmDefinition(
        "103", "X SERVO ERROR TOO LARGE", AlarmCategory.AXIS, Severity.CRITICAL, "x"
    )
    assert find("index_ix40", "27001").component == "c"
    assert find("dmg_nlx2500", "SV0411").component == "x"


@per_model
@pytest.mark.parametrize("category", list(AlarmCategory))
def test_by_category_returns_exactly_the_catalog_alarms_of_that_category_in_order(
    model: str, category: AlarmCategory
) -> None:
    assert by_category(model, category) == tuple(a for a in catalog(model) if a.category is category)


def test_by_category_accepts_the_category_value_string() -> None:
    assert by_category("haas_vf2", AlarmCategory("axis")) == by_category("haas_vf2", AlarmCategory.AXIS)


def test_by_category_unknown_category_raises_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="'axle'"):
        by_category("haas_vf2", "axle")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        condition_components,
        catalog,
        emergency_stop,
        lambda model: by_category(model, AlarmCategory.AXIS),
        lambda model: find(model, "107"),
    ],
    ids=["condition_components", "catalog", "emergency_stop", "by_category", "find"],
)
def test_unknown_model_raises_value_error_naming_it(call: object) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=r"unknown machine model 'haas_vf3'; expected one of haas_vf2, "):
        call("haas_vf3")


def test_unknown_code_raises_value_error_naming_the_code_and_model() -> None:
    with pytest.raises(ValueError, match=r"'SV0411'.*'haas_vf2'"):
        find("haas_vf2", "SV0411")


def test_find_does_not_trim_or_case_fold_codes() -> None:
    with pytest.raises(ValueError, match="' 107'"):
        find("haas_vf2", " 107")
    with pytest.raises(ValueError, match="'sv0411'"):
        find("dmg_nlx2500", "sv0411")


def test_alarm_definitions_are_immutable() -> None:
    alarm = emergency_stop("haas_vf2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        alarm.code = "108"  # type: ignore[misc]
