"""Rules of the SHDR codec: line framing, tokens, timestamps, commands, assets, values and encoding."""

from __future__ import annotations

import functools
import itertools
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from agent_sim.shdr import (
    KIND_ALARM,
    KIND_CONDITION,
    KIND_DATA_SET,
    KIND_EVENT,
    KIND_MESSAGE,
    KIND_SAMPLE,
    KIND_TABLE,
    KIND_TIME_SERIES,
    PING,
    UNAVAILABLE,
    AlarmValue,
    AssetCommand,
    Command,
    ConditionValue,
    DataLine,
    DataSetValue,
    Decoded,
    Malformed,
    MessageValue,
    PreEncoded,
    ResetValue,
    ShdrDecoder,
    ShdrTimestamp,
    TableValue,
    TimeSeriesValue,
    decode_line,
    encode_asset,
    encode_command,
    encode_condition,
    encode_data_set,
    encode_line,
    encode_lines,
    encode_message,
    encode_remove_all_assets,
    encode_remove_asset,
    encode_table,
    encode_time_series,
    escape,
    format_timestamp,
    pong,
    pong_interval_ms,
    split_reset,
    take_value,
)

TS = "2016-05-10T05:00:00.000000Z"
TS_EPOCH = 1462856400.0


def tokens(line: str) -> tuple[str, ...]:
    decoded = decode_line(line)
    assert isinstance(decoded, DataLine), decoded
    return decoded.tokens


def feed_all(chunks: list[str] | list[bytes]) -> tuple[list[Decoded], ShdrDecoder]:
    decoder = ShdrDecoder()
    out: list[Decoded] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out + decoder.close(), decoder


# ------------------------------------------------------------------------------------------ tokens


def test_tokens_are_split_on_pipes_and_whitespace_trimmed() -> None:
    assert tokens(f"{TS}| Xact |  1.5 |mode| AUTOMATIC") == ("Xact", "1.5", "mode", "AUTOMATIC")


def test_an_empty_value_stays_an_empty_token() -> None:
    assert tokens("|program||block|B") == ("program", "", "block", "B")


def test_a_whitespace_only_value_becomes_empty() -> None:
    assert tokens(f"{TS}|program|   |block|B") == ("program", "", "block", "B")


def test_a_trailing_pipe_gives_a_final_empty_token() -> None:
    assert tokens(f"{TS}|program|") == ("program", "")
    assert tokens(f"{TS}|htemp|NORMAL||||") == ("htemp", "NORMAL", "", "", "", "")


def test_a_quoted_value_unescapes_the_pipe() -> None:
    assert tokens(f'{TS}|msg|"a\\|b"|x|1') == ("msg", "a|b", "x", "1")


def test_a_quoted_value_unescapes_quotes_and_backslashes() -> None:
    assert tokens(f'{TS}|msg|"say \\"hi\\" \\\\ \\|"') == ("msg", 'say "hi" \\ |')


def test_backslashes_and_inner_quotes_outside_quotes_are_literal() -> None:
    line = f'{TS}|path|C:\\prog\\O1000|note|5" chuck'
    assert tokens(line) == ("path", "C:\\prog\\O1000", "note", '5" chuck')


@pytest.mark.parametrize("line", [f'{TS}|msg|"abc', f'{TS}|msg|"a|b"', f'{TS}|msg|"a" b'])
def test_an_unterminated_quote_is_malformed(line: str) -> None:
    decoded = decode_line(line)
    assert isinstance(decoded, Malformed)
    assert "unterminated quote" in decoded.reason
    assert decoded.line == line


def test_trailing_whitespace_and_line_endings_are_ignored() -> None:
    assert tokens(f"{TS}|avail|AVAILABLE \r\n") == ("avail", "AVAILABLE")


def test_a_line_with_no_pipe_that_is_not_a_command_is_malformed() -> None:
    decoded = decode_line("hello world")
    assert isinstance(decoded, Malformed)
    assert "'|'" in decoded.reason


