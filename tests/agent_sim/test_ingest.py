"""Rules of SHDR ingest (reference section 2.1-2.3): decoded adapter records onto the agent's data items."""

from __future__ import annotations

import logging
import time

import pytest
from lxml import etree

from agent_sim.agent import Agent, iso_timestamp
from agent_sim.buffer import UNAVAILABLE, ConditionState, DataSetState
from agent_sim.ingest import ShdrIngest
from agent_sim.replay import read_log
from agent_sim.shdr import ShdrDecoder

from .shdr_helpers import (
    NOW_ISO,
    RECORDINGS,
    Recording,
    assert_current_matches,
    before_shutdown,
    conditions,
    current,
    element,
    expected_final_values,
    feed,
    history,
    items_of_type,
    latest,
    make_agent,
    make_ingest,
    sample_ids,
    value,
)

TS = "2024-03-01T10:00:00.000000Z"
TS_EPOCH_ISO = "2024-03-01T10:00:00.000000Z"

# ------------------------------------------------------------------------------------------ key lookup


def test_key_matches_a_data_item_id_before_a_name() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|exec|ACTIVE\n")
    assert value(ingest.agent, "exec") == "ACTIVE"
    assert value(ingest.agent, "shadow") == UNAVAILABLE  # named "exec", but the id wins


def test_key_matches_a_name_before_a_source() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|execution|READY\n")
    assert value(ingest.agent, "exec") == "READY"
    assert value(ingest.agent, "fromsource") == UNAVAILABLE  # its <Source> is "execution"


def test_key_matches_a_source_when_no_id_or_name_does() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|X_SRC|12.5\n")
    assert value(ingest.agent, "xpos") == "12.5"


def test_device_prefix_selects_another_device() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|M2:execution|ACTIVE|execution|READY\n")
    assert value(ingest.agent, "m2_exec") == "ACTIVE"
    assert value(ingest.agent, "exec") == "READY"


def test_device_prefix_takes_a_uuid_too() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|uuid-m2:execution|STOPPED\n")
    assert value(ingest.agent, "m2_exec") == "STOPPED"


def test_device_command_switches_the_default_device() -> None:
    ingest = make_ingest()
    feed(ingest, f"* device: M2\n{TS}|execution|ACTIVE\n")
    assert value(ingest.agent, "m2_exec") == "ACTIVE"
    assert value(ingest.agent, "exec") == UNAVAILABLE


def test_unknown_key_is_skipped_with_its_value_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    ingest = make_ingest()
    with caplog.at_level(logging.INFO, logger="agent_sim.ingest"):
        feed(ingest, f"{TS}|nosuch|execution|exec|ACTIVE\n{TS}|nosuch|1|block|G01\n")
    # "execution" after the unknown key is its value, not a key: exec gets ACTIVE, not "ACTIVE" as a key
    assert value(ingest.agent, "exec") == "ACTIVE"
    assert value(ingest.agent, "block") == "G01"
    assert ingest.stats.unknown_keys == {"nosuch"}
    assert sum("nosuch" in record.getMessage() for record in caplog.records) == 1
    assert ingest.stats.malformed == 0


# ------------------------------------------------------------------------------------------ events and values


def test_event_values_are_upcased_by_default() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|exec|active|program|o1234.nc\n")
    assert value(ingest.agent, "exec") == "ACTIVE"
    assert value(ingest.agent, "prog") == "O1234.NC"


def test_upcasing_touches_ascii_letters_only_as_the_reference_toupper_does() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|program|teil_größe\n")
    assert value(ingest.agent, "prog") == "TEIL_GRößE"


def test_upcasing_can_be_turned_off() -> None:
    ingest = make_ingest(upcase_values=False)
    feed(ingest, f"{TS}|program|o1234.nc\n")
    assert value(ingest.agent, "prog") == "o1234.nc"


def test_samples_and_messages_are_not_upcased() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|pathpos|1e3 2 3\n{TS}|message|M1|tool change\n")
    assert value(ingest.agent, "pos") == "1e3 2 3"
    assert value(ingest.agent, "msg") == "tool change"


def test_empty_value_is_an_empty_string() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|program||block|G01 X1\n")
    assert value(ingest.agent, "prog") == ""
    assert value(ingest.agent, "block") == "G01 X1"
    assert element(current(ingest.agent), "prog").text is None


def test_whitespace_only_value_is_empty() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|program|   |block|B\n")
    assert value(ingest.agent, "prog") == ""


