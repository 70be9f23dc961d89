"""The MES REST API: ``create_app(settings)`` builds it, with its database opened in the lifespan."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from mes_core.api.errors import install_error_handlers
from mes_core.api.routers import alarms, machines, oee, runs, shifts
from mes_core.store.engine import connect, migrate

__all__ = ["Settings", "create_app"]


@dataclass(frozen=True, slots=True)
class Settings:
    """What the API needs: the database URL, a metrics registry (shared with ingestion when given), and the
    clock that says what "now" is (the wall clock; the twin's clock in the harness)."""

    db_url: str
    migrate: bool = True
    registry: CollectorRegistry | None = None
    clock: Callable[[], float] = field(default=time.time)
    health: Callable[[], dict[str, object]] | None = None
    """Extra liveness details for ``/healthz`` (``mes serve`` reports its ingestion thread there)."""


def create_app(settings: Settings) -> FastAPI:
    """The API for ``settings``; the database is connected (and migrated) when the app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = connect(settings.db_url)
        if settings.migrate:
            migrate(engine)
        app.state.engine = engine
        app.state.clock = settings.clock
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(title="mestwin MES", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(machines.router)
    app.include_router(alarms.router)
    app.include_router(shifts.router)
    app.include_router(runs.router)
    app.include_router(oee.router)
    registry = settings.registry

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, object]:
        """``{"status": "ok"}``, with the ingestion's state when the API runs beside it."""
        details = settings.health() if settings.health is not None else {}
        return {"status": "ok", **details}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics() -> Response:
        from prometheus_client import REGISTRY

        return Response(generate_latest(registry or REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return app
