"""The circular buffer (reference section 1.5): sequences, eviction, checkpoints and their merge rules."""

from __future__ import annotations

import pytest

from agent_sim.buffer import UNAVAILABLE, ConditionState, DataSetState, Observation, ObservationBuffer
from agent_sim.devices import load_devices

from .helpers import DEVICES, STAMP, dataset

MODEL = load_devices(DEVICES)
XACT = MODEL.items["Xact"]
LINE = MODEL.items["line"]
SYS = MODEL.items["sys"]
VARS = MODEL.items["vars"]
MSG = MODEL.items["msg"]


def fault(code: str, level: str = "FAULT") -> ConditionState:
    return ConditionState(level, native_code=code, text=f"{code} text")


def active_codes(buffer: ObservationBuffer, at: int | None = None) -> list[tuple[str, str | None]]:
    state = buffer.latest if at is None else buffer.snapshot_at(at)
    entry = state["sys"]
    assert isinstance(entry, tuple)
    values = [o.value for o in entry]
    return [(v.level, v.native_code) for v in values if isinstance(v, ConditionState)]


def data_set(buffer: ObservationBuffer) -> dict[str, object]:
    entry = buffer.latest["vars"]
    assert isinstance(entry, Observation)
    assert isinstance(entry.value, DataSetState)
    return dict(entry.value.entries)


# -- size, sequences, eviction ------------------------------------------------------------------


def test_buffer_holds_two_to_the_power_of_the_size_exponent_slots() -> None:
    assert ObservationBuffer(4).size == 16
    assert ObservationBuffer(17).size == 131072


def test_sequences_start_at_one_and_next_is_the_next_to_assign() -> None:
    buffer = ObservationBuffer(4)
    assert (buffer.first_sequence, buffer.next_sequence) == (1, 1)
    obs = buffer.add(XACT, STAMP, "1.0")
    assert obs is not None
    assert obs.sequence == 1
    assert (buffer.first_sequence, buffer.next_sequence, buffer.last_sequence) == (1, 2, 1)


def test_first_sequence_rises_by_one_per_eviction_once_full() -> None:
    buffer = ObservationBuffer(4)
    for i in range(16):
        buffer.add(XACT, STAMP, str(i))
    assert buffer.first_sequence == 1
    for i in range(5):
        buffer.add(XACT, STAMP, str(100 + i))
        assert buffer.first_sequence == 2 + i
    assert [o.sequence for o in buffer.forward(0, 10**6)] == list(range(6, 22))


def test_sequences_are_64_bit_and_do_not_truncate_at_32_bits() -> None:
    buffer = ObservationBuffer(8, first_sequence=0xFFFFFFA0)
    for i in range(128):
        obs = buffer.add(LINE, STAMP, str(i))
        assert obs is not None
        assert obs.sequence == 0xFFFFFFA0 + i
    assert buffer.next_sequence == 0xFFFFFFA0 + 128 > 2**32
    assert buffer.get(0xFFFFFFA0 + 127).value == "127"


def test_latest_keeps_values_whose_observations_were_evicted() -> None:
    buffer = ObservationBuffer(4)
    buffer.add(XACT, STAMP, "42.0")
    for i in range(40):
        buffer.add(LINE, STAMP, str(i))
    assert buffer.first_sequence > 1
    latest = buffer.latest["Xact"]
    assert isinstance(latest, Observation)
    assert latest.value == "42.0"


# -- checkpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize("frequency", [1, 5, 1000])
def test_snapshot_at_rebuilds_state_from_the_nearest_checkpoint(frequency: int) -> None:
    buffer = ObservationBuffer(5, checkpoint_frequency=frequency)
    history: dict[int, str] = {}
    for i in range(1, 101):
        obs = buffer.add(LINE, STAMP, str(i))
        assert obs is not None
        history[obs.sequence] = str(i)
    for at in range(buffer.first_sequence, buffer.next_sequence):
        entry = buffer.snapshot_at(at)["line"]
        assert isinstance(entry, Observation)
        assert entry.value == history[at]


def test_snapshot_at_first_sequence_includes_what_fell_out_of_the_buffer() -> None:
    buffer = ObservationBuffer(4, checkpoint_frequency=1000)
    buffer.add(XACT, STAMP, "7.5")
    for i in range(30):
        buffer.add(LINE, STAMP, str(i))
    entry = buffer.snapshot_at(buffer.first_sequence)["Xact"]
    assert isinstance(entry, Observation)
    assert entry.value == "7.5"


# -- conditions ---------------------------------------------------------------------------------


def test_condition_with_a_new_native_code_is_chained() -> None:
    buffer = ObservationBuffer(6)
    buffer.add(SYS, STAMP, fault("100"))
    buffer.add(SYS, STAMP, fault("200", "WARNING"))
    assert active_codes(buffer) == [("FAULT", "100"), ("WARNING", "200")]