# ------------------------------------------------------------------------------------------ timestamps


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2016-05-10T05:00:00.000000Z", TS_EPOCH),
        ("2016-05-10T05:00:00Z", TS_EPOCH),
        ("2016-05-10T05:00:00", TS_EPOCH),  # no zone means UTC
        ("2016-05-10T05:00:00.25", TS_EPOCH + 0.25),
        ("2022-08-08T13:51:34.7167146Z", 1659966694.7167146),  # 7 digits, as the Okuma adapter sends
        ("2016-05-10T07:00:00+02:00", TS_EPOCH),
    ],
)
def test_iso_timestamps_parse_to_utc_epoch_seconds(text: str, epoch: float) -> None:
    decoded = decode_line(f"{text}|avail|AVAILABLE")
    assert isinstance(decoded, DataLine)
    assert decoded.timestamp.text == text
    assert decoded.timestamp.epoch == pytest.approx(epoch, abs=1e-6)
    assert decoded.timestamp.duration is None


def test_a_duration_follows_the_timestamp_after_an_at_sign() -> None:
    decoded = decode_line(f"{TS}@10.5|Xload|12")
    assert isinstance(decoded, DataLine)
    assert decoded.timestamp == ShdrTimestamp(f"{TS}@10.5", TS_EPOCH, 10.5)


def test_an_empty_timestamp_is_none_so_the_receiver_uses_its_own_clock() -> None:
    decoded = decode_line("|Xact|1.0")
    assert decoded == DataLine(ShdrTimestamp(None, None, None), ("Xact", "1.0"))


@pytest.mark.parametrize("text", ["yesterday", "2016-13-40T05:00:00Z", "1234.5", "2016-05-10 05:00:00"])
def test_an_unreadable_timestamp_has_no_epoch_but_the_line_still_decodes(text: str) -> None:
    decoded = decode_line(f"{text}|Xact|1.0")
    assert decoded == DataLine(ShdrTimestamp(text, None, None), ("Xact", "1.0"))


@given(st.floats(min_value=0, max_value=4e9))
def test_format_timestamp_parses_back_to_the_same_microsecond(epoch: float) -> None:
    text = format_timestamp(epoch)
    decoded = decode_line(f"{text}|x|1")
    assert isinstance(decoded, DataLine)
    assert decoded.timestamp.epoch == pytest.approx(epoch, abs=1e-6)


def test_format_timestamp_writes_microseconds_and_z() -> None:
    assert format_timestamp(0) == "1970-01-01T00:00:00.000000Z"
    assert format_timestamp(TS_EPOCH + 0.5) == "2016-05-10T05:00:00.500000Z"


@pytest.mark.parametrize("epoch", [float("nan"), float("inf"), 1e18])
def test_format_timestamp_rejects_epochs_it_cannot_write(epoch: float) -> None:
    with pytest.raises(ValueError, match="epoch"):
        format_timestamp(epoch)


# ------------------------------------------------------------------------------------------ commands


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("* shdrVersion: 2", Command("shdrversion", "2")),
        ("* SHDRVERSION:2", Command("shdrversion", "2")),
        ("* PING", Command("ping", "")),
        ("* PONG 10000", Command("pong", "10000")),
        ("*adapterVersion:UNAVAILABLE", Command("adapterversion", "UNAVAILABLE")),  # Okuma recording
        ("* message: tool 3: worn", Command("message", "tool 3: worn")),
        ("* calibration: Yact|.01|200.0", Command("calibration", "Yact|.01|200.0")),
    ],
)
def test_star_lines_are_commands_with_lower_cased_keys(line: str, command: Command) -> None:
    assert decode_line(line) == command


def test_a_star_without_a_name_is_malformed() -> None:
    assert isinstance(decode_line("* : 2"), Malformed)


@pytest.mark.parametrize(
    ("line", "interval"),
    [
        ("* PONG 10000", 10000),
        ("* PONG   250", 250),
        ("* PONG 1799999", 1799999),
        ("* PONG", None),
        ("* PONG FLAB", None),
        ("* PONK", None),
        ("* PONG 0", None),
        ("* PONG 1800000", None),  # 30 min is already too long
        ("* PONG10000", None),  # the number must follow a space
        ("* PING", None),
    ],
)
def test_a_valid_pong_is_a_number_of_ms_below_thirty_minutes(line: str, interval: int | None) -> None:
    command = decode_line(line)
    assert isinstance(command, Command)
    assert pong_interval_ms(command) == interval


