"""``mestwin bench``: the command line of the throughput benchmarks (``scenarios.bench``), which it imports
only when a benchmark runs, so that the other commands start without the ingestion stack."""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Annotated, NoReturn

import typer
from rich.console import Console

__all__ = ["bench_app"]

bench_app = typer.Typer(help="Throughput benchmarks (bounded, loopback only).", no_args_is_help=True)
_err = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    """Print one line naming what was wrong and exit 2 (bad input)."""
    _err.print(f"mestwin: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@bench_app.command("poll")
def poll_command(
    machines: Annotated[int, typer.Option(help="Simulated machines (one agent path each).")] = 100,
    interval: Annotated[float, typer.Option(help="Poll interval in seconds.")] = 0.5,
    duration: Annotated[float, typer.Option(help="Seconds each measurement lasts.")] = 10.0,
    mode: Annotated[str, typer.Option(help="poll or stream.")] = "poll",
    db: Annotated[
        str | None, typer.Option(help="Database URL for the MES (default: SQLite in a temp dir).")
    ] = None,
    writer: Annotated[
        str, typer.Option(help="thread, or process: the MES's writer in a child process on the agents' CPU.")
    ] = "thread",
) -> None:
    """Ingestion throughput: the MES against a bare aiohttp + lxml + SQLite poller, same agents, same run."""
    if machines < 1:
        _fail(f"--machines must be >= 1, not {machines}")
    if not interval > 0:
        _fail(f"--interval must be > 0, not {interval}")
    if not duration > 0:
        _fail(f"--duration must be > 0, not {duration}")
    if mode not in ("poll", "stream"):
        _fail(f"--mode must be poll or stream, not {mode!r}")
    if writer not in ("thread", "process"):
        _fail(f"--writer must be thread or process, not {writer!r}")
    if machines > 20_000 or duration > 3600:
        _fail("--machines is at most 20000 and --duration at most 3600")
    from mes_core.store.errors import StoreError
    from scenarios.bench import AGENTS_MARGIN_S, run_bench

    # A saturated run can take long to drain (the service flushes its backlog on stop): past the agents'
    # own lifetime plus a margin, give up with one line (the agents' process stops by itself).
    limit = 2 * duration + AGENTS_MARGIN_S + 60

    def give_up() -> None:
        _err.print(f"mestwin: bench did not finish in {limit:g} s (saturated?); giving up", markup=False)
        sys.stderr.flush()
        os._exit(1)

    watchdog = threading.Timer(limit, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        report = run_bench(machines, interval, duration, mode, db, writer)
    except StoreError as exc:
        _fail(f"--db: {exc}")
    except (RuntimeError, OSError) as exc:
        _err.print(f"mestwin: bench failed: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    print(json.dumps(report))
