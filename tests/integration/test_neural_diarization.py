"""The neural diarizer end to end: a recorded meeting excerpt through the real workers.

trn00 (AMI, 30 s, three speakers with overlapped speech, reference in diarization.rttm)
is submitted with ``diarize_engine=neural``; the stored turns are scored against the
reference with pyannote.metrics and every word's speaker is checked against the reference
speakers talking at that moment. Bounds are tolerant: they catch a broken engine or merge
(a one-speaker answer scores 34 % DER at collar 0.5 here), not a change of a few percent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.diarization_eval import read_rttm, score
from tests.missing import unavailable

pytestmark = pytest.mark.integration

AMI = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "audio"


@pytest.fixture(scope="module")
def excerpt():
    if not (AMI / "trn00.wav").exists():
        unavailable("shared/fixtures/audio is not beside the checkout")
    return AMI / "trn00.wav", read_rttm(AMI / "diarization.rttm")["trn00"]


def _turns(cluster, job_id: str) -> list[dict]:
    import boto3

    client = boto3.client("s3", endpoint_url=cluster.s3_endpoint, region_name="us-east-1")
    body = client.get_object(Bucket=cluster.bucket, Key=f"jobs/{job_id}/diarize/turns.json")
    return json.loads(body["Body"].read())


def _word_speaker_share(words, truth) -> float:
    """Share of words whose speaker, mapped to the reference speaker it most often lands
    on, is one of the reference speakers talking at the word's midpoint (overlap counts)."""
    votes: dict[tuple[str, str], int] = {}
    scored = []
    for word in words:
        middle = (word["start"] + word["end"]) / 2
        talking = {s for a, b, s in truth if a - 0.25 <= middle <= b + 0.25}
        if not talking:
            continue
        scored.append((word["speaker"], talking))
        for s in talking:
            votes[(word["speaker"], s)] = votes.get((word["speaker"], s), 0) + 1
    mapping = {}
    for (hyp, ref), n in sorted(votes.items(), key=lambda kv: -kv[1]):
        if hyp not in mapping and ref not in mapping.values():
            mapping[hyp] = ref
    right = sum(mapping.get(hyp) in talking for hyp, talking in scored)
    return right / max(1, len(scored))


def test_meeting_excerpt_turns_overlap_and_word_speakers(cluster, excerpt):
    path, truth = excerpt
    job = cluster.wait(
        cluster.submit(path, speaker_detection="diarize", diarize_engine="neural"), timeout=300
    )
    assert job["status"] == "completed", job
    turns = _turns(cluster, job["id"])
    found = {t["speaker"] for t in turns}
    assert 2 <= len(found) <= 4, turns
    hyp = [(t["start"], t["end"], t["speaker"]) for t in turns]
    one = [(min(a for a, _, _ in truth), max(b for _, b, _ in truth), "A")]
    der = score({"f": truth}, {"f": hyp})["0.5"]["f"]["der"]
    der_one = score({"f": truth}, {"f": one})["0.5"]["f"]["der"]
    assert der < 0.9 * der_one, (der, der_one)
    # turns of different speakers may overlap in time: overlapped speech is in the output
    overlap = sum(
        max(0.0, min(a["end"], b["end"]) - max(a["start"], b["start"]))
        for i, a in enumerate(turns)
        for b in turns[i + 1 :]
        if a["speaker"] != b["speaker"]
    )
    assert overlap > 0, turns
    # merge still gives every word one speaker and splits segments where it changes
    words = job["words"]
    assert words and all(w["speaker"] in found for w in words)
    for seg in job["segments"]:
        assert {w["speaker"] for w in seg["words"]} == {seg["speaker"]}
    assert _word_speaker_share(words, truth) >= 0.6
    assert {s["id"] for s in job["speakers"]} <= found
