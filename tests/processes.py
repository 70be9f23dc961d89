"""Real command lines in subprocesses for tests: free loopback ports, bounded runs, background servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 8.0
"""The bound on every wait for a process to print something."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive TCP ports free on 127.0.0.1 right now."""
    for _ in range(50):
        first = free_port()
        if first + count > 65536:
            continue
        probes = [socket.socket() for _ in range(count)]
        try:
            for offset, probe in enumerate(probes):
                probe.bind(("127.0.0.1", first + offset))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return first
    pytest.fail(f"found no {count} consecutive free ports")


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` now (SO_REUSEADDR, as servers bind)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def cli_env() -> dict[str, str]:
    """The environment for a command under test: no colours, unbuffered, and a narrow terminal (60 columns),
    on which a long message must still stay on one line."""
    drop = ("FORCE_COLOR", "TTY_COMPATIBLE", "PYTHONWARNINGS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="60", PYTHONIOENCODING="utf-8")
    return env


def run(module: str, *args: str | Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m MODULE ARGS`` to its end (bounded) and return it."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        check=False,
    )


@dataclass
class Running:
    """A command running in the background, its output going to files the test can poll."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text(encoding="utf-8")

    def errors(self) -> str:
        return self.stderr.read_text(encoding="utf-8")

    def wait_for(self, text: str, timeout: float = WAIT_S) -> str:
        """Wait until stdout holds ``text``; return stdout. Fails if the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        while text not in (out := self.output()):
            if self.process.poll() is not None:
                pytest.fail(
                    f"exited {self.process.returncode} before printing {text!r}: {out}{self.errors()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no {text!r} within {timeout} s; stdout: {out!r}; stderr: {self.errors()!r}")
            time.sleep(0.05)
        return out

    def interrupt(self, timeout: float = 5.0) -> int:
        """Send SIGINT (Ctrl-C) and return the exit code, which must come within ``timeout``."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)


@contextmanager
def started(tmp_path: Path, name: str, module: str, *args: str | Path | int) -> Iterator[Running]:
    """Start ``python -m MODULE ARGS`` in the background; kill it on the way out whatever happened."""
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *map(str, args)],
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            env=cli_env(),
        )
        try:
            yield Running(process, out, err)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=5)


# -- HTTP and XML -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A bounded HTTP answer: status, content type and body (error statuses included)."""

    status: int
    content_type: str
    body: bytes

    def xml(self) -> etree._Element:
        return etree.fromstring(self.body)


def get(url: str) -> Reply:
    """GET ``url`` (bounded) and return status, content type and body, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return Reply(response.status, response.headers.get("Content-Type", ""), response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers.get("Content-Type", ""), exc.read())


def device_names(probe: etree._Element) -> set[str]:
    """The names of the devices in a probe document."""
    return {el.get("name") for el in probe.iter("{*}Device")}
