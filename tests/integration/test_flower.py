"""`make flower` starts Flower on the broker behind basic auth, on loopback.

Flower's API (``/api/workers``, ``POST /api/task/revoke/<id>``) would tell anyone the
workers and let anyone revoke tasks: without credentials it must answer 401, even with
``FLOWER_UNAUTHENTICATED_API=true`` in the environment, and with them it lists the stage
workers. The dashboard listens on 127.0.0.1 unless told otherwise, and ``make flower``
refuses to start with no authentication configured.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.audio_helpers import silence, write_wav

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
CREDENTIALS = ("operator", "flower-test-password")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_flower(env: dict, log) -> subprocess.Popen:
    venv = Path(sys.executable).parent.parent
    # STAMP= : the suite already runs inside an installed environment.
    return subprocess.Popen(
        ["make", "-s", "flower", f"VENV={venv}", "STAMP="],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) with a socket listening on port."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def test_make_flower_refuses_to_start_without_authentication():
    env = {k: v for k, v in os.environ.items() if k not in ("FLOWER_BASIC_AUTH", "FLOWER_AUTH")}
    venv = Path(sys.executable).parent.parent
    result = subprocess.run(
        ["make", "-s", "flower", f"VENV={venv}", "STAMP="],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH" in result.stderr


def test_make_flower_refuses_unauthenticated_api_calls_and_lists_workers(cluster, tmp_path):
    port = _free_port()
    log = open(tmp_path / "flower.log", "wb")
    env = {
        **cluster.env,
        "FLOWER_PORT": str(port),
        "FLOWER_BASIC_AUTH": ":".join(CREDENTIALS),
        # Flower's switch for an open API: basic auth must win over it.
        "FLOWER_UNAUTHENTICATED_API": "true",
    }
    env.pop("FLOWER_ADDRESS", None)
    proc = _make_flower(env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthcheck", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, (tmp_path / "flower.log").read_text()
            time.sleep(0.5)

        # Only loopback: 127.0.0.1 is 0100007F in /proc/net/tcp.
        assert _listening_addresses(port) == {"0100007F"}, _listening_addresses(port)

        anonymous = requests.get(f"{base}/api/workers", timeout=10)
        assert anonymous.status_code == 401, anonymous.text
        assert "workers" not in anonymous.text and "@test" not in anonymous.text
        wrong = requests.get(f"{base}/api/workers", auth=("operator", "nope"), timeout=10)
        assert wrong.status_code == 401
        revoke = requests.post(
            f"{base}/api/task/revoke/00000000-0000-0000-0000-000000000000", timeout=10
        )
        assert revoke.status_code in (401, 403), revoke.status_code
        dashboard = requests.get(f"{base}/workers", timeout=10)
        assert dashboard.status_code == 401

        workers: dict = {}
        while time.monotonic() < deadline:
            resp = requests.get(
                f"{base}/api/workers", params={"refresh": 1}, auth=CREDENTIALS, timeout=10
            )
            assert resp.status_code == 200, resp.text
            workers = resp.json()
            if {"prepare@test", "merge@test"} <= set(workers):
                break
            time.sleep(0.5)
        queues = {q["name"] for info in workers.values() for q in info.get("active_queues", [])}
        assert {"prepare@test", "merge@test", "align@test", "diarize@test"} <= set(
            workers
        ), workers.keys()
        assert {"prepare", "transcribe", "align", "diarize", "merge"} <= queues
        tasks = requests.get(f"{base}/api/task/types", auth=CREDENTIALS, timeout=10)
        assert tasks.status_code == 200

        # The workers send no task events of their own (DALSTON_TASK_EVENTS is off): Flower
        # switches them on (its enable_events broadcast, every 5 s), so the tasks of a job
        # run while it watches show up in it.
        clip = write_wav(silence(1.0), tmp_path / "silence.wav")
        seen: set = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not {"dalston.prepare", "dalston.merge"} <= seen:
            job_id = cluster.submit(clip)
            assert cluster.wait(job_id)["status"] == "completed"
            time.sleep(1.0)  # the task-succeeded events on their way
            listed = requests.get(f"{base}/api/tasks", auth=CREDENTIALS, timeout=10).json()
            seen = {
                t["name"]
                for t in listed.values()
                if job_id in (t.get("args") or "") and t.get("state") == "SUCCESS"
            }
        assert {"dalston.prepare", "dalston.merge"} <= seen, seen
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
