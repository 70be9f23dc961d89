"""/current and /sample over the buffer (reference section 1.5), with the reference agent's own numbers."""

from __future__ import annotations

from agent_sim.agent import Agent
from agent_sim.buffer import ConditionState

from .helpers import fetch, header, make_agent, one, put, sequences

XACT = "//DataItem[@name='Xact']"


def interleaved(agent: Agent, lines: int = 128) -> int:
    """``line|i|Xact|i`` for i < ``lines`` (the reference tests' data); returns the next sequence before."""
    start = agent.buffer.next_sequence
    for i in range(lines):
        put(agent, "line", str(i))
        put(agent, "Xact", str(i))
    return start


# -- /current -----------------------------------------------------------------------------------


def test_current_reports_the_latest_value_of_every_item() -> None:
    agent = make_agent()
    put(agent, "line", "1")
    put(agent, "line", "2")
    root = fetch(agent, "/current")
    assert one(root, "//Line").text == "2"
    assert one(root, "//Execution").text == "UNAVAILABLE"


def test_current_includes_values_whose_observations_were_evicted() -> None:
    agent = make_agent(exponent=4)
    put(agent, "Xact", "12.5")
    for i in range(40):
        put(agent, "line", str(i))
    root = fetch(agent, "/current")
    assert int(header(root)["firstSequence"]) > int(one(root, "//Position").get("sequence") or 0)
    assert one(root, "//Position").text == "12.5"


def test_current_header_next_is_buffer_next_and_last_is_next_minus_one() -> None:
    agent = make_agent()
    put(agent, "line", "7")
    head = header(fetch(agent, "/current"))
    assert int(head["nextSequence"]) == agent.buffer.next_sequence
    assert int(head["lastSequence"]) == agent.buffer.next_sequence - 1
    assert int(head["firstSequence"]) == agent.buffer.first_sequence


def test_current_at_rebuilds_state_from_checkpoint() -> None:
    agent = make_agent(exponent=8, checkpoint=25)
    start = agent.buffer.next_sequence
    for i in range(1, 101):
        put(agent, "line", str(i))
    for i in range(100):
        assert one(fetch(agent, "/current", at=str(start + i)), "//Line").text == str(i + 1)
    for i in range(101, 302):
        put(agent, "line", str(i))
    for i in range(100, 301):
        assert one(fetch(agent, "/current", at=str(start + i)), "//Line").text == str(i + 1)
    first = agent.buffer.first_sequence
    for at in range(first, first + 10):
        assert one(fetch(agent, "/current", at=str(at)), "//Line").text == str(at - start + 1)


def test_current_at_keeps_the_buffer_sequences_in_the_header() -> None:
    agent = make_agent()
    at = put(agent, "line", "1")
    put(agent, "line", "2")
    head = header(fetch(agent, "/current", at=str(at)))
    assert int(head["nextSequence"]) == agent.buffer.next_sequence
    assert int(head["lastSequence"]) == agent.buffer.next_sequence - 1


def test_current_at_shows_the_conditions_active_then() -> None:
    agent = make_agent()
    put(agent, "sys", ConditionState("FAULT", "100"))
    at = put(agent, "sys", ConditionState("FAULT", "200"))
    put(agent, "sys", ConditionState("NORMAL"))
    root = fetch(agent, "/current", at=str(at))
    assert [f.get("nativeCode") for f in root.xpath("//Condition/Fault")] == ["100", "200"]
    assert fetch(agent, "/current").xpath("//Condition/Normal")


def test_current_with_64_bit_sequences() -> None:
    agent = make_agent(first_sequence=(1 << 48) + 1317)
    start = agent.buffer.next_sequence
    for i in range(1, 301):
        put(agent, "line", str(i))
    first = agent.buffer.first_sequence
    for at in range(first, agent.buffer.next_sequence, 17):
        assert one(fetch(agent, "/current", at=str(at)), "//Line").text == str(at - start + 1)


# -- /sample ------------------------------------------------------------------------------------


def test_sample_walks_forward_from_first_sequence_by_default() -> None:
    agent = make_agent()
    root = fetch(agent, "/sample", count="5")
    assert sorted(sequences(root)) == [1, 2, 3, 4, 5]
    assert header(root)["nextSequence"] == "6"


