"""The observation sinks: JSON lines that parse back to the same values and instants."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

from twin.observations import Condition, JsonLinesSink, Observation, format_utc


def test_json_lines_round_trip_values_and_times_to_the_microsecond() -> None:
    stream = io.StringIO()
    sink = JsonLinesSink(stream)
    t = datetime(2026, 3, 2, 5, 59, 59, 999_999, tzinfo=UTC).timestamp()
    observations = [
        Observation(t, "M1", "execution", "ACTIVE"),
        Observation(t + 1e-6, "M1", "part_count", 12),
        Observation(t + 61.25, "M1", "spindle_load", 34.5),
        Observation(t + 61.25, "M1", "program", None),
        Observation(t + 62, "M1", "cond_x", Condition("FAULT", "103", "CRITICAL", 'X SERVO "ERR"', "axis")),
    ]
    for o in observations:
        sink.emit(o)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["time"] for line in lines] == [format_utc(o.time) for o in observations]
    assert lines[0]["time"] == "2026-03-02T05:59:59.999999Z"
    assert lines[1]["time"] == "2026-03-02T06:00:00.000000Z"
    assert [line["value"] for line in lines[:4]] == ["ACTIVE", 12, 34.5, None]
    assert lines[4]["value"] == {
        "level": "FAULT",
        "native_code": "103",
        "severity": "CRITICAL",
        "text": 'X SERVO "ERR"',
        "category": "axis",
    }
    for line in lines:
        parsed = datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert abs(parsed.timestamp() - [o.time for o in observations][lines.index(line)]) < 1e-6
