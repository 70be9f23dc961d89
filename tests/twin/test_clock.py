"""Clocks: virtual time runs as fast as it can, real time follows the wall clock at a speed factor."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import simpy.rt

from tests.twin.builders import plant
from twin.clock import local_midnights, local_to_epoch, make_environment
from twin.observations import CountingSink
from twin.plant import Plant

BERLIN = ZoneInfo("Europe/Berlin")


def test_realtime_environment_follows_the_wall_clock_at_the_speed_factor() -> None:
    env = make_environment(realtime=True, speed=600.0)
    assert isinstance(env, simpy.rt.RealtimeEnvironment)
    virtual, _ = plant(hours=0.1)  # six minutes of twin time: 0.6 s of wall time at 600x
    rt_plant = Plant(virtual.config, CountingSink(), env=env)
    began = time.perf_counter()
    rt_plant.run(step_s=60.0)
    elapsed = time.perf_counter() - began
    # A real-time twin can never finish early; only its lower bound is asserted (a slow machine is fine).
    assert elapsed >= 0.55
    assert rt_plant.ledger_of("M1").parts


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"speed \(0\) must be greater than 0"):
        make_environment(realtime=True, speed=0)


def test_local_times_become_utc_with_the_zone_rules() -> None:
    assert (
        local_to_epoch(datetime(2026, 3, 2, 6, 0), BERLIN)
        == datetime.fromisoformat("2026-03-02T05:00Z").timestamp()
    )
    # 02:30 does not exist on 29 March 2026 in Berlin: it resolves forward, to 03:30 CEST.
    gap = local_to_epoch(datetime(2026, 3, 29, 2, 30), BERLIN)
    assert gap == datetime.fromisoformat("2026-03-29T01:30Z").timestamp()
    with pytest.raises(ValueError, match="must be naive"):
        local_to_epoch(datetime.fromisoformat("2026-03-02T06:00+01:00"), BERLIN)


def test_local_midnights_are_23_or_25_hours_apart_over_dst_changes() -> None:
    start = local_to_epoch(datetime(2026, 3, 28, 12), BERLIN)
    a, b, c = local_midnights(start, start + 3 * 86400, BERLIN)
    assert (b - a, c - b) == (23 * 3600, 24 * 3600)
