"""What a realtime session leaves behind: its row, and with retention on its audio and transcript.

The API process serving a session records it (:class:`SessionRecorder`): a
``realtime_sessions`` row when a worker slot is reserved (``status`` ``active``, the
caller's tenant from ``dalston.auth.current_tenant()``), the audio as it arrives (16 kHz
PCM16, spooled to a temporary WAV file, never held in memory), and at the end the totals,
the committed text and, when ``DALSTON_REALTIME_RETENTION`` is on (the default), the audio
and the transcript (``contracts.Transcript`` JSON, so ``dalston.exports`` renders it) in
the artifact store under ``realtime/<id>/``. With ``enhance=true`` the stored audio then
goes to a batch job (diarization and aligned words) through
``dalston.api.submission.submit_job``; the row names the job.

Deleting a session removes its objects first and its row last (the row is marked
``deleting`` meanwhile), so a row never points at objects that are gone and no object
outlives its row unnoticed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import wave
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "realtime/"


def audio_key(session_id: str) -> str:
    return f"{PREFIX}{session_id}/audio.wav"


def transcript_key(session_id: str) -> str:
    return f"{PREFIX}{session_id}/transcript.json"


def session_prefix(session_id: str) -> str:
    return f"{PREFIX}{session_id}/"


def transcript_of(summary: dict) -> dict:
    """The worker's end-of-session summary as a ``contracts.Transcript``."""
    segments, words = [], []
    for i, final in enumerate(f for f in summary.get("finals") or [] if f.get("text")):
        seg_words = [
            {
                "text": w["text"],
                "start": w["start"],
                "end": w["end"],
                "confidence": w.get("confidence"),
                "type": "word",
                "timing": "whisper",
            }
            for w in final.get("words") or []
        ]
        words += seg_words
        segments.append(
            {
                "id": i,
                "start": final["start"],
                "end": final["end"],
                "text": final["text"],
                "type": "speech",
                "speaker": None,
                "words": seg_words,
            }
        )
    return {
        "text": " ".join(s["text"] for s in segments),
        "language": summary.get("language"),
        "language_probability": None,
        "duration": summary.get("audio_seconds") or 0.0,
        "segments": segments,
        "words": words,
        "speakers": [],
        "warnings": [],
    }


class _Upload:
    """The stored WAV as the upload ``submit_job`` takes (a ``FileStorage``'s two fields)."""

    def __init__(self, path: Path):
        self.filename = "realtime-session.wav"
        self._path = path

    def save(self, target) -> None:
        Path(target).write_bytes(self._path.read_bytes())


class SessionRecorder:
    """Records one session (see the module docstring). Never raises into the session."""

    def __init__(
        self,
        services,
        session_id: str,
        protocol: str,
        tenant_id: str | None,
        model: str | None,
        enhance: bool = False,
    ):
        self.services, self.session_id, self.protocol = services, session_id, protocol
        self.tenant_id, self.model, self.enhance = tenant_id, model, enhance
        self.retain = services.settings.realtime_retention
        self.enhance_job_id: str | None = None
        self._wav = None
        self._path: Path | None = None
        if self.retain:
            fd, name = tempfile.mkstemp(prefix=f"dalston-rt-{session_id}-", suffix=".wav")
            os.close(fd)
            self._path = Path(name)
            self._wav = wave.open(name, "wb")
            self._wav.setnchannels(1)
            self._wav.setsampwidth(2)
            self._wav.setframerate(16000)

    def begin(self, worker_id: str | None) -> None:
        from dalston.db.models import RealtimeSessionRecord

        try:
            with self.services.sessions() as db:
                db.add(
                    RealtimeSessionRecord(
                        id=self.session_id,
                        tenant_id=self.tenant_id,
                        status="active",
                        protocol=self.protocol,
                        model=self.model,
                        worker_id=worker_id,
                    )
                )
                db.commit()
        except Exception:
            log.exception("realtime session %s: could not write its row", self.session_id)

    def audio(self, pcm: bytes) -> None:
        if self._wav is not None:
            self._wav.writeframes(pcm)

    def finish(self, summary: dict | None, close_code: int | None, error: str | None) -> None:
        """Store what the session left and complete its row (and start the enhance job)."""
        from dalston.db.models import RealtimeSessionRecord

        values: dict = {
            "ended_at": dt.datetime.now(dt.timezone.utc),
            "close_code": close_code,
        }
        values["status"] = "completed" if summary is not None and not error else "failed"
        values["error"] = error
        try:
            if self._wav is not None:
                self._wav.close()
                self._wav = None
            if summary is not None:
                transcript = transcript_of(summary)
                values.update(
                    audio_seconds=summary.get("audio_seconds"),
                    speech_seconds=summary.get("speech_seconds"),
                    language_code=summary.get("language"),
                    text=transcript["text"],
                )
                if self.retain and self._path is not None:
                    self._store(transcript, values)
            with self.services.sessions() as db:
                row = db.get(RealtimeSessionRecord, self.session_id)
                if row is not None:
                    for key, value in values.items():
                        setattr(row, key, value)
                    db.commit()
        except Exception:
            log.exception("realtime session %s: could not record its end", self.session_id)
        finally:
            if self._path is not None:
                self._path.unlink(missing_ok=True)

    def _store(self, transcript: dict, values: dict) -> None:
        import json

        store = self.services.store
        store.put_file(audio_key(self.session_id), self._path, "audio/wav")
        store.put_bytes(
            transcript_key(self.session_id),
            json.dumps(transcript).encode(),
            "application/json",
        )
        values.update(
            audio_key=audio_key(self.session_id),
            transcript_key=transcript_key(self.session_id),
        )
        if self.enhance and transcript["segments"]:
            self.enhance_job_id = self._enhance()
            values["enhance_job_id"] = self.enhance_job_id

    def _enhance(self) -> str | None:
        """A batch job on the stored audio: diarization and aligned word times."""
        from dalston.api.submission import submit_job
        from dalston.options import JobOptions

        try:
            options = JobOptions(
                model=self.services.settings.default_model,
                timestamps_granularity="word",
                speaker_detection="diarize",
            )
            return submit_job(options, upload=_Upload(self._path)).id
        except Exception:
            log.exception("realtime session %s: the enhance job was not started", self.session_id)
            return None
