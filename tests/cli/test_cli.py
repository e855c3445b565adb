"""The ``dalston`` command against a running server (the test cluster), and against none.

Every command runs as a user runs it, ``python -m dalston.cli`` in a child process (the
console script calls the same ``main``), so exit statuses, stdout, stderr and the absence
of tracebacks are what a user sees. Progress bars are read through a pseudo-terminal,
because rich draws them only on a terminal.
"""

from __future__ import annotations

import configparser
import fcntl
import importlib
import json
import os
import pty
import re
import select
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import requests

from tests.audio_helpers import wer
from tests.bench import longaudio
from tests.bench.sample import OUT as SAMPLE
from tests.bench.sample import SAMPLE_TEXT
from tests.keyed_api import KeyedApi

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
SECOND_TEXT = "The river was high after the storm, so the bridge stayed closed all week."


def _env(tmp_path: Path, **extra) -> dict[str, str]:
    """The environment of a user with no Dalston settings (and no config file)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DALSTON_URL", "DALSTON_API_KEY", "DALSTON_CONFIG")
    }
    env.update(DALSTON_CONFIG=str(tmp_path / "no-config.toml"), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def dalston(*args, env, timeout=300, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dalston.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def dalston_in_a_terminal(*args, env, timeout=300) -> tuple[int, str]:
    """Run the command on a pseudo-terminal (120 columns); its exit status and output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dalston.cli", *args],
        cwd=REPO,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "120"},
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
        elif proc.poll() is not None:
            break
    os.close(master)
    proc.wait(timeout=30)
    return proc.returncode, out.decode("utf-8", errors="replace")


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dalston: error: "), result.stderr
    for word in words:
        assert word in lines[0], result.stderr


@pytest.fixture(scope="module")
def second_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "river.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), SECOND_TEXT], check=True)
    return path


