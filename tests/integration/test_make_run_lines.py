"""What ``make run`` prints works: its ``curl`` line and its ``dalston transcribe`` line each
produce a transcript of the sample the repository ships, and ``dalston transcribe`` with no
server running starts embedded mode for the call.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.audio_helpers import wer
from tests.bench.sample import OUT as SAMPLE
from tests.bench.sample import SAMPLE_TEXT
from tests.integration.test_embedded import SERVER_VARS, Embedded

REPO = Path(__file__).resolve().parents[2]
CLIENT_VARS = ("DALSTON_URL", "DALSTON_API_KEY", "DALSTON_CONFIG")


def _user_env(tmp_path: Path, **extra) -> dict[str, str]:
    """A shell with no Dalston settings: no server variables, no client config."""
    env = {k: v for k, v in os.environ.items() if k not in SERVER_VARS + CLIENT_VARS}
    env.update(DALSTON_CONFIG=str(tmp_path / "no-config.toml"), **extra)
    return env


def _printed(log: str, marker: str) -> str:
    lines = [line.strip() for line in log.splitlines() if marker in line]
    assert lines, f"no line with {marker!r} in the start-up message:\n{log}"
    return lines[0]


def test_the_sample_ships_with_the_package_small_and_16k_mono():
    from dalston import audio

    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", "dalston/data/sample.flac"],
        cwd=REPO,
        capture_output=True,
    )
    assert tracked.returncode == 0, "dalston/data/sample.flac is not committed"
    probe = audio.probe(SAMPLE)
    assert (probe.sample_rate, probe.channels) == (16000, 1) and 3 < probe.duration < 15
    assert SAMPLE.stat().st_size < 200_000
    assert SAMPLE_TEXT in (REPO / "README.md").read_text().replace("\n", " ")


def test_the_printed_curl_and_dalston_lines_transcribe_the_sample(tmp_path):
    server = Embedded(tmp_path / "data")
    try:
        log = server.log.read_text()
        curl = _printed(log, "response_format=text")
        cli = _printed(log, " transcribe ")
        assert "dalston/data/sample.flac" in curl and "dalston/data/sample.flac" in cli
        assert f"{server.base}/console/" in log
        env = _user_env(tmp_path)
        for line in (curl, cli):
            assert "../shared" not in line, line  # only what a fresh clone has
            result = subprocess.run(
                line, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
            )
            assert result.returncode == 0, (line, result.stdout, result.stderr)
            assert wer(SAMPLE_TEXT, result.stdout) <= 0.35, (line, result.stdout)
    finally:
        server.stop()


def test_dalston_transcribe_starts_embedded_mode_when_no_server_runs(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = _user_env(tmp_path, DALSTON_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run(
        [sys.executable, "-m", "dalston.cli", "--url", url, "transcribe", str(SAMPLE)]
        + ["--model", "tiny.en"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert f"no server at {url}; starting embedded mode" in result.stderr, result.stderr
    assert wer(SAMPLE_TEXT, result.stdout) <= 0.5, result.stdout
    assert (tmp_path / "data" / "dalston.db").exists()
    with socket.socket() as sock:  # stopped again when the command ended
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert "Traceback" not in result.stderr