def test_condition_with_the_same_native_code_replaces_its_entry() -> None:
    buffer = ObservationBuffer(6)
    buffer.add(SYS, STAMP, fault("100", "WARNING"))
    buffer.add(SYS, STAMP, fault("200"))
    buffer.add(SYS, STAMP, fault("100"))
    assert active_codes(buffer) == [("FAULT", "200"), ("FAULT", "100")]


def test_condition_normal_with_code_clears_only_that_code() -> None:
    buffer = ObservationBuffer(6)
    buffer.add(SYS, STAMP, fault("100"))
    buffer.add(SYS, STAMP, fault("200"))
    buffer.add(SYS, STAMP, ConditionState("NORMAL", native_code="100"))
    assert active_codes(buffer) == [("FAULT", "200")]


def test_condition_normal_clearing_the_last_code_leaves_one_normal() -> None:
    buffer = ObservationBuffer(6)
    buffer.add(SYS, STAMP, fault("100"))
    buffer.add(SYS, STAMP, ConditionState("NORMAL", native_code="100"))
    assert active_codes(buffer) == [("NORMAL", None)]


@pytest.mark.parametrize("level", ["NORMAL", UNAVAILABLE])
def test_condition_normal_without_code_or_unavailable_replaces_everything(level: str) -> None:
    buffer = ObservationBuffer(6)
    buffer.add(SYS, STAMP, fault("100"))
    buffer.add(SYS, STAMP, fault("200"))
    buffer.add(SYS, STAMP, ConditionState(level))
    assert active_codes(buffer) == [(level, None)]


def test_condition_chain_is_rebuilt_at_a_sequence() -> None:
    buffer = ObservationBuffer(6, checkpoint_frequency=2)
    first = buffer.add(SYS, STAMP, fault("100"))
    buffer.add(SYS, STAMP, fault("200"))
    cleared = buffer.add(SYS, STAMP, ConditionState("NORMAL", native_code="100"))
    assert first is not None
    assert cleared is not None
    assert active_codes(buffer, first.sequence) == [("FAULT", "100")]
    assert active_codes(buffer, cleared.sequence - 1) == [("FAULT", "100"), ("FAULT", "200")]
    assert active_codes(buffer, cleared.sequence) == [("FAULT", "200")]


# -- data sets ----------------------------------------------------------------------------------


def test_data_set_entries_are_merged_and_removed_keys_deleted() -> None:
    buffer = ObservationBuffer(6)
    buffer.add(VARS, STAMP, dataset(a="1", b="2"))
    buffer.add(VARS, STAMP, dataset(c="3", a=None))
    assert data_set(buffer) == {"b": "2", "c": "3"}


def test_data_set_reset_triggered_replaces_the_whole_set() -> None:
    buffer = ObservationBuffer(6)
    buffer.add(VARS, STAMP, dataset(a="1", b="2"))
    obs = buffer.add(VARS, STAMP, DataSetState((("d", "10"),), reset="MANUAL"))
    assert obs is not None
    assert obs.reset_triggered == "MANUAL"
    assert data_set(buffer) == {"d": "10"}


def test_data_set_records_only_the_entries_that_change() -> None:
    buffer = ObservationBuffer(6)
    buffer.add(VARS, STAMP, dataset(a="1", b="2"))
    obs = buffer.add(VARS, STAMP, dataset(a="1", b="3"))
    assert obs is not None
    assert obs.value == dataset(b="3")
    assert buffer.add(VARS, STAMP, dataset(a="1", b="3")) is None


# -- duplicates ---------------------------------------------------------------------------------


def test_duplicate_value_is_dropped() -> None:
    buffer = ObservationBuffer(6)
    assert buffer.add(LINE, STAMP, "204") is not None
    assert buffer.add(LINE, STAMP, "204") is None
    assert buffer.add(LINE, STAMP, "205") is not None


def test_discrete_item_keeps_duplicates() -> None:
    buffer = ObservationBuffer(6)
    assert buffer.add(MSG, STAMP, "hello") is not None
    assert buffer.add(MSG, STAMP, "hello") is not None


def test_duplicate_condition_is_compared_by_level_and_native_code() -> None:
    buffer = ObservationBuffer(6)
    assert buffer.add(SYS, STAMP, fault("100")) is not None
    assert buffer.add(SYS, STAMP, fault("100")) is None
    assert buffer.add(SYS, STAMP, fault("100", "WARNING")) is not None
    assert buffer.add(SYS, STAMP, ConditionState("NORMAL")) is not None
    assert buffer.add(SYS, STAMP, ConditionState("NORMAL")) is None