# ------------------------------------------------------------------------------------------ framing


def test_lf_and_crlf_both_end_lines() -> None:
    out, _ = feed_all([f"{TS}|a|1\n{TS}|b|2\r\n"])
    assert [d.tokens for d in out if isinstance(d, DataLine)] == [("a", "1"), ("b", "2")]


def test_a_partial_line_waits_for_its_end() -> None:
    decoder = ShdrDecoder()
    assert decoder.feed(f"{TS}|Xa") == []
    assert decoder.feed("ct|1.0\r") == []
    [decoded] = decoder.feed("\n")
    assert isinstance(decoded, DataLine)
    assert decoded.tokens == ("Xact", "1.0")


def test_any_split_of_the_byte_stream_gives_the_same_records() -> None:
    stream = f'{TS}|a|1\r\n\r\n{TS}|msg|"é\\|x"\n* PING\r\n'.encode()
    whole, _ = feed_all([stream])
    assert len(whole) == 3
    for cut in range(len(stream) + 1):
        assert feed_all([stream[:cut], stream[cut:]])[0] == whole


def test_blank_and_whitespace_only_lines_are_ignored() -> None:
    out, decoder = feed_all([f"\n\r\n   \n\t\r\n{TS}|a|1\n\n"])
    assert len(out) == 1
    assert decoder.malformed == 0


def test_close_decodes_a_pending_partial_line() -> None:
    decoder = ShdrDecoder()
    assert decoder.feed(f"{TS}|a|1") == []
    assert decoder.close() == [DataLine(ShdrTimestamp(TS, TS_EPOCH, None), ("a", "1"))]
    assert decoder.close() == []


def test_malformed_lines_are_counted_and_do_not_stop_the_lines_after_them() -> None:
    out, decoder = feed_all([f'garbage\n{TS}|msg|"open\n{TS}|Xts|x|10|1 2\n{TS}|a|1\n'])
    assert [type(d) for d in out] == [Malformed, Malformed, DataLine, DataLine]
    assert decoder.malformed == 2
    assert all(d.reason for d in out if isinstance(d, Malformed))


def test_an_overlong_line_is_malformed_and_skipped_to_the_next_line() -> None:
    decoder = ShdrDecoder(max_line_chars=20)
    first = decoder.feed(f"{TS}|a|")
    rest = decoder.feed("x" * 30 + f"\n{TS}|b|2\n")
    assert [type(d) for d in first + rest] == [Malformed, DataLine]
    assert decoder.malformed == 1


# ------------------------------------------------------------------------------------------ assets


XML = '<CuttingTool assetId="T1" toolId="1"><Description/></CuttingTool>'


def test_a_single_line_asset_carries_id_type_and_body() -> None:
    assert decode_line(f"{TS}|@ASSET@|T1|CuttingTool|{XML}") == AssetCommand(
        ShdrTimestamp(TS, TS_EPOCH, None), "asset", "T1", "CuttingTool", XML
    )


def test_a_multiline_asset_keeps_body_lines_verbatim_and_the_next_line_decodes_normally() -> None:
    stream = (
        f"{TS}|@ASSET@|T1|CuttingTool|--multiline--ABCD\r\n"
        "<CuttingTool>\r\n"
        "  <Description> a|b </Description>\n"
        "--multiline--ABCDE\n"  # not the terminator: it must be exact
        " --multiline--ABCD\n"  # nor this
        "</CuttingTool>\n"
        "--multiline--ABCD\r\n"
        f"{TS}|avail|AVAILABLE\n"
    )
    out, decoder = feed_all([stream])
    assert out == [
        AssetCommand(
            ShdrTimestamp(TS, TS_EPOCH, None),
            "asset",
            "T1",
            "CuttingTool",
            "<CuttingTool>\n  <Description> a|b </Description>\n--multiline--ABCDE\n --multiline--ABCD\n"
            "</CuttingTool>",
        ),
        DataLine(ShdrTimestamp(TS, TS_EPOCH, None), ("avail", "AVAILABLE")),
    ]
    assert decoder.malformed == 0


