"""Deterministic storage keys: ``jobs/<job_id>/<stage>/<artifact>``.

Every stage derives its input and output keys from the job id alone, so a task that runs
twice overwrites its own outputs instead of adding new ones. The layout, documented in the
README:

=========================================  ==========================================
key                                        written by / holds
=========================================  ==========================================
``jobs/<id>/input/source``                 API: the uploaded or fetched file, as sent
``jobs/<id>/prepare/manifest.json``        prepare: duration, channels, speech, chunks
``jobs/<id>/prepare/audio.wav``            prepare: 16 kHz mono PCM16 of the whole file
``jobs/<id>/prepare/channel_<c>.wav``      prepare: 16 kHz PCM16 of original channel c
``jobs/<id>/prepare/chunks/<nnnn>.wav``    prepare: one chunk of audio to transcribe
``jobs/<id>/prepare/first_chunk.json``     prepare: chunk 0's plan, when it was sent early
``jobs/<id>/diarize/turns.json``          diarize: speaker turns
``jobs/<id>/merge/transcript.json``        merge: the final transcript
=========================================  ==========================================

Chunk transcripts (transcribe's, align's, the whole-file engine's) are not objects: they
are their stage rows' ``output`` in PostgreSQL. Their old keys remain for reading the
chunks of a job that was in flight when that changed.
"""


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def source(job_id: str) -> str:
    return f"jobs/{job_id}/input/source"


def manifest(job_id: str) -> str:
    return f"jobs/{job_id}/prepare/manifest.json"


def prepared_audio(job_id: str) -> str:
    return f"jobs/{job_id}/prepare/audio.wav"


def channel_audio(job_id: str, channel: int) -> str:
    return f"jobs/{job_id}/prepare/channel_{channel}.wav"


def chunk_audio(job_id: str, index: int) -> str:
    return f"jobs/{job_id}/prepare/chunks/{index:04d}.wav"


def first_chunk(job_id: str) -> str:
    """Chunk 0's plan, written when prepare sends it before the manifest exists."""
    return f"jobs/{job_id}/prepare/first_chunk.json"


def chunk_transcript(job_id: str, index: int) -> str:
    """Where transcribe stored a chunk's transcript before it went onto its stage row."""
    return f"jobs/{job_id}/transcribe/chunk_{index:04d}.json"


def aligned_chunk(job_id: str, index: int) -> str:
    """Where align (and whisperx_full) stored a chunk before it went onto the stage row."""
    return f"jobs/{job_id}/align/chunk_{index:04d}.json"


def turns(job_id: str) -> str:
    return f"jobs/{job_id}/diarize/turns.json"


def transcript(job_id: str) -> str:
    return f"jobs/{job_id}/merge/transcript.json"
