"""The ``mestwin`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from agent_sim.cli import adapter_command, agent_command, check_listen, run_app, run_until_interrupted
from agent_sim.site import Site
from mes_core.cli import app as mes_app
from scenarios.bench_cli import bench_app
from scenarios.build import plant_config
from scenarios.errors import HarnessError
from scenarios.loader import ScenarioError, load_scenario
from scenarios.model import Scenario
from scenarios.report import truth_document, write_json
from scenarios.wire import agent_plans, apply_fault, wire_faults
from twin.observations import CountingSink, JsonLinesSink, Sink, format_utc
from twin.plant import Plant

if TYPE_CHECKING:
    from scenarios.harness import HarnessResult

__all__ = ["app", "main"]

app = typer.Typer(
    name="mestwin",
    help="A digital twin and test harness for shop-floor MES work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True)
SHIPPED = Path(__file__).parent
"""The folder of the shipped scenario files."""


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


def _clean_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def _harness_run(scenario_file: Path, db: str | None, out: Path, *, show_progress: bool) -> HarnessResult:
    """Load, run and write one scenario's outputs.

    Raises:
        ScenarioError: bad input (the scenario, the output folder, the database URL): one line naming it.
        HarnessError: the run itself failed.
    """
    # The MES, its database drivers and the web stack load here, not when the command line starts.
    from mes_core.store.engine import connect
    from mes_core.store.errors import StoreError
    from scenarios.harness import run_harness, write_outputs

    scenario = load_scenario(scenario_file)
    plant_config(scenario, str(scenario_file))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScenarioError(f"{out}: cannot create the output folder: {exc.strerror}") from None
    if db is None:
        _clean_sqlite(out / "mes.db")
        db = f"sqlite:///{(out / 'mes.db').resolve()}"
    try:
        connect(db).dispose()
    except (StoreError, ValueError) as exc:
        raise ScenarioError(f"--db: {exc}") from None
    with _progress(show_progress) as progress:
        task = progress.add_task(scenario.scenario.name, total=1.0, twin_time="")

        def advance(done: float, total: float) -> None:
            progress.update(task, completed=done, total=total, twin_time=f"twin {_hms(done)} / {_hms(total)}")

        result = run_harness(scenario, str(scenario_file), db, progress=advance)
    try:
        write_outputs(result, out)
    except OSError as exc:
        raise ScenarioError(f"{out}: cannot write the outputs: {exc.strerror}") from None
    return result


def _print_comparison(result: HarnessResult) -> None:
    table = Table(title=f"MES vs truth: {result.document['scenario']}")
    for column in (
        "machine",
        "shift",
        "date",
        "OEE truth",
        "OEE MES",
        "A",
        "P",
        "Q",
        "parts",
        "alarms",
        "ok",
    ):
        table.add_column(column, justify="left" if column in ("machine", "shift", "date", "ok") else "right")
    for c in result.comparisons:
        k, m = c.result.kpis, c.mes
        table.add_row(
            c.result.machine_id,
            c.result.shift or ("(day)" if c.result.business_date else "(period)"),
            c.result.business_date.isoformat() if c.result.business_date else "",
            _pct(k.oee),
            _pct(m["oee"]),
            f"{_pct(k.availability)} / {_pct(m['availability'])}",
            f"{_pct(k.performance)} / {_pct(m['performance'])}",
            f"{_pct(k.quality)} / {_pct(m['quality'])}",
            f"{k.total_parts} / {m['total_parts']}",
            f"{k.alarms} / {m['alarms']}",
            "ok" if c.ok else "; ".join(c.failures),
        )
    Console(width=None if sys.stdout.isatty() else 160).print(table)


@app.command()
def run(
    scenario_file: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario TOML file.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out"),
    db: Annotated[
        str | None, typer.Option("--db", help="MES database URL (default: a fresh SQLite file in OUT).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
) -> None:
    """Run the twin, its agents and the MES end to end and check every MES answer against the truth.

    Writes OUT/report.json, OUT/oee.png and OUT/timeline.png. Exit 0 when every comparison holds, 1 when
    one does not, 2 on bad input.
    """
    try:
        result = _harness_run(scenario_file, db, out, show_progress=not quiet)
    except ScenarioError as exc:
        _fail(str(exc))
    except HarnessError as exc:
        _err.print(f"mestwin: {scenario_file}: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if not quiet:
        _print_comparison(result)
        verdict = "PASS" if result.passed else "FAIL"
        _err.print(
            f"{verdict}: {sum(c.ok for c in result.comparisons)}/{len(result.comparisons)} comparisons hold; "
            f"wrote {out / 'report.json'}, {out / 'oee.png'}, {out / 'timeline.png'} "
            f"in {result.document['wall_seconds']:.1f} s",
            highlight=False,
        )
    raise typer.Exit(0 if result.passed else 1)


@app.command()
def regress(
    scenario_files: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[SCENARIO...]", help="Scenario files (default: every shipped scenario)."),
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="MES database URL (default: SQLite per scenario).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for each scenario's outputs.")] = Path(
        "out/regress"
    ),
) -> None:
    """Run scenarios end to end: one line each with its verdict and wall time; exit 1 on any failure."""
    files = scenario_files or sorted(SHIPPED.glob("*.toml"))
    failed = 0
    for path in files:
        began = time.perf_counter()
        try:
            result = _harness_run(path, db, out / path.stem, show_progress=False)
            verdict = "PASS" if result.passed else "FAIL"
            detail = (
                f"{sum(not c.ok for c in result.comparisons)} of {len(result.comparisons)} outside tolerance"
            )
        except (ScenarioError, HarnessError) as exc:
            verdict, detail = "ERROR", str(exc)
        except Exception as exc:
            verdict, detail = "ERROR", f"{type(exc).__name__}: {exc}"
        failed += verdict != "PASS"
        typer.echo(f"{verdict:5} {path.stem:<24} {time.perf_counter() - began:8.1f} s  {detail}")
    raise typer.Exit(1 if failed else 0)


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