@pytest.mark.parametrize("text", ["UNAVAILABLE", "unavailable", "Unavailable", "uNaVaIlAbLe"])
def test_unavailable_in_any_case_makes_an_item_unavailable(text: str) -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|exec|ACTIVE|Xact|1.5|program|P\n")
    feed(ingest, f"{TS}|exec|{text}|Xact|{text}|program|{text}\n")
    for item_id in ("exec", "xpos", "prog"):
        assert value(ingest.agent, item_id) == UNAVAILABLE
    feed(ingest, f"{TS}|system|{text}||||\n")
    assert [c.level for c in conditions(ingest.agent, "system")] == [UNAVAILABLE]


def test_a_sample_that_is_not_a_number_is_dropped_and_counted() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|Xact|1.5\n{TS}|Xact|fast|block|B\n")
    assert value(ingest.agent, "xpos") == "1.5"
    assert ingest.stats.malformed == 1


def test_three_space_sample_keeps_its_three_numbers() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|pathpos|10.5 -2 300\n")
    assert element(current(ingest.agent), "pos").text == "10.5 -2 300"


# ------------------------------------------------------------------------------------------ conditions


def test_condition_with_native_code_severity_qualifier_and_text() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|system|WARNING|HTEMP-1|2|HIGH|Oil temperature high\n")
    assert conditions(ingest.agent, "system") == [
        ConditionState("WARNING", "HTEMP-1", "2", "HIGH", "Oil temperature high", "HTEMP-1")
    ]
    el = element(current(ingest.agent), "system")
    assert el.tag == "Warning"
    assert (el.get("nativeCode"), el.get("nativeSeverity"), el.get("qualifier")) == ("HTEMP-1", "2", "HIGH")
    assert el.text == "Oil temperature high"


def test_condition_level_is_read_in_any_case() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|system|fault|F1|||Spindle\n")
    assert [c.level for c in conditions(ingest.agent, "system")] == ["FAULT"]


def test_several_conditions_are_active_at_once_by_native_code() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|system|WARNING|W1|||one\n{TS}|system|FAULT|F2|||two\n")
    assert [(c.level, c.native_code) for c in conditions(ingest.agent, "system")] == [
        ("WARNING", "W1"),
        ("FAULT", "F2"),
    ]
    doc = current(ingest.agent)
    found = doc.xpath("//*[@dataItemId='system']")
    assert isinstance(found, list)
    assert sorted(e.tag for e in found if isinstance(e, etree._Element)) == ["Fault", "Warning"]


def test_normal_with_a_native_code_clears_only_that_condition() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|system|WARNING|W1|||one\n{TS}|system|FAULT|F2|||two\n{TS}|system|NORMAL|W1|||\n")
    assert [(c.level, c.native_code) for c in conditions(ingest.agent, "system")] == [("FAULT", "F2")]


def test_normal_without_a_native_code_clears_every_condition() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|system|WARNING|W1|||one\n{TS}|system|FAULT|F2|||two\n{TS}|system|NORMAL||||\n")
    assert [c.level for c in conditions(ingest.agent, "system")] == ["NORMAL"]


def test_an_unknown_condition_level_is_malformed_and_skipped() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|system|BROKEN|X|||\n")
    assert ingest.stats.malformed == 1
    assert [c.level for c in conditions(ingest.agent, "system")] == [UNAVAILABLE]


# ------------------------------------------------------------------------------------------ messages, series


def test_message_carries_its_native_code() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|message|M100|Tool change requested\n")
    el = element(current(ingest.agent), "msg")
    assert (el.get("nativeCode"), el.text) == ("M100", "Tool change requested")


def test_message_native_code_is_escaped_in_the_document() -> None:
    ingest = make_ingest()
    feed(ingest, f'{TS}|message|A&B"<1>|text\n')
    el = element(current(ingest.agent), "msg")  # the document parses, and keeps the code
    assert el.get("nativeCode") == 'A&B"<1>'


def test_time_series_has_count_rate_and_values() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|Xts|4|100|1.5 2.25 3 5118.123456789\n")
    el = element(current(ingest.agent), "xts")
    assert el.tag == "PositionTimeSeries"
    assert (el.get("sampleCount"), el.get("sampleRate")) == ("4", "100")
    assert el.text == "1.5 2.25 3 5118.123456789"  # no precision lost


def test_time_series_rate_may_be_empty() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|Xts|2|| 5118 5119\n")
    el = element(current(ingest.agent), "xts")
    assert (el.get("sampleCount"), el.get("sampleRate"), el.text) == ("2", None, "5118 5119")


# ------------------------------------------------------------------------------------------ data sets, tables


def _entries(agent: Agent, item_id: str) -> dict[str, object]:
    state = value(agent, item_id)
    assert isinstance(state, DataSetState)
    return dict(state.entries)


