"""How long a file says it is, from its container's metadata alone (no decoding).

The edge refuses a file longer than ``DALSTON_MAX_AUDIO_SECONDS`` before storing it: a few MB
of compressed silence can hold days of audio, and decoding it just to measure it is the
cost the limit exists to avoid. A header can lie; prepare enforces the limit again on the
samples it actually decodes.
"""

from __future__ import annotations

from pathlib import Path

import av


def duration_seconds(path: Path) -> float | None:
    """The longest audio stream's duration as the container declares it; None if it does not.

    Raises:
        ValueError: the file cannot be opened as a media container.
    """
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            best = None
            for stream in container.streams.audio:
                if stream.duration is not None and stream.time_base is not None:
                    seconds = float(stream.duration * stream.time_base)
                    best = seconds if best is None else max(best, seconds)
            if best is None and container.duration is not None:
                best = container.duration / av.time_base
            return best
    except av.error.FFmpegError as exc:
        raise ValueError(str(exc)) from exc