def test_an_unterminated_multiline_body_is_malformed_at_close() -> None:
    header = f"{TS}|@ASSET@|T1|CuttingTool|--multiline--ABCD"
    out, decoder = feed_all([f"{header}\n<CuttingTool/>\n"])
    assert len(out) == 1
    assert isinstance(out[0], Malformed)
    assert out[0].line == header
    assert "--multiline--ABCD" in out[0].reason
    assert decoder.malformed == 1


def test_a_multiline_command_takes_the_body_as_its_value() -> None:
    stream = "* devicemodel: --multiline--X1\n<MTConnectDevices>\n</MTConnectDevices>\n--multiline--X1\n"
    out, _ = feed_all([stream])
    assert out == [Command("devicemodel", "<MTConnectDevices>\n</MTConnectDevices>")]


@pytest.mark.parametrize(
    ("line", "kind", "asset_id", "asset_type", "body"),
    [
        (f"{TS}|@REMOVE_ASSET@|T1", "remove", "T1", None, None),
        (f"{TS}|@REMOVE_ALL_ASSETS@|CuttingTool", "remove_all", None, "CuttingTool", None),
        (f"{TS}|@REMOVE_ALL_ASSETS@|", "remove_all", None, None, None),  # empty type: all assets
        (f"{TS}|@UPDATE_ASSET@|T1|ToolLife|120", "update", "T1", None, "ToolLife|120"),
    ],
)
def test_asset_removal_and_update_commands(
    line: str, kind: str, asset_id: str | None, asset_type: str | None, body: str | None
) -> None:
    stamp = ShdrTimestamp(TS, TS_EPOCH, None)
    assert decode_line(line) == AssetCommand(stamp, kind, asset_id, asset_type, body)


@pytest.mark.parametrize(
    "line",
    [f"{TS}|@ASSET@|T1", f"{TS}|@ASSET@|T1|CuttingTool|  ", f"{TS}|@REMOVE_ASSET@", f"{TS}|@MOVE_ASSET@|T1"],
)
def test_incomplete_or_unknown_asset_commands_are_malformed(line: str) -> None:
    assert isinstance(decode_line(line), Malformed)


# ------------------------------------------------------------------------------------------ values


@pytest.mark.parametrize("kind", [KIND_SAMPLE, KIND_EVENT])
def test_samples_and_events_take_one_token_as_given(kind: str) -> None:
    assert take_value(kind, ["Xact", "1.5", "mode", "x"], 1) == ("1.5", 2)
    assert take_value(kind, ["mode", "automatic"], 1) == ("automatic", 2)  # the agent up-cases, not us
    assert take_value(kind, ["program", ""], 1) == ("", 2)


@pytest.mark.parametrize("text", ["UNAVAILABLE", "unavailable", "Unavailable"])
def test_unavailable_in_any_case_is_the_unavailable_constant(text: str) -> None:
    result = take_value(KIND_EVENT, ["avail", text], 1)
    assert isinstance(result, tuple)
    assert result[0] is UNAVAILABLE


def test_a_key_at_the_end_of_the_line_has_no_value() -> None:
    result = take_value(KIND_EVENT, ["avail"], 1)
    assert isinstance(result, Malformed)
    assert "'avail'" in result.reason


def test_take_value_rejects_unknown_kinds_and_bad_indexes() -> None:
    with pytest.raises(ValueError, match="kind"):
        take_value("VIBES", ["a", "1"], 1)
    with pytest.raises(ValueError, match="index"):
        take_value(KIND_EVENT, ["a", "1"], 3)


def test_reset_triggers_split_at_the_first_colon() -> None:
    assert split_reset("0:DAY") == ("0", "DAY")
    assert split_reset("0:day") == ("0", "DAY")
    assert split_reset("ACTIVE") == ("ACTIVE", None)
    assert take_value(KIND_EVENT, ["pcount", "0:DAY"], 1, resettable=True) == (ResetValue("0", "DAY"), 2)
    assert take_value(KIND_EVENT, ["pcount", "0:DAY"], 1) == ("0:DAY", 2)


def test_a_condition_takes_five_tokens() -> None:
    line = tokens(f"{TS}|htemp|WARNING|HTEMP|1|HIGH|Oil Temperature High|avail|AVAILABLE")
    assert take_value(KIND_CONDITION, line, 1) == (
        ConditionValue("WARNING", "HTEMP", "HTEMP", "1", "HIGH", "Oil Temperature High"),
        6,
    )


