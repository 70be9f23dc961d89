"""``mestwin mes serve`` as a real process: the API and the ingestion of registered machines, reading a live
twin served by ``mestwin serve`` on loopback, with the ingestion's state in ``/healthz``."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.processes import free_port, free_ports, run, started
from tests.scenarios.test_serve import scenario_copy

DEADLINE_S = 30.0


def _call(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(url, method="POST" if body is not None else "GET")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    data = None
    if body is not None:
        request.add_header("Content-Type", "application/json")
        data = json.dumps(body).encode()
    with urllib.request.urlopen(request, data=data, timeout=5) as response:
        return json.loads(response.read())


def _until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"{what} within {DEADLINE_S} s; last: {last!r}")


def test_mes_serve_reads_a_live_agent_registered_through_its_api(tmp_path: Path) -> None:
    agent_port = free_ports(1)
    scenario = scenario_copy(tmp_path, "haas_one_shift.toml", {"port = 5000": f"port = {agent_port}"})
    db = f"sqlite:///{tmp_path / 'mes.db'}"
    created = run("mes_core", "tenant", "create", "acme", "--db", db, "--timezone", "Europe/Berlin")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1].strip()
    api_port = free_port()
    base = f"http://127.0.0.1:{api_port}"
    with (
        started(tmp_path, "twin", "scenarios", "serve", scenario, "--speed", "60") as twin,
        started(tmp_path, "mes", "mes_core", "serve", "--db", db, "--port", str(api_port)) as mes,
    ):
        twin.wait_for("agent agent-bay-a")
        mes.wait_for("MES API at")
        health = _until(lambda: _call(f"{base}/healthz"), "the API answers")
        assert health["status"] == "ok"
        assert health["ingestion"]["state"] == "running"
        machine = {
            "name": "Haas VF-2 #001",
            "machine_id": "HAAS-VF2-001",
            "agent_url": f"http://127.0.0.1:{agent_port}",
            "poll_interval_ms": 200,
        }
        _call(f"{base}/api/acme/mes/machines", token, machine)
        # Registered machines are picked up within the reload interval and read from then on.
        status = _until(
            lambda: (
                (s := _call(f"{base}/api/acme/mes/machines/HAAS-VF2-001/status", token)["data"])[
                    "last_updated"
                ]
                and s
            ),
            "the machine's status is read from its agent",
        )
        assert status["status"] in ("ACTIVE", "IDLE", "ALARM")
        assert status["state"] != "no_data"
        assert "Traceback" not in mes.errors()
