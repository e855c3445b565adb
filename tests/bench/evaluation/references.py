"""The shared recorded fixtures (``../shared/fixtures/audio``) and what they are known to say."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO.parent / "shared" / "fixtures" / "audio"
RTTM = "diarization.rttm"

JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
STEREO_LEFT = (
    "He began a confused complaint against the wizard, who had vanished behind the curtain "
    "on the left."
)
STEREO_RIGHT = "The horizon seems extremely distant."

#: (label, file, channel or None for the mono downmix, reference text)
TRANSCRIPTS = [
    ("jfk.flac", "jfk.flac", None, JFK_TEXT),
    ("stereo_diarization.wav, left", "stereo_diarization.wav", 0, STEREO_LEFT),
    ("stereo_diarization.wav, right", "stereo_diarization.wav", 1, STEREO_RIGHT),
]
#: hotwords.mp3 has no reference transcript, only a word that a hint should bring out.
HOTWORD_FILE, HOTWORD = "hotwords.mp3", "ComfyUI"
#: AMI excerpts scored against the RTTM.
MEETINGS = ["trn03", "trn06"]
