"""Pipeline stages: each has one Celery task ``dalston.<stage>`` and one queue of the same name."""

from __future__ import annotations

import enum


class Stage(str, enum.Enum):
    PREPARE = "prepare"
    TRANSCRIBE = "transcribe"
    ALIGN = "align"
    DIARIZE = "diarize"
    #: transcribe + align + diarize in one task (the whisperx-full engine), on its own queue
    WHISPERX_FULL = "whisperx_full"
    MERGE = "merge"

    @property
    def task_name(self) -> str:
        return f"dalston.{self.value}"

    @property
    def queue(self) -> str:
        return self.value


#: Relative share of a job's progress bar each stage owns (transcribe dominates the work).
PROGRESS_WEIGHTS = {
    Stage.PREPARE: 5.0,
    Stage.TRANSCRIBE: 80.0,
    Stage.ALIGN: 5.0,
    Stage.DIARIZE: 5.0,
    Stage.WHISPERX_FULL: 90.0,
    Stage.MERGE: 5.0,
}
