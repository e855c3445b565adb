"""Embedded mode (what `make run` starts): one process, no Redis, PostgreSQL or S3."""

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

from tests.audio_helpers import JFK_TEXT, wer
from tests.bench import longaudio

REPO = Path(__file__).resolve().parents[2]
SERVER_VARS = (
    "DALSTON_DATABASE_URL",
    "DALSTON_BROKER_URL",
    "DALSTON_RESULT_BACKEND",
    "DALSTON_S3_BUCKET",
    "DALSTON_S3_ENDPOINT_URL",
    "DALSTON_STORAGE_DIR",
    "DALSTON_DEFAULT_MODEL",
    "DALSTON_VISIBILITY_TIMEOUT",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Embedded:
    def __init__(self, data_dir: Path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in SERVER_VARS}
        env.update(
            DALSTON_DATA_DIR=str(data_dir), DALSTON_PORT=str(self.port), PYTHONUNBUFFERED="1"
        )
        self.log = data_dir.parent / f"embedded-{self.port}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dalston.embedded"],
            cwd=REPO,
            env=env,
            stdout=open(self.log, "wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if requests.get(self.base + "/health", timeout=2).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.3)
        raise TimeoutError(self.log.read_text())

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def wait(self, job_id: str, until=("completed", "failed", "cancelled"), timeout=180) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = requests.get(f"{self.base}/v1/audio/transcriptions/{job_id}", timeout=10).json()
            if job["status"] in until:
                return job
            time.sleep(0.3)
        raise TimeoutError(job)


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


def test_make_run_transcribes_jfk_with_the_default_model(data_dir, fixtures_dir):
    server = Embedded(data_dir)
    try:
        with open(fixtures_dir / "jfk.flac", "rb") as f:
            resp = requests.post(
                f"{server.base}/v1/audio/transcriptions", files={"file": f}, timeout=60
            )
        assert resp.status_code == 201, resp.text
        job = server.wait(resp.json()["id"])
        assert job["status"] == "completed", job
        assert job["model"] == "base"
        assert wer(JFK_TEXT, job["text"]) <= 0.10, job["text"]
        status = requests.get(f"{server.base}/v1/system/status", timeout=30).json()
        assert status["database"]["ok"] and status["storage"]["kind"] == "local"
        assert all(
            q["workers"] == [f"embedded@{socket.gethostname()}"] for q in status["queues"]
        ), status
        assert job["created_at"].endswith("+00:00") and job["stages"][0]["worker"]
        assert (data_dir / "dalston.db").exists() and (data_dir / "artifacts" / "jobs").is_dir()
        assert (
            "curl -s -F file=@" in server.log.read_text()
        ), "the start-up banner prints a curl line"
    finally:
        server.stop()


def test_a_job_interrupted_by_a_restart_completes_after_it(data_dir):
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    long, text = longaudio.write(data_dir.parent / "long.wav", 90.0)
    server = Embedded(data_dir)
    try:
        with open(long, "rb") as f:
            job_id = requests.post(
                f"{server.base}/v1/audio/transcriptions",
                files={"file": f},
                data={"model": "tiny.en"},
                headers={"Prefer": "respond-async"},
                timeout=60,
            ).json()["id"]
        server.wait(job_id, until=("running", "completed"))
    finally:
        server.stop(signal.SIGKILL)
    server = Embedded(data_dir)
    try:
        job = server.wait(job_id)
        assert job["status"] == "completed", job
        words = len(job["text"].split())
        assert wer(text, job["text"]) <= 0.3 and 0.8 < words / len(text.split()) < 1.2, job["text"]
    finally:
        server.stop()
