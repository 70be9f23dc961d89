"""A benchmark server process: the twin's agent fronting N live devices, or a bare ASGI fixed reply.

``python -m benchmarks.agent_server --mode agent --machines 100 --port P`` runs 100 Haas VF-2 twins in real
time (1 Hz sampling) behind one in-process MTConnect agent; ``--mode bare`` serves a fixed 3 KB reply
from a raw ASGI callable under the same uvicorn. Pinned to one CPU with ``--cpu``. Stops after
``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
import uvloop

from agent_sim.site import AgentPlan, Site
from twin.clock import local_to_epoch
from twin.config import JobConfig, MachineConfig, PlantConfig
from twin.plant import Plant
from twin.shift_calendar import ShiftDefinition

BERLIN = ZoneInfo("Europe/Berlin")
FIXED = b"<x>" + b"0" * 3000 + b"</x>"


async def bare(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/xml"), (b"content-length", str(len(FIXED)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": FIXED})


async def run(mode: str, machines: int, port: int, seconds: float) -> None:
    if mode == "bare":
        config = uvicorn.Config(bare, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        await asyncio.sleep(seconds)
        server.should_exit = True
        await task
        return
    start = local_to_epoch(datetime(2026, 3, 2, 8, 0), BERLIN)
    shift = ShiftDefinition(
        "Day", datetime(2026, 1, 1, 6).time(), datetime(2026, 1, 1, 22).time(), frozenset(range(7))
    )
    job = JobConfig("J1", "P1", "O1000", 100_000, 30.0, setup_minutes=0.0)
    configs = tuple(
        MachineConfig(
            f"VF2-{n:03d}", "haas_vf2", f"Haas {n}", jobs=(job,), warmup_minutes=0.0, sample_interval_s=1.0
        )
        for n in range(1, machines + 1)
    )
    plan = AgentPlan("bench", port, tuple(c.id for c in configs))
    site = Site(configs, [plan])
    plant = Plant(PlantConfig(start, 12 * 3600.0, BERLIN, (shift,), configs, seed=1), site.bridge)
    await site.start()
    plant.advance(start + 120.0)  # two minutes of history before the clients arrive
    began = time.monotonic()
    origin = plant.now
    while time.monotonic() - began < seconds:
        await asyncio.sleep(0.1)
        plant.advance(origin + time.monotonic() - began)  # live: one twin second per wall second
    await site.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("agent", "bare"), default="agent")
    parser.add_argument("--machines", type=int, default=100)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    uvloop.run(run(args.mode, args.machines, args.port, args.seconds))


if __name__ == "__main__":
    main()
