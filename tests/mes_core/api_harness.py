"""An in-process client of the MES API over a real database, with two tenants and a fixed clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine

from mes_core.api.app import Settings, create_app
from mes_core.services.tenants import create_tenant

Client = httpx.AsyncClient
Body = Callable[[Client, dict[str, str], dict[str, str]], Awaitable[None]]


def utc(text: str) -> float:
    """UTC epoch seconds of an ISO date-time written without a zone (read as UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def us(text: str) -> int:
    """UTC epoch microseconds of an ISO date-time written without a zone (read as UTC)."""
    return round(utc(text) * 1_000_000)


def serve(
    store: Engine, db_url: str, body: Body, *, now: Callable[[], float], timezone: str = "Europe/Berlin"
) -> None:
    """Run ``body`` with a client of the API on ``db_url``, the tenants acme and globex (in ``timezone``),
    and ``now`` as the MES clock."""
    _, acme = create_tenant(store, "acme", timezone)
    _, globex = create_tenant(store, "globex", timezone)
    app = create_app(Settings(db_url, migrate=False, clock=now))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://mes") as client:
                await body(client, auth(acme), auth(globex))

    asyncio.run(main())


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error(response: httpx.Response, status: int, code: str) -> str:
    """Check an error answer's status and code; return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    return message


def data(response: httpx.Response, status: int = 200) -> object:
    assert response.status_code == status, response.text
    return response.json()["data"]
