"""The official ElevenLabs JS SDK's realtime client against Dalston's realtime API.

``client.speechToText.realtime.connect`` (@elevenlabs/elevenlabs-js 2.73.0, driven by
``js/realtime_session.cjs``) streams jfk.flac at real-time pace to
``/v1/speech-to-text/realtime`` on a real realtime worker over the Redis relay (the
``realtime`` fixture): session_started, partials, committed transcripts, with manual and
VAD commit, and with timestamps each commit followed by its words. ``make test`` installs
the SDK; without ``node`` the test is skipped locally and fails in CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dalston import audio
from tests.bench.evaluation.metrics import wer
from tests.missing import unavailable
from tests.realtime_helpers import pcm16

JS = Path(__file__).parent / "js"
JFK = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


@pytest.fixture(scope="module")
def jfk_pcm_file(fixtures_dir, tmp_path_factory) -> Path:
    if shutil.which("node") is None or not (JS / "node_modules" / "@elevenlabs").is_dir():
        unavailable("node or the JS SDK is not installed (make test installs it)")
    path = tmp_path_factory.mktemp("js-rt") / "jfk.pcm"
    path.write_bytes(pcm16(audio.decode(fixtures_dir / "jfk.flac").mono))
    return path


def session(realtime, pcm: Path, strategy: str, timestamps: bool) -> list[tuple[str, dict]]:
    out = subprocess.run(
        [
            "node",
            "realtime_session.cjs",
            realtime.main.http,
            str(pcm),
            strategy,
            "1" if timestamps else "0",
        ],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=240,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "error" not in result, result["error"]
    return [tuple(e) for e in result["events"]]


def check_order(events) -> list[dict]:
    """Each committed_transcript is followed by its committed_transcript_with_timestamps."""
    names = [n for n, _ in events]
    committed = [d for n, d in events if n == "committed_transcript"]
    for i, name in enumerate(names):
        if name == "committed_transcript":
            assert names[i + 1] == "committed_transcript_with_timestamps", names
            detailed = events[i + 1][1]
            assert detailed["text"] == events[i][1]["text"]
            words = [w for w in detailed["words"] if w["type"] == "word"]
            assert words and all(w["start"] <= w["end"] for w in words)
            assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    return committed


def test_manual_commit_with_timestamps(realtime, jfk_pcm_file):
    events = session(realtime, jfk_pcm_file, "manual", True)
    names = [n for n, _ in events]
    assert [n for n in names if n != "open"][0] == "session_started", names
    assert "session_started" in names and "partial_transcript" in names
    started = next(d for n, d in events if n == "session_started")
    assert started["config"]["commit_strategy"] == "manual"
    committed = check_order(events)
    assert len(committed) == 1, names
    assert wer(JFK, committed[0]["text"]) <= 0.10, committed[0]["text"]
    assert "error" not in names


def test_vad_commits_with_timestamps(realtime, jfk_pcm_file):
    events = session(realtime, jfk_pcm_file, "vad", True)
    names = [n for n, _ in events]
    assert "session_started" in names and "partial_transcript" in names
    committed = check_order(events)
    assert committed and wer(JFK, " ".join(d["text"] for d in committed)) <= 0.10, committed
    assert "error" not in names


def test_vad_without_timestamps(realtime, jfk_pcm_file):
    events = session(realtime, jfk_pcm_file, "vad", False)
    names = [n for n, _ in events]
    assert "committed_transcript" in names
    assert "committed_transcript_with_timestamps" not in names
    text = " ".join(d["text"] for n, d in events if n == "committed_transcript")
    assert wer(JFK, text) <= 0.10, text
