"""Command lines of the agent parts: a standalone MTConnect agent, and an SHDR adapter replaying a log."""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from agent_sim.adapter import ShdrAdapterServer
from agent_sim.agent import Agent
from agent_sim.connector import ShdrConnector
from agent_sim.devices import DeviceFileError, load_devices
from agent_sim.http import AgentServer
from agent_sim.ingest import ShdrIngest
from agent_sim.render_xml import SCHEMA_VERSIONS
from agent_sim.replay import ReplayError, read_log, replay
from agent_sim.shdr import ShdrDecoder

__all__ = [
    "adapter_command",
    "agent_command",
    "app",
    "check_listen",
    "main",
    "run_app",
    "run_until_interrupted",
]

app = typer.Typer(
    name="agent_sim",
    help="The MTConnect agent and SHDR adapters of mestwin.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str) -> NoReturn:
    """Print one line naming what was wrong and exit 2 (bad input)."""
    typer.echo(f"mestwin: {message}", err=True)
    raise typer.Exit(2)


def run_until_interrupted(main: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine until it ends or Ctrl-C / SIGTERM arrives, then let it clean up."""

    async def runner() -> None:
        task = asyncio.ensure_future(main)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(runner())


def check_listen(host: str, port: int) -> None:
    """Check that ``host:port`` can be listened on now, as the HTTP server will (SO_REUSEADDR).

    uvicorn reports a failed bind by logging it and raising SystemExit inside the event loop, which no
    caller can catch; this turns the usual causes (port in use, unknown address) into an ``OSError`` first.

    Raises:
        OSError: the address does not resolve or the port cannot be bound.
    """
    for family, kind, proto, _, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)


def _check_port(port: int) -> None:
    if not 0 <= port < 65536:
        fail(f"--port {port} is not a port number (0-65535)")


def _host_port(text: str, what: str) -> tuple[str | None, str, int]:
    device: str | None = None
    if "@" in text:
        device, text = text.split("@", 1)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"{what} {text!r} is not HOST:PORT (optionally DEVICE@HOST:PORT)")
    return device, host, int(port)


def _exponent(buffer_size: int) -> int:
    if buffer_size < 16:
        fail(f"--buffer-size {buffer_size} must be at least 16")
    return math.ceil(math.log2(buffer_size))


@app.command("agent")
def agent_command(
    devices: Annotated[Path, typer.Option("--devices", help="MTConnectDevices XML file.")],
    adapter: Annotated[
        list[str] | None,
        typer.Option("--adapter", help="SHDR adapter HOST:PORT (or DEVICE@HOST:PORT); repeatable."),
    ] = None,
    replay_file: Annotated[
        Path | None, typer.Option("--replay", help="Replay this SHDR log instead.")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="Device the replay feeds (name or uuid).")
    ] = None,
    speed: Annotated[
        float, typer.Option("--speed", help="Replay speed factor; 0 = as fast as possible.")
    ] = 1.0,
    loop: Annotated[bool, typer.Option("--loop", help="Replay the log again and again.")] = False,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="HTTP port.")] = 5000,
    buffer_size: Annotated[
        int, typer.Option("--buffer-size", help="Observations the buffer holds.")
    ] = 131072,
    schema_version: Annotated[
        str, typer.Option("--schema-version", help="MTConnect schema version.")
    ] = "2.7",
) -> None:
    """A standalone MTConnect agent, fed by SHDR adapters or by replaying a recorded SHDR log."""
    if schema_version not in SCHEMA_VERSIONS:
        fail(f"--schema-version {schema_version!r} is not one of {', '.join(SCHEMA_VERSIONS)}")
    _check_port(port)
    if bool(adapter) == (replay_file is not None):
        fail("give either --adapter HOST:PORT (one or more) or --replay SHDR_FILE")
    if speed < 0:
        fail(f"--speed {speed} must not be negative")
    try:
        model = load_devices(devices.read_bytes(), str(devices))
    except FileNotFoundError:
        fail(f"{devices}: no such devices file")
    except OSError as exc:
        fail(f"{devices}: cannot be read as a devices file: {exc.strerror or exc}")
    except DeviceFileError as exc:
        fail(str(exc))
    sources = []
    uris = [f"shdr://{h}:{p}" for _, h, p in (_host_port(spec, "--adapter") for spec in adapter or [])]
    agent = Agent(
        model, schema_version=schema_version, buffer_size_exponent=_exponent(buffer_size), adapters=uris
    )
    real = [d for d in agent.model.devices if d.element != "Agent"]
    lines: list[str] = []
    target = real[0]
    if replay_file is not None:
        try:
            lines = read_log(replay_file)
        except ReplayError as exc:
            fail(str(exc))
        if device is not None:
            chosen = agent.model.device(device)
            if chosen is None:
                fail(f"--device {device!r} is not in {devices} ({', '.join(d.name for d in real)})")
            target = chosen
    for index, spec in enumerate(adapter or []):
        name, adapter_host, adapter_port = _host_port(spec, "--adapter")
        fed = agent.model.device(name) if name else (real[index] if index < len(real) else None)
        if fed is None:
            fail(f"--adapter {spec!r}: no device {name or f'number {index + 1}'} in {devices}")
        sources.append((fed, adapter_host, adapter_port))

    async def main() -> None:
        server = AgentServer(agent, host, port)
        try:
            check_listen(host, port)
            await server.start()
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        typer.echo(f"MTConnect agent (schema {schema_version}) at {server.url}/probe")
        connectors = []
        for fed, adapter_host, adapter_port in sources:
            connector = ShdrConnector(agent, fed, adapter_host, adapter_port)
            connector.start()
            connectors.append(connector)
            typer.echo(f"  {fed.name} <- shdr://{adapter_host}:{adapter_port}")
        try:
            if lines:
                ingest, decoder = ShdrIngest(agent, target), ShdrDecoder()

                def apply(line: str) -> None:
                    for record in decoder.feed(line):
                        ingest.handle(record)

                typer.echo(f"  {target.name} <- {replay_file} ({len(lines)} lines)")
                sent = await replay(lines, apply, speed=speed or None, loop=loop)
                typer.echo(
                    f"replayed {sent} lines ({ingest.stats.malformed} malformed); serving until Ctrl-C"
                )
            await asyncio.Event().wait()
        finally:
            for connector in connectors:
                await connector.stop()
            await server.stop()

    run_until_interrupted(main())


@app.command("adapter")
def adapter_command(
    replay_file: Annotated[Path, typer.Option("--replay", help="SHDR log to replay.")],
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 7878,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    speed: Annotated[
        float, typer.Option("--speed", help="Replay speed factor; 0 = as fast as possible.")
    ] = 1.0,
    loop: Annotated[bool, typer.Option("--loop", help="Replay the log again and again.")] = False,
) -> None:
    """An SHDR adapter replaying a recorded log to every agent that connects (from the first one on)."""
    _check_port(port)
    if speed < 0:
        fail(f"--speed {speed} must not be negative")
    try:
        lines = read_log(replay_file)
    except ReplayError as exc:
        fail(str(exc))

    async def main() -> None:
        server = ShdrAdapterServer(host, port)
        try:
            await server.start()
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        typer.echo(
            f"SHDR adapter at shdr://{host}:{server.port} replaying {replay_file} ({len(lines)} lines)"
        )
        try:
            while not server.clients:
                await asyncio.sleep(0.05)
            sent = await replay(lines, server.send, speed=speed or None, loop=loop)
            typer.echo(f"replayed {sent} lines; serving until Ctrl-C")
            await asyncio.Event().wait()
        finally:
            await server.stop()

    run_until_interrupted(main())


def run_app(application: typer.Typer) -> None:
    """Run a command line; a usage mistake (unknown option, bad value) is one line and exit 2, not a box."""
    try:
        # Outside standalone mode a command's typer.Exit comes back as the return value.
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
    """Entry point of ``python -m agent_sim``."""
    run_app(app)


if __name__ == "__main__":  # pragma: no cover
    main()
