"""``mestwin mes ...`` (also ``python -m mes_core``): the MES core's own commands."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from mes_core.errors import MesError

__all__ = ["app", "main", "run"]

DEFAULT_DB = "sqlite:///mes.db"
"""The embedded default: one SQLite file in the working folder."""

_log = logging.getLogger("mes_core")

app = typer.Typer(name="mes", help="The MES core.", no_args_is_help=True, add_completion=False)
tenant_app = typer.Typer(name="tenant", help="Tenants and their API tokens.", no_args_is_help=True)
app.add_typer(tenant_app)


def _fail(message: str) -> None:
    typer.echo(f"mestwin: {message}", err=True)
    raise typer.Exit(2)


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="The tenant's name (used in the API paths).")],
    db: Annotated[
        str, typer.Option("--db", help="Database URL (sqlite:///file or postgresql://...).")
    ] = DEFAULT_DB,
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone of the tenant.")] = "UTC",
) -> None:
    """Create a tenant and print its API token (shown this once)."""
    from mes_core.services.tenants import create_tenant
    from mes_core.store.engine import connect, migrate

    try:
        engine = connect(db)
        migrate(engine)
        tenant, token = create_tenant(engine, name, timezone)
    except (MesError, ValueError) as exc:
        _fail(str(exc))
        return
    typer.echo(f"tenant {tenant.name} (id {tenant.id}); API token (keep it, it is shown once):")
    typer.echo(token)


@app.command("serve")
def serve(
    db: Annotated[
        str, typer.Option("--db", help="Database URL (sqlite:///file or postgresql://...).")
    ] = DEFAULT_DB,
    host: Annotated[str, typer.Option("--host", help="Address the API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="API port.")] = 8000,
    mode: Annotated[str, typer.Option("--mode", help="poll (sample deltas) or stream.")] = "poll",
    reload_interval: Annotated[
        float, typer.Option("--reload-interval", help="Seconds between looks for new or changed machines.")
    ] = 5.0,
    flush_interval: Annotated[
        float, typer.Option("--flush-interval", help="Seconds between batched writes to the database.")
    ] = 0.5,
) -> None:
    """The MES API, and the ingestion of every registered machine in a thread of its own."""
    import asyncio
    import threading

    import uvicorn
    from prometheus_client import CollectorRegistry

    from mes_core.api.app import Settings, create_app
    from mes_core.services.ingestion import IngestionMetrics, IngestionService
    from mes_core.store.engine import connect, migrate

    if mode not in ("poll", "stream"):
        _fail(f"--mode {mode!r} is not poll or stream")
    for name, value in (("--reload-interval", reload_interval), ("--flush-interval", flush_interval)):
        if not 0.01 <= value <= 3600:
            _fail(f"{name} {value} must be between 0.01 and 3600 seconds")
    try:
        engine = connect(db)
        migrate(engine)
    except MesError as exc:
        _fail(str(exc))
        return
    registry = CollectorRegistry()
    metrics = IngestionMetrics(registry)
    health: dict[str, object] = {"state": "starting", "restarts": 0, "last_error": None}
    current: list[IngestionService] = []
    stopping = threading.Event()

    def ingest() -> None:
        """Run the ingestion; if it fails, log it, say so in /healthz and start it again (it resumes from
        the stored cursors, so nothing the agents still hold is lost)."""
        while not stopping.is_set():
            service = IngestionService(engine, mode=mode, metrics=metrics, flush_interval_s=flush_interval)
            current[:] = [service]
            health["state"] = "running"
            try:
                asyncio.run(service.run(reload_interval_s=reload_interval))
            except Exception as exc:
                health.update(state="restarting", last_error=f"{type(exc).__name__}: {exc}")
                health["restarts"] = int(str(health["restarts"])) + 1
                _log.exception("ingestion failed; restarting it in 5 s")
                stopping.wait(5.0)
            else:
                break
        health["state"] = "stopped"

    # Ingestion has its own thread and event loop, so polling load never stalls the API's requests.
    worker = threading.Thread(target=ingest, name="ingestion", daemon=True)
    worker.start()
    typer.echo(f"MES API at http://{host}:{port}/docs (database {db}); Ctrl-C stops")
    settings = Settings(db, registry=registry, health=lambda: {"ingestion": dict(health)})
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    finally:
        stopping.set()
        for service in current:
            service.stop()
        worker.join(timeout=10)


def run(application: typer.Typer) -> None:
    """Run a command line; a usage mistake is one line and exit 2 (mes_core has its own: it stands alone)."""
    try:
        code = application(standalone_mode=False)
        if isinstance(code, int) and code:
            raise SystemExit(code)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        raise SystemExit(130) from None
    except typer.TyperException as exc:
        text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        typer.echo(f"mestwin: {' '.join(str(text).split())}", err=True)
        raise SystemExit(getattr(exc, "exit_code", 2)) from None


def main() -> None:
    """Entry point of ``python -m mes_core``."""
    run(app)
