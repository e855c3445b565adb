"""`make flower` starts Flower on the broker, and its API lists the stage workers."""

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

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_flower_lists_the_workers(cluster, tmp_path):
    port = _free_port()
    venv = Path(sys.executable).parent.parent
    log = open(tmp_path / "flower.log", "wb")
    # STAMP= : the suite already runs inside an installed environment.
    proc = subprocess.Popen(
        ["make", "-s", "flower", f"VENV={venv}", "STAMP="],
        cwd=REPO,
        env={**cluster.env, "FLOWER_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        workers: dict = {}
        while time.monotonic() < deadline:
            try:
                resp = requests.get(
                    f"http://127.0.0.1:{port}/api/workers", params={"refresh": 1}, timeout=10
                )
                if resp.status_code == 200:
                    workers = resp.json()
                    if {"prepare@test", "merge@test"} <= set(workers):
                        break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, (tmp_path / "flower.log").read_text()
            time.sleep(0.5)
        queues = {q["name"] for info in workers.values() for q in info.get("active_queues", [])}
        assert {"prepare@test", "merge@test", "align@test", "diarize@test"} <= set(
            workers
        ), workers.keys()
        assert {"prepare", "transcribe", "align", "diarize", "merge"} <= queues
        tasks = requests.get(f"http://127.0.0.1:{port}/api/task/types", timeout=10)
        assert tasks.status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