def test_a_normal_condition_has_empty_fields() -> None:
    assert take_value(KIND_CONDITION, tokens(f"{TS}|htemp|NORMAL||||"), 1) == (
        ConditionValue("NORMAL", None, None, None, None, None),
        6,
    )


@pytest.mark.parametrize(
    ("field", "code", "condition_id"),
    [("HTEMP:7", "HTEMP", "7"), ("HTEMP", "HTEMP", "HTEMP"), (":7", None, "7"), ("", None, None)],
)
def test_native_code_may_carry_a_condition_id(field: str, code: str | None, condition_id: str | None) -> None:
    result = take_value(KIND_CONDITION, ["htemp", "fault", field, "", "", "hot"], 1)
    assert result == (ConditionValue("FAULT", code, condition_id, None, None, "hot"), 6)


def test_a_condition_with_an_unknown_level_is_malformed() -> None:
    assert isinstance(take_value(KIND_CONDITION, ["htemp", "ON FIRE", "", "", "", ""], 1), Malformed)


def test_a_message_takes_native_code_and_text() -> None:
    line = tokens(f"{TS}|message|CHG_INSRT|Change Inserts")
    assert take_value(KIND_MESSAGE, line, 1) == (MessageValue("CHG_INSRT", "Change Inserts"), 3)
    assert take_value(KIND_MESSAGE, ["message", "UNAVAILABLE"], 1) == (UNAVAILABLE, 2)


def test_a_time_series_may_have_an_empty_rate() -> None:
    line = tokens(f"{TS}|Xts|25|| 5118 5118 5118 5117 5117")
    assert take_value(KIND_TIME_SERIES, line, 1) == (
        TimeSeriesValue(25, None, (5118.0, 5118.0, 5118.0, 5117.0, 5117.0)),
        4,
    )
    assert take_value(KIND_TIME_SERIES, ["Xts", "2", "100", "1.5 -2e3"], 1) == (
        TimeSeriesValue(2, 100.0, (1.5, -2000.0)),
        4,
    )


@pytest.mark.parametrize(
    "fields", [["x", "10", "1 2"], ["", "10", "1 2"], ["2", "fast", "1 2"], ["2", "", "1 nan"]]
)
def test_a_time_series_with_a_bad_count_rate_or_sample_is_malformed(fields: list[str]) -> None:
    result = take_value(KIND_TIME_SERIES, ["Xts", *fields], 1)
    assert isinstance(result, Malformed)
    assert "'Xts'" in result.reason


def test_a_data_set_adds_removes_and_resets_entries() -> None:
    assert take_value(KIND_DATA_SET, tokens(f"{TS}|vars|a=1 b=2 c=3"), 1) == (
        DataSetValue(None, (("a", "1"), ("b", "2"), ("c", "3"))),
        2,
    )
    assert take_value(KIND_DATA_SET, tokens(f"{TS}|vars|b c="), 1) == (
        DataSetValue(None, (("b", None), ("c", None))),
        2,
    )
    assert take_value(KIND_DATA_SET, tokens(f"{TS}|vars|:MANUAL d=10"), 1) == (
        DataSetValue("MANUAL", (("d", "10"),)),
        2,
    )


def test_data_set_values_may_be_quoted_or_braced() -> None:
    value = """a="x y" b='it\\'s' c={p q} d="" e={\\}}"""
    assert take_value(KIND_DATA_SET, ["vars", value], 1) == (
        DataSetValue(None, (("a", "x y"), ("b", "it's"), ("c", "p q"), ("d", ""), ("e", "}"))),
        2,
    )


@pytest.mark.parametrize("value", ['a="x y', 'a="x"y', "a=x}", "=1", "a={x"])
def test_a_data_set_that_breaks_the_grammar_is_malformed(value: str) -> None:
    assert isinstance(take_value(KIND_DATA_SET, ["vars", value], 1), Malformed)


