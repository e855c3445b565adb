"""The official ElevenLabs JS SDK (2.73.0) against Dalston: its strict parser is the oracle.

``make test`` installs the SDK with npm into ``tests/compat/js/node_modules``. Without
``node`` the leg is skipped locally and fails in CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.audio_helpers import wer
from tests.missing import unavailable

JS = Path(__file__).parent / "js"
CHUNK = "SpeechToTextChunkResponseModel"
MULTI = "MultichannelSpeechToTextResponseModel"
ACK = "SpeechToTextWebhookResponseModel"
JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


@pytest.fixture(scope="module")
def js_results(cluster, fixtures_dir, two_voices, tmp_path_factory):
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "@elevenlabs" / "elevenlabs-js").is_dir():
        unavailable("node or the JS SDK is not installed (make test installs it)")
    jfk = str(fixtures_dir / "jfk.flac")
    stereo = str(fixtures_dir / "stereo_diarization.wav")
    voices = str(two_voices[0])
    base = {"modelId": "scribe_v1", "file": jfk}
    formats = ["srt", "txt", "segmented_json", "html", "docx", "pdf"]
    cases = [
        dict(name="plain", request=base, model=CHUNK, then="delete"),
        dict(name="diarize", request={**base, "file": voices, "diarize": True}, model=CHUNK),
        dict(
            name="character",
            request={**base, "timestampsGranularity": "character"},
            model=CHUNK,
            then="get",
        ),
        dict(name="none", request={**base, "timestampsGranularity": "none"}, model=CHUNK),
        dict(
            name="separate",
            request={**base, "file": stereo, "useMultiChannel": True},
            model=MULTI,
        ),
        dict(
            name="combined",
            request={
                **base,
                "file": stereo,
                "useMultiChannel": True,
                "multichannelOutputStyle": "combined",
            },
            model=CHUNK,
        ),
        dict(
            name="formats",
            request={**base, "additionalFormats": [{"format": f} for f in formats]},
            model=CHUNK,
        ),
        dict(
            name="entities_keyterms",
            request={**base, "entityDetection": ["pii", "pci"], "keyterms": ["Americans"]},
            model=CHUNK,
        ),
        dict(name="webhook", request={**base, "webhook": True}, model=ACK),
        dict(
            name="bad_model", request={**base, "modelId": "scribe_v9"}, model=None, expectError=400
        ),
    ]
    path = tmp_path_factory.mktemp("js") / "cases.json"
    path.write_text(json.dumps(cases))
    run = subprocess.run(
        [node, str(JS / "run_cases.cjs"), cluster.base_url, str(path)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=JS,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize(
    "case",
    [
        "plain",
        "diarize",
        "character",
        "none",
        "separate",
        "combined",
        "formats",
        "entities_keyterms",
        "webhook",
        "bad_model",
    ],
)
def test_js_sdk_parses_every_variant(js_results, case):
    result = js_results[case]
    assert result["ok"], result
    body = result["body"]
    if case == "plain":
        assert wer(JFK, body["text"]) <= 0.10
    if case == "diarize":
        assert {w["speaker_id"] for w in body["words"] if w["type"] == "word"} == {
            "speaker_0",
            "speaker_1",
        }
    if case == "formats":
        assert [f["requested_format"] for f in body["additional_formats"]] == [
            "srt",
            "txt",
            "segmented_json",
            "html",
            "docx",
            "pdf",
        ]
    if case == "separate":
        assert [t["channel_index"] for t in body["transcripts"]] == [0, 1]
    if case == "bad_model":
        assert body["detail"]["code"] == "invalid_model_id"