def test_sample_count_counts_matches_and_next_is_after_the_last_examined() -> None:
    agent = make_agent(exponent=10)
    start = interleaved(agent)
    root = fetch(agent, "/sample", path=XACT, count="10", **{"from": str(start)})
    assert sequences(root) == [start + 2 * j + 1 for j in range(10)]
    assert int(header(root)["nextSequence"]) == start + 20


def test_sample_reaching_the_end_reports_the_buffer_next() -> None:
    agent = make_agent(exponent=10)
    start = interleaved(agent, 5)
    root = fetch(agent, "/sample", path=XACT, count="100", **{"from": str(start)})
    assert len(sequences(root)) == 5
    assert int(header(root)["nextSequence"]) == agent.buffer.next_sequence


def test_sample_from_next_sequence_is_an_empty_streams() -> None:
    agent = make_agent()
    root = fetch(agent, "/sample", **{"from": str(agent.buffer.next_sequence)})
    assert one(root, "//Streams").getchildren() == []
    assert int(header(root)["nextSequence"]) == agent.buffer.next_sequence


def test_negative_count_returns_the_last_matches_in_ascending_order() -> None:
    agent = make_agent(exponent=10)
    interleaved(agent)
    nxt = agent.buffer.next_sequence
    root = fetch(agent, "/sample", path=XACT, count="-10")
    assert sequences(root) == [nxt - 19 + 2 * j for j in range(10)]
    assert int(header(root)["nextSequence"]) == nxt - 20


def test_negative_count_with_from_scans_backwards_from_from() -> None:
    agent = make_agent(exponent=10)
    start = interleaved(agent)
    root = fetch(agent, "/sample", path=XACT, count="-3", **{"from": str(start + 11)})
    assert sequences(root) == [start + 7, start + 9, start + 11]
    assert int(header(root)["nextSequence"]) == start + 6


def test_negative_count_past_the_first_sequence_reports_the_one_before_it() -> None:
    agent = make_agent(exponent=10)
    root = fetch(agent, "/sample", path=XACT, count="-5")
    assert len(sequences(root)) == 1
    assert int(header(root)["nextSequence"]) == agent.buffer.first_sequence - 1


def test_sample_to_returns_the_last_matches_at_or_below_to() -> None:
    agent = make_agent(exponent=10)
    interleaved(agent)
    to = agent.buffer.next_sequence - 20
    root = fetch(agent, "/sample", path=XACT, count="10", to=str(to))
    assert sequences(root) == [to - 19 + 2 * j for j in range(10)]
    assert int(header(root)["nextSequence"]) == to + 1


def test_sample_from_and_to_returns_the_matches_between_them() -> None:
    agent = make_agent(exponent=10)
    interleaved(agent)
    to = agent.buffer.next_sequence - 20
    root = fetch(agent, "/sample", path=XACT, count="10", to=str(to), **{"from": str(to - 10)})
    assert sequences(root) == [to - 9 + 2 * j for j in range(5)]
    assert int(header(root)["nextSequence"]) == to + 1


def test_sample_to_at_next_sequence_finds_nothing() -> None:
    agent = make_agent()
    put(agent, "line", "1")
    nxt = agent.buffer.next_sequence
    root = fetch(agent, "/sample", to=str(nxt))
    assert one(root, "//Streams").getchildren() == []
    assert int(header(root)["nextSequence"]) == nxt


def test_sample_with_64_bit_sequences() -> None:
    agent = make_agent(first_sequence=0xFFFFFFA0, agent_device=False)
    seq = agent.buffer.next_sequence
    for i in range(128):
        put(agent, "line", str(i))
        root = fetch(agent, "/current")
        assert int(one(root, "//Line").get("sequence") or 0) == seq + i
        assert int(header(root)["nextSequence"]) == seq + i + 1
    root = fetch(agent, "/sample", path="//DataItem[@id='line']", count="128", **{"from": str(seq)})
    assert sequences(root) == [seq + j for j in range(128)]
    one_line = fetch(agent, "/sample", count="1", **{"from": str(seq + 100)})
    assert sequences(one_line) == [seq + 100]
    assert int(header(one_line)["nextSequence"]) == seq + 101


def test_active_condition_carries_its_native_code_as_condition_id_from_2_3() -> None:
    for version, expected in (("2.7", "100"), ("2.4", "100"), ("1.8", None)):
        agent = make_agent(version)
        put(agent, "sys", ConditionState("FAULT", "100", text="overtravel"))
        assert one(fetch(agent, "/current"), "//Condition/Fault").get("conditionId") == expected