def test_data_set_entries_are_added_incrementally_and_removed_by_key() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|vars|a=1 b=2 c=3\n")
    feed(ingest, f"{TS}|vars|b c= d='x y'\n")
    assert _entries(ingest.agent, "vars") == {"a": "1", "d": "x y"}
    el = element(current(ingest.agent), "vars")
    assert el.get("count") == "2"


def test_data_set_reset_replaces_the_set_and_is_marked_reset_triggered() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|vars|a=1 b=2\n{TS}|vars|:MANUAL d=10\n")
    assert _entries(ingest.agent, "vars") == {"d": "10"}
    assert element(current(ingest.agent), "vars").get("resetTriggered") == "MANUAL"
    assert history(ingest.agent, "vars")[-1].reset_triggered == "MANUAL"  # in /sample as well


def test_data_set_entries_that_change_nothing_are_not_recorded_again() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|vars|a=1 b=2\n{TS}|vars|a=1 b=3\n{TS}|vars|a=1\n")
    recorded = [o.value for o in history(ingest.agent, "vars")][1:]
    assert recorded == [DataSetState((("a", "1"), ("b", "2"))), DataSetState((("b", "3"),))]


def test_table_rows_hold_cells() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|wpo|G54={{X=1.0 Y=2.0 Z=3.0}} G55={{X=4.0}}\n")
    rows = _entries(ingest.agent, "wpo")
    assert rows == {"G54": (("X", "1.0"), ("Y", "2.0"), ("Z", "3.0")), "G55": (("X", "4.0"),)}
    el = element(current(ingest.agent), "wpo")
    assert el.tag == "WorkOffsetTable"
    cells = el.xpath("Entry[@key='G54']/Cell[@key='Y']")
    assert isinstance(cells, list)
    assert isinstance(cells[0], etree._Element)
    assert cells[0].text == "2.0"


def test_data_set_and_table_take_one_field_so_a_line_goes_on_in_legacy_mode() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|vars|a=1|wpo|G54={{X=1}}|exec|ACTIVE\n")
    assert value(ingest.agent, "exec") == "ACTIVE"


# ------------------------------------------------------------------------------------------ reset triggers


def test_reset_trigger_marks_reset_triggered_when_the_item_has_a_reset_trigger() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|partcount|12\n{TS}|partcount|0:day\n")
    obs = latest(ingest.agent, "pcount")
    assert (obs.value, obs.reset_triggered) == ("0", "DAY")
    assert element(current(ingest.agent), "pcount").get("resetTriggered") == "DAY"


def test_reset_trigger_is_plain_text_for_an_item_without_one() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|partcount_plain|0:DAY\n")
    obs = latest(ingest.agent, "pcount_plain")
    assert (obs.value, obs.reset_triggered) == ("0:DAY", None)


# ------------------------------------------------------------------------------------------ legacy mode


def test_legacy_mode_ends_a_line_at_a_multi_field_value() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|system|FAULT|F1|||x|exec|ACTIVE\n")
    feed(ingest, f"{TS}|message|M1|hello|block|B1\n")
    feed(ingest, f"{TS}|Xts|2|10|1 2|program|P1\n")
    assert [c.native_code for c in conditions(ingest.agent, "system")] == ["F1"]
    assert value(ingest.agent, "msg") == "hello"
    assert value(ingest.agent, "xts") == "1 2"
    for item_id in ("exec", "block", "prog"):
        assert value(ingest.agent, item_id) == UNAVAILABLE


def test_shdr_version_2_lets_multi_field_values_share_a_line() -> None:
    ingest = make_ingest()
    feed(ingest, "* shdrVersion: 2\n")
    assert ingest.shdr_version == 2
    feed(ingest, f"{TS}|system|FAULT|F1|||x|exec|ACTIVE|message|M1|hello|block|B1|Xts|2|10|1 2|program|P1\n")
    assert [c.native_code for c in conditions(ingest.agent, "system")] == ["F1"]
    assert (value(ingest.agent, "exec"), value(ingest.agent, "block")) == ("ACTIVE", "B1")
    assert (value(ingest.agent, "msg"), value(ingest.agent, "prog")) == ("hello", "P1")


def test_shdr_version_command_key_is_case_insensitive() -> None:
    ingest = make_ingest()
    feed(ingest, "* SHDRVERSION: 2\n")
    assert ingest.shdr_version == 2


# ------------------------------------------------------------------------------------------ timestamps


def test_empty_timestamp_takes_the_agent_time() -> None:
    ingest = make_ingest()
    feed(ingest, "|exec|ACTIVE\n")
    assert latest(ingest.agent, "exec").timestamp == NOW_ISO


