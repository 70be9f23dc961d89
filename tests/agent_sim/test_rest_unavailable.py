"""UNAVAILABLE semantics in the agent (reference section 1.7).

Which items an adapter disconnect affects, and the adapter's connection status, belong to the SHDR
connector (its tests); here is what the agent guarantees to it.
"""

from __future__ import annotations

from agent_sim.buffer import ConditionState

from .helpers import STAMP, fetch, item, make_agent, one, put


def test_every_data_item_starts_unavailable_and_conditions_as_unavailable_elements() -> None:
    root = fetch(make_agent(), "/Mill/current")
    for path in ("//Execution", "//Line", "//Position", "//PartCount", "//VariableDataSet", "//Availability"):
        assert one(root, path).text == "UNAVAILABLE"
    one(root, "//Condition/Unavailable[@dataItemId='sys']")


def test_constant_valued_item_shows_its_constant_from_the_start() -> None:
    agent = make_agent()
    assert one(fetch(agent, "/current"), "//EmergencyStop").text == "ARMED"
    assert agent.add(item(agent, "estop"), "TRIGGERED", STAMP) is None


def test_initial_value_is_set_when_the_device_becomes_available() -> None:
    agent = make_agent()
    assert one(fetch(agent, "/current"), "//PartCount").text == "UNAVAILABLE"
    put(agent, "avail", "AVAILABLE")
    assert one(fetch(agent, "/current"), "//PartCount").text == "0"


def test_initial_value_does_not_overwrite_a_reported_value() -> None:
    agent = make_agent()
    put(agent, "pc", "17")
    put(agent, "avail", "AVAILABLE")
    assert one(fetch(agent, "/current"), "//PartCount").text == "17"


def test_make_unavailable_adds_one_unavailable_and_no_duplicates_on_repeat() -> None:
    agent = make_agent()
    put(agent, "line", "204")
    put(agent, "sys", ConditionState("FAULT", "1"))
    put(agent, "msg", "hello")
    items = [item(agent, i) for i in ("line", "sys", "msg", "exec")]
    before = agent.buffer.next_sequence
    agent.make_unavailable(items)
    assert agent.buffer.next_sequence == before + 3  # exec was unavailable already
    agent.make_unavailable(items)
    assert agent.buffer.next_sequence == before + 3  # the discrete message too: no duplicate
    root = fetch(agent, "/sample", path="//DataItem[@id='line']")
    assert [el.text for el in root.xpath("//Line")] == ["UNAVAILABLE", "204", "UNAVAILABLE"]
    one(fetch(agent, "/current"), "//Condition/Unavailable[@dataItemId='sys']")


def test_make_unavailable_leaves_constant_valued_items_at_their_constant() -> None:
    agent = make_agent()
    agent.make_unavailable([item(agent, "estop")])
    assert one(fetch(agent, "/current"), "//EmergencyStop").text == "ARMED"