def test_a_table_has_rows_of_cells_and_an_empty_row_removes_it() -> None:
    line = tokens(f"{TS}|wpo|G53.1={{X=1.0 Y=2.0 Z=3.0}} G53.2={{X=4.0 Y=5.0 Z=6.0}}")
    assert take_value(KIND_TABLE, line, 1) == (
        TableValue(
            None,
            (
                ("G53.1", (("X", "1.0"), ("Y", "2.0"), ("Z", "3.0"))),
                ("G53.2", (("X", "4.0"), ("Y", "5.0"), ("Z", "6.0"))),
            ),
        ),
        2,
    )
    assert take_value(KIND_TABLE, ["wpo", ":DAY G53.1= G53.2 G54='X=1'"], 1) == (
        TableValue("DAY", (("G53.1", None), ("G53.2", None), ("G54", (("X", "1"),)))),
        2,
    )


def test_a_table_row_that_is_not_braced_or_quoted_is_malformed() -> None:
    assert isinstance(take_value(KIND_TABLE, ["wpo", "G53.1=X"], 1), Malformed)


def test_the_deprecated_alarm_takes_five_tokens() -> None:
    assert take_value(KIND_ALARM, ["alarm", "OTHER", "1001", "CRITICAL", "ACTIVE", "Door open"], 1) == (
        AlarmValue("OTHER", "1001", "CRITICAL", "ACTIVE", "Door open"),
        6,
    )


# ------------------------------------------------------------------------------------------ encoding


def test_escape_quotes_only_values_that_need_it() -> None:
    assert escape("a|b") == '"a\\|b"'
    assert escape('"q"') == '"\\"q\\""'
    assert escape("plain \\ text") == "plain \\ text"
    with pytest.raises(ValueError, match="line break"):
        escape("two\nlines")


def test_encode_line_writes_timestamp_and_escaped_pairs() -> None:
    assert encode_line(TS_EPOCH, [("Xact", "1.0"), ("msg", "a|b")]) == f'{TS}|Xact|1.0|msg|"a\\|b"\n'
    assert encode_line(None, [("Xact", "1.0")]) == "|Xact|1.0\n"


