"""A file that goes from English to German: each part comes back in its own language.

The batched pipeline detects one language per chunk; the faster-whisper engine checks each
speech region when that detection is unsure or a region produced no text, and decodes each
run of one language in that language (``dalston.engines.faster_whisper.language_runs``).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from dalston import audio
from tests.audio_helpers import wer

pytestmark = pytest.mark.integration

ENGLISH = "The weather today is sunny and warm, and we are going to the park this afternoon."
GERMAN = "Morgen fahren wir mit dem Zug nach Berlin, um unsere Freunde zu besuchen."


@pytest.fixture(scope="module")
def english_then_german(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("codeswitch")
    parts = []
    for voice, text in (("en-us", ENGLISH), ("de", GERMAN)):
        path = tmp / f"{voice}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
        parts.append(audio.decode(path).mono)
    mixed = np.concatenate([parts[0], np.zeros(audio.SAMPLE_RATE * 3 // 2, np.float32), parts[1]])
    path = tmp / "english-then-german.wav"
    path.write_bytes(audio.to_wav_bytes(mixed))
    return path, len(parts[0]) / audio.SAMPLE_RATE


def test_each_part_in_its_own_language(cluster, english_then_german):
    path, english_seconds = english_then_german
    job = cluster.wait(cluster.submit(path, model="base"), timeout=300)
    assert job["status"] == "completed", job
    english = [s for s in job["segments"] if s["end"] <= english_seconds + 0.5]
    german = [s for s in job["segments"] if s["start"] >= english_seconds]
    assert english and german, job["segments"]
    assert {s["language"] for s in english} == {"en"}, english
    assert {s["language"] for s in german} == {"de"}, german
    assert wer(ENGLISH, " ".join(s["text"] for s in english)) <= 0.2, english
    assert wer(GERMAN, " ".join(s["text"] for s in german)) <= 0.35, german
    assert {entry["language"] for entry in job["languages"]} == {"en", "de"}, job["languages"]
    assert sum(entry["share"] for entry in job["languages"]) == pytest.approx(1.0, abs=0.01)
    assert job["language_code"] in ("en", "de")


def test_a_forced_language_still_wins(cluster, english_then_german):
    path, _ = english_then_german
    job = cluster.wait(cluster.submit(path, model="base", language="en"), timeout=300)
    assert job["status"] == "completed", job
    assert {s["language"] for s in job["segments"]} == {"en"}
    assert job["languages"] == [{"language": "en", "share": 1.0}]
