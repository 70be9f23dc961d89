"""A machine's jobs and the run in progress: runs and parts in the truth ledger, part counts and tool life."""

from __future__ import annotations

import random

from twin.config import JobConfig, MachineConfig
from twin.ledger import MachineLedger, PartRecord, RunRecord
from twin.machine_signals import MachineSignals

__all__ = ["JobRuns"]


class JobRuns:
    """The jobs of one machine, worked in order, one run each; what the runs produce, and the tool's life.

    The machine's main process says what happens (a run starts, its setup begins, a part comes off); this
    records it in the truth ledger and reports the counts, job and tool life through the signals. The
    scrap draw of each part comes from ``rng``, the machine's truth stream.
    """

    def __init__(
        self, config: MachineConfig, ledger: MachineLedger, signals: MachineSignals, rng: random.Random
    ) -> None:
        self._machine_id = config.id
        self._jobs = list(config.jobs)
        self._job_index = 0
        self._ledger = ledger
        self._signals = signals
        self._rng = rng
        self.run: RunRecord | None = None
        """The run in progress (from its start to its last good part), if any."""
        self.part_count = 0
        self.part_count_bad = 0
        self.tool_life = 100.0
        """The life left of the tool, %."""
        self.tool_change_due = False
        """An operator asked for a tool change (done before the next cycle)."""
        self.pending_rejects = 0
        """How many of the next good parts an operator rejects."""
        self._setup_begun = False

    def current(self) -> JobConfig | None:
        """The job the machine is on, or None when every job is done."""
        return self._jobs[self._job_index] if self._job_index < len(self._jobs) else None

    def start(self, job: JobConfig) -> None:
        """Start the run of ``job`` (its setup comes first)."""
        self.run = RunRecord(
            run_id=f"{self._machine_id}-R{self._job_index + 1:03d}",
            job_number=job.job_number,
            part_number=job.part_number,
            program=job.program,
            planned_quantity=job.planned_quantity,
            ideal_cycle_s=job.ideal_cycle_s,
        )
        self._ledger.runs.append(self.run)
        self._setup_begun = False

    def setting_up(self, job: JobConfig) -> None:
        """An operator sets the machine up for the run of ``job``; the first time, the changeover resets the
        part counters and the tool."""
        run = self.run
        assert run is not None
        if run.status != "setup":
            run.events.append((self._signals.now, "setup"))
        if not self._setup_begun:
            self._setup_begun = True
            # Operators reset the part counters at a changeover.
            self.part_count = self.part_count_bad = 0
            self._signals.emit("part_count", 0)
            self._signals.emit("part_count_bad", 0)
            self.tool_life = 100.0
            self.tool_change_due = False
            self._signals.job(job, self.tool_life)
            self._signals.changeover()

    def tool_changed(self) -> None:
        """A new tool is in: full life."""
        self.tool_life = 100.0
        self._signals.emit("tool_life_pct", 100.0)
        self._signals.bump("counter_turret")

    def pause(self) -> None:
        """The run stops for now (a break, a shift end), if it was in setup or running."""
        run = self.run
        if run is not None and run.events and run.status in ("setup", "running"):
            run.events.append((self._signals.now, "paused"))

    def running(self) -> None:
        """The run produces (again)."""
        run = self.run
        if run is not None and run.status != "running":
            run.events.append((self._signals.now, "running"))

    def part_done(self, job: JobConfig, started: float, now: float) -> None:
        """A part of ``job`` cut from ``started`` comes off at ``now``: good unless scrapped or rejected; the
        tool wears."""
        run = self.run
        assert run is not None
        good = self._rng.random() >= job.scrap_rate
        rejected_at = None
        if good and self.pending_rejects > 0:
            # An operator who decided to reject parts rejects the next ones as they come off the machine.
            self.pending_rejects -= 1
            good, rejected_at = False, now
        self._ledger.parts.append(PartRecord(started, now, job.ideal_cycle_s, run.run_id, good, rejected_at))
        self.part_count += 1
        self._signals.emit("part_count", self.part_count)
        if good:
            run.good_parts += 1
        else:
            run.scrap_parts += 1
            self.part_count_bad += 1
            self._signals.emit("part_count_bad", self.part_count_bad)
        cycle = now - started
        self._signals.cycle(cycle)
        self.tool_life = max(0.0, self.tool_life - 100.0 / job.tool_life_parts)
        self._signals.emit("tool_life_pct", round(self.tool_life, 1))

    def complete_if_done(self, now: float) -> None:
        """End the run once it has its planned good parts; the machine goes on to the next job."""
        run = self.run
        assert run is not None
        if run.good_parts >= run.planned_quantity:
            run.events.append((now, "completed"))
            self.run = None
            self._job_index += 1
            self._signals.emit("execution", "PROGRAM_COMPLETED")
            nxt = self.current()
            if nxt is not None:
                self._signals.job(nxt, self.tool_life)