@pytest.mark.parametrize("key", ["", "a|b", "@ASSET@", "a\nb"])
def test_encode_line_rejects_keys_that_would_change_the_line(key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        encode_line(None, [(key, "1")])


def test_condition_and_message_values_are_pre_encoded_and_not_escaped() -> None:
    condition = encode_condition("htemp", "warning", "HTEMP", "1", "HIGH", "Oil|Temperature High")
    assert isinstance(condition[1], PreEncoded)
    line = encode_line(TS_EPOCH, [condition])
    assert line == f'{TS}|htemp|WARNING|HTEMP|1|HIGH|"Oil\\|Temperature High"\n'
    assert take_value(KIND_CONDITION, tokens(line), 1) == (
        ConditionValue("WARNING", "HTEMP", "HTEMP", "1", "HIGH", "Oil|Temperature High"),
        6,
    )
    message = encode_line(TS_EPOCH, [encode_message("message", "Change Inserts", "CHG_INSRT")])
    assert message == f"{TS}|message|CHG_INSRT|Change Inserts\n"
    with pytest.raises(ValueError, match="level"):
        encode_condition("htemp", "BAD")


def test_encode_lines_puts_each_multi_field_value_on_its_own_line() -> None:
    text = encode_lines(
        None, [("a", "1"), encode_condition("htemp", "NORMAL"), ("b", "2"), encode_message("m", "hi")]
    )
    assert text == "|a|1\n|htemp|NORMAL||||\n|b|2\n|m||hi\n"


def test_encode_time_series_round_trips() -> None:
    line = encode_line(None, [encode_time_series("Xts", [5118.0, 5117.5], rate=100.0)])
    assert line == "|Xts|2|100|5118 5117.5\n"
    assert take_value(KIND_TIME_SERIES, tokens(line), 1) == (TimeSeriesValue(2, 100.0, (5118.0, 5117.5)), 4)


def test_encode_data_set_and_table_round_trip() -> None:
    entries: list[tuple[str, str | None]] = [
        ("a", "1"),
        ("b", None),
        ("c", "x y"),
        ("d", ""),
        ("e", 'say "hi"'),
    ]
    text = encode_data_set(entries, reset_trigger="MANUAL")
    assert take_value(KIND_DATA_SET, tokens(encode_line(None, [("vars", text)])), 1) == (
        DataSetValue("MANUAL", tuple(entries)),
        2,
    )
    rows: list[tuple[str, tuple[tuple[str, str | None], ...] | None]] = [
        ("G53.1", (("X", "1.0"), ("Y", "-2"))),
        ("G53.2", None),
        ("T1", (("NAME", "end mill"),)),
    ]
    text = encode_table(rows)
    assert text == 'G53.1={X=1.0 Y=-2} G53.2 T1={NAME="end mill"}'
    assert take_value(KIND_TABLE, ["wpo", text], 1) == (TableValue(None, tuple(rows)), 2)


def test_asset_encoders_decode_back() -> None:
    single = encode_asset(TS_EPOCH, "T1", "CuttingTool", XML)
    assert single == f"{TS}|@ASSET@|T1|CuttingTool|{XML}\n"
    xml = "<CuttingTool>\n  <Description>a|b</Description>\n</CuttingTool>"
    multi = encode_asset(TS_EPOCH, "T1", "CuttingTool", xml)
    assert multi == encode_asset(TS_EPOCH, "T1", "CuttingTool", xml)  # deterministic
    removals = [encode_remove_asset(TS_EPOCH, "T1"), encode_remove_all_assets(TS_EPOCH)]
    out, _ = feed_all([single, multi, *removals])
    bodies = [d.body for d in out if isinstance(d, AssetCommand)]
    assert bodies == [XML, xml.replace("|", "&#124;"), None, None]
    assert [d.kind for d in out if isinstance(d, AssetCommand)] == ["asset", "asset", "remove", "remove_all"]


def test_commands_ping_and_pong_encode() -> None:
    assert encode_command("shdrVersion", "2") == "* shdrVersion: 2\n"
    assert decode_line(encode_command("shdrVersion", "2")) == Command("shdrversion", "2")
    assert decode_line(PING) == Command("ping", "")
    assert pong(10000) == "* PONG 10000\n"
    command = decode_line(pong(10000))
    assert isinstance(command, Command)
    assert pong_interval_ms(command) == 10000
    with pytest.raises(ValueError, match="ms"):
        pong(0)
    with pytest.raises(ValueError, match="key"):
        encode_command("a:b", "1")


KEYS = st.text(st.sampled_from("abcXYZ_019.-"), min_size=1, max_size=8)
VALUES = st.text(
    st.one_of(st.sampled_from('|"\\ {}=:'), st.characters(blacklist_categories=("Cs", "Cc"))), max_size=20
)


@given(st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=5))
def test_encode_then_decode_gives_the_same_tokens(pairs: list[tuple[str, str]]) -> None:
    expected = tuple(token for key, value in pairs for token in (key, value.strip(" ")))
    assert tokens(encode_line(TS_EPOCH, pairs)) == expected


@given(st.lists(st.tuples(KEYS, st.one_of(st.none(), VALUES)), max_size=5))
def test_encode_data_set_then_decode_gives_the_same_entries(entries: list[tuple[str, str | None]]) -> None:
    try:
        text = encode_data_set(entries)
    except ValueError:
        assume(False)
        raise
    assert take_value(KIND_DATA_SET, ["vars", text], 1) == (DataSetValue(None, tuple(entries)), 2)