def test_iso_timestamp_with_or_without_z_is_utc() -> None:
    ingest = make_ingest()
    feed(ingest, "2024-03-01T10:00:00Z|exec|ACTIVE\n2024-03-01T10:00:00|block|B\n")
    assert latest(ingest.agent, "exec").timestamp == TS_EPOCH_ISO
    assert latest(ingest.agent, "block").timestamp == TS_EPOCH_ISO


def test_timestamp_fraction_beyond_microseconds_keeps_microseconds() -> None:
    ingest = make_ingest()
    feed(ingest, "2022-08-08T13:51:34.7167146Z|exec|ACTIVE\n")
    stamp = latest(ingest.agent, "exec").timestamp
    assert stamp.startswith("2022-08-08T13:51:34.71671")  # the last digit is float noise
    assert len(stamp) == len(TS)


def test_duration_after_the_timestamp_is_the_observation_duration() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}@100.5|Xload|42\n")
    assert latest(ingest.agent, "xload").duration == 100.5
    el = element(current(ingest.agent), "xload")
    assert (el.get("statistic"), el.get("duration"), el.get("timestamp")) == ("AVERAGE", "100.5", TS)


def test_unreadable_timestamp_falls_back_to_agent_time() -> None:
    ingest = make_ingest()
    feed(ingest, "yesterday|exec|ACTIVE\n")
    assert latest(ingest.agent, "exec").timestamp == NOW_ISO


def test_ignore_timestamps_always_takes_the_agent_time() -> None:
    ingest = make_ingest(ignore_timestamps=True)
    feed(ingest, f"{TS}|exec|ACTIVE\n")
    assert latest(ingest.agent, "exec").timestamp == NOW_ISO


def test_agent_time_is_the_agents_clock() -> None:
    agent = make_agent(clock=time.time)
    device = agent.model.device("M1")
    assert device is not None
    before = iso_timestamp(time.time())
    feed(ShdrIngest(agent, device), "|exec|ACTIVE\n")
    assert before <= latest(agent, "exec").timestamp <= iso_timestamp(time.time())


# ------------------------------------------------------------------------------------------ duplicates


def test_duplicate_values_are_dropped() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|exec|ACTIVE\n{TS}|exec|active\n{TS}|exec|ACTIVE|Xact|1|Xact|1\n")
    assert [o.value for o in history(ingest.agent, "exec")] == [UNAVAILABLE, "ACTIVE"]
    assert [o.value for o in history(ingest.agent, "xpos")] == [UNAVAILABLE, "1"]
    assert ingest.stats.observations == 2


def test_duplicate_condition_is_dropped_by_level_and_native_code() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|system|FAULT|F1|||a\n{TS}|system|FAULT|F1|||b\n{TS}|system|WARNING|F1|||c\n")
    assert [
        o.value.level for o in history(ingest.agent, "system") if isinstance(o.value, ConditionState)
    ] == [
        UNAVAILABLE,
        "FAULT",
        "WARNING",
    ]


def test_discrete_items_keep_repeated_values() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|partid|P1\n{TS}|partid|P1\n")
    assert [o.value for o in history(ingest.agent, "partid")] == [UNAVAILABLE, "P1", "P1"]


def test_constant_valued_items_keep_their_constant() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|controllerMode|MANUAL\n")
    assert value(ingest.agent, "mode") == "AUTOMATIC"


# ------------------------------------------------------------------------------------------ assets


ASSET_XML = '<CuttingTool assetId="T1" toolId="1" serialNumber="1"><Description/></CuttingTool>'


def _asset_events(agent: Agent, data_type: str) -> list[tuple[object, str | None]]:
    """(value, attributes) of the current observation of every data item of the type."""
    out = []
    for item in items_of_type(agent, data_type):
        obs = latest(agent, item.id)
        out.append((obs.value, obs.attributes))
    return out


def test_asset_on_one_line_is_stored_and_sets_asset_changed() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|@ASSET@|T1|CuttingTool|{ASSET_XML}\n")
    asset = ingest.agent.assets["T1"]
    assert (asset.asset_type, asset.device_uuid, asset.timestamp, asset.xml) == (
        "CuttingTool",
        "uuid-m1",
        TS,
        ASSET_XML,
    )
    assert ("T1", 'assetType="CuttingTool"') in _asset_events(ingest.agent, "ASSET_CHANGED")


