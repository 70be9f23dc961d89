"""The ``mestwin`` command line."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from agent_sim.cli import adapter_command, agent_command, check_listen, run_app, run_until_interrupted
from agent_sim.site import Site
from mes_core.cli import app as mes_app
from scenarios.bench import bench_app
from scenarios.build import plant_config
from scenarios.loader import ScenarioError, load_scenario
from scenarios.model import Scenario
from scenarios.report import truth_document, write_json
from scenarios.wire import agent_plans, apply_fault, wire_faults
from twin.observations import CountingSink, JsonLinesSink, Sink, format_utc
from twin.plant import Plant

__all__ = ["app", "main"]

app = typer.Typer(
    name="mestwin",
    help="A digital twin and test harness for shop-floor MES work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    """Print one line naming what was wrong and exit 2 (bad input)."""
    _err.print(f"mestwin: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[twin_time]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_err,
        disable=not enabled,
        transient=False,
    )


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def run_twin(scenario: Scenario, source: str, sink: Sink, *, show_progress: bool) -> tuple[Plant, float]:
    """Build and run the twin of ``scenario``; return it and the wall seconds it took."""
    try:
        config = plant_config(scenario, source)
        plant = Plant(config, sink)
    except ValueError as exc:
        raise ScenarioError(f"{source}: {exc}") from exc
    began = time.perf_counter()
    with _progress(show_progress) as progress:
        task = progress.add_task(scenario.scenario.name, total=config.duration_s, twin_time="")

        def advance(done: float, total: float) -> None:
            progress.update(task, completed=done, twin_time=f"twin {_hms(done)} / {_hms(total)}")

        plant.run(progress=advance, step_s=min(3600.0, max(60.0, config.duration_s / 200)))
    return plant, time.perf_counter() - began


@app.command()
def twin(
    scenario_file: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario TOML file.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out"),
    observations: Annotated[
        bool, typer.Option("--observations", help="Also write the observations as JSON lines.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
) -> None:
    """Run the twin alone in virtual time and write OUT/truth.json."""
    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as exc:
        _fail(str(exc))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"{out}: cannot create the output folder: {exc.strerror}")
    with ExitStack() as stack:
        sink: Sink
        if observations:
            path = out / "observations.jsonl"
            try:
                stream = stack.enter_context(path.open("w", encoding="utf-8"))
            except OSError as exc:
                _fail(f"{path}: cannot be written: {exc.strerror}")
            sink = JsonLinesSink(stream)
        else:
            sink = CountingSink()
        try:
            plant, wall = run_twin(scenario, str(scenario_file), sink, show_progress=not quiet)
        except ScenarioError as exc:
            _fail(str(exc))
    results = plant.truth()
    document = truth_document(scenario.scenario.name, plant, results, wall)
    try:
        write_json(out / "truth.json", document)
    except OSError as exc:
        _fail(f"{out / 'truth.json'}: cannot be written: {exc.strerror}")
    if not quiet:
        _print_truth(document)
        _err.print(f"wrote {out / 'truth.json'} in {wall:.2f} s", highlight=False)


def _pct(value: object) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}%"  # type: ignore[arg-type]


def _print_truth(document: dict[str, object]) -> None:
    table = Table(title=f"Truth: {document['scenario']}")
    for column in ("machine", "shift", "date", "A", "P", "Q", "OEE", "parts", "good", "alarms"):
        table.add_column(column, justify="left" if column in ("machine", "shift", "date") else "right")
    results = document["results"]
    assert isinstance(results, list)
    for row in results:
        if row["shift"] is None and row["business_date"] is not None:
            continue
        k = row["truth"]
        table.add_row(
            row["machine_id"],
            row["shift"] or "(period)",
            row["business_date"] or "",
            _pct(k["availability"]),
            _pct(k["performance"]),
            _pct(k["quality"]),
            _pct(k["oee"]),
            str(k["total_parts"]),
            str(k["good_parts"]),
            str(k["alarms"]),
        )
    Console(width=None if sys.stdout.isatty() else 140).print(table)


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files."""
    sys.stdout.write(json.dumps(Scenario.model_json_schema(), indent=2) + "\n")


@app.command()
def validate(
    scenario_files: Annotated[list[Path], typer.Argument(metavar="SCENARIO...", help="Scenario files.")],
) -> None:
    """Check scenario files without running them."""
    for path in scenario_files:
        try:
            plant_config(load_scenario(path), str(path))
        except ScenarioError as exc:
            _fail(str(exc))
        typer.echo(f"{path}: ok")


def main() -> None:
    """Entry point of the ``mestwin`` console script."""
    run_app(app)


app.command("agent")(agent_command)
app.command("adapter")(adapter_command)
app.add_typer(mes_app, name="mes")
app.add_typer(bench_app, name="bench")


@app.command()
def serve(
    scenario_file: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario TOML file.")],
    speed: Annotated[float, typer.Option("--speed", help="Twin seconds per wall second.")] = 1.0,
    host: Annotated[str, typer.Option("--host", help="Address the agents listen on.")] = "127.0.0.1",
) -> None:
    """The twin live: its agents and SHDR adapters listen on the scenario's ports until Ctrl-C."""
    if speed <= 0:
        _fail(f"--speed {speed} must be greater than 0")
    try:
        scenario = load_scenario(scenario_file)
        config = plant_config(scenario, str(scenario_file))
    except ScenarioError as exc:
        _fail(str(exc))
    plans = agent_plans(scenario)
    try:
        site = Site(config.machines, plans, host=host, clock=lambda: config.start)
        plant = Plant(config, site.bridge)
        site.clock = lambda: plant.now  # the agents' own observations carry twin time, as the twin's do
    except ValueError as exc:
        _fail(f"{scenario_file}: {exc}")
    faults = wire_faults(scenario)

    async def main() -> None:
        for plan in plans:
            try:
                check_listen(host, plan.port)
            except OSError as exc:
                where = f"{host}:{plan.port}"
                _fail(f"{scenario_file}: agent {plan.name!r} cannot listen on {where}: {exc.strerror or exc}")
        try:
            await site.start()
        except OSError as exc:
            _fail(f"{scenario_file}: cannot listen: {exc.strerror or exc}")
        for name, url in site.urls.items():
            typer.echo(f"agent {name}: {url}/probe")
        for machine, url in site.adapter_urls().items():
            typer.echo(f"adapter {machine}: {url}")
        typer.echo(f"twin at {speed:g}x from {format_utc(config.start)}; Ctrl-C stops")
        began = time.monotonic()
        pending = list(faults)
        try:
            while plant.now < config.end:
                await asyncio.sleep(0.05)
                plant.advance(config.start + (time.monotonic() - began) * speed)
                while pending and pending[0].at <= plant.now:
                    await apply_fault(site, pending.pop(0))
            typer.echo("the scenario's period is over; serving its final state until Ctrl-C")
            await asyncio.Event().wait()
        finally:
            await site.stop()

    run_until_interrupted(main())