@given(st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_chunking_never_changes_the_records(cuts: list[int]) -> None:
    stream = (
        encode_line(TS_EPOCH, [("a", "1|2"), ("b", "é")])
        + "\r\n"
        + encode_asset(TS_EPOCH, "T1", "CuttingTool", "<A>\n<B/>\n</A>")
        + PING
    ).encode()
    bounds = [0, *sorted(min(cut, len(stream)) for cut in cuts), len(stream)]
    chunks = [stream[start:end] for start, end in itertools.pairwise(bounds)]
    assert feed_all(chunks)[0] == feed_all([stream])[0]


# ------------------------------------------------------------------------------------------ recordings


def shared_dir() -> Path | None:
    env = os.environ.get("MESTWIN_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "shared"
    path = root / "mtconnect" / "shdr"
    return path if path.is_dir() else None


@dataclass(frozen=True)
class Recording:
    records: list[Decoded]
    malformed: int
    lines: int
    seconds: float


@functools.cache
def decode_recording(name: str) -> Recording:
    """Decodes a recording once per session, in 64 KB chunks as from a socket."""
    directory = shared_dir()
    if directory is None:
        if os.environ.get("CI") == "true":
            pytest.fail("SHDR recordings not found: set MESTWIN_SHARED or check out ../shared")
        pytest.skip("SHDR recordings not found (set MESTWIN_SHARED or check out ../shared)")
    decoder = ShdrDecoder()
    records: list[Decoded] = []
    lines = 0
    started = time.perf_counter()
    with (directory / name).open("rb") as stream:
        while chunk := stream.read(65536):
            lines += chunk.count(b"\n")
            records += decoder.feed(chunk)
    records += decoder.close()
    seconds = time.perf_counter() - started
    counts = Counter(type(record).__name__ for record in records)
    print(f"{name}: {lines} lines, {dict(counts)}, {decoder.malformed} malformed, {seconds:.3f} s")
    return Recording(records, decoder.malformed, lines, seconds)


OKUMA = "okuma-multus-u3000_imts2022.shdr"
MAZAK = "nist_Mazak03_2016-05-10.shdr"
HURCO = "nist_Hurco01_2017-05-02.shdr"


@pytest.fixture(scope="module", params=[OKUMA, MAZAK, HURCO])
def recording(request: pytest.FixtureRequest) -> tuple[str, Recording]:
    name: str = request.param
    return name, decode_recording(name)


def last_value(records: list[Decoded], key: str) -> str | None:
    found = None
    for record in records:
        if isinstance(record, DataLine):
            for index in range(0, len(record.tokens) - 1, 2):
                if record.tokens[index] == key:
                    found = record.tokens[index + 1]
    return found


def test_recordings_decode_with_almost_no_malformed_lines(recording: tuple[str, Recording]) -> None:
    name, result = recording
    assert result.records
    assert result.malformed / len(result.records) < 0.001, name


def test_every_value_in_the_recordings_decodes(recording: tuple[str, Recording]) -> None:
    """Conditions are told from events by a level followed by exactly four more fields."""
    for record in recording[1].records:
        if not isinstance(record, DataLine):
            continue
        line = record.tokens
        index = 1
        while index <= len(line):
            levels = ("NORMAL", "WARNING", "FAULT", "UNAVAILABLE")
            is_condition = len(line) == index + 5 and line[index].upper() in levels
            result = take_value(KIND_CONDITION if is_condition else KIND_EVENT, line, index)
            assert not isinstance(result, Malformed), result
            index = result[1] + 1


def test_the_okuma_recording_has_its_events_assets_and_commands() -> None:
    result = decode_recording(OKUMA)
    records = result.records
    assert last_value(records, "pexecution") == "READY"
    assert last_value(records, "ppartcount") == "1"
    assert last_value(records, "avail") == "AVAILABLE"
    assets = [record for record in records if isinstance(record, AssetCommand)]
    assert Counter(asset.kind for asset in assets) == {"asset": 118, "remove": 30, "remove_all": 4}
    assert all(
        asset.body.startswith("<CuttingTool ") and asset.body.endswith("</CuttingTool>")
        for asset in assets
        if asset.body is not None
    )
    commands = Counter(record.key for record in records if isinstance(record, Command))
    assert commands == {"adapterversion": 6, "mtconnectversion": 3}


def test_the_nist_recordings_have_their_part_counts_and_conditions() -> None:
    mazak = decode_recording(MAZAK).records
    assert last_value(mazak, "execution") is not None
    assert last_value(mazak, "PartCountAct") is not None
    warnings = [
        record.tokens
        for record in mazak
        if isinstance(record, DataLine) and record.tokens[:2] == ("logic_cond", "Warning")
    ]
    assert warnings
    assert take_value(KIND_CONDITION, warnings[0], 1) == (
        ConditionValue("WARNING", "3", "3", None, None, "COND.MISSING (SET UP SWITCH)"),
        6,
    )
    hurco = decode_recording(HURCO).records
    assert last_value(hurco, "Part_Count") is not None
    assert last_value(hurco, "Feed_Rate") is not None