def test_multiline_asset_keeps_its_lines_up_to_the_exact_terminator() -> None:
    ingest = make_ingest()
    body = (
        '<CuttingTool assetId="T2">\n'
        "  <Description>--multiline--ABC is not the end</Description>\n"
        "</CuttingTool>"
    )
    feed(
        ingest,
        f"{TS}|@ASSET@|T2|CuttingTool|--multiline--ABCD\n{body}\n--multiline--ABCD\n{TS}|exec|ACTIVE\n",
    )
    assert ingest.agent.assets["T2"].xml == body
    assert value(ingest.agent, "exec") == "ACTIVE"


def test_remove_asset_marks_it_removed_and_sets_asset_removed() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|@ASSET@|T1|CuttingTool|{ASSET_XML}\n{TS}|@REMOVE_ASSET@|T1\n")
    assert ingest.agent.assets["T1"].removed
    assert ("T1", 'assetType="CuttingTool"') in _asset_events(ingest.agent, "ASSET_REMOVED")


def test_remove_all_assets_of_a_type() -> None:
    ingest = make_ingest()
    feed(
        ingest,
        f"{TS}|@ASSET@|T1|CuttingTool|<CuttingTool/>\n{TS}|@ASSET@|T2|CuttingTool|<CuttingTool/>\n"
        f"{TS}|@ASSET@|P1|Part|<Part/>\n{TS}|@REMOVE_ALL_ASSETS@|CuttingTool\n",
    )
    assert {a.asset_id: a.removed for a in ingest.agent.assets.values()} == {
        "T1": True,
        "T2": True,
        "P1": False,
    }


def test_remove_all_assets_without_a_type_removes_every_asset_of_the_device() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|@ASSET@|T1|CuttingTool|<CuttingTool/>\n{TS}|@ASSET@|P1|Part|<Part/>\n")
    feed(ingest, f"* device: M2\n{TS}|@ASSET@|Q1|Part|<Part/>\n* device: M1\n{TS}|@REMOVE_ALL_ASSETS@|\n")
    assert {a.asset_id: a.removed for a in ingest.agent.assets.values()} == {
        "T1": True,
        "P1": True,
        "Q1": False,  # another device's asset
    }


def test_asset_id_starting_with_at_gets_the_device_uuid_prefixed() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|@ASSET@|@1|Part|<Part>TEST 1</Part>\n")
    assert "uuid-m11" in ingest.agent.assets
    assert ("uuid-m11", 'assetType="Part"') in _asset_events(ingest.agent, "ASSET_CHANGED")


def test_update_asset_is_not_supported_and_counted_as_malformed() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|@UPDATE_ASSET@|T1|ToolLife|5\n")
    assert ingest.stats.malformed == 1
    assert not ingest.agent.assets


# ------------------------------------------------------------------------------------------ robustness


def test_malformed_records_are_counted_and_later_lines_still_apply() -> None:
    ingest = make_ingest()
    feed(ingest, f'no separator here\n{TS}|exec|"unterminated\n{TS}|@FOO@|x\n{TS}|exec|ACTIVE\n')
    assert ingest.stats.malformed == 3
    assert value(ingest.agent, "exec") == "ACTIVE"


def test_a_key_without_a_value_is_malformed() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|exec|ACTIVE|block\n")
    assert value(ingest.agent, "exec") == "ACTIVE"
    assert ingest.stats.malformed == 1


def test_every_item_the_adapter_set_is_remembered_for_disconnect() -> None:
    ingest = make_ingest()
    feed(ingest, f"{TS}|exec|ACTIVE|M2:execution|READY|nosuch|1\n{TS}|system|NORMAL||||\n")
    assert {item.id for item in ingest.touched} == {"exec", "m2_exec", "system"}


# ------------------------------------------------------------------------------------------ real recordings


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda r: r.device)
def test_recording_ingested_in_process_ends_at_its_final_values(recording: Recording) -> None:
    """The device file and log of a real machine: /current shows the last value of every simple key, both
    before the adapter's closing UNAVAILABLEs (the NIST logs end with them) and at the end."""
    agent = Agent(recording.devices_path.read_bytes(), sender="test")
    device = agent.model.device(recording.device)
    assert device is not None
    ingest = ShdrIngest(agent, device)
    decoder = ShdrDecoder()
    lines = read_log(recording.log_path)
    cut = before_shutdown(lines)
    samples = sample_ids(recording)
    for part, so_far in ((lines[:cut], lines[:cut]), (lines[cut:], lines)):
        for record in decoder.feed("".join(line + "\n" for line in part)):
            ingest.handle(record)
        expected = expected_final_values(recording, so_far)
        assert len(expected) >= 10
        assert_current_matches(current(agent), expected, samples)
    assert decoder.close() == []
    assert decoder.malformed == 0
    assert ingest.stats.malformed == 0