@pytest.fixture
def env(tmp_path, cluster):
    return _env(tmp_path, DALSTON_URL=cluster.base_url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_transcribe_two_files_shows_a_progress_bar_each_and_writes_both(env, tmp_path, second_file):
    out = tmp_path / "out"
    code, screen = dalston_in_a_terminal(
        "transcribe",
        str(SAMPLE),
        str(second_file),
        "--model",
        "tiny.en",
        "--format",
        "srt",
        "--out",
        str(out),
        env=env,
    )
    text = ANSI.sub("", screen).replace("\r", "\n")
    assert code == 0, screen
    seen = {}
    for name in ("sample.flac", "river.wav"):
        values = {int(v) for v in re.findall(re.escape(name) + r"\s+[━╸╺╴╶ ]+\s+(\d+)%", text)}
        assert 100 in values, (name, text[-3000:])
        seen[name] = values
    # Fed by the job's real progress: the bars pass through values between 0 and 100.
    assert any(v for vs in seen.values() for v in vs if 0 < v < 100), seen
    assert "Traceback" not in text
    for name, truth in (("sample.srt", SAMPLE_TEXT), ("river.srt", SECOND_TEXT)):
        srt = (out / name).read_text()
        assert srt.startswith("1\n") and " --> " in srt, srt
        spoken = " ".join(
            line for line in srt.splitlines() if line and "-->" not in line and not line.isdigit()
        )
        assert wer(truth, spoken) < 0.5, spoken


def test_transcribe_prints_the_transcript_and_its_options_reach_the_job(env):
    result = dalston(
        "transcribe",
        str(SAMPLE),
        "--model",
        "tiny.en",
        "--language",
        "en",
        "--speakers",
        "diarize",
        "--num-speakers",
        "2",
        "--timestamps",
        "segment",
        "--vocabulary",
        "Dalston,speech",
        "--format",
        "json",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    transcript = json.loads(result.stdout)
    assert wer(SAMPLE_TEXT, transcript["text"]) < 0.5, transcript["text"]
    assert "sample.flac: completed 100%" in result.stderr  # no terminal: plain lines
    newest = requests.get(f"{env['DALSTON_URL']}/v1/audio/transcriptions?limit=1", timeout=30)
    job = requests.get(
        f"{env['DALSTON_URL']}/v1/audio/transcriptions/{newest.json()['jobs'][0]['id']}",
        timeout=30,
    ).json()
    options = job["options"]
    assert options["speaker_detection"] == "diarize" and options["num_speakers"] == 2
    assert options["timestamps_granularity"] == "segment" and options["language"] == "en"
    assert options["vocabulary"] == ["Dalston", "speech"] and job["model"] == "tiny.en"


def test_no_wait_prints_the_ids_and_jobs_commands_follow_them(env, tmp_path, second_file):
    result = dalston("transcribe", str(SAMPLE), str(second_file), "--no-wait", env=env)
    assert result.returncode == 0, result.stderr
    ids = result.stdout.split()
    assert len(ids) == 2 and all(UUID.match(i) for i in ids), result.stdout

    waited = dalston("jobs", "wait", *ids, env=env)
    assert waited.returncode == 0, waited.stderr
    assert sorted(waited.stdout.split("\n")[:2]) == sorted(f"{i} completed" for i in ids)

    listed = dalston("jobs", "list", "--limit", "50", env=env)
    assert listed.returncode == 0 and all(i in listed.stdout for i in ids), listed.stdout
    assert "RTF" in listed.stdout.splitlines()[0]
    page = json.loads(dalston("jobs", "list", "--json", "--status", "completed", env=env).stdout)
    assert set(ids) <= {j["id"] for j in page["jobs"]}

    got = dalston("jobs", "get", ids[0], env=env)
    assert got.returncode == 0 and "completed" in got.stdout and "prepare" in got.stdout
    assert json.loads(dalston("jobs", "get", ids[0], "--json", env=env).stdout)["id"] == ids[0]

    vtt = dalston("export", ids[1], "--format", "vtt", env=env)
    assert vtt.returncode == 0 and vtt.stdout.startswith("WEBVTT"), vtt.stdout
    target = tmp_path / "river.txt"
    assert dalston("export", ids[1], "--out", str(target), env=env).returncode == 0
    assert wer(SECOND_TEXT, target.read_text()) < 0.5

    deleted = dalston("jobs", "delete", ids[0], env=env)
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"{ids[0]} deleted"
    one_line_error(dalston("jobs", "get", ids[0], env=env), "job_not_found")


def test_jobs_cancel_stops_a_running_job_and_wait_says_so(env, tmp_path):
    long, _text = longaudio.write(tmp_path / "long.wav", 60.0)
    job_id = dalston("transcribe", str(long), "--no-wait", env=env).stdout.strip()
    assert UUID.match(job_id), job_id
    cancelled = dalston("jobs", "cancel", job_id, env=env)
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == f"{job_id} cancelled"
    waited = dalston("jobs", "wait", job_id, env=env)
    assert waited.returncode == 1 and waited.stdout.strip() == f"{job_id} cancelled"
    assert waited.stderr.splitlines()[-1].startswith("dalston: error: ") and "Traceback" not in (
        waited.stderr
    )
    one_line_error(dalston("jobs", "cancel", job_id, env=env), "job_not_cancellable")


def test_models_and_status(env, cluster):
    models = dalston("models", env=env)
    assert models.returncode == 0, models.stderr
    row = next(line for line in models.stdout.splitlines() if line.startswith("tiny.en "))
    assert row.split()[1:3] == ["yes", "*"], row
    # A solo-pool worker busy with a task (an earlier test's) answers no broadcast, so it is
    # missing from the status until it is done: ask again for a while.
    queues = ("prepare", "transcribe", "align", "diarize", "merge")
    deadline = time.monotonic() + 90
    while True:
        status = dalston("status", env=env)
        assert status.returncode == 0, status.stderr
        lines = {
            q: next(x for x in status.stdout.splitlines() if x.startswith(q + " ")) for q in queues
        }
        if all(f"{q}@test" in lines[q] for q in queues) or time.monotonic() > deadline:
            break
        time.sleep(2)
    for queue in queues:
        assert f"{queue}@test" in lines[queue], status.stdout
    body = json.loads(dalston("status", "--json", env=env).stdout)
    assert body["status"] == "ok" and body["storage"]["kind"] == "s3"


def test_a_server_that_is_down_is_one_line_and_exit_status_1(tmp_path):
    env = _env(tmp_path, DALSTON_URL=f"http://127.0.0.1:{_free_port()}")
    for args in (
        ["jobs", "list"],
        ["jobs", "get", "x"],
        ["jobs", "wait", "x"],
        ["jobs", "cancel", "x"],
        ["jobs", "delete", "x"],
        ["export", "x"],
        ["models"],
        ["status"],
        ["transcribe", "--no-embedded", str(SAMPLE)],
    ):
        one_line_error(dalston(*args, env=env, timeout=60), "cannot reach", env["DALSTON_URL"])
    one_line_error(dalston("transcribe", "nothing-here.wav", env=env), "no such file")
    bad = dalston("--url", "ftp://x", "models", env=env)
    one_line_error(bad, "http://")


def test_url_and_key_from_flags_environment_or_config_file(cluster, tmp_path):
    api = KeyedApi(cluster.settings)
    try:
        env = _env(tmp_path)
        one_line_error(dalston("--url", api.base_url, "models", env=env), "invalid_api_key")
        assert (
            dalston("--url", api.base_url, "--api-key", api.key, "models", env=env).returncode == 0
        )
        keyed_env = _env(tmp_path, DALSTON_URL=api.base_url, DALSTON_API_KEY=api.key)
        assert dalston("models", env=keyed_env).returncode == 0
        config = tmp_path / "config.toml"
        config.write_text(f'url = "{api.base_url}"\napi_key = "{api.key}"\n')
        from_file = _env(tmp_path, DALSTON_CONFIG=str(config))
        assert dalston("models", env=from_file).returncode == 0
        assert dalston("--config", str(config), "models", env=env).returncode == 0
        # A flag wins over the environment, and the environment over the file.
        one_line_error(
            dalston("--api-key", "wrong", "models", env={**from_file, **keyed_env}),
            "invalid_api_key",
        )
        config.write_text("url = [broken")
        one_line_error(dalston("models", env=from_file), "config file")
    finally:
        api.close()


def test_the_console_script_is_the_cli_and_it_imports_no_server_code():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    scripts = dict(
        line.split(" = ")
        for line in cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    )
    module, _, attr = scripts["dalston"].partition(":")
    assert (
        getattr(importlib.import_module(module), attr)
        is importlib.import_module("dalston.cli.main").main
    )
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, dalston.cli.main; "
            "print(' '.join(m for m in sys.modules if m.startswith('dalston')))",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert set(loaded) <= {
        "dalston",
        "dalston.config",
        "dalston.cli",
        "dalston.cli.main",
        "dalston.cli.client",
        "dalston.cli.local",
        "dalston.cli.keys",  # its database code loads only when a keys command runs
    }, loaded
